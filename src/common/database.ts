import { randomInt } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { connect, Socket } from 'node:net';
import { DataSource, DataSourceOptions, EntityManager } from 'typeorm';
import { isSqlite } from './dialect';
import { DatabaseSettings } from './env';
import { InitialSchema1764400000000 } from './migrations/1764400000000-initial-schema';
import { SecretKeyIds1764900000000 } from './migrations/1764900000000-secret-key-ids';
import { TokenLifetimes1765000000000 } from './migrations/1765000000000-token-lifetimes';
import { SecretExposure1765100000000 } from './migrations/1765100000000-secret-exposure';
// Installs SQLite's isolation in TypeORM's better-sqlite3 driver (every DataSource of this process).
import { BetterSqlite3Driver } from 'typeorm/driver/better-sqlite3/BetterSqlite3Driver';
import { appendRows, DEFAULT_LOCK_WAIT_MS, inSqliteScope, isSqliteBusy } from './sqlite-gate';

export const MIGRATIONS = [InitialSchema1764400000000, SecretKeyIds1764900000000, TokenLifetimes1765000000000, SecretExposure1765100000000];

/** DataSource options for either dialect; the schema always comes from MIGRATIONS. */
export function dataSourceOptions(db: DatabaseSettings, entities: DataSourceOptions['entities']): DataSourceOptions {
  if (db.kind === 'sqlite') {
    const path = db.sqlitePath!;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    return {
      type: 'better-sqlite3',
      database: path,
      entities,
      migrations: MIGRATIONS,
      synchronize: false,
      migrationsRun: false,
      // How long a statement or transaction waits for the write lock of another process on the file
      // (the CLI beside the service), asynchronously, before SQLITE_BUSY (503 DATABASE_BUSY): see
      // sqlite-gate.ts. Read by the gate from the driver's options.
      lockWaitMs: db.timeoutMs ?? DEFAULT_LOCK_WAIT_MS,
      // WAL lets readers go on during a write. Opening may wait for the lock (synchronously, before
      // anything is served); from then on busy_timeout is 0: better-sqlite3's busy handler would
      // block the event loop, so the gate retries on SQLITE_BUSY with timers instead.
      prepareDatabase: (conn: { pragma(s: string): unknown }) => {
        conn.pragma('busy_timeout = 5000');
        conn.pragma('journal_mode = WAL');
        conn.pragma('foreign_keys = ON');
        conn.pragma('busy_timeout = 0');
      },
    } as DataSourceOptions;
  }
  const timeoutMs = db.timeoutMs ?? DEFAULT_MYSQL_TIMEOUT_MS;
  return {
    type: 'mysql',
    url: db.url,
    // Bounded waits: a partition that keeps the link open but silent must not hang every request.
    connectTimeout: Math.min(timeoutMs, 5000),
    entities,
    migrations: MIGRATIONS,
    synchronize: false,
    migrationsRun: false,
    charset: 'utf8mb4_bin',
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
    extra: { connectionLimit: 20, enableKeepAlive: true, stream: watchedSocket(timeoutMs) },
  } as DataSourceOptions;
}

export const DEFAULT_MYSQL_TIMEOUT_MS = 10_000;

/** What mysql2 gives its stream factory. */
interface StreamOptions {
  config: { host?: string; port?: number; socketPath?: string; keepAliveInitialDelay?: number };
}

/**
 * The sockets of the MySQL pool, each with a watchdog: when the service has sent something (a
 * statement, a prepare, a COMMIT) and the server has been silent for `timeoutMs`, the socket is
 * destroyed. mysql2 then fails every command queued on that connection as a lost connection
 * (503 DATABASE_UNAVAILABLE) and drops it from the pool, and the server, once it sees the
 * connection close, rolls back its open transaction: a write answered with an error is not applied
 * later. (The one case no client can tell apart: the link going silent after COMMIT was sent and
 * before its answer came back; that commit may have happened.) mysql2's own per-query timeout is
 * not enough: it fails the query but leaves the connection waiting for the answer, so the next
 * statement on it (a ROLLBACK, the next request's) hangs with no timeout at all. An idle pooled
 * connection is left alone; keep-alive probes look after it.
 */
function watchedSocket(timeoutMs: number): (opts: StreamOptions) => Socket {
  return ({ config }) => {
    const socket = config.socketPath ? connect(config.socketPath) : connect(config.port ?? 3306, config.host ?? 'localhost');
    socket.setNoDelay(true);
    socket.on('connect', () => socket.setKeepAlive(true, config.keepAliveInitialDelay ?? 0));
    let writtenAtLastAnswer = 0;
    socket.on('data', () => (writtenAtLastAnswer = socket.bytesWritten));
    socket.setTimeout(timeoutMs, () => {
      if (socket.bytesWritten <= writtenAtLastAnswer) return; // idle, nothing asked
      const err = Object.assign(new Error('The database did not answer in time'), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' });
      socket.destroy(err);
    });
    return socket;
  };
}

/**
 * Errors connecting at start-up that no retry mends (wrong credentials, no such database, a file
 * that is not a database): the start fails at once with one line. Anything else (refused, timed
 * out, a name not resolving yet while a database container starts) is retried.
 */
const PERMANENT_CONNECT_ERRORS = new Set([
  'ER_ACCESS_DENIED_ERROR',
  'ER_ACCESS_DENIED_NO_PASSWORD_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_BAD_DB_ERROR',
  'ER_NOT_SUPPORTED_AUTH_MODE',
  'SQLITE_NOTADB',
  'SQLITE_CANTOPEN',
  'SQLITE_CORRUPT',
  'SQLITE_READONLY',
]);

export function worthRetryingAtStart(err: unknown): boolean {
  const e = err as { code?: string; driverError?: { code?: string } };
  const code = e?.driverError?.code ?? e?.code;
  return code === undefined || !PERMANENT_CONNECT_ERRORS.has(code);
}

const RETRYABLE_MYSQL = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'ER_DUP_ENTRY']);

export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; driverError?: { code?: string } };
  const code = e?.driverError?.code ?? e?.code;
  return code === 'ER_DUP_ENTRY' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

function isRetryable(err: unknown): boolean {
  const e = err as { code?: string; driverError?: { code?: string } };
  const code = e?.driverError?.code ?? e?.code;
  return code !== undefined && RETRYABLE_MYSQL.has(code);
}

/**
 * SQLite's write lock stayed held by another process (the CLI beside the service) for the whole
 * lock wait (DATABASE_TIMEOUT_MS): answered 503 DATABASE_BUSY with Retry-After; nothing was done.
 */
export function isDatabaseBusy(err: unknown): boolean {
  return isSqliteBusy(err);
}

/**
 * Runs `work` in one transaction. On SQLite transactions are serialised in-process (one
 * connection; see sqlite-gate.ts: no other request's statement runs inside this transaction); on
 * MySQL a deadlock or a lost insert race (two creators of one key) is retried, so concurrent
 * writers of the same row see no error and one row results.
 */
export async function inTransaction<T>(dataSource: DataSource, work: (em: EntityManager) => Promise<T>): Promise<T> {
  if (isSqlite(dataSource)) return inSqliteScope(() => dataSource.transaction(work));
  for (let attempt = 1; ; attempt++) {
    try {
      // READ COMMITTED: a locking read of a row that does not exist yet (the first write of a key)
      // takes no gap lock, so writers of distinct new keys in one scope never block or deadlock each
      // other; two writers of one new key meet at the unique index instead (ER_DUP_ENTRY, retried,
      // and the retry finds the row). Under REPEATABLE READ both took the gap and deadlocked.
      return await dataSource.transaction('READ COMMITTED', work);
    } catch (err) {
      if (attempt >= 8 || !isRetryable(err)) throw err;
      await new Promise((r) => setTimeout(r, randomInt(attempt * 5, attempt * 10 + 5)));
    }
  }
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'PROTOCOL_CONNECTION_LOST',
  'ETIMEDOUT',
  'EPIPE',
  'ER_CON_COUNT_ERROR',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * True when the error means the database itself is unreachable (connection refused, lost, timed
 * out, ...). What mysql2 and TypeORM throw when the link is cut: a QueryFailedError wrapping
 * PROTOCOL_CONNECTION_LOST for a query in flight, "Can't add new command when connection is in
 * closed state" for the next query of a transaction on that connection, the socket's own
 * ECONNREFUSED/ETIMEDOUT (unwrapped) for a new connection. mysql2 marks every error after which a
 * connection is unusable `fatal`.
 */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; fatal?: boolean; driverError?: { code?: string; fatal?: boolean }; message?: string };
  const code = e?.driverError?.code ?? e?.code ?? '';
  return (
    CONNECTION_ERROR_CODES.has(code) ||
    e?.fatal === true ||
    e?.driverError?.fatal === true ||
    /Connection lost|connect ECONNREFUSED|closed state|Pool is closed/i.test(e?.message ?? '')
  );
}

/** The callback API of the mysql2 pool that TypeORM's MySQL driver keeps. */
export interface Mysql2Pool {
  execute(sql: string, values: unknown[], cb: (err: Error | null, rows: unknown) => void): void;
  query(sql: string, values: unknown[], cb: (err: Error | null, rows: unknown) => void): void;
}

/** The driver's mysql2 pool, or null (SQLite, or a replication cluster this code does not use). */
export function mysqlPool(dataSource: DataSource): Mysql2Pool | null {
  if (isSqlite(dataSource)) return null;
  return ((dataSource.driver as unknown as { pool?: Mysql2Pool }).pool ?? null) as Mysql2Pool | null;
}

/**
 * One statement on a hot path (authentication, the SDK read, the audit group commit), without
 * TypeORM's query builder, query runner and entity hydration: on MySQL a prepared statement run
 * straight on the driver's mysql2 pool (the same connections and settings: UTC, utf8mb4, one round
 * trip once prepared on a connection), on SQLite through the DataSource's one connection. Rows come
 * back with their column names and the driver's raw types (a boolean is 0/1, a datetime a Date on
 * MySQL and text on SQLite). The SQL must be valid on both (`?` placeholders, backticks).
 */
export function rawQuery<T>(dataSource: DataSource, sql: string, params: unknown[]): Promise<T[]> {
  const pool = mysqlPool(dataSource);
  if (!pool) return dataSource.query(sql, params) as Promise<T[]>;
  return new Promise((resolve, reject) => pool.execute(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[]))));
}

/**
 * A multi-row INSERT of `rows` (arrays in `columns` order), committed on its own (outside any
 * transaction of the caller). MySQL: one statement, text protocol with `VALUES ?` expanded by
 * mysql2, so any number of rows is one round trip. SQLite: `appendRows` (sqlite-gate.ts), which
 * does not wait for a long transaction holding the writer (an import): after JOURNAL_AFTER_MS the
 * rows are committed to a journal beside the database and moved in once the writer is free.
 * Undefined for a DataSource that is neither (a stand-in in a unit test): the caller keeps its
 * TypeORM path.
 */
export function rawInsertMany(dataSource: DataSource, table: string, columns: string[], rows: unknown[][]): Promise<void> | undefined {
  if (dataSource.driver instanceof BetterSqlite3Driver) return appendRows(dataSource, table, columns, rows);
  const pool = mysqlPool(dataSource);
  if (!pool) return undefined;
  const sql = `INSERT INTO ${table} (${columns.map((c) => `\`${c}\``).join(', ')}) VALUES ?`;
  return new Promise((resolve, reject) => pool.query(sql, [rows], (err) => (err ? reject(err) : resolve())));
}

/** Runs one statement where the caller reads from (a connection, a transaction, an export's snapshot). */
export type RunSql = <T>(sql: string, params: unknown[]) => Promise<T[]>;

/**
 * A Date as a query parameter. better-sqlite3 binds no Date objects, and TypeORM stores SQLite
 * datetimes as UTC `YYYY-MM-DD HH:MM:SS.SSS` text, which compares in time order; mysql2 takes Dates
 * (the connection's timezone is UTC).
 */
export function timeParam(dataSource: DataSource, date: Date): Date | string {
  if (!isSqlite(dataSource)) return date;
  return date.toISOString().replace('T', ' ').replace('Z', '');
}
