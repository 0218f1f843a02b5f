import { Logger } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { DataSource } from 'typeorm';
import { ENTITIES } from '../app.module';
import { AuditService } from '../audit/audit.service';
import { TokensService } from '../auth/tokens.service';
import { AuthThrottle } from '../auth/auth-throttle';
import { dataSourceOptions } from '../common/database';
import { isMemorySqlite } from '../common/sqlite-gate';
import { AppEnv, EnvError } from '../common/env';
import { JsonLogger } from '../common/logger';
import { ConfigsRepository } from '../configs/configs.repository';
import { SecretVersions } from '../configs/secret-versions';
import { CryptoService } from '../crypto/crypto.service';
import { KeyRotationService } from '../crypto/key-rotation.service';
import { verifyStoredKeys } from '../crypto/startup-key-check';
import { ExportService } from '../export/export.service';
import { ImportService } from '../export/import.service';
import { ExecutionSecretsRepository } from '../executions/execution-secrets.repository';
import { OrgsRepository } from '../scopes/orgs.repository';
import { OrgsService } from '../scopes/orgs.service';
import { SecretRegistry } from '../scrubber/secret-registry';

/**
 * How long the CLI waits for SQLite's write lock while another process (the service) holds it:
 * its transactions are short ones of the service's, or one of its imports, so the CLI waits its
 * turn (asynchronously, in slices of a few ms: sqlite-gate.ts) far longer than a request would,
 * and fails with one line (DATABASE_BUSY) only after this, or DATABASE_TIMEOUT_MS if longer.
 */
export const CLI_LOCK_WAIT_MS = 120_000;

/** The database settings of the CLI: the server's, with the CLI's longer lock wait on SQLite. */
function cliDatabase(env: AppEnv): AppEnv['database'] {
  if (env.database.kind !== 'sqlite') return env.database;
  return { ...env.database, timeoutMs: Math.max(env.database.timeoutMs ?? 0, CLI_LOCK_WAIT_MS) };
}

/** The services the CLI uses, on the server's own database settings and keys. */
export interface CliContext {
  env: AppEnv;
  dataSource: DataSource;
  audit: AuditService;
  orgs: OrgsService;
  tokens: TokensService;
  exports: ExportService;
  imports: ImportService;
  rotation: KeyRotationService;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Check the keys against the stored secrets first, as the server does at start-up. */
  checkKeys: boolean;
}

/**
 * Opens the database (migrating it, as the server does at start-up) and builds the services by
 * hand rather than booting a Nest application: the CLI needs a handful of services, none of the
 * HTTP layer, and none of the server's start-up hooks (which create tokens and print to stdout,
 * where `bifrost export` writes its bundle). Log lines go to stderr.
 */
export async function openCli(env: AppEnv, opts: OpenOptions): Promise<CliContext> {
  Logger.overrideLogger(new JsonLogger(env.logLevel === 'debug' ? 'debug' : 'warn', (line) => process.stderr.write(line + '\n')));
  // Every command but migrate works on an existing database: a SQLite file opened from the wrong
  // folder would otherwise be created empty (an export of 0 configs, a token that works nowhere).
  const path = env.database.sqlitePath;
  if (env.database.kind === 'sqlite' && path && !isMemorySqlite(path) && !existsSync(path)) {
    throw new EnvError('DATABASE_URL', `there is no database at ${path}: run bifrost where the service runs, set DATABASE_URL, or create one with bifrost migrate`);
  }
  const dataSource = new DataSource(dataSourceOptions(cliDatabase(env), ENTITIES));
  await dataSource.initialize();
  try {
    await dataSource.runMigrations();
    const crypto = new CryptoService({ secretKey: env.secretKey, previousSecretKeys: env.previousSecretKeys });
    if (opts.checkKeys) await verifyStoredKeys(dataSource, crypto);
    const audit = new AuditService(dataSource);
    const configs = new ConfigsRepository(dataSource);
    const orgRows = new OrgsRepository(dataSource);
    const orgs = new OrgsService(orgRows);
    return {
      env,
      dataSource,
      audit,
      orgs,
      tokens: new TokensService(dataSource, orgs, audit, env, new AuthThrottle()),
      // The HTTP route's scrub path: a portable bundle is scrubbed with the exported scope's secrets.
      exports: new ExportService(dataSource, audit, new SecretRegistry(dataSource, crypto), configs, orgRows),
      imports: new ImportService(dataSource, crypto, audit, new SecretVersions(dataSource), configs, orgRows),
      rotation: new KeyRotationService(dataSource, crypto, audit, configs, new ExecutionSecretsRepository(dataSource)),
      close: async () => {
        await audit.onModuleDestroy();
        await dataSource.destroy();
      },
    };
  } catch (err) {
    await dataSource.destroy().catch(() => undefined);
    throw err;
  }
}

/** Migrations only (`bifrost migrate`): returns the names of those it ran. */
export async function migrate(env: AppEnv): Promise<string[]> {
  const dataSource = new DataSource(dataSourceOptions(cliDatabase(env), ENTITIES));
  await dataSource.initialize();
  try {
    const ran = await dataSource.runMigrations();
    return ran.map((m) => m.name);
  } finally {
    await dataSource.destroy();
  }
}
