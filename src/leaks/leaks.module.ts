import { Module } from '@nestjs/common';
import { ConfigsDataModule } from '../configs/configs-data.module';
import { LeaksController } from './leaks.controller';
import { ScanService } from './scan.service';

@Module({
  imports: [ConfigsDataModule],
  controllers: [LeaksController],
  providers: [ScanService],
  exports: [ScanService],
})
export class LeaksModule {}
