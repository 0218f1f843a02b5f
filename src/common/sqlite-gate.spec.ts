import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, EntityManager } from 'typeorm';
import { dataSourceOptions, inTransaction } from './database';
import { appendRows, journalPath } from './sqlite-gate';

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
      // eslint-disable-next-line @typescript-eslint/no-require-imports
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
