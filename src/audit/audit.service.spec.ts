import { Logger } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import { AppError } from '../common/errors';
import { runWithContext } from '../common/request-context';
import type { AuditEntry } from './audit-entry.entity';
import { AuditService } from './audit.service';

/** One INSERT the service issued: its rows, and the switch that commits or fails it. */
interface PendingInsert {
  rows: Partial<AuditEntry>[];
  settled: boolean;
  commit(): void;
  fail(err?: Error): void;
}

/**
 * A stand-in DataSource whose INSERTs wait until the test commits or fails them, so the test
 * decides when "the database" answers and can check what the callers saw before and after. It
 * takes the insert either way the service may send it: TypeORM's query builder, or one raw
 * multi-row `INSERT ... VALUES ?` on the mysql2 pool (rows as arrays, mapped back to fields here).
 */
function fakeDataSource(type: 'mysql' | 'better-sqlite3') {
  const inserts: PendingInsert[] = [];
  const pending = (rows: Partial<AuditEntry>[], resolve: () => void, reject: (e: Error) => void) => {
    const insert: PendingInsert = {
      rows,
      settled: false,
      commit: () => ((insert.settled = true), resolve()),
      fail: (err = new Error('insert failed')) => ((insert.settled = true), reject(err)),
    };
    inserts.push(insert);
  };
  const queryBuilder = () => {
    let rows: Partial<AuditEntry>[] = [];
    const qb = {
      insert: () => qb,
      into: () => qb,
      values: (v: Partial<AuditEntry>[]) => ((rows = v), qb),
      updateEntity: () => qb,
      execute: () => new Promise((resolve, reject) => pending(rows, () => resolve({}), reject)),
    };
    return qb;
  };
  const field = (column: string) => column.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  const pool = {
    query: (sql: string, params: unknown[][][], callback: (err: Error | null) => void) => {
      const columns = /\(([^)]*)\)\s+VALUES/i.exec(sql)![1].split(',').map((c) => field(c.trim().replace(/`/g, '')));
      const rows = params[0].map((values) => Object.fromEntries(columns.map((c, i) => [c, values[i]])) as Partial<AuditEntry>);
      pending(rows, () => callback(null), (err) => callback(err));
    },
  };
  const manager = { createQueryBuilder: queryBuilder } as unknown as EntityManager;
  const dataSource = {
    options: { type },
    driver: type === 'mysql' ? { pool } : {},
    manager,
    transaction: <T>(work: (em: EntityManager) => Promise<T>) => work(manager),
  } as unknown as DataSource;
  return { dataSource, inserts };
}

/** Lets setImmediate callbacks and promise continuations run. */
const settle = async (turns = 3) => {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
};

/** Tracks a promise's state without awaiting it. */
function track(p: Promise<void>) {
  const state = { done: false, error: undefined as unknown };
  p.then(
    () => (state.done = true),
    (e) => ((state.done = true), (state.error = e)),
  );
  return state;
}

const ctx = (requestId: string) => ({ requestId, ip: '10.0.0.1', userAgent: 'spec', method: 'GET', path: '/api/sdk/configs/k' });
const read = (audit: AuditService, requestId: string) =>
  runWithContext(ctx(requestId), () => audit.recordRead({ action: 'config.read', outcome: 'success', scope: 'global', key: 'k', configType: 'string' }));

describe('AuditService group commit', () => {
  beforeAll(() => Logger.overrideLogger(false)); // the failure case logs on purpose
  afterAll(() => Logger.overrideLogger(new Logger()));

  it('inserts the entries of concurrent reads together and answers each caller only after the commit', async () => {
    const { dataSource, inserts } = fakeDataSource('mysql');
    const audit = new AuditService(dataSource);
    const n = 64;
    const states = Array.from({ length: n }, (_, i) => track(read(audit, `req-${i}`)));
    await settle();
    // One multi-row INSERT for the whole burst, not one per request.
    expect(inserts).toHaveLength(1);
    expect(inserts[0].rows.map((r) => r.requestId)).toEqual(Array.from({ length: n }, (_, i) => `req-${i}`));
    // Not committed yet: nobody has been answered.
    expect(states.filter((s) => s.done)).toHaveLength(0);
    inserts[0].commit();
    await settle();
    expect(states.every((s) => s.done && s.error === undefined)).toBe(true);
  });

  it('gathers the reads that arrive while an insert is in flight into the next batch', async () => {
    const { dataSource, inserts } = fakeDataSource('better-sqlite3'); // one insert in flight at a time
    const audit = new AuditService(dataSource);
    const first = track(read(audit, 'first'));
    await settle();
    expect(inserts).toHaveLength(1);
    const later = Array.from({ length: 10 }, (_, i) => track(read(audit, `later-${i}`)));
    await settle();
    // The first insert is still running, so the later reads wait, together.
    expect(inserts).toHaveLength(1);
    inserts[0].commit();
    await settle();
    expect(first.done).toBe(true);
    expect(later.some((s) => s.done)).toBe(false);
    expect(inserts).toHaveLength(2);
    expect(inserts[1].rows).toHaveLength(10);
    inserts[1].commit();
    await settle();
    expect(later.every((s) => s.done && s.error === undefined)).toBe(true);
  });

  it('fails every caller of a failed batch with AUDIT_UNAVAILABLE, and recovers for the next', async () => {
    const { dataSource, inserts } = fakeDataSource('mysql');
    const audit = new AuditService(dataSource);
    const states = Array.from({ length: 5 }, (_, i) => track(read(audit, `r${i}`)));
    await settle();
    inserts[0].fail(new Error('audit down'));
    await settle();
    for (const s of states) {
      expect(s.error).toBeInstanceOf(AppError);
      expect((s.error as AppError).code).toBe('AUDIT_UNAVAILABLE');
      expect((s.error as AppError).getStatus()).toBe(503);
    }
    const next = track(read(audit, 'after'));
    await settle();
    expect(inserts).toHaveLength(2);
    inserts[1].commit();
    await settle();
    expect(next).toEqual({ done: true, error: undefined });
  });

  it('keeps each entry’s own request context, and never more than 500 rows in one insert', async () => {
    const { dataSource, inserts } = fakeDataSource('mysql');
    const audit = new AuditService(dataSource);
    const states = Array.from({ length: 1200 }, (_, i) => track(read(audit, `id-${i}`)));
    await settle();
    // Two inserts may be in flight on MySQL; the rest wait for them.
    expect(inserts.map((i) => i.rows.length)).toEqual([500]);
    for (let open = inserts.filter((i) => !i.settled); open.length > 0; open = inserts.filter((i) => !i.settled)) {
      open.forEach((i) => i.commit());
      await settle();
    }
    expect(states.every((s) => s.done && s.error === undefined)).toBe(true);
    const rows = inserts.flatMap((i) => i.rows);
    expect(rows).toHaveLength(1200);
    expect(Math.max(...inserts.map((i) => i.rows.length))).toBeLessThanOrEqual(500);
    expect(new Set(rows.map((r) => r.requestId)).size).toBe(1200);
    expect(rows[7]).toMatchObject({ requestId: 'id-7', ip: '10.0.0.1', userAgent: 'spec', action: 'config.read', outcome: 'success', scope: 'global', key: 'k' });
  });

  it('inserts each read on its own when batching is off (the benchmark’s baseline)', async () => {
    const { dataSource, inserts } = fakeDataSource('mysql');
    const audit = new AuditService(dataSource);
    audit.batching = false;
    const states = Array.from({ length: 4 }, (_, i) => track(read(audit, `solo-${i}`)));
    await settle();
    expect(inserts.map((i) => i.rows.length)).toEqual([1, 1, 1, 1]);
    inserts.forEach((i) => i.commit());
    await settle();
    expect(states.every((s) => s.done)).toBe(true);
  });
});
