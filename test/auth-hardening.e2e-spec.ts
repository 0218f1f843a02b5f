import { randomBytes } from 'node:crypto';
import { rawRows } from './helpers/raw-db';
import { bearer, freshDatabase, onMysql, startApp, TestApp } from './helpers/test-app';

const DB = onMysql ? 'MariaDB' : 'SQLite';
const newToken = () => 'bft_' + randomBytes(32).toString('base64url');

interface AuditRow {
  action: string;
  actor_id: string | null;
  actor_name: string | null;
  key: string | null;
  scope: string | null;
  reason: string | null;
  outcome: string;
}

const tokenCreations = (t: TestApp) =>
  rawRows<AuditRow>(t, "SELECT action, actor_id, actor_name, `key`, scope, reason, outcome FROM audit_entries WHERE action = 'token.create' ORDER BY id");

describe(`bootstrap token across restarts (${DB})`, () => {
  it('is created once and audited; a revoked bootstrap token stays revoked after a restart, with one warning line', async () => {
    const db = await freshDatabase();
    const bootstrap = newToken();
    const start = () => startApp({ db, env: { BIFROST_BOOTSTRAP_TOKEN: bootstrap } });
    let t: TestApp | undefined;
    try {
      t = await start();
      const me = (await t.http().get('/api/me').set(bearer(bootstrap)).expect(200)).body as { id: string };
      expect(await tokenCreations(t)).toEqual([
        { action: 'token.create', actor_id: 'bootstrap', actor_name: 'bootstrap', key: me.id, scope: 'global', reason: expect.stringMatching(/^role admin/), outcome: 'success' },
      ]);
      const other = (await t.http().post('/api/tokens').set(bearer(bootstrap)).send({ name: 'ops', role: 'admin' }).expect(201)).body as { token: string };
      await t.close();

      // A plain restart: nothing created again, nothing logged as a warning.
      t = await start();
      await t.http().get('/api/me').set(bearer(bootstrap)).expect(200);
      expect((await tokenCreations(t)).filter((e) => e.actor_id === 'bootstrap')).toHaveLength(1);
      expect(t.logLines.filter((l) => JSON.parse(l).level === 'warn' && /bootstrap/i.test(l))).toEqual([]);

      // Revoked (it leaked), then restarted with the same environment: it stays revoked.
      await t.http().delete(`/api/tokens/${me.id}`).set(bearer(other.token)).expect(204);
      await t.http().get('/api/me').set(bearer(bootstrap)).expect(401);
      await t.close();

      t = await start();
      await t.http().get('/api/me').set(bearer(bootstrap)).expect(401);
      await t.http().get('/api/me').set(bearer(other.token)).expect(200);
      const [row] = await rawRows<{ revoked_at: unknown; n: unknown }>(t, 'SELECT revoked_at FROM api_tokens WHERE id = ?', [me.id]);
      expect(row.revoked_at).not.toBeNull();
      const warnings = t.logLines.filter((l) => /BIFROST_BOOTSTRAP_TOKEN/.test(l));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0]).level).toBe('warn');
      expect(warnings[0]).toMatch(/revoked/);
      expect(warnings[0]).not.toContain(bootstrap);
      expect(t.logLines.join('\n')).not.toContain(bootstrap);
      // Still one creation of it, and one row with its hash.
      expect((await tokenCreations(t)).filter((e) => e.actor_id === 'bootstrap')).toHaveLength(1);
      expect(await rawRows(t, "SELECT id FROM api_tokens WHERE name = 'bootstrap'")).toHaveLength(1);
    } finally {
      await t?.close();
      await db.drop();
    }
  });

  it('a second instance starting on the same database creates nothing and stays up', async () => {
    const db = await freshDatabase();
    const bootstrap = newToken();
    const [a, b] = await Promise.all([startApp({ db, env: { BIFROST_BOOTSTRAP_TOKEN: bootstrap } }), startApp({ db, env: { BIFROST_BOOTSTRAP_TOKEN: bootstrap } })]);
    try {
      await a.http().get('/api/me').set(bearer(bootstrap)).expect(200);
      await b.http().get('/api/me').set(bearer(bootstrap)).expect(200);
      expect(await rawRows(a, "SELECT id FROM api_tokens WHERE name = 'bootstrap'")).toHaveLength(1);
      expect((await tokenCreations(a)).filter((e) => e.actor_id === 'bootstrap')).toHaveLength(1);
    } finally {
      await a.close();
      await b.close();
      await db.drop();
    }
  });

  it('audits the first-start development token as created by bootstrap, once', async () => {
    const db = await freshDatabase();
    const write = process.stdout.write;
    const printed: string[] = [];
    process.stdout.write = ((chunk: string) => (printed.push(String(chunk)), true)) as typeof process.stdout.write;
    let t: TestApp | undefined;
    try {
      t = await startApp({ db, env: { NODE_ENV: 'development', BIFROST_BOOTSTRAP_TOKEN: '' } });
      process.stdout.write = write;
      const token = /bft_[A-Za-z0-9_-]{43}/.exec(printed.join(''))?.[0];
      expect(token).toBeDefined();
      const me = (await t.http().get('/api/me').set(bearer(token!)).expect(200)).body as { id: string; role: string };
      expect(me.role).toBe('admin');
      expect(await tokenCreations(t)).toEqual([
        { action: 'token.create', actor_id: 'bootstrap', actor_name: 'bootstrap', key: me.id, scope: 'global', reason: expect.stringMatching(/^role admin/), outcome: 'success' },
      ]);
      await t.close();
      t = await startApp({ db, env: { NODE_ENV: 'development', BIFROST_BOOTSTRAP_TOKEN: '' } });
      expect(await tokenCreations(t)).toHaveLength(1);
    } finally {
      process.stdout.write = write;
      await t?.close();
      await db.drop();
    }
  });
});
