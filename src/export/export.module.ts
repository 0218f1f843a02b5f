import { Module } from '@nestjs/common';
import { ConfigsModule } from '../configs/configs.module';
import { KeyRotationModule } from '../crypto/key-rotation.module';
import { ExportController } from './export.controller';
import { ExportSlots } from './export-stream';
import { ExportService } from './export.service';
import { ImportSlots } from './import-body';
import { ImportService } from './import.service';

/** Portable and backup bundles, import with dry run, Bifrost's export format; key rotation comes along. */
@Module({
  imports: [ConfigsModule, KeyRotationModule],
  controllers: [ExportController],
  providers: [ExportService, ImportService, { provide: ImportSlots, useFactory: () => new ImportSlots() }, { provide: ExportSlots, useFactory: () => new ExportSlots() }],
  exports: [ExportService, ImportService, KeyRotationModule],
})
export class ExportModule {}
