import { randomBytes } from 'node:crypto';
import { rawRows } from './helpers/raw-db';
import { bearer, freshDatabase, onMysql, seedOrg, startApp, TestApp } from './helpers/test-app';

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

describe(`who creates and revokes which tokens (${DB})`, () => {
  let t: TestApp;
  let a: Awaited<ReturnType<typeof seedOrg>>;
  let b: Awaited<ReturnType<typeof seedOrg>>;
  beforeAll(async () => {
    t = await startApp();
    a = await seedOrg(t, 'roles-a');
    b = await seedOrg(t, 'roles-b');
  });
  afterAll(async () => t?.close());

  const create = (token: string, body: Record<string, unknown>) => t.http().post('/api/tokens').set(bearer(token)).send(body);
  const tokenCount = async () => Number((await rawRows<{ n: unknown }>(t, 'SELECT COUNT(*) AS n FROM api_tokens'))[0].n);

  it('an org_admin creates member tokens of its org only; service, org_admin and admin tokens are refused with 403 ROLE_NOT_ALLOWED', async () => {
    const before = await tokenCount();
    for (const role of ['service', 'org_admin', 'admin']) {
      const res = await create(a.orgAdmin, { name: `a-${role}`, role, ...(role === 'admin' ? {} : { orgId: a.org.id }) }).expect(403);
      expect(res.body).toEqual({ statusCode: 403, error: 'Forbidden', code: 'ROLE_NOT_ALLOWED', message: expect.any(String) });
      expect(res.body.token).toBeUndefined();
    }
    // An org-less service token (acts for any org named in X-Bifrost-Org) neither.
    expect((await create(a.orgAdmin, { name: 'a-orgless', role: 'service' }).expect(403)).body.code).toBe('ROLE_NOT_ALLOWED');
    expect((await create(a.orgAdmin, { name: 'b-service', role: 'service', orgId: b.org.id }).expect(403)).body.code).toBe('ROLE_NOT_ALLOWED');
    expect(await tokenCount()).toBe(before);
    // Its own org's member tokens: yes; another org's: no.
    const member = (await create(a.orgAdmin, { name: 'a-member-2', role: 'member', orgId: a.org.id }).expect(201)).body as { token: string; role: string; orgId: string };
    expect({ role: member.role, orgId: member.orgId }).toEqual({ role: 'member', orgId: a.org.id });
    await t.http().get('/api/me').set(bearer(member.token)).expect(200);
    expect((await create(a.orgAdmin, { name: 'b-member', role: 'member', orgId: b.org.id }).expect(403)).body.code).toBe('ORG_FORBIDDEN');
    expect(await tokenCount()).toBe(before + 1);
    // admin still creates service tokens, for an org or org-less.
    await create(t.adminToken, { name: 'a-service-2', role: 'service', orgId: a.org.id }).expect(201);
    await create(t.adminToken, { name: 'orgless-service', role: 'service' }).expect(201);
  });

  it('an org_admin revokes member tokens of its org only; the org’s service tokens keep working', async () => {
    const list = (await t.http().get('/api/tokens').set(bearer(a.orgAdmin)).expect(200)).body.items as { id: string; name: string; role: string; orgId: string }[];
    const service = list.find((i) => i.role === 'service' && i.name === 'roles-a-service')!;
    expect(service).toBeDefined();
    const res = await t.http().delete(`/api/tokens/${service.id}`).set(bearer(a.orgAdmin)).expect(403);
    expect(res.body.code).toBe('ROLE_NOT_ALLOWED');
    await t.http().get('/api/me').set(bearer(a.service)).expect(200);
    const orgAdmin = list.find((i) => i.role === 'org_admin')!;
    expect((await t.http().delete(`/api/tokens/${orgAdmin.id}`).set(bearer(a.orgAdmin)).expect(403)).body.code).toBe('ROLE_NOT_ALLOWED');
    await t.http().get('/api/me').set(bearer(a.orgAdmin)).expect(200);
    // Another org's member token: not even visible.
    const bMember = ((await t.http().get('/api/tokens').set(bearer(b.orgAdmin)).expect(200)).body.items as { id: string; role: string }[]).find((i) => i.role === 'member')!;
    expect((await t.http().delete(`/api/tokens/${bMember.id}`).set(bearer(a.orgAdmin)).expect(404)).body.code).toBe('TOKEN_NOT_FOUND');
    await t.http().get('/api/me').set(bearer(b.member)).expect(200);
    // Its own member token: revoked.
    const member = list.find((i) => i.role === 'member')!;
    await t.http().delete(`/api/tokens/${member.id}`).set(bearer(a.orgAdmin)).expect(204);
    await t.http().get('/api/me').set(bearer(a.member)).expect(401);
    // admin revokes service tokens.
    await t.http().delete(`/api/tokens/${service.id}`).set(bearer(t.adminToken)).expect(204);
    await t.http().get('/api/me').set(bearer(a.service)).expect(401);
  });
});

interface DeniedEntry {
  requestId: string;
  ip: string | null;
  reason: string | null;
  scope: string | null;
}

const denials = async (t: TestApp): Promise<DeniedEntry[]> =>
  (await t.http().get('/api/audit').query({ action: 'auth.denied', limit: 500 }).set(bearer(t.adminToken)).expect(200)).body.items;

const LOCAL = /^(::ffff:)?127\.0\.0\.1$|^::1$/;

describe(`failed-authentication throttle and TRUST_PROXY (${DB})`, () => {
  describe('TRUST_PROXY off (the default): X-Forwarded-For is ignored', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startApp();
    });
    afterAll(async () => t?.close());

    it('counts failures by the socket address however X-Forwarded-For changes, audits that address, and still serves a valid token', async () => {
      for (let i = 0; i < 11; i++) await t.http().get('/api/me').set('X-Forwarded-For', `198.51.100.${i}`).set(bearer('bft_wrong' + i)).expect(401);
      const blocked = await t.http().get('/api/me').set('X-Forwarded-For', '198.51.100.200').set(bearer('bft_wrong')).expect(429);
      await t.http().get('/api/me').set('X-Forwarded-For', '198.51.100.201').set(bearer(t.adminToken)).expect(200);
      const entry = (await denials(t)).find((e) => e.requestId === blocked.headers['x-request-id']);
      expect(entry?.ip).toMatch(LOCAL);
      expect((await denials(t)).every((e) => LOCAL.test(e.ip ?? ''))).toBe(true);
    });

    it('audits the 429s once per address and window, not once per request', async () => {
      const before = (await denials(t)).filter((e) => e.reason?.startsWith('429 ')).length;
      expect(before).toBe(1); // the one of the test above
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => t.http().get('/api/me').set(bearer('bft_still_wrong' + i))));
      expect(answers.map((r) => r.status)).toEqual(Array(8).fill(429));
      await t.http().get('/api/me').expect(429);
      const throttled = (await denials(t)).filter((e) => e.reason?.startsWith('429 '));
      expect(throttled).toEqual([expect.objectContaining({ reason: '429 TOO_MANY_FAILED_AUTHENTICATIONS GET /api/me', scope: null, ip: expect.stringMatching(LOCAL) })]);
    });
  });

  describe('TRUST_PROXY names other proxies than the peer: its X-Forwarded-For is still ignored', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startApp({ env: { TRUST_PROXY: '10.0.0.0/8, fd00::/8' } });
    });
    afterAll(async () => t?.close());

    it('throttles and audits the socket address', async () => {
      for (let i = 0; i < 11; i++) await t.http().get('/api/me').set('X-Forwarded-For', `198.51.100.${i}`).set(bearer('bft_wrong' + i)).expect(401);
      await t.http().get('/api/me').set('X-Forwarded-For', '198.51.100.77').set(bearer('bft_wrong')).expect(429);
      expect((await denials(t)).every((e) => LOCAL.test(e.ip ?? ''))).toBe(true);
    });
  });

  describe('TRUST_PROXY names the peer (a load balancer on loopback)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startApp({ env: { TRUST_PROXY: '127.0.0.1,::1' } });
    });
    afterAll(async () => t?.close());

    it('throttles each client the proxy reports on its own: one client’s bad tokens lock nobody else out', async () => {
      const from = (ip: string) => ({ 'X-Forwarded-For': ip });
      for (let i = 0; i < 11; i++) await t.http().get('/api/me').set(from('203.0.113.5')).set(bearer('bft_wrong' + i)).expect(401);
      // A client-supplied entry to the left of the proxy's does not help the guesser either.
      const blocked = await t.http().get('/api/me').set(from('192.0.2.99, 203.0.113.5')).set(bearer('bft_wrong')).expect(429);
      await t.http().get('/api/me').set(from('203.0.113.5')).set(bearer('bft_wrong')).expect(429);
      const other = await t.http().get('/api/me').set(from('203.0.113.6')).set(bearer('bft_wrong')).expect(401);
      await t.http().get('/api/me').set(from('203.0.113.7')).set(bearer(t.adminToken)).expect(200);
      await t.http().get('/api/me').set(from('203.0.113.5')).set(bearer(t.adminToken)).expect(200);
      const entries = await denials(t);
      expect(entries.find((e) => e.requestId === blocked.headers['x-request-id'])).toMatchObject({ ip: '203.0.113.5', reason: '429 TOO_MANY_FAILED_AUTHENTICATIONS GET /api/me' });
      expect(entries.find((e) => e.requestId === other.headers['x-request-id'])).toMatchObject({ ip: '203.0.113.6', reason: '401 INVALID_TOKEN GET /api/me' });
      // One 429 entry for the one throttled address.
      expect(entries.filter((e) => e.reason?.startsWith('429 ')).map((e) => e.ip)).toEqual(['203.0.113.5']);
    });
  });
});

describe(`what callers can put into another org's audit view (${DB})`, () => {
  let t: TestApp;
  let a: Awaited<ReturnType<typeof seedOrg>>;
  let b: Awaited<ReturnType<typeof seedOrg>>;
  beforeAll(async () => {
    t = await startApp();
    a = await seedOrg(t, 'view-a');
    b = await seedOrg(t, 'view-b');
    await t.http().put(`/api/scopes/${b.org.id}/configs/b_key`).set(bearer(b.orgAdmin)).send({ type: 'string', value: 'b' }).expect(201);
  });
  afterAll(async () => t?.close());

  interface Item {
    id: string;
    scope: string | null;
    key: string | null;
    reason: string | null;
    userAgent: string | null;
    ip: string | null;
    requestId: string | null;
    actor: { id: string | null };
  }
  const view = async (token: string, query: Record<string, string> = {}): Promise<Item[]> =>
    (await t.http().get('/api/audit').query({ limit: '500', ...query }).set(bearer(token)).expect(200)).body.items;
  const leakedToken = newToken();
  const hostileAgents = [
    'Mozilla/5.0 ' + 'A'.repeat(2000),
    // What an HTTP client can send beyond ASCII: tabs and obs-text bytes (read as latin1).
    'ALERT: org B key rotated, call +1 555 0100 \u00ab\t\u00ff[31m',
    `curl/8.0 ${leakedToken}`,
    '\u00e9\u00e8 latin1 agent',
  ];

  it('unauthenticated denials aimed at an org are never filed under that org', async () => {
    const bBefore = (await view(b.orgAdmin)).map((i) => i.id);
    const paths = [`/api/scopes/${b.org.id}/configs`, `/api/scopes/${b.org.id}/configs/b_key`, `/api/orgs/${b.org.id}/effective-configs`, `/api/scopes/${b.org.id}/configs/fake_path_${'z'.repeat(200)}`];
    const sent: string[] = [];
    for (const path of paths) {
      for (const ua of hostileAgents) {
        const res = await t.http().get(path).set('User-Agent', ua).set(bearer('bft_wrong_' + sent.length));
        expect([401, 429]).toContain(res.status);
        sent.push(res.headers['x-request-id']);
        if (sent.length >= 10) break;
      }
      if (sent.length >= 10) break;
    }
    const noToken = await t.http().get(`/api/scopes/${b.org.id}/configs/b_key`).set('User-Agent', hostileAgents[1]).expect(401);
    sent.push(noToken.headers['x-request-id']);
    expect((await view(b.orgAdmin)).map((i) => i.id)).toEqual(bBefore);
    // The admin sees them, filed under no org, with the target org in the reason and only capped, printable caller text.
    const entries = (await view(t.adminToken, { action: 'auth.denied' })).filter((i) => sent.includes(i.requestId ?? ''));
    expect(entries).toHaveLength(sent.length);
    for (const e of entries) {
      expect(e.scope).toBeNull();
      expect(e.reason).toMatch(new RegExp(`^401 [A-Z_]+ GET /api/[A-Za-z/:-]+ target=${b.org.id}$`));
      expect(e.userAgent === null || e.userAgent.length <= 128).toBe(true);
      expect(e.userAgent ?? '').toMatch(/^[\x20-\x7e]*$/);
      expect(JSON.stringify(e)).not.toContain(leakedToken);
      expect(JSON.stringify(e)).not.toMatch(/zzzz/);
    }
  });

  it('a cross-org denial is filed under the caller’s own org, not the target’s', async () => {
    const bBefore = (await view(b.orgAdmin)).map((i) => i.id);
    const res = await t.http().put(`/api/scopes/${b.org.id}/configs/b_key`).set(bearer(a.orgAdmin)).set('User-Agent', hostileAgents[1]).send({ type: 'string', value: 'x' }).expect(403);
    const sdk = await t.http().get('/api/sdk/configs/b_key').set(bearer(a.service)).set('X-Bifrost-Org', b.org.id).expect(403);
    expect((await view(b.orgAdmin)).map((i) => i.id)).toEqual(bBefore);
    const mine = await view(a.orgAdmin, { action: 'auth.denied' });
    expect(mine.find((i) => i.requestId === res.headers['x-request-id'])).toMatchObject({ scope: a.org.id, key: 'b_key', reason: `403 ORG_FORBIDDEN PUT /api/scopes/:scope/configs/:key target=${b.org.id}` });
    expect(mine.find((i) => i.requestId === sdk.headers['x-request-id'])).toMatchObject({ scope: a.org.id, reason: '403 ORG_FORBIDDEN GET /api/sdk/configs/:key' });
  });

  it('an org_admin still sees the denials of its own org’s principals', async () => {
    const res = await t.http().put(`/api/scopes/${b.org.id}/configs/b_key`).set(bearer(b.member)).send({ type: 'string', value: 'x' }).expect(403);
    expect((await view(b.orgAdmin)).find((i) => i.requestId === res.headers['x-request-id'])).toMatchObject({ scope: b.org.id, key: 'b_key', reason: '403 ROLE_NOT_ALLOWED PUT /api/scopes/:scope/configs/:key' });
  });

  it('caps and cleans the user agent of every entry, and stores no token found in it', async () => {
    const res = await t.http().get('/api/sdk/configs/b_key').set(bearer(b.service)).set('User-Agent', `agent ${leakedToken} ${'q'.repeat(500)}`).expect(200);
    const [entry] = (await view(t.adminToken)).filter((i) => i.requestId === res.headers['x-request-id']);
    expect(entry.userAgent!.length).toBeLessThanOrEqual(128);
    expect(entry.userAgent).not.toContain(leakedToken);
    expect(entry.userAgent).toMatch(/^agent /);
    const odd = await t.http().get('/api/sdk/configs/b_key').set(bearer(b.service)).set('User-Agent', hostileAgents[1]).expect(200);
    const [oddEntry] = (await view(t.adminToken)).filter((i) => i.requestId === odd.headers['x-request-id']);
    expect(oddEntry.userAgent).toMatch(/^ALERT: org B key rotated, call \+1 555 0100 \?+\[31m$/);
  });
});
