import { DataSource } from 'typeorm';
import { bearer, onMysql, seedOrg, startApp, TestApp } from './helpers/test-app';

/**
 * SQLite only (on MySQL/MariaDB every request has a pooled connection of its own, so there is
 * nothing of this to prove there): the service has one writable better-sqlite3 connection, and a
 * transaction on it (an import) must never take in the statements of other requests. Before the
 * fix, the in-process lock covered transactions only: an org created, or a config read, while an
 * import's transaction was open ran inside that transaction, saw its uncommitted rows and was
 * rolled back with it.
 *
 * The tests watch the service's own connection (`inTransaction`, and the uncommitted rows only it
 * can see) to act while the import's transaction is open: ordering, not timing.
 */
const describeSqlite = onMysql ? describe.skip : describe;

/** The raw better-sqlite3 connection TypeORM writes through. */
interface RawConnection {
  inTransaction: boolean;
  prepare(sql: string): { get(...params: unknown[]): unknown };
}
const rawConnection = (ds: DataSource) => (ds.driver as unknown as { databaseConnection: RawConnection }).databaseConnection;

/**
 * Over the 8 MiB an import keeps in memory, so the body is spooled to a file: its reads are real
 * I/O and the event loop serves other requests during the import, as it does for a large import
 * in production (an in-memory body is scanned without ever yielding to the event loop).
 */
const ROWS = 4_000;
const FILLER = 'x'.repeat(2_500);

/** A bundle of ROWS string configs in the org `org`, keys imported_0 ..., about 10 MB. */
function bigBundle(org: string): string {
  const configs = Array.from({ length: ROWS }, (_, i) => ({ scope: { org }, key: `imported_${i}`, type: 'string', value: `${FILLER} ${i}` }));
  return JSON.stringify({ format: 'bifrost-config-bundle', version: 1, configs });
}

/**
 * Whether the import's transaction is open: the service's own connection is in a transaction and
 * sees the import's first row, which only exists inside it (these imports fail at their end).
 */
function importTransactionOpen(t: TestApp): boolean {
  const raw = rawConnection(t.dataSource);
  return raw.inTransaction && raw.prepare("SELECT 1 AS x FROM configs WHERE `key` = 'imported_0'").get() !== undefined;
}

/** Resolves once the import's transaction is open and holds its first rows. */
async function importWriting(t: TestApp, done: () => boolean): Promise<void> {
  for (;;) {
    if (done()) throw new Error('the import ended before the test could act during its transaction');
    if (importTransactionOpen(t)) return;
    await new Promise((r) => setImmediate(r));
  }
}

/** Makes the import fail at its very last step (its summary audit entry), after all its rows are written. */
async function failImportsAtTheEnd(t: TestApp): Promise<void> {
  await t.dataSource.query(
    "CREATE TRIGGER refuse_import_summary BEFORE INSERT ON audit_entries WHEN NEW.action = 'config.import' AND NEW.outcome = 'success' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
  );
}

describeSqlite('SQLite: no statement runs inside another request’s transaction', () => {
  let t: TestApp;
  let acme: Awaited<ReturnType<typeof seedOrg>>;
  const admin = () => bearer(t.adminToken);

  beforeEach(async () => {
    t = await startApp();
    acme = await seedOrg(t, 'acme');
    await failImportsAtTheEnd(t);
  });
  afterEach(() => t.close());

  /** Starts an import of bigBundle that fails at its last step; `ended()` tells whether it answered. */
  function startImport() {
    let ended = false;
    const answer = t
      .http()
      .post('/api/import')
      .set(admin())
      .set('Content-Type', 'application/json')
      .send(bigBundle('acme'))
      .then((res) => {
        ended = true;
        return res;
      });
    return { answer, ended: () => ended };
  }

  it('writes acknowledged during an import survive that import failing at its last step', async () => {
    const imp = startImport();
    await importWriting(t, imp.ended);

    const [org, put, execution] = await Promise.all([
      t.http().post('/api/orgs').set(admin()).send({ name: 'created-during-import' }),
      t.http().put('/api/scopes/global/configs/put_during_import').set(admin()).send({ type: 'string', value: 'kept' }),
      t.http().post('/api/executions').set(bearer(acme.service)).send({ workflow: 'during-import' }),
    ]);
    expect([org.status, put.status, execution.status]).toEqual([201, 201, 201]);

    const failed = await imp.answer;
    expect(failed.status).toBe(503);
    expect(failed.body.code).toBe('AUDIT_UNAVAILABLE');

    // Everything answered 2xx is there; nothing of the import is.
    const orgs = (await t.http().get('/api/orgs').set(admin()).expect(200)).body.items as { name: string }[];
    expect(orgs.map((o) => o.name)).toContain('created-during-import');
    expect((await t.http().get('/api/scopes/global/configs/put_during_import').set(admin()).expect(200)).body.value).toBe('kept');
    await t.http().get(`/api/executions/${execution.body.id}`).set(bearer(acme.service)).expect(200);
    await t.http().get(`/api/scopes/${acme.org.id}/configs/imported_0`).set(admin()).expect(404);
    const [{ n }] = await t.dataSource.query("SELECT COUNT(*) AS n FROM configs WHERE `key` LIKE 'imported_%'");
    expect(Number(n)).toBe(0);
  });

  it('a read while an import’s transaction is open does not see its uncommitted rows', async () => {
    const imp = startImport();
    await importWriting(t, imp.ended);

    const [masked, sdk, list] = await Promise.all([
      t.http().get(`/api/scopes/${acme.org.id}/configs/imported_0`).set(admin()),
      t.http().get('/api/sdk/configs/imported_0').set(bearer(acme.service)),
      t.http().get(`/api/scopes/${acme.org.id}/configs?prefix=imported_`).set(admin()),
    ]);
    expect(masked.status).toBe(404);
    expect(sdk.status).toBe(404);
    expect(sdk.body.code).toBe('CONFIG_NOT_FOUND');
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([]);
    expect((await imp.answer).status).toBe(503);
  });

  it('an SDK read during a large import is answered while the import is still running, and its entry reaches the audit log', async () => {
    await t.http().put(`/api/scopes/${acme.org.id}/configs/before_import`).set(admin()).send({ type: 'string', value: 'committed' }).expect(201);
    const imp = startImport();
    await importWriting(t, imp.ended);

    const read = await t.http().get('/api/sdk/configs/before_import').set(bearer(acme.service));
    expect(read.status).toBe(200);
    expect(read.body.value).toBe('committed');
    // Answered (its audit entry committed) with the import's transaction still open: it did not wait for it.
    expect(importTransactionOpen(t)).toBe(true);
    expect(imp.ended()).toBe(false);

    expect((await imp.answer).status).toBe(503);
    const entries = (await t.http().get('/api/audit?action=config.read&key=before_import').set(admin()).expect(200)).body.items as { outcome: string; scope: string }[];
    expect(entries).toEqual([expect.objectContaining({ outcome: 'success', scope: acme.org.id })]);
  });
});
