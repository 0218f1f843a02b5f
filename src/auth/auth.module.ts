import { Module } from '@nestjs/common';
import { PassportModule } from '@nestjs/passport';
import { AuthThrottle } from './auth-throttle';
import { GlobalAuthGuard } from './auth.guard';
import { BearerStrategy } from './bearer.strategy';
import { TokensController } from './tokens.controller';
import { TokensService } from './tokens.service';

@Module({
  imports: [PassportModule.register({ session: false })],
  controllers: [TokensController],
  providers: [TokensService, BearerStrategy, AuthThrottle, GlobalAuthGuard],
  exports: [TokensService, GlobalAuthGuard],
})
export class AuthModule {}
