import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { ConfigsDataModule } from '../configs/configs-data.module';
import { ExecutionSecretsRepository } from './execution-secrets.repository';
import { ExecutionsController } from './executions.controller';
import { ExecutionsService } from './executions.service';

@Module({
  imports: [AuthModule, ConfigsDataModule],
  controllers: [ExecutionsController],
  providers: [ExecutionsService, ExecutionSecretsRepository],
  exports: [ExecutionsService, ExecutionSecretsRepository],
})
export class ExecutionsModule {}
