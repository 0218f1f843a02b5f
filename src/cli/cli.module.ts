import { DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ENTITIES } from '../app.module';
import { AuditModule } from '../audit/audit.module';
import { AuthModule } from '../auth/auth.module';
import { APP_ENV } from '../common/app-env.provider';
import { dataSourceOptions } from '../common/database';
import { AppEnv } from '../common/env';
import { CryptoModule } from '../crypto/crypto.module';
import { KeyRotationService } from '../crypto/key-rotation.service';
import { ConfigsDataModule } from '../configs/configs-data.module';
import { SecretVersions } from '../configs/secret-versions';
import { ExecutionSecretsRepository } from '../executions/execution-secrets.repository';
import { ExportService } from '../export/export.service';
import { ImportService } from '../export/import.service';
import { ScanService } from '../leaks/scan.service';
import { ScopesModule } from '../scopes/scopes.module';
import { SecretRegistry } from '../scrubber/secret-registry';

/**
 * How long the CLI waits for SQLite's write lock while another process (the service) holds it:
 * its transactions are short ones of the service's, or one of its imports, so the CLI waits its
 * turn (asynchronously, in slices of a few ms: sqlite-gate.ts) far longer than a request would,
 * and fails with one line (DATABASE_BUSY) only after this, or DATABASE_TIMEOUT_MS if longer.
 */
export const CLI_LOCK_WAIT_MS = 120_000;

/** The database settings of the CLI: the server's, with the CLI's longer lock wait on SQLite. */
export function cliDatabase(env: AppEnv): AppEnv['database'] {
  if (env.database.kind !== 'sqlite') return env.database;
  return { ...env.database, timeoutMs: Math.max(env.database.timeoutMs ?? 0, CLI_LOCK_WAIT_MS) };
}

/**
 * The CLI's object graph: the server's own modules for the database, the keys, the audit log, orgs
 * and tokens, on the server's database settings, without the HTTP layer (no adapter, so no routes,
 * guards or interceptors run) and without the server's start-up work: creating tokens at start-up
 * is AppModule's (BootstrapTokens), never the CLI's (a development first start prints a token on
 * stdout, where `bifrost export` writes its bundle). Rotation is provided here rather than through
 * KeyRotationModule, whose key check runs at init (and export and import beside it, without their
 * controllers' modules): rotate-key and tokens must run whatever the keys, so
 * the CLI checks them itself for the commands that want it (cli-context.ts). The scrubber's module
 * is the server's too (it warms every secret at start-up and scrubs responses); the CLI takes its
 * registry, which a portable export scrubs with.
 */
@Module({})
export class CliModule {
  static forRoot(env: AppEnv): DynamicModule {
    return {
      module: CliModule,
      global: true,
      imports: [
        // Migrated as the server does at start-up; no retries: the CLI reports a failure at once.
        TypeOrmModule.forRoot({ ...dataSourceOptions(cliDatabase(env), ENTITIES), migrationsRun: true, retryAttempts: 0 }),
        CryptoModule.forRoot({ secretKey: env.secretKey, previousSecretKeys: env.previousSecretKeys }),
        AuditModule,
        ScopesModule,
        AuthModule,
        ConfigsDataModule,
      ],
      providers: [{ provide: APP_ENV, useValue: env }, ExecutionSecretsRepository, SecretRegistry, SecretVersions, ExportService, ImportService, KeyRotationService, ScanService],
      exports: [APP_ENV],
    };
  }
}
