import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, EntityManager } from 'typeorm';
import { dataSourceOptions, inTransaction } from './database';
import { appendRows, isSqliteBusy, journalPath } from './sqlite-gate';

/** A real SQLite DataSource (a temp file in WAL mode, or in memory) with one table `t`. */
async function database(where: 'file' | 'memory', dir?: string): Promise<DataSource> {
  const path = where === 'memory' ? ':memory:' : join(dir!, 'db.sqlite');
  const ds = new DataSource(dataSourceOptions({ kind: 'sqlite', url: `sqlite:${path}`, sqlitePath: path }, []));
  await ds.initialize();
  await ds.query('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL)');
  return ds;
}

/** Opens a transaction that writes `v` and stays open until `end` is called (true: commit, false: roll back). */
function openTransaction(ds: DataSource, v = 'uncommitted') {
  let end!: (commit: boolean) => void;
  const ended = new Promise<boolean>((r) => (end = r));
  let written!: () => void;
  const isWritten = new Promise<void>((r) => (written = r));
  const done = inTransaction(ds, async (em) => {
    await em.query('INSERT INTO t (v) VALUES (?)', [v]);
    written();
    if (!(await ended)) throw new Error('rolled back by the test');
  }).catch((err: Error) => err.message);
  return { written: isWritten, end, done };
}

/** Tracks whether a promise has settled, without awaiting it. */
function track<T>(p: Promise<T>) {
  const s = { settled: false, value: undefined as T | undefined };
  void p.then((v) => ((s.settled = true), (s.value = v)));
  return s;
}
const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};
const values = async (ds: DataSource) => ((await ds.query('SELECT v FROM t ORDER BY id')) as { v: string }[]).map((r) => r.v);

describe.each(['file', 'memory'] as const)('SQLite gate (%s database)', (where) => {
  let dir: string;
  let ds: DataSource;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bifrost-gate-'));
    ds = await database(where, dir);
  });
  afterEach(async () => {
    if (ds.isInitialized) await ds.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a write outside the open transaction waits for it and is not rolled back with it', async () => {
    const tx = openTransaction(ds);
    await tx.written;
    const write = track(ds.query('INSERT INTO t (v) VALUES (?)', ['acknowledged']));
    const repoWrite = track(ds.createQueryBuilder().insert().into('t').values({ v: 'by the query builder' }).execute());
    await turns();
    expect(write.settled).toBe(false);
    expect(repoWrite.settled).toBe(false);
    tx.end(false);
    expect(await tx.done).toBe('rolled back by the test');
    await turns();
    expect(write.settled && repoWrite.settled).toBe(true);
    expect(await values(ds)).toEqual(['acknowledged', 'by the query builder']);
  });

  it('a read outside the open transaction never sees its uncommitted rows', async () => {
    await ds.query('INSERT INTO t (v) VALUES (?)', ['committed']);
    const tx = openTransaction(ds);
    await tx.written;
    const read = track(values(ds));
    await turns();
    if (where === 'file') {
      // A read-only WAL connection beside the writer: answered at once, with what is committed.
      expect(read.settled).toBe(true);
      expect(read.value).toEqual(['committed']);
    } else {
      // In memory there is no second connection: the read waits for the transaction.
      expect(read.settled).toBe(false);
    }
    tx.end(true);
    await tx.done;
    await turns();
    expect(read.value).toEqual(where === 'file' ? ['committed'] : ['committed', 'uncommitted']);
  });

  it('the transaction’s own code sees its own rows, through the DataSource too', async () => {
    const seen = await inTransaction(ds, async (em: EntityManager) => {
      await em.query('INSERT INTO t (v) VALUES (?)', ['mine']);
      return [await values(ds), ((await em.query('SELECT v FROM t')) as { v: string }[]).map((r) => r.v)];
    });
    expect(seen).toEqual([['mine'], ['mine']]);
  });

  it('refuses a transaction opened inside another (instead of waiting for itself forever)', async () => {
    await expect(inTransaction(ds, () => inTransaction(ds, async () => 'never'))).rejects.toThrow(/cannot open another one/);
    await expect(inTransaction(ds, (em) => em.query('SELECT 1 AS x'))).resolves.toEqual([{ x: 1 }]); // the lock was given back
  });

  it('serialises transactions and gives the lock back when one fails', async () => {
    const order: string[] = [];
    const a = inTransaction(ds, async (em) => {
      await em.query('INSERT INTO t (v) VALUES (?)', ['a']);
      await turns();
      order.push('a');
      throw new Error('a fails');
    }).catch(() => undefined);
    const b = inTransaction(ds, async (em) => {
      order.push('b');
      await em.query('INSERT INTO t (v) VALUES (?)', ['b']);
    });
    await Promise.all([a, b]);
    expect(order).toEqual(['a', 'b']);
    expect(await values(ds)).toEqual(['b']);
  });

  it('appendRows commits at once when the writer is free', async () => {
    await appendRows(ds, 't', ['v'], [['one'], ['two']]);
    expect(await values(ds)).toEqual(['one', 'two']);
  });

  it('appendRows during a long transaction: in a file committed to the journal without waiting (in memory it waits), moved in after it', async () => {
    const tx = openTransaction(ds);
    await tx.written;
    const append = track(appendRows(ds, 't', ['v'], [['read entry 1'], ['read entry 2']]));
    await new Promise((r) => setTimeout(r, 200)); // past JOURNAL_AFTER_MS
    expect(append.settled).toBe(where === 'file');
    tx.end(false);
    await tx.done;
    await turns(20);
    expect(append.settled).toBe(true);
    expect(await values(ds)).toEqual(['read entry 1', 'read entry 2']);
  });
});

describe('SQLite journal recovery', () => {
  it('moves the rows a previous process left in the journal at the next start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bifrost-gate-'));
    try {
      let ds = await database('file', dir);
      const tx = openTransaction(ds);
      await tx.written;
      await appendRows(ds, 't', ['v'], [['left behind']]);
      // The process stops before the writer is free: the row is only in the journal.
      const path = join(dir, 'db.sqlite');
       
      const Database = require('better-sqlite3') as new (p: string, o?: object) => { prepare(s: string): { all(): unknown[] }; close(): void };
      const journal = new Database(journalPath(path), { readonly: true });
      expect(journal.prepare('SELECT vals FROM pending').all()).toEqual([{ vals: '["left behind"]' }]);
      journal.close();
      const raw = (ds.driver as unknown as { databaseConnection: { exec(s: string): void; close(): void } }).databaseConnection;
      raw.exec('ROLLBACK');
      raw.close(); // what a crash does: no drain, no clean shutdown
      (ds as unknown as { isInitialized: boolean }).isInitialized = false;

      ds = await database('file', dir);
      await turns(20);
      expect(await values(ds)).toEqual(['left behind']);
      await ds.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Another process on the same file (the CLI beside the service): a second better-sqlite3
 * connection, opened by the test, holds SQLite's own write lock, which the in-process lock knows
 * nothing of. Nothing may wait for it synchronously (an interval timer keeps ticking), a write
 * waits its turn for up to the lock wait and then fails with SQLITE_BUSY, and a transaction that
 * began before another process committed never fails with SQLITE_BUSY_SNAPSHOT.
 */
describe('SQLite gate: another process holding the write lock', () => {
  let dir: string;
  let ds: DataSource;
  let other: { exec(s: string): void; close(): void };
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bifrost-gate-'));
    const path = join(dir, 'db.sqlite');
    ds = new DataSource(dataSourceOptions({ kind: 'sqlite', url: `sqlite:${path}`, sqlitePath: path, timeoutMs: 600 }, []));
    await ds.initialize();
    await ds.query('CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL)');
     
    const Database = require('better-sqlite3') as new (p: string) => typeof other;
    other = new Database(path);
  });
  afterEach(async () => {
    other.close();
    if (ds.isInitialized) await ds.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The longest gap between ticks of a 10 ms interval while `p` runs. */
  async function longestGap<T>(p: () => Promise<T>): Promise<{ result: T | Error; gap: number }> {
    let last = Date.now();
    let gap = 0;
    const timer = setInterval(() => {
      gap = Math.max(gap, Date.now() - last);
      last = Date.now();
    }, 10);
    try {
      const result = await p().catch((err: Error) => err);
      return { result, gap: Math.max(gap, Date.now() - last) };
    } finally {
      clearInterval(timer);
    }
  }

  it('a transaction and a lone write wait for it without blocking the event loop, then fail with SQLITE_BUSY', async () => {
    other.exec('BEGIN IMMEDIATE');
    const started = Date.now();
    const tx = await longestGap(() => inTransaction(ds, (em) => em.query('INSERT INTO t (v) VALUES (?)', ['tx'])));
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(isSqliteBusy(tx.result)).toBe(true);
    const lone = await longestGap(() => ds.query('INSERT INTO t (v) VALUES (?)', ['lone']));
    expect(isSqliteBusy(lone.result)).toBe(true);
    // Generous: a synchronous busy wait would be the whole 600 ms.
    expect(Math.max(tx.gap, lone.gap)).toBeLessThan(400);
    // Reads go on meanwhile, and the lock given back, writes go through again.
    expect(await values(ds)).toEqual([]);
    other.exec('ROLLBACK');
    await inTransaction(ds, (em) => em.query('INSERT INTO t (v) VALUES (?)', ['after']));
    expect(await values(ds)).toEqual(['after']);
  });

  it('a write waits its turn: it goes through once the other process commits within the lock wait', async () => {
    other.exec('BEGIN IMMEDIATE');
    other.exec("INSERT INTO t (v) VALUES ('other')");
    const writing = inTransaction(ds, (em) => em.query('INSERT INTO t (v) VALUES (?)', ['mine']));
    const write = track(writing);
    await new Promise((r) => setTimeout(r, 150));
    expect(write.settled).toBe(false);
    other.exec('COMMIT');
    await writing;
    expect(await values(ds)).toEqual(['other', 'mine']);
  });

  it('a transaction that reads before it writes is not broken by another process’s commit (no SQLITE_BUSY_SNAPSHOT)', async () => {
    let readDone!: () => void;
    const read = new Promise<void>((r) => (readDone = r));
    let goOn!: () => void;
    const proceed = new Promise<void>((r) => (goOn = r));
    const tx = inTransaction(ds, async (em) => {
      const before = (await em.query('SELECT COUNT(*) AS n FROM t')) as { n: number }[];
      readDone();
      await proceed;
      await em.query('INSERT INTO t (v) VALUES (?)', [`after ${before[0].n}`]);
    }).catch((err: Error) => err);
    await read;
    // The other process cannot commit in between: the transaction holds the write lock from its start.
    expect(() => other.exec("INSERT INTO t (v) VALUES ('other')")).toThrow(/locked|busy/i);
    goOn();
    expect(await tx).toBeUndefined();
    expect(await values(ds)).toEqual(['after 0']);
  });

  it('appendRows goes to the journal at once, and its rows are moved in once the lock is given back', async () => {
    other.exec('BEGIN IMMEDIATE');
    const append = await longestGap(() => appendRows(ds, 't', ['v'], [['read entry']]));
    expect(append.result).toBeUndefined();
    expect(append.gap).toBeLessThan(400);
    expect(await values(ds)).toEqual([]);
    other.exec('COMMIT');
    const until = Date.now() + 10_000;
    while ((await values(ds)).length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(await values(ds)).toEqual(['read entry']);
  });
});
