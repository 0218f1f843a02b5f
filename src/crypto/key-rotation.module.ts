import { Module } from '@nestjs/common';
import { KeyRotationService } from './key-rotation.service';
import { StartupKeyCheck } from './startup-key-check';

/**
 * Key rotation and the start-up key check. Apart from CryptoModule because both need the database
 * and the audit log, which CryptoModule (pure crypto, usable anywhere) does not depend on.
 */
@Module({
  providers: [KeyRotationService, StartupKeyCheck],
  exports: [KeyRotationService],
})
export class KeyRotationModule {}
