import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { ExecutionsModule } from '../executions/executions.module';
import { ConfigsController } from './configs.controller';
import { ConfigsDataModule } from './configs-data.module';
import { ConfigsService } from './configs.service';
import { SdkController } from './sdk.controller';
import { SdkReadRepository } from './sdk-read.repository';
import { SdkService } from './sdk.service';
import { SecretChecksService } from './secret-checks.service';
import { SecretVersions } from './secret-versions';

@Module({
  imports: [AuthModule, ConfigsDataModule, ExecutionsModule],
  controllers: [ConfigsController, SdkController],
  providers: [ConfigsService, SdkService, SdkReadRepository, SecretVersions, SecretChecksService],
  exports: [ConfigsService, ConfigsDataModule, SdkService, SecretVersions],
})
export class ConfigsModule {}
