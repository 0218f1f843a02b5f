import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { ExecutionsModule } from '../executions/executions.module';
import { ConfigsController } from './configs.controller';
import { ConfigsService } from './configs.service';
import { SdkController } from './sdk.controller';
import { SdkReadRepository } from './sdk-read.repository';
import { SdkService } from './sdk.service';
import { SecretVersions } from './secret-versions';

@Module({
  imports: [AuthModule, ExecutionsModule],
  controllers: [ConfigsController, SdkController],
  providers: [ConfigsService, SdkService, SdkReadRepository, SecretVersions],
  exports: [ConfigsService, SdkService, SecretVersions],
})
export class ConfigsModule {}
