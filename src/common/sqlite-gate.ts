import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync } from 'node:fs';
import { DataSource, TypeORMError } from 'typeorm';
import { BetterSqlite3Driver } from 'typeorm/driver/better-sqlite3/BetterSqlite3Driver';
import { BetterSqlite3QueryRunner } from 'typeorm/driver/better-sqlite3/BetterSqlite3QueryRunner';

/**
 * SQLite isolation, in the driver layer.
 *
 * better-sqlite3 gives TypeORM one connection, and TypeORM one query runner on it for everyone: a
 * transaction is that connection's state, so any statement run on it while a transaction is open
 * (another request's INSERT, a token lookup, a read) runs inside that transaction: it sees its
 * uncommitted rows, and is rolled back with it. So, for every DataSource on better-sqlite3:
 *
 * - Transactions are serialised by one lock per connection, taken at BEGIN and given back at
 *   COMMIT/ROLLBACK, whoever opens them (`inTransaction`, `dataSource.transaction`, TypeORM's own
 *   `save`, migrations).
 * - `createQueryRunner()` hands out a runner of its own each time (sharing the connection and the
 *   statement cache), so the runner a transaction was opened on, and the EntityManager bound to
 *   it, are known. Its statements run inside the transaction.
 * - Any other statement is not part of that transaction. A read (a SELECT that better-sqlite3 says
 *   is read-only) runs on a second, read-only connection to the same file: in WAL mode it sees
 *   what is committed, at once, however long a transaction is open on the writer. Anything else (a
 *   write, a PRAGMA) waits for the lock and runs on its own between transactions. An in-memory
 *   database has no second connection: there reads wait for the lock too.
 * - Code running inside a transaction that uses `dataSource` instead of the EntityManager it was
 *   given (its async context says so) still runs inside its own transaction, as before; opening a
 *   second transaction from there is refused (it would wait for itself forever).
 * - A write that must not wait for a long transaction (the audit entry of a read: the read is
 *   answered only once its entry is committed) goes through `appendRows`, below: after a short
 *   wait for the writer it is committed to a journal file beside the database instead, and moved
 *   into its table as soon as the writer is free.
 *
 * Other processes on the same file (the `bifrost` CLI beside the service) share SQLite's own write
 * lock, which no in-process lock covers:
 * - Every connection here has busy_timeout 0: better-sqlite3's busy handler waits synchronously,
 *   which would stop the whole event loop (every request, /health) for as long as another process
 *   holds the lock. A statement that meets the lock fails at once with SQLITE_BUSY instead, and is
 *   tried again after a few ms (setTimeout: the event loop goes on meanwhile), until the lock wait
 *   of the DataSource (`lockWaitMs` in its options: DATABASE_TIMEOUT_MS for the service, longer
 *   for the CLI) runs out, counted from when the statement or transaction was asked for; then the
 *   SQLITE_BUSY error is thrown (503 DATABASE_BUSY with Retry-After, see isSqliteBusy).
 * - Transactions begin with BEGIN IMMEDIATE, so a transaction takes the write lock before its first
 *   read, and only there can it meet another process (the retry above; nothing has run yet). A
 *   deferred BEGIN would read first and fail at its first write with SQLITE_BUSY_SNAPSHOT whenever
 *   another process had committed meanwhile, a failure no retry of the statement can mend.
 * - A statement outside any transaction that meets the lock did nothing, so it is retried as is;
 *   reads on the read-only connection do not meet the writer's lock in WAL mode (only SQLite's
 *   brief internal ones), and are retried the same way.
 * - appendRows goes to the journal at once when the file's write lock is held by another process;
 *   the drain tries again shortly.
 */

/** The part of a better-sqlite3 connection used here. */
interface RawStatement {
  run(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}
interface RawConnection {
  readonly inTransaction: boolean;
  pragma(source: string): unknown;
  exec(source: string): unknown;
  prepare(source: string): RawStatement;
  close(): unknown;
}
type RawOpen = new (path: string, options?: { readonly?: boolean; fileMustExist?: boolean; timeout?: number }) => RawConnection;

/** The members of TypeORM's runner and driver this relies on (some are private in the typings). */
interface Runner {
  driver: Driver;
  /** When the transaction being opened on this runner stops waiting for another process's lock. */
  lockDeadline?: number;
  transactionDepth: number;
  isTransactionActive: boolean;
  query(sql: string, parameters?: unknown[], structured?: boolean): Promise<unknown>;
  connect(): Promise<RawConnection>;
  getStmt(sql: string): Promise<{ readonly reader: boolean; readonly readonly: boolean }>;
  startTransaction(isolation?: string): Promise<void>;
  commitTransaction(): Promise<void>;
  rollbackTransaction(): Promise<void>;
}
interface Driver {
  options: { database?: string; lockWaitMs?: number };
  databaseConnection?: RawConnection;
  queryRunner?: Runner;
  sqlite: RawOpen;
  createQueryRunner(mode: string): Runner;
  disconnect(): Promise<void>;
}

/** A FIFO lock whose waiters may give up. */
class Lock {
  private held = false;
  private readonly waiters: (() => void)[] = [];

  acquire(): Promise<() => void> {
    return new Promise((resolve) => this.enqueue(() => resolve(this.releaser())));
  }

  /** The lock if it comes within `ms`, else null (and no longer waiting). */
  acquireWithin(ms: number): Promise<(() => void) | null> {
    return new Promise((resolve) => {
      const grant = () => {
        clearTimeout(timer);
        resolve(this.releaser());
      };
      const timer = setTimeout(() => {
        const at = this.waiters.indexOf(grant);
        if (at < 0) return; // granted meanwhile
        this.waiters.splice(at, 1);
        resolve(null);
      }, ms);
      this.enqueue(grant);
    });
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private enqueue(grant: () => void): void {
    if (this.held) this.waiters.push(grant);
    else {
      this.held = true;
      grant();
    }
  }

  private releaser(): () => void {
    let once = false;
    return () => {
      if (once) return;
      once = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.held = false;
    };
  }
}

/** Marks the async context of the work passed to `inTransaction` (nested in the one it was called from, if any). */
interface TransactionScope {
  readonly parent: TransactionScope | undefined;
}

/** Whether the current async context is `scope`'s or one opened inside it. */
function inScope(scope: TransactionScope | undefined): boolean {
  if (scope === undefined) return false;
  for (let s = scopes.getStore(); s !== undefined; s = s.parent) if (s === scope) return true;
  return false;
}

interface Gate {
  lock: Lock;
  /** The runner whose transaction is open, and the async context that opened it (if through inTransaction). */
  owner: Runner | null;
  ownerScope: TransactionScope | undefined;
  release: (() => void) | null;
  /** The read-only runner: undefined until the first read asks, null when there is none (in memory, or it failed to open). */
  reader: Runner | null | undefined;
  /** Rows appended while the writer was busy (see appendRows), undefined until needed. */
  journal: Journal | undefined;
  /** Set by an append, cleared as the drain reads the journal; the drain loops while it is set. */
  journalPending: boolean;
  draining: Promise<void> | null;
  /** The DataSource was destroyed: no more drains (what is left in the journal moves at the next start). */
  closed: boolean;
}

const gates = new WeakMap<object, Gate>();
const scopes = new AsyncLocalStorage<TransactionScope>();

function gateOf(driver: object): Gate {
  let gate = gates.get(driver);
  if (!gate) {
    gate = { lock: new Lock(), owner: null, ownerScope: undefined, release: null, reader: undefined, journal: undefined, journalPending: false, draining: null, closed: false };
    gates.set(driver, gate);
  }
  return gate;
}

/** True when `path` names an in-memory SQLite database (nothing a second connection could open). */
export function isMemorySqlite(path: string | undefined): boolean {
  return path === undefined || path === '' || path === ':memory:' || path.startsWith('file::memory:') || /[?&]mode=memory\b/.test(path);
}

const READ = /^\s*(select|with)\b/i;

/** How long a statement or transaction waits for a write lock held by another process, by default. */
export const DEFAULT_LOCK_WAIT_MS = 10_000;
/** However long it already waited in this process, a transaction tries for the lock at least this long. */
const MIN_LOCK_TRY_MS = 100;
/** The longest pause between two tries. */
const MAX_RETRY_PAUSE_MS = 25;

/** SQLITE_BUSY and its extended codes (…_SNAPSHOT, …_RECOVERY, …_TIMEOUT), raw or wrapped by TypeORM. */
export function isSqliteBusy(err: unknown): boolean {
  const e = err as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = e?.driverError?.code ?? e?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

function lockWaitOf(driver: Driver): number {
  const ms = driver.options.lockWaitMs;
  return typeof ms === 'number' && ms >= 0 ? ms : DEFAULT_LOCK_WAIT_MS;
}

/**
 * Runs `fn` until it does not fail with SQLITE_BUSY or `deadline` (ms since the epoch) has passed,
 * pausing a few ms (asynchronously) between tries; the last SQLITE_BUSY is thrown. Only for work
 * that did nothing when it failed busy: a statement outside a transaction, a BEGIN.
 */
export async function retryBusy<T>(fn: () => T | Promise<T>, deadline: number): Promise<T> {
  for (let pause = 1; ; pause = Math.min(pause * 2, MAX_RETRY_PAUSE_MS)) {
    try {
      return await fn();
    } catch (err) {
      const left = deadline - Date.now();
      if (!isSqliteBusy(err) || left <= 0) throw err;
      await new Promise((r) => setTimeout(r, Math.min(pause, left)));
    }
  }
}

const proto = BetterSqlite3QueryRunner.prototype as unknown as Runner;
const driverProto = BetterSqlite3Driver.prototype as unknown as Driver;
const original = {
  query: proto.query,
  startTransaction: proto.startTransaction,
  commitTransaction: proto.commitTransaction,
  rollbackTransaction: proto.rollbackTransaction,
  createQueryRunner: driverProto.createQueryRunner,
  disconnect: driverProto.disconnect,
};

/** The read-only runner of this driver, opened on first use (null: reads go through the lock). */
function readerOf(driver: Driver, gate: Gate, base: Runner): Runner | null {
  if (gate.reader !== undefined) return gate.reader;
  const path = driver.options.database;
  if (isMemorySqlite(path)) return (gate.reader = null);
  if (!driver.databaseConnection) return null; // not connected yet: nothing to read beside
  gate.closed = false; // connected (again)
  try {
    const conn = new driver.sqlite(path!, { readonly: true, fileMustExist: true });
    conn.pragma('busy_timeout = 0'); // never a synchronous wait: see retryBusy
    const reader = Object.create(base) as Runner & { stmtCache: Map<string, unknown> };
    // Its own connection and its own prepared statements; everything else as the writer's runner.
    reader.connect = () => Promise.resolve(conn);
    reader.stmtCache = new Map();
    gate.reader = reader;
  } catch {
    gate.reader = null;
  }
  // Rows a previous process appended to the journal and did not move (it stopped first).
  if (existsSync(journalPath(path!))) {
    gate.journalPending = true;
    scheduleDrain(driver, gate);
  }
  return gate.reader;
}

/** Whether the statement only reads (compiled on the reader, whose statement cache keeps it). */
async function isRead(reader: Runner, sql: string): Promise<boolean> {
  if (!READ.test(sql)) return false;
  try {
    const stmt = await reader.getStmt(sql);
    return stmt.reader && stmt.readonly;
  } catch {
    return false; // let the writer report the error as it always did
  }
}

/** Gives the lock back once the runner's transaction is over (or the connection left it, on an error). */
function settle(runner: Runner): void {
  const gate = gateOf(runner.driver);
  if (gate.owner !== runner) return;
  const open = runner.driver.databaseConnection?.inTransaction ?? false;
  if (runner.transactionDepth > 0 && open) return;
  if (runner.transactionDepth > 0) {
    // SQLite ended the transaction itself (some errors roll back): the runner must know it too.
    runner.transactionDepth = 0;
    runner.isTransactionActive = false;
  }
  const release = gate.release;
  gate.owner = null;
  gate.ownerScope = undefined;
  gate.release = null;
  release?.();
}

/** The statement belongs to the open transaction: through its runner, or from the code running it. */
function inOpenTransaction(gate: Gate, runner: Runner): boolean {
  if (gate.owner === null) return false;
  if (gate.owner === runner) return true;
  return inScope(gate.ownerScope);
}

proto.query = async function (this: Runner, sql: string, parameters?: unknown[], structured?: boolean) {
  const gate = gateOf(this.driver);
  if (gate.reader === this) return original.query.call(this, sql, parameters, structured);
  if (inOpenTransaction(gate, this)) {
    // TypeORM's BEGIN (deferred) of the transaction this runner is opening: take the write lock now.
    if (gate.owner === this && this.transactionDepth === 0 && /^BEGIN( TRANSACTION)?$/i.test(sql.trim())) {
      const deadline = Math.max(this.lockDeadline ?? 0, Date.now() + MIN_LOCK_TRY_MS);
      return retryBusy(() => original.query.call(this, 'BEGIN IMMEDIATE', parameters, structured), deadline);
    }
    return original.query.call(this, sql, parameters, structured);
  }
  const deadline = Date.now() + lockWaitOf(this.driver);
  const reader = readerOf(this.driver, gate, this);
  if (reader && (await isRead(reader, sql))) return retryBusy(() => original.query.call(reader, sql, parameters, structured), deadline);
  return gate.lock.run(() => retryBusy(() => original.query.call(this, sql, parameters, structured), Math.max(deadline, Date.now() + MIN_LOCK_TRY_MS)));
};

proto.startTransaction = async function (this: Runner, isolation?: string) {
  if (this.transactionDepth > 0) return original.startTransaction.call(this, isolation); // a savepoint in its own transaction
  const gate = gateOf(this.driver);
  if (gate.owner !== null && inScope(gate.ownerScope)) {
    throw new TypeORMError('On SQLite a transaction cannot open another one: use the EntityManager the transaction was given');
  }
  const scope = scopes.getStore();
  this.lockDeadline = Date.now() + lockWaitOf(this.driver);
  const release = await gate.lock.acquire();
  gate.owner = this;
  gate.ownerScope = scope;
  gate.release = release;
  try {
    await original.startTransaction.call(this, isolation);
  } catch (err) {
    this.transactionDepth = 0;
    this.isTransactionActive = false;
    settle(this);
    throw err;
  }
};

proto.commitTransaction = async function (this: Runner) {
  try {
    await original.commitTransaction.call(this);
  } finally {
    settle(this);
  }
};

proto.rollbackTransaction = async function (this: Runner) {
  try {
    await original.rollbackTransaction.call(this);
  } finally {
    settle(this);
  }
};

driverProto.createQueryRunner = function (this: Driver, mode: string) {
  // TypeORM keeps one runner per SQLite driver; each caller gets its own view of it (same
  // connection, same statement cache, its own transaction state).
  const base = original.createQueryRunner.call(this, mode);
  return Object.create(base) as Runner;
};

driverProto.disconnect = async function (this: Driver) {
  const gate = gates.get(this);
  if (gate) gate.closed = true;
  // A drain in progress finishes (it is synchronous once it has the lock); one still waiting for
  // the lock stops when it gets it.
  if (gate?.draining) await Promise.race([gate.draining, new Promise((r) => setTimeout(r, 1000).unref())]);
  const reader = gate?.reader;
  const journal = gate?.journal;
  if (gate) {
    gate.reader = undefined;
    gate.journal = undefined;
  }
  if (reader) (await reader.connect()).close();
  journal?.conn.close();
  return original.disconnect.call(this);
};

/** Runs `fn`, which opens a transaction, in an async context of its own (see above). */
export function inSqliteScope<T>(fn: () => Promise<T>): Promise<T> {
  return scopes.run({ parent: scopes.getStore() }, fn);
}

// ---------------------------------------------------------------------------------------------
// Appends that do not wait for a long transaction (the audit entries of reads).
// ---------------------------------------------------------------------------------------------

/** How long an append waits for the writer before it goes to the journal instead. */
export const JOURNAL_AFTER_MS = 50;

/** Rows per INSERT: a few statement shapes only (100, 10 and 1 rows). */
const SLICES = [100, 10, 1];
const DRAIN_ROWS = 1000;
const DRAIN_RETRY_MS = 1000;
/** After the drain met another process's write lock (a CLI import, say). */
const DRAIN_BUSY_RETRY_MS = 250;

/**
 * A second SQLite file beside the database (`<database>.pending`), written by its own connection,
 * so it is not held up by the writer's open transaction: rows appended there are committed (on
 * disk) at once, and moved into their table as soon as the writer is free.
 */
interface Journal {
  conn: RawConnection;
  append: RawStatement;
  take: RawStatement;
  drop: RawStatement;
}

export function journalPath(database: string): string {
  return `${database}.pending`;
}

function journalOf(driver: Driver, gate: Gate): Journal {
  if (gate.journal) return gate.journal;
  // busy_timeout 0, from the start: another process appending or draining holds it for a moment
  // only, and its callers retry without blocking the event loop.
  const conn = new driver.sqlite(journalPath(driver.options.database!), { timeout: 0 });
  try {
    conn.pragma('journal_mode = WAL');
    conn.exec('CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, cols TEXT NOT NULL, vals TEXT NOT NULL)');
    gate.journal = {
      conn,
      append: conn.prepare('INSERT INTO pending (tbl, cols, vals) VALUES (?, ?, ?)'),
      take: conn.prepare(`SELECT seq, tbl, cols, vals FROM pending ORDER BY seq LIMIT ${DRAIN_ROWS}`),
      drop: conn.prepare('DELETE FROM pending WHERE seq <= ?'),
    };
  } catch (err) {
    conn.close();
    throw err;
  }
  return gate.journal;
}

/** A value better-sqlite3 binds, stored as TypeORM stores it on SQLite (a Date as UTC text). */
function bindable(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString().replace('T', ' ').replace('Z', '');
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v === undefined ? null : v;
}

/** Inserts rows on the writer's connection, synchronously (the caller holds the lock). */
function insertNow(conn: RawConnection, statements: Map<string, RawStatement>, table: string, columns: string[], rows: unknown[][]): void {
  const names = columns.map((c) => `\`${c}\``).join(', ');
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  for (let at = 0; at < rows.length; ) {
    const n = SLICES.find((size) => size <= rows.length - at)!;
    const sql = `INSERT INTO ${table} (${names}) VALUES ${Array(n).fill(tuple).join(', ')}`;
    let stmt = statements.get(sql);
    if (!stmt) {
      if (statements.size >= 32) statements.clear();
      statements.set(sql, (stmt = conn.prepare(sql)));
    }
    stmt.run(...rows.slice(at, at + n).flat().map(bindable));
    at += n;
  }
}
const inserts = new WeakMap<object, Map<string, RawStatement>>();
function insertStatements(conn: RawConnection): Map<string, RawStatement> {
  let m = inserts.get(conn);
  if (!m) inserts.set(conn, (m = new Map()));
  return m;
}

/** Runs `fn` on the writer's connection with the lock held, outside any transaction. */
function withWriter<T>(driver: Driver, gate: Gate, release: () => void, fn: (conn: RawConnection) => T): T {
  try {
    const conn = driver.databaseConnection;
    if (!conn) throw new TypeORMError('The SQLite DataSource is not connected');
    return fn(conn);
  } finally {
    release();
  }
}

/** Moves the journal's rows into their tables, a transaction at a time, whenever the writer is free. */
function scheduleDrain(driver: Driver, gate: Gate): void {
  if (gate.draining) return;
  gate.draining = (async () => {
    while (gate.journalPending && !gate.closed) {
      const release = await gate.lock.acquire();
      if (gate.closed) return release();
      withWriter(driver, gate, release, (conn) => {
        const journal = journalOf(driver, gate);
        // All synchronous from here: nothing else runs on either connection meanwhile.
        gate.journalPending = false;
        journal.conn.exec('BEGIN IMMEDIATE'); // another process draining the same journal waits
        try {
          const taken = journal.take.all() as { seq: number; tbl: string; cols: string; vals: string }[];
          if (taken.length === 0) return;
          conn.exec('BEGIN IMMEDIATE'); // another process holding the file's write lock: SQLITE_BUSY, tried again shortly
          try {
            for (const r of taken) insertNow(conn, insertStatements(conn), r.tbl, JSON.parse(r.cols) as string[], [JSON.parse(r.vals) as unknown[]]);
            conn.exec('COMMIT');
          } catch (err) {
            if (conn.inTransaction) conn.exec('ROLLBACK');
            throw err;
          }
          // A crash right here leaves the rows in the journal as well: moved again at the next
          // start (a duplicate entry, never a lost one).
          journal.drop.run(taken[taken.length - 1].seq);
          if (taken.length === DRAIN_ROWS) gate.journalPending = true;
        } finally {
          journal.conn.exec('COMMIT');
        }
      });
    }
  })()
    .catch((err) => {
      // The rows stay in the journal (committed there); try again a little later.
      gate.journalPending = true;
      if (!gate.closed) setTimeout(() => scheduleDrain(driver, gate), isSqliteBusy(err) ? DRAIN_BUSY_RETRY_MS : DRAIN_RETRY_MS).unref();
    })
    .finally(() => {
      gate.draining = null;
    });
}

/**
 * Appends `rows` (arrays in `columns` order) to `table` on a SQLite DataSource, committed when it
 * resolves, outside any transaction of the caller. It waits for the writer up to JOURNAL_AFTER_MS;
 * if a transaction holds it longer (an import), or another process holds the file's write lock (the
 * CLI), the rows are committed to the journal instead (`<database>.pending`) and moved into `table`
 * as soon as the writer is free, so the caller never waits for that transaction. Rows of one call
 * reach `table` together and in order; relative to other writes they land when they are moved. In
 * memory (no file for a journal) it waits for the writer.
 */
export async function appendRows(dataSource: DataSource, table: string, columns: string[], rows: unknown[][]): Promise<void> {
  const driver = dataSource.driver as unknown as Driver;
  const gate = gateOf(driver);
  if (gate.owner !== null && inScope(gate.ownerScope)) {
    throw new TypeORMError('appendRows commits on its own: inside a transaction, insert through its EntityManager');
  }
  if (rows.length === 0) return;
  const memory = isMemorySqlite(driver.options.database);
  const deadline = Date.now() + lockWaitOf(driver);
  const release = memory ? await gate.lock.acquire() : await gate.lock.acquireWithin(JOURNAL_AFTER_MS);
  if (release) {
    // Another process holding the file's write lock (the CLI) fails BEGIN IMMEDIATE at once: then
    // the journal, as for a long transaction of this process.
    const written = withWriter(driver, gate, release, (conn) => {
      try {
        conn.exec('BEGIN IMMEDIATE');
      } catch (err) {
        if (!memory && isSqliteBusy(err)) return false;
        throw err;
      }
      try {
        insertNow(conn, insertStatements(conn), table, columns, rows);
        conn.exec('COMMIT');
      } catch (err) {
        if (conn.inTransaction) conn.exec('ROLLBACK');
        throw err;
      }
      return true;
    });
    if (written) return;
  }
  const cols = JSON.stringify(columns);
  await retryBusy(() => {
    const journal = journalOf(driver, gate);
    journal.conn.exec('BEGIN IMMEDIATE');
    try {
      for (const r of rows) journal.append.run(table, cols, JSON.stringify(r.map(bindable)));
      journal.conn.exec('COMMIT');
    } catch (err) {
      if (journal.conn.inTransaction) journal.conn.exec('ROLLBACK');
      throw err;
    }
  }, deadline);
  gate.journalPending = true;
  scheduleDrain(driver, gate);
}
