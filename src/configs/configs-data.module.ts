import { Module } from '@nestjs/common';
import { ConfigsRepository } from './configs.repository';

/**
 * The `configs` table's repository on its own, below every module that reads or marks configs
 * (configs, executions, the scrubber, key rotation, the leak scan), so none of them queries the
 * table itself and no import runs upward.
 */
@Module({
  providers: [ConfigsRepository],
  exports: [ConfigsRepository],
})
export class ConfigsDataModule {}
