import { Module, OnModuleInit } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { ConfigsModule } from '../configs/configs.module';
import { SdkService } from '../configs/sdk.service';
import { ExecutionSecretsRepository } from './execution-secrets.repository';
import { ExecutionsController } from './executions.controller';
import { ExecutionsService } from './executions.service';

@Module({
  imports: [ConfigsModule, AuthModule],
  controllers: [ExecutionsController],
  providers: [ExecutionsService, ExecutionSecretsRepository],
  exports: [ExecutionsService, ExecutionSecretsRepository],
})
export class ExecutionsModule implements OnModuleInit {
  constructor(
    private readonly sdk: SdkService,
    private readonly executions: ExecutionsService,
  ) {}

  /** An SDK read of a secret that names an execution registers the secret with that execution. */
  onModuleInit(): void {
    this.sdk.setExecutionSecretSink((orgId, executionId, secret, seen) => this.executions.registerSecrets(orgId, executionId, [secret], seen));
  }
}
