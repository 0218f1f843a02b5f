import { Module } from '@nestjs/common';
import { LeaksController } from './leaks.controller';
import { ScanService } from './scan.service';

@Module({
  controllers: [LeaksController],
  providers: [ScanService],
  exports: [ScanService],
})
export class LeaksModule {}
