import { INestApplicationContext, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import { existsSync } from 'node:fs';
import { DataSource } from 'typeorm';
import { ENTITIES } from '../app.module';
import { AuditService } from '../audit/audit.service';
import { TokensService } from '../auth/tokens.service';
import { dataSourceOptions } from '../common/database';
import { isMemorySqlite } from '../common/sqlite-gate';
import { AppEnv, EnvError } from '../common/env';
import { JsonLogger } from '../common/logger';
import { CryptoService } from '../crypto/crypto.service';
import { KeyRotationService } from '../crypto/key-rotation.service';
import { verifyStoredKeys } from '../crypto/startup-key-check';
import { ExportService } from '../export/export.service';
import { ImportService } from '../export/import.service';
import { OrgsService } from '../scopes/orgs.service';
import { cliDatabase, CliModule } from './cli.module';

export { CLI_LOCK_WAIT_MS } from './cli.module';

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
  /** Any other provider of the graph (a command of its own may need one). */
  get<T>(type: abstract new (...args: never[]) => T): T;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Check the keys against the stored secrets first, as the server does at start-up. */
  checkKeys: boolean;
}

/** Nest's and TypeORM's reports of a failed start: the CLI describes the failure itself, in one line. */
const REPORTED_BY_THE_CLI = new Set(['ExceptionHandler', 'TypeOrmModule']);

/** The server's JSON lines on stderr (stdout is for results), less the failures the CLI reports. */
class CliLogger extends JsonLogger {
  error(message: unknown, ...rest: unknown[]) {
    if (REPORTED_BY_THE_CLI.has(rest[rest.length - 1] as string)) return;
    super.error(message, ...rest);
  }
}

/**
 * Opens the database (migrating it, as the server does at start-up) and builds the CLI's graph of
 * the server's own modules (cli.module.ts) in a Nest application context: no HTTP layer. Log
 * lines go to stderr.
 */
export async function openCli(env: AppEnv, opts: OpenOptions): Promise<CliContext> {
  const logger = new CliLogger(env.logLevel === 'debug' ? 'debug' : 'warn', (line) => process.stderr.write(line + '\n'));
  Logger.overrideLogger(logger);
  // Every command but migrate works on an existing database: a SQLite file opened from the wrong
  // folder would otherwise be created empty (an export of 0 configs, a token that works nowhere).
  const path = env.database.sqlitePath;
  if (env.database.kind === 'sqlite' && path && !isMemorySqlite(path) && !existsSync(path)) {
    throw new EnvError('DATABASE_URL', `there is no database at ${path}: run bifrost where the service runs, set DATABASE_URL, or create one with bifrost migrate`);
  }
  const app: INestApplicationContext = await NestFactory.createApplicationContext(CliModule.forRoot(env), { logger, abortOnError: false });
  const get = <T>(type: abstract new (...args: never[]) => T): T => app.get(type as never, { strict: false });
  try {
    if (opts.checkKeys) await verifyStoredKeys(app.get<DataSource>(getDataSourceToken()), get(CryptoService));
  } catch (err) {
    await app.close().catch(() => undefined);
    throw err;
  }
  return {
    env,
    dataSource: app.get<DataSource>(getDataSourceToken()),
    audit: get(AuditService),
    orgs: get(OrgsService),
    tokens: get(TokensService),
    exports: get(ExportService),
    imports: get(ImportService),
    rotation: get(KeyRotationService),
    get,
    // Nest's shutdown: queued audit entries are written, then the database is closed.
    close: () => app.close(),
  };
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
