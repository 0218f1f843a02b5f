import { Module } from '@nestjs/common';
import { PassportModule } from '@nestjs/passport';
import { AuthThrottle } from './auth-throttle';
import { GlobalAuthGuard } from './auth.guard';
import { BearerStrategy } from './bearer.strategy';
import { TokensController } from './tokens.controller';
import { TokensService } from './tokens.service';
import { DEFERRED_CHECK_SETTLER } from '../common/all-exceptions.filter';
import { settleDeferredCheck } from './deferred-token-check';

@Module({
  imports: [PassportModule.register({ session: false })],
  controllers: [TokensController],
  providers: [TokensService, BearerStrategy, AuthThrottle, GlobalAuthGuard, { provide: DEFERRED_CHECK_SETTLER, useValue: settleDeferredCheck }],
  exports: [TokensService, GlobalAuthGuard, DEFERRED_CHECK_SETTLER],
})
export class AuthModule {}
