import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditEntry } from './audit/audit-entry.entity';
import { AuditModule } from './audit/audit.module';
import { ApiToken } from './auth/api-token.entity';
import { GlobalAuthGuard } from './auth/auth.guard';
import { AuthModule } from './auth/auth.module';
import { BootstrapTokens } from './auth/bootstrap-tokens';
import { AllExceptionsFilter } from './common/all-exceptions.filter';
import { APP_ENV } from './common/app-env.provider';
import { dataSourceOptions, worthRetryingAtStart } from './common/database';
import { AppEnv } from './common/env';
import { JsonLogger, LineFilter, LOG_LINE_FILTER, LOG_WRITE } from './common/logger';
import { validationPipe } from './common/validation';
import { CryptoModule } from './crypto/crypto.module';
import { KeyRotationModule } from './crypto/key-rotation.module';
import { HealthModule } from './health/health.module';
import { Org } from './scopes/org.entity';
import { OrgScopeGuard } from './scopes/org-scope.guard';
import { ScopesModule } from './scopes/scopes.module';
import { ConfigEntity } from './configs/config.entity';
import { ConfigsModule } from './configs/configs.module';
import { ExportModule } from './export/export.module';
import { Execution, ExecutionLog, ExecutionSecret, SecretExposure } from './executions/execution.entity';
import { ExecutionsModule } from './executions/executions.module';
import { ScrubberModule } from './scrubber/scrubber.module';
import { SettingsModule } from './settings/settings.module';
import { MetricsModule } from './metrics/metrics.module';
import { LeaksModule } from './leaks/leaks.module';

export const ENTITIES = [Org, ApiToken, AuditEntry, ConfigEntity, Execution, ExecutionLog, ExecutionSecret, SecretExposure];

@Module({})
export class AppModule {
  /** `logWrite`: where the logger writes its lines (stdout when absent; tests collect them). */
  static forRoot(env: AppEnv, logWrite?: (line: string) => void): DynamicModule {
    return {
      module: AppModule,
      imports: [
        TypeOrmModule.forRoot({
          ...dataSourceOptions(env.database, ENTITIES),
          migrationsRun: true,
          // ~30 s of retries for what can heal (a database still starting); none for what cannot.
          retryAttempts: 10,
          retryDelay: 3000,
          toRetry: worthRetryingAtStart,
        }),
        CryptoModule.forRoot({ secretKey: env.secretKey, previousSecretKeys: env.previousSecretKeys }),
        MetricsModule,
        AuditModule,
        ScopesModule,
        AuthModule,
        ConfigsModule,
        ScrubberModule,
        ExecutionsModule,
        KeyRotationModule,
        ExportModule,
        HealthModule,
        SettingsModule,
        LeaksModule,
      ],
      providers: [
        { provide: APP_ENV, useValue: env },
        // The start-up tokens are the server's (the CLI shares AuthModule, not this).
        BootstrapTokens,
        ...(logWrite ? [{ provide: LOG_WRITE, useValue: logWrite }] : []),
        // The application's logger (bootstrap hands it to Nest with useLogger): scrubbed by the ScrubberModule's filter.
        {
          provide: JsonLogger,
          // The filter is required: an application logger without the scrubber fails the start instead.
          useFactory: (e: AppEnv, filter: LineFilter, write?: (line: string) => void) => new JsonLogger(e.logLevel, write, { format: e.logFormat, filter }),
          inject: [APP_ENV, LOG_LINE_FILTER, { token: LOG_WRITE, optional: true }],
        },
        // Order matters: authenticate and check the role first, then the org in the path.
        { provide: APP_GUARD, useExisting: GlobalAuthGuard },
        { provide: APP_GUARD, useExisting: OrgScopeGuard },
        { provide: APP_PIPE, useFactory: validationPipe },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
      ],
      exports: [APP_ENV, JsonLogger],
      global: true,
    };
  }
}
