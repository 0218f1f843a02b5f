import { AsyncLocalStorage } from 'node:async_hooks';
import { TypeORMError } from 'typeorm';
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
 */

/** The part of a better-sqlite3 connection used here. */
interface RawConnection {
  readonly inTransaction: boolean;
  pragma(source: string): unknown;
  close(): unknown;
}
type RawOpen = new (path: string, options: { readonly: boolean; fileMustExist: boolean }) => RawConnection;

/** The members of TypeORM's runner and driver this relies on (some are private in the typings). */
interface Runner {
  driver: Driver;
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
  options: { database?: string };
  databaseConnection?: RawConnection;
  queryRunner?: Runner;
  sqlite: RawOpen;
  createQueryRunner(mode: string): Runner;
  disconnect(): Promise<void>;
}

/** A FIFO lock: a promise chain. */
class Lock {
  private tail: Promise<void> = Promise.resolve();

  acquire(): Promise<() => void> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    return previous.then(() => {
      let once = false;
      return () => {
        if (once) return;
        once = true;
        release();
      };
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
}

/** Marks the async context of the work passed to `inTransaction`. */
interface TransactionScope {
  readonly id: number;
}

interface Gate {
  lock: Lock;
  /** The runner whose transaction is open, and the async context that opened it (if through inTransaction). */
  owner: Runner | null;
  ownerScope: TransactionScope | undefined;
  release: (() => void) | null;
  /** The read-only runner: undefined until the first read asks, null when there is none (in memory, or it failed to open). */
  reader: Runner | null | undefined;
}

const gates = new WeakMap<object, Gate>();
const scopes = new AsyncLocalStorage<TransactionScope>();
let scopeIds = 0;

function gateOf(driver: object): Gate {
  let gate = gates.get(driver);
  if (!gate) gates.set(driver, (gate = { lock: new Lock(), owner: null, ownerScope: undefined, release: null, reader: undefined }));
  return gate;
}

/** True when `path` names an in-memory SQLite database (nothing a second connection could open). */
export function isMemorySqlite(path: string | undefined): boolean {
  return path === undefined || path === '' || path === ':memory:' || path.startsWith('file::memory:') || /[?&]mode=memory\b/.test(path);
}

const READ = /^\s*(select|with)\b/i;

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
  try {
    const conn = new driver.sqlite(path!, { readonly: true, fileMustExist: true });
    conn.pragma('busy_timeout = 5000');
    const reader = Object.create(base) as Runner & { stmtCache: Map<string, unknown> };
    // Its own connection and its own prepared statements; everything else as the writer's runner.
    reader.connect = () => Promise.resolve(conn);
    reader.stmtCache = new Map();
    gate.reader = reader;
  } catch {
    gate.reader = null;
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
  return gate.ownerScope !== undefined && scopes.getStore() === gate.ownerScope;
}

proto.query = async function (this: Runner, sql: string, parameters?: unknown[], structured?: boolean) {
  const gate = gateOf(this.driver);
  if (gate.reader === this || inOpenTransaction(gate, this)) return original.query.call(this, sql, parameters, structured);
  const reader = readerOf(this.driver, gate, this);
  if (reader && (await isRead(reader, sql))) return original.query.call(reader, sql, parameters, structured);
  return gate.lock.run(() => original.query.call(this, sql, parameters, structured));
};

proto.startTransaction = async function (this: Runner, isolation?: string) {
  if (this.transactionDepth > 0) return original.startTransaction.call(this, isolation); // a savepoint in its own transaction
  const gate = gateOf(this.driver);
  const scope = scopes.getStore();
  if (gate.owner !== null && scope !== undefined && scope === gate.ownerScope) {
    throw new TypeORMError('On SQLite a transaction cannot open another one: use the EntityManager the transaction was given');
  }
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
  const reader = gate?.reader;
  if (gate) gate.reader = undefined;
  if (reader) (await reader.connect()).close();
  return original.disconnect.call(this);
};

/** Runs `fn`, which opens a transaction, in an async context of its own (see above). */
export function inSqliteScope<T>(fn: () => Promise<T>): Promise<T> {
  return scopes.run({ id: ++scopeIds }, fn);
}
