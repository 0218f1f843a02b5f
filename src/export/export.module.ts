import { Module } from '@nestjs/common';
import { ConfigsModule } from '../configs/configs.module';
import { ExportController } from './export.controller';
import { ExportSlots } from './export-stream';
import { ExportService } from './export.service';
import { ImportSlots } from './import-body';
import { ImportService } from './import.service';

/** Portable and backup bundles, import with dry run, Bifrost's export format. */
@Module({
  imports: [ConfigsModule],
  controllers: [ExportController],
  providers: [ExportService, ImportService, { provide: ImportSlots, useFactory: () => new ImportSlots() }, { provide: ExportSlots, useFactory: () => new ExportSlots() }],
  exports: [ExportService, ImportService],
})
export class ExportModule {}
