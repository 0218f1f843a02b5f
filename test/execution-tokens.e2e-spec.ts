import { rawCount } from './helpers/raw-db';
import { bearer, seedOrg, startApp, TestApp } from './helpers/test-app';
import { waitFor } from './helpers/poll';

/**
 * Issue 17, execution tokens: POST /api/executions answers a token bound to the org and the
 * execution, which reads configs through the SDK and reports that execution, nothing else, and dies
 * with the execution or its TTL.
 */
jest.setTimeout(120_000);

const SECRET = 'sk_live_exec_token_secret_0123456789';

describe('execution tokens', () => {
  let t: TestApp;
  let a: Awaited<ReturnType<typeof seedOrg>>;
  let b: Awaited<ReturnType<typeof seedOrg>>;
  beforeAll(async () => {
    t = await startApp();
    a = await seedOrg(t, 'exec-a');
    b = await seedOrg(t, 'exec-b');
    await t.http().put(`/api/scopes/${a.org.id}/configs/stripe_key`).set(bearer(t.adminToken)).send({ type: 'secret', value: SECRET }).expect(201);
    await t.http().put(`/api/scopes/${a.org.id}/configs/retries`).set(bearer(t.adminToken)).send({ type: 'int', value: 3 }).expect(201);
  });
  afterAll(() => t.close());

  const start = async (service = a.service, body: Record<string, unknown> = {}) =>
    (await t.http().post('/api/executions').set(bearer(service)).send({ workflow: 'charge_card', ...body }).expect(201)).body as { id: string; token: string; tokenExpiresAt: string; orgId: string };
  const audit = async (query: Record<string, string>) =>
    (await t.http().get('/api/audit').set(bearer(t.adminToken)).query({ limit: '500', ...query }).expect(200)).body.items as { action: string; actor: { id: string; role: string }; reason: string | null; executionId: string | null; key: string | null }[];

  it('is answered once by POST /api/executions, lives an hour by default, and is not listed', async () => {
    const before = Date.now();
    const e = await start();
    expect(e.token).toMatch(/^bft_/);
    const expires = Date.parse(e.tokenExpiresAt);
    expect(expires).toBeGreaterThanOrEqual(before + 3600_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);
    const listed = JSON.stringify((await t.http().get('/api/tokens').set(bearer(t.adminToken)).expect(200)).body);
    expect(listed).not.toContain(e.id);
    expect((await t.http().get(`/api/executions/${e.id}`).set(bearer(a.service)).expect(200)).body).not.toHaveProperty('token');
  });

  it('reads through the SDK, each secret read registered with its execution without any header; its audit entries carry the execution', async () => {
    const e = await start();
    const read = await t.http().get('/api/sdk/configs/stripe_key').set(bearer(e.token)).expect(200);
    expect(read.body.value).toBe(SECRET);
    expect(await rawCount(t, 'execution_secrets', 'execution_id = ?', [e.id])).toBe(1);
    // The cached-principal path (second read) works too.
    expect((await t.http().get('/api/sdk/configs/retries').set(bearer(e.token)).expect(200)).body.value).toBe(3);
    const all = (await t.http().get('/api/sdk/configs').set(bearer(e.token)).expect(200)).body;
    expect(all).toMatchObject({ stripe_key: '••••••', retries: 3 });
    await t.http().post(`/api/executions/${e.id}/logs`).set(bearer(e.token)).send({ lines: [{ level: 'info', message: `charging with ${SECRET}` }] }).expect(204);
    await t.http().post(`/api/executions/${e.id}/secrets`).set(bearer(e.token)).send({ values: ['oauth-dynamic-value-xyz'] }).expect(204);
    await t.http().post(`/api/executions/${e.id}/logs`).set(bearer(e.token)).send({ lines: [{ level: 'info', message: 'got oauth-dynamic-value-xyz' }] }).expect(204);
    const record = (await t.http().get(`/api/executions/${e.id}`).set(bearer(a.service)).expect(200)).body;
    expect(record.logs.map((l: { message: string }) => l.message)).toEqual(['charging with [REDACTED]', 'got [REDACTED]']);
    const reads = (await audit({ action: 'config.read' })).filter((x) => x.key === 'stripe_key' || x.key === 'retries');
    const mine = reads.filter((x) => x.actor.role === 'execution');
    expect(mine.length).toBeGreaterThanOrEqual(2);
    for (const entry of mine) expect(entry.executionId).toBe(e.id);
    const lists = (await audit({ action: 'config.list' })).filter((x) => x.actor.role === 'execution');
    expect(lists.length).toBeGreaterThanOrEqual(1);
    for (const entry of lists) expect(entry.executionId).toBe(e.id);
  });

  it('is refused on every other route with 403 EXECUTION_TOKEN_NOT_ALLOWED, audited with its execution, nothing changed', async () => {
    const e = await start();
    const configsBefore = await rawCount(t, 'configs');
    const tokensBefore = await rawCount(t, 'api_tokens');
    const executionsBefore = await rawCount(t, 'executions');
    const attempts = [
      t.http().get('/api/me'),
      t.http().get(`/api/executions/${e.id}`),
      t.http().get('/api/executions'),
      t.http().put('/api/sdk/configs/stripe_key').send({ value: 'overwritten-value' }),
      t.http().delete('/api/sdk/configs/retries'),
      t.http().get(`/api/scopes/${a.org.id}/configs`),
      t.http().post('/api/executions').send({ workflow: 'nested' }),
      t.http().post(`/api/executions/${e.id}/token`).send({}),
      t.http().post('/api/tokens').send({ name: 'x', role: 'member', orgId: a.org.id }),
      t.http().get('/api/audit'),
    ];
    for (const attempt of attempts) {
      const res = await attempt.set(bearer(e.token));
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 403, code: 'EXECUTION_TOKEN_NOT_ALLOWED' });
    }
    expect(await rawCount(t, 'configs')).toBe(configsBefore);
    expect(await rawCount(t, 'api_tokens')).toBe(tokensBefore);
    expect(await rawCount(t, 'executions')).toBe(executionsBefore);
    const denied = (await audit({ action: 'auth.denied' })).filter((x) => x.actor.role === 'execution' && x.reason?.startsWith('403 EXECUTION_TOKEN_NOT_ALLOWED'));
    expect(denied.length).toBeGreaterThanOrEqual(attempts.length);
    for (const entry of denied) expect(entry.executionId).toBe(e.id);
  });

  it('acts for its own execution only: another execution is 403 EXECUTION_TOKEN_MISMATCH, nothing stored; another org is refused', async () => {
    const mine = await start();
    const other = await start();
    for (const [path, body] of [
      [`/api/executions/${other.id}/logs`, { lines: [{ level: 'info', message: 'intruder' }] }],
      [`/api/executions/${other.id}/secrets`, { values: ['intruder-secret'] }],
      [`/api/executions/${other.id}/finish`, { status: 'success' }],
    ] as const) {
      const res = await t.http().post(path).set(bearer(mine.token)).send(body);
      expect({ path, status: res.status, code: res.body.code }).toEqual({ path, status: 403, code: 'EXECUTION_TOKEN_MISMATCH' });
    }
    const res = await t.http().get('/api/sdk/configs/stripe_key').set(bearer(mine.token)).set('X-Bifrost-Execution', other.id).expect(403);
    expect(res.body.code).toBe('EXECUTION_TOKEN_MISMATCH');
    expect(JSON.stringify(res.body)).not.toContain(SECRET);
    const record = (await t.http().get(`/api/executions/${other.id}`).set(bearer(a.service)).expect(200)).body;
    expect(record).toMatchObject({ status: 'running', logs: [] });
    expect(await rawCount(t, 'execution_secrets', 'execution_id = ?', [other.id])).toBe(0);
    expect((await t.http().get('/api/sdk/configs/stripe_key').set(bearer(mine.token)).set('X-Bifrost-Org', b.org.id).expect(403)).body.code).toBe('ORG_FORBIDDEN');
    const denied = (await audit({ action: 'auth.denied' })).filter((x) => x.reason?.startsWith('403 EXECUTION_TOKEN_MISMATCH'));
    expect(denied.length).toBeGreaterThanOrEqual(4);
    for (const entry of denied) expect(entry.executionId).toBe(mine.id);
  });

  it('stops working when its execution finishes: 401 EXECUTION_TOKEN_FINISHED on every route, audited', async () => {
    const e = await start();
    await t.http().get('/api/sdk/configs/retries').set(bearer(e.token)).expect(200);
    await t.http().get('/api/sdk/configs/retries').set(bearer(e.token)).expect(200);
    await t.http().post(`/api/executions/${e.id}/finish`).set(bearer(e.token)).send({ status: 'success', result: { ok: true } }).expect(200);
    const read = await t.http().get('/api/sdk/configs/stripe_key').set(bearer(e.token)).expect(401);
    expect(read.body.code).toBe('EXECUTION_TOKEN_FINISHED');
    expect(JSON.stringify(read.body)).not.toContain(SECRET);
    expect((await t.http().get('/api/sdk/configs').set(bearer(e.token)).expect(401)).body.code).toBe('EXECUTION_TOKEN_FINISHED');
    const logs = await t.http().post(`/api/executions/${e.id}/logs`).set(bearer(e.token)).send({ lines: [{ level: 'info', message: 'late' }] }).expect(401);
    expect(logs.body.code).toBe('EXECUTION_TOKEN_FINISHED');
    const denied = (await audit({ action: 'auth.denied' })).filter((x) => x.executionId === e.id && x.reason?.startsWith('401 EXECUTION_TOKEN_FINISHED'));
    expect(denied.length).toBeGreaterThanOrEqual(3);
    // A finished execution gets no new token.
    const tokensBefore = await rawCount(t, 'api_tokens');
    expect((await t.http().post(`/api/executions/${e.id}/token`).set(bearer(a.service)).send({}).expect(409)).body.code).toBe('EXECUTION_FINISHED');
    expect(await rawCount(t, 'api_tokens')).toBe(tokensBefore);
  });

  it('lives tokenTtlSeconds (at most the maximum, never past the service token), then 401 TOKEN_EXPIRED', async () => {
    const executionsBefore = await rawCount(t, 'executions');
    const tooLong = await t.http().post('/api/executions').set(bearer(a.service)).send({ workflow: 'w', tokenTtlSeconds: 86401 }).expect(400);
    expect(tooLong.body.code).toBe('EXPIRY_TOO_LONG');
    expect((await t.http().post('/api/executions').set(bearer(a.service)).send({ workflow: 'w', tokenTtlSeconds: 0 }).expect(400)).body.code).toBe('INVALID_EXPIRY');
    expect(await rawCount(t, 'executions')).toBe(executionsBefore);

    const e = await start(a.service, { tokenTtlSeconds: 2 });
    await t.http().get('/api/sdk/configs/retries').set(bearer(e.token)).expect(200);
    const res = await waitFor(async () => {
      const r = await t.http().get('/api/sdk/configs/retries').set(bearer(e.token));
      return r.status === 200 ? undefined : r;
    }, 'the execution token to expire', 30_000, 200);
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 401, code: 'TOKEN_EXPIRED' });
    // The execution runs on: the engine asks for another token.
    const again = (await t.http().post(`/api/executions/${e.id}/token`).set(bearer(a.service)).send({ tokenTtlSeconds: 600 }).expect(201)).body;
    expect(Date.parse(again.tokenExpiresAt)).toBeGreaterThan(Date.now() + 500_000);
    await t.http().post(`/api/executions/${e.id}/logs`).set(bearer(again.token)).send({ lines: [{ level: 'info', message: 'resumed' }] }).expect(204);

    const shortService = (await t.http().post('/api/tokens').set(bearer(t.adminToken)).send({ name: 'short', role: 'service', orgId: a.org.id, ttlSeconds: 120 }).expect(201)).body;
    const capped = await start(shortService.token);
    expect(Date.parse(capped.tokenExpiresAt)).toBeLessThanOrEqual(Date.parse(shortService.expiresAt));
  });

  it('a finish on one instance stops the token at once on another that trusted it from memory', async () => {
    const other = await startApp({ db: t.db });
    try {
      const e = await start();
      for (let i = 0; i < 2; i++) await other.http().get('/api/sdk/configs/retries').set(bearer(e.token)).expect(200);
      await t.http().post(`/api/executions/${e.id}/finish`).set(bearer(e.token)).send({ status: 'failed', error: { message: 'x' } }).expect(200);
      const res = await other.http().get('/api/sdk/configs/stripe_key').set(bearer(e.token)).expect(401);
      expect(res.body.code).toBe('EXECUTION_TOKEN_FINISHED');
      expect(JSON.stringify(res.body)).not.toContain(SECRET);
    } finally {
      await other.close();
    }
  });

  it('is revoked at once by DELETE /api/tokens/{id}', async () => {
    const e = await start();
    await t.http().get('/api/sdk/configs/retries').set(bearer(e.token)).expect(200);
    const [row] = await (await import('./helpers/raw-db')).rawRows<{ id: string }>(t, 'SELECT id FROM api_tokens WHERE execution_id = ?', [e.id]);
    await t.http().delete(`/api/tokens/${row.id}`).set(bearer(t.adminToken)).expect(204);
    expect((await t.http().get('/api/sdk/configs/retries').set(bearer(e.token)).expect(401)).body.code).toBe('INVALID_TOKEN');
  });
});
