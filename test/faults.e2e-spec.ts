import { randomBytes } from 'node:crypto';
import { createServer, connect, Server, Socket, AddressInfo } from 'node:net';
import request from 'supertest';
import { rawRows } from './helpers/raw-db';
import { bearer, freshDatabase, onMysql, seedOrg, startApp, TestApp, TestDatabase, TEST_DATABASE_URL } from './helpers/test-app';

/**
 * A TCP proxy between the service and MariaDB that the test can cut (every socket destroyed, the
 * port closed, so new connections are refused) and reopen on the same port.
 */
class CuttableProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly pairs = new Set<[Socket, Socket]>();
  private silent = false;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      client.on('close', () => this.pairs.delete(pair));
      if (this.silent) {
        client.pause();
        upstream.pause();
      } else {
        client.pipe(upstream);
        upstream.pipe(client);
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Cuts the link: no new connection is accepted and every open one is destroyed. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  /**
   * A silent partition: every connection stays open, new ones are accepted, and nothing passes in
   * either direction (what each side sends waits in the socket buffers, as in a network that drops
   * packets and retransmits them once it heals).
   */
  silence(): void {
    this.silent = true;
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  /** The partition heals: everything held back is delivered, in order, then traffic flows again. */
  heal(): void {
    this.silent = false;
    for (const [client, upstream] of this.pairs) {
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
      upstream.resume();
    }
  }

  get openSockets(): number {
    return this.sockets.size;
  }
}

/** A request that must be answered within `ms`: a hang is a failure, not a timeout of the test. */
const within = <T>(ms: number, p: PromiseLike<T>, what: string): Promise<T> =>
  Promise.race([Promise.resolve(p), new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms).unref())]);

const describeOnMysql = onMysql ? describe : describe.skip;
if (!onMysql) {
   
  console.info('faults.e2e-spec: skipped on SQLite (an embedded file database has no connection to cut and no second instance to share it); run with DATABASE_URL=mysql://...');
}

describeOnMysql('faults: the database connection is cut and restored (MariaDB only; skipped on SQLite, which has no connection to cut)', () => {
  let db: TestDatabase;
  let proxy: CuttableProxy;
  let t: TestApp;
  let org: Awaited<ReturnType<typeof seedOrg>>;
  const api = () => request(t.baseUrl);
  const putConfig = (key: string, value: string) =>
    api().put(`/api/scopes/${org.org.id}/configs/${key}`).set(bearer(t.adminToken)).timeout(15_000).send({ type: 'string', value });

  beforeAll(async () => {
    db = await freshDatabase();
    const target = new URL(TEST_DATABASE_URL);
    proxy = new CuttableProxy(target.hostname, Number(target.port || 3306));
    await proxy.open();
    const viaProxy = new URL(db.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    t = await startApp({ db: { url: viaProxy.toString(), drop: async () => undefined }, listen: true, env: { DATABASE_TIMEOUT_MS: '2000' } });
    org = await seedOrg(t, 'faults');
  });

  afterAll(async () => {
    await proxy?.open().catch(() => undefined);
    await t?.close();
    await proxy?.cut();
    await db?.drop();
  });

  it('answers 503 DATABASE_UNAVAILABLE while cut, says down on /health, recovers by itself and keeps every acknowledged write', async () => {
    await api().put(`/api/scopes/${org.org.id}/configs/sdk_secret`).set(bearer(t.adminToken)).send({ type: 'secret', value: 'faults-secret-value-1' }).expect(201);
    await api().get('/health').expect(200, { status: 'ok', database: 'up' });
    expect(proxy.openSockets).toBeGreaterThan(0);

    // A stream of writes; the link is cut while they are in flight.
    const acknowledged = new Map<string, string>();
    const outcomes: { status: number; code?: string }[] = [];
    const writer = async (w: number) => {
      for (let i = 0; i < 40; i++) {
        const key = `k_${w}_${i}`;
        const value = `v-${randomBytes(4).toString('hex')}`;
        try {
          const res = await within(20_000, putConfig(key, value), `PUT ${key}`);
          outcomes.push({ status: res.status, code: res.body?.code });
          if (res.status === 200 || res.status === 201) acknowledged.set(key, value);
        } catch (err) {
          outcomes.push({ status: -1, code: String((err as Error).message) });
        }
      }
    };
    const writers = Promise.all([0, 1, 2, 3].map(writer));
    // Cut once some writes are acknowledged, while the others are in flight.
    while (acknowledged.size < 12) await new Promise((r) => setTimeout(r, 5));
    await proxy.cut();
    await writers;

    // Writes in flight at the cut may fail; none may 500 or hang.
    expect(outcomes.filter((o) => o.status === -1)).toEqual([]);
    expect(outcomes.filter((o) => o.status !== 200 && o.status !== 201 && o.status !== 503)).toEqual([]);
    expect([...new Set(outcomes.filter((o) => o.status === 503).map((o) => o.code))]).toEqual(['DATABASE_UNAVAILABLE']);
    expect(outcomes.some((o) => o.status === 503)).toBe(true);

    // Down: every kind of request is a prompt 503, never a 500 or a hang.
    const down = [
      () => api().get('/api/me').set(bearer(t.adminToken)),
      () => api().get(`/api/sdk/configs/sdk_secret`).set(bearer(org.service)),
      () => api().get(`/api/scopes/${org.org.id}/configs?limit=100`).set(bearer(org.orgAdmin)),
      () => putConfig('while_down', 'x'),
      () => api().get('/api/audit').set(bearer(t.adminToken)),
    ];
    for (const call of down) {
      const started = Date.now();
      const res = await within(15_000, call().timeout(15_000), 'request while cut');
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 503, code: 'DATABASE_UNAVAILABLE' });
      expect(res.body).toEqual({ statusCode: 503, error: 'Service Unavailable', code: 'DATABASE_UNAVAILABLE', message: expect.any(String) });
      expect(JSON.stringify(res.body)).not.toContain('faults-secret-value-1');
      expect(Date.now() - started).toBeLessThan(12_000);
    }
    const health = await within(5_000, api().get('/health').timeout(5_000), '/health while cut');
    expect(health.status).toBe(503);
    expect(health.body).toEqual({ status: 'error', database: 'down' });
    // Liveness does not look at the database (a restart would not mend it); readiness does.
    await within(5_000, api().get('/health/live').timeout(5_000).expect(200), '/health/live while cut');
    const ready = await within(10_000, api().get('/health/ready').timeout(10_000), '/health/ready while cut');
    expect([ready.status, ready.body]).toEqual([503, { status: 'error', database: 'down', migrations: 'unknown', keys: 'checked' }]);

    // Reopen on the same port: the service recovers with no restart.
    await proxy.open();
    const deadline = Date.now() + 20_000;
    let healthy = false;
    while (!healthy && Date.now() < deadline) {
      healthy = (await api().get('/health').timeout(5_000)).status === 200;
      if (!healthy) await new Promise((r) => setTimeout(r, 200));
    }
    expect(healthy).toBe(true);
    await api().get('/api/me').set(bearer(t.adminToken)).expect(200);
    const read = await api().get('/api/sdk/configs/sdk_secret').set(bearer(org.service)).expect(200);
    expect(read.body).toEqual({ key: 'sdk_secret', type: 'secret', value: 'faults-secret-value-1', source: 'org' });
    // Every pooled connection works again, not just one: many requests at once all succeed.
    const burst = await Promise.all(Array.from({ length: 30 }, () => api().get('/api/sdk/configs/sdk_secret').set(bearer(org.service)).timeout(15_000)));
    expect(burst.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    await putConfig('after_recovery', 'ok').expect(201);

    // No acknowledged write was lost: each is in the database with the acknowledged value.
    expect(acknowledged.size).toBeGreaterThan(0);
    const rows = await rawRows<{ key: string; value: string }>(t, 'SELECT `key`, value FROM configs WHERE scope = ?', [org.org.id]);
    const stored = new Map(rows.map((r) => [r.key, JSON.parse(r.value) as string]));
    for (const [key, value] of acknowledged) expect([key, stored.get(key)]).toEqual([key, value]);
    // ...and each acknowledged write has its audit entry (same transaction).
    const audited = await rawRows<{ key: string }>(t, "SELECT `key` FROM audit_entries WHERE scope = ? AND action = 'config.create'", [org.org.id]);
    const auditedKeys = new Set(audited.map((r) => r.key));
    for (const key of acknowledged.keys()) expect(auditedKeys.has(key)).toBe(true);
  });

  it('a silent partition: every request answers 503 within a few seconds, and no write answered with an error is applied after it heals', async () => {
    await putConfig('before_silence', 'ok').expect(201);
    proxy.silence();
    // Writes and reads while the link is open but silent (DATABASE_TIMEOUT_MS is 2 s here).
    const writes = Array.from({ length: 12 }, (_, i) => within(15_000, putConfig(`silent_${i}`, 'late'), `PUT silent_${i}`));
    const reads = Array.from({ length: 4 }, () => within(15_000, api().get('/api/sdk/configs/sdk_secret').set(bearer(org.service)).timeout(15_000), 'read'));
    const health = await within(15_000, api().get('/health').timeout(15_000), '/health while silent');
    const answered = await Promise.all([...writes, ...reads]);
    expect(answered.map((res) => ({ status: res.status, code: res.body.code }))).toEqual(answered.map(() => ({ status: 503, code: 'DATABASE_UNAVAILABLE' })));
    expect(health.status).toBe(503);

    // Heal: what the service sent during the partition now reaches the server, then the
    // connections it gave up on close. Their transactions must roll back, not commit.
    proxy.heal();
    const deadline = Date.now() + 20_000;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) {
      status = (await api().get('/health').timeout(5_000)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(200);
    await putConfig('after_silence', 'ok').expect(201);
    await new Promise((r) => setTimeout(r, 1000)); // room for anything held back to land
    const direct = await import('mysql2/promise').then((m) => m.createConnection(db.url));
    try {
      const [rows] = await direct.query('SELECT `key` FROM configs WHERE scope = ? AND `key` LIKE ?', [org.org.id, 'silent\\_%']);
      expect(rows).toEqual([]);
    } finally {
      await direct.end();
    }
  });

  it('survives a second cut during a read load and recovers again', async () => {
    const reads = Array.from({ length: 60 }, (_, i) =>
      new Promise((r) => setTimeout(r, i * 5)).then(() => within(20_000, api().get('/api/sdk/configs/sdk_secret').set(bearer(org.service)).timeout(15_000), 'read')),
    );
    await new Promise((r) => setTimeout(r, 100));
    await proxy.cut();
    const answered = await Promise.all(reads);
    const unexpected = answered.filter((res) => res.status !== 200 && !(res.status === 503 && res.body.code === 'DATABASE_UNAVAILABLE'));
    expect(unexpected.map((res) => ({ status: res.status, code: res.body.code }))).toEqual([]);
    await proxy.open();
    const deadline = Date.now() + 20_000;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) {
      status = (await api().get('/api/sdk/configs/sdk_secret').set(bearer(org.service)).timeout(5_000)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(200);
    await api().get('/health').expect(200);
  });
});

describeOnMysql('two service instances on one MariaDB (MariaDB only; skipped on SQLite)', () => {
  let a: TestApp;
  let b: TestApp;
  let org: Awaited<ReturnType<typeof seedOrg>>;

  beforeAll(async () => {
    a = await startApp({ listen: true });
    b = await startApp({ db: a.db, listen: true });
    org = await seedOrg(a, 'twins');
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  const instance = (i: number) => (i % 2 === 0 ? a : b);
  const put = (i: number, key: string, body: object, token = a.adminToken) =>
    request(instance(i).baseUrl).put(`/api/scopes/${org.org.id}/configs/${key}`).set(bearer(token)).timeout(30_000).send(body);

  it('concurrent writes of the same keys through both instances: one row per key, every write answered, the last one readable from both', async () => {
    const keys = Array.from({ length: 8 }, (_, k) => `shared_${k}`);
    const writesPerKey = 12;
    const jobs: { key: string; value: number; i: number }[] = [];
    for (const key of keys) for (let v = 0; v < writesPerKey; v++) jobs.push({ key, value: v, i: jobs.length });
    const results = await Promise.all(jobs.map((j) => put(j.i, j.key, { type: 'int', value: j.value }).then((res) => ({ ...j, status: res.status, body: res.body }))));
    const failed = results.filter((r) => r.status !== 200 && r.status !== 201).map((r) => ({ status: r.status, code: r.body.code }));
    // The services' own error lines say why, if any write failed.
    const errorLines = failed.length ? [...a.logLines, ...b.logLines].filter((l) => l.includes('"level":"error"')).slice(0, 3) : [];
    expect({ failed, errorLines }).toEqual({ failed: [], errorLines: [] });
    for (const key of keys) {
      // Exactly one writer created the row; the others replaced it.
      expect(results.filter((r) => r.key === key && r.status === 201)).toHaveLength(1);
    }
    // One row per key: no duplicates under the race, on either instance's view.
    const counts = await rawRows<{ key: string; n: number | string }>(a, 'SELECT `key`, COUNT(*) AS n FROM configs WHERE scope = ? GROUP BY `key`', [org.org.id]);
    expect(counts.filter((c) => keys.includes(c.key)).map((c) => Number(c.n))).toEqual(keys.map(() => 1));
    // Every acknowledged write was audited exactly once, one create per key.
    const audit = await rawRows<{ key: string; action: string }>(a, "SELECT `key`, action FROM audit_entries WHERE scope = ? AND action IN ('config.create', 'config.update')", [org.org.id]);
    for (const key of keys) {
      expect(audit.filter((e) => e.key === key)).toHaveLength(writesPerKey);
      expect(audit.filter((e) => e.key === key && e.action === 'config.create')).toHaveLength(1);
    }
    // Both instances read the same value for each key, and it is one of the acknowledged writes.
    for (const key of keys) {
      const [ra, rb] = await Promise.all([a, b].map((t) => request(t.baseUrl).get(`/api/sdk/configs/${key}`).set(bearer(org.service)).expect(200)));
      expect(ra.body.value).toBe(rb.body.value);
      expect(results.filter((r) => r.key === key).map((r) => r.value)).toContain(ra.body.value);
    }
  });

  it('a write acknowledged by one instance is at once readable from the other (plain and secret values)', async () => {
    for (let n = 0; n < 10; n++) {
      const key = `handoff_${n}`;
      const secret = `handoff-secret-${randomBytes(8).toString('hex')}`;
      await put(n, key, { type: 'secret', value: secret }).expect(201);
      const other = instance(n + 1);
      const read = await request(other.baseUrl).get(`/api/sdk/configs/${key}`).set(bearer(org.service)).expect(200);
      expect(read.body).toEqual({ key, type: 'secret', value: secret, source: 'org' });
      const replaced = `${secret}-v2`;
      await put(n + 1, key, { type: 'secret', value: replaced }).expect(200);
      const again = await request(instance(n).baseUrl).get(`/api/sdk/configs/${key}`).set(bearer(org.service)).expect(200);
      expect(again.body.value).toBe(replaced);
    }
  });

  it('concurrent SDK writes of the same keys from both instances leave one row each', async () => {
    const keys = ['sdk_shared_a', 'sdk_shared_b', 'sdk_shared_c'];
    const jobs = keys.flatMap((key) => Array.from({ length: 10 }, (_, v) => ({ key, v })));
    const results = await Promise.all(
      jobs.map((j, i) =>
        request(instance(i).baseUrl).put(`/api/sdk/configs/${j.key}`).set(bearer(org.service)).timeout(30_000).send({ value: `val-${j.v}` }).then((r) => r.status),
      ),
    );
    expect(results.filter((s) => s !== 204)).toEqual([]);
    const rows = await rawRows<{ key: string; value: string }>(b, 'SELECT `key`, value FROM configs WHERE scope = ? AND `key` IN (?, ?, ?)', [org.org.id, ...keys]);
    expect(rows.map((r) => r.key).sort()).toEqual([...keys].sort());
    for (const row of rows) expect(JSON.parse(row.value)).toMatch(/^val-\d$/);
  });
});
