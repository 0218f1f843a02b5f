import { Module } from '@nestjs/common';
import { ConfigsDataModule } from '../configs/configs-data.module';
import { ExecutionsModule } from '../executions/executions.module';
import { KeyRotationService } from './key-rotation.service';
import { StartupKeyCheck } from './startup-key-check';

/**
 * Key rotation and the start-up key check, imported by AppModule itself. Apart from CryptoModule
 * (pure crypto, usable anywhere): both work on the stored secrets through their tables' repositories.
 */
@Module({
  imports: [ConfigsDataModule, ExecutionsModule],
  providers: [KeyRotationService, StartupKeyCheck],
  exports: [KeyRotationService],
})
export class KeyRotationModule {}
