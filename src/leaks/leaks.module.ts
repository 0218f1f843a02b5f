import { Module } from '@nestjs/common';
import { ConfigsModule } from '../configs/configs.module';
import { LeaksController } from './leaks.controller';
import { ScanService } from './scan.service';

@Module({
  imports: [ConfigsModule],
  controllers: [LeaksController],
  providers: [ScanService],
  exports: [ScanService],
})
export class LeaksModule {}
