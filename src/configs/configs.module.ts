import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { ConfigsController } from './configs.controller';
import { ConfigsRepository } from './configs.repository';
import { ConfigsService } from './configs.service';
import { SdkController } from './sdk.controller';
import { SdkService } from './sdk.service';
import { SecretChecksService } from './secret-checks.service';
import { SecretVersions } from './secret-versions';

@Module({
  imports: [AuthModule],
  controllers: [ConfigsController, SdkController],
  providers: [ConfigsService, ConfigsRepository, SdkService, SecretVersions, SecretChecksService],
  exports: [ConfigsService, ConfigsRepository, SdkService, SecretVersions],
})
export class ConfigsModule {}
