import { TokensService } from '../src/auth/tokens.service';
import { rawCount, rawRows } from './helpers/raw-db';
import { bearer, seedOrg, startApp, TestApp } from './helpers/test-app';
import { waitFor } from './helpers/poll';

/** Issue 17, expiry and last use: tokens with a lifetime, refused with their own code once it is over. */
jest.setTimeout(120_000);

/** Polls `probe` until it returns something other than undefined, for up to `ms` (a loaded machine is slow). */
describe('token expiry and lastUsedAt', () => {
  let t: TestApp;
  let org: Awaited<ReturnType<typeof seedOrg>>;
  beforeAll(async () => {
    t = await startApp();
    org = await seedOrg(t, 'lifetimes');
    await t.http().put(`/api/scopes/${org.org.id}/configs/plain_key`).set(bearer(t.adminToken)).send({ type: 'string', value: 'hello' }).expect(201);
  });
  afterAll(() => t.close());

  const create = (body: Record<string, unknown>) => t.http().post('/api/tokens').set(bearer(t.adminToken)).send({ name: 'life', role: 'service', orgId: org.org.id, ...body });

  it('takes expiresAt or ttlSeconds and shows expiresAt and lastUsedAt in the list', async () => {
    const at = new Date(Date.now() + 3600_000).toISOString();
    const a = (await create({ expiresAt: at }).expect(201)).body;
    expect(a.expiresAt).toBe(at);
    expect(a.lastUsedAt).toBeNull();
    const before = Date.now();
    const b = (await create({ ttlSeconds: 600 }).expect(201)).body;
    const bExpires = Date.parse(b.expiresAt);
    expect(bExpires).toBeGreaterThanOrEqual(before + 600_000 - 1000);
    expect(bExpires).toBeLessThanOrEqual(Date.now() + 600_000 + 1000);
    const never = (await create({}).expect(201)).body;
    expect(never.expiresAt).toBeNull();
    const list = (await t.http().get('/api/tokens').set(bearer(t.adminToken)).expect(200)).body.items as { id: string; expiresAt: string | null; lastUsedAt: string | null }[];
    expect(list.find((x) => x.id === a.id)).toMatchObject({ expiresAt: at, lastUsedAt: null });
    expect(list.find((x) => x.id === never.id)).toMatchObject({ expiresAt: null, lastUsedAt: null });
  });

  it('refuses bad expiries with a 400 and its code, creating nothing', async () => {
    const before = await rawCount(t, 'api_tokens');
    const cases: [Record<string, unknown>, string][] = [
      [{ expiresAt: new Date(Date.now() - 1000).toISOString() }, 'EXPIRY_IN_PAST'],
      [{ ttlSeconds: 0 }, 'INVALID_EXPIRY'],
      [{ ttlSeconds: -5 }, 'INVALID_EXPIRY'],
      [{ expiresAt: 'tomorrow' }, 'INVALID_EXPIRY'],
      [{ expiresAt: '2030-01-01T00:00:00' }, 'INVALID_EXPIRY'],
      [{ expiresAt: new Date(Date.now() + 3600_000).toISOString(), ttlSeconds: 60 }, 'EXPIRY_AMBIGUOUS'],
      [{ ttlSeconds: 20 * 365 * 86400 }, 'EXPIRY_TOO_LONG'],
      [{ ttlSeconds: 'soon' }, 'VALIDATION_FAILED'],
      [{ role: 'execution' }, 'VALIDATION_FAILED'],
    ];
    for (const [body, code] of cases) {
      const res = await create(body);
      expect({ body, status: res.status, code: res.body.code }).toEqual({ body, status: 400, code });
      expect(JSON.stringify(res.body)).not.toContain('tomorrow');
    }
    expect(await rawCount(t, 'api_tokens')).toBe(before);
  });

  it('an expired token gets 401 TOKEN_EXPIRED on the hot SDK read (cached principal) and elsewhere, audited as a denial', async () => {
    const { token, id } = (await create({ ttlSeconds: 3 }).expect(201)).body;
    // Read twice: the second read trusts the cached principal and checks the row in its own statement.
    await t.http().get('/api/sdk/configs/plain_key').set(bearer(token)).expect(200);
    await t.http().get('/api/sdk/configs/plain_key').set(bearer(token)).expect(200);
    const res = await waitFor(async () => {
      const r = await t.http().get('/api/sdk/configs/plain_key').set(bearer(token));
      if (r.status === 200) return undefined;
      return r;
    }, 'the token to expire', 30_000, 200);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('TOKEN_EXPIRED');
    const me = await t.http().get('/api/me').set(bearer(token)).expect(401);
    expect(me.body.code).toBe('TOKEN_EXPIRED');
    // A request with a body is refused before its body is read, with the same code.
    const put = await t.http().put('/api/sdk/configs/plain_key').set(bearer(token)).send({ value: 'x' }).expect(401);
    expect(put.body.code).toBe('TOKEN_EXPIRED');
    const audit = (await t.http().get('/api/audit').set(bearer(t.adminToken)).query({ action: 'auth.denied', limit: '500' }).expect(200)).body.items as { actor: { id: string }; reason: string }[];
    const mine = audit.filter((e) => e.actor.id === id);
    expect(mine.map((e) => e.reason)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^401 TOKEN_EXPIRED GET \/api\/sdk\/configs\/:key/), expect.stringMatching(/^401 TOKEN_EXPIRED GET \/api\/me/)]),
    );
    // Nothing else changed: a fresh token still works.
    await t.http().get('/api/sdk/configs/plain_key').set(bearer(org.service)).expect(200);
  });

  it('writes lastUsedAt in the background, at most once a minute per token', async () => {
    const { token, id } = (await create({}).expect(201)).body;
    await t.http().get('/api/sdk/configs/plain_key').set(bearer(token)).expect(200);
    const first = await waitFor(async () => {
      const items = (await t.http().get('/api/tokens').set(bearer(t.adminToken)).expect(200)).body.items as { id: string; lastUsedAt: string | null }[];
      return items.find((x) => x.id === id)?.lastUsedAt ?? undefined;
    }, 'lastUsedAt to be written', 30_000, 200);
    expect(Math.abs(Date.parse(first) - Date.now())).toBeLessThan(60_000);
    for (let i = 0; i < 3; i++) await t.http().get('/api/me').set(bearer(token)).expect(200);
    await t.app.get(TokensService).flushLastUsed();
    const [row] = await rawRows<{ last_used_at: unknown }>(t, 'SELECT last_used_at FROM api_tokens WHERE id = ?', [id]);
    const stored = row.last_used_at instanceof Date ? row.last_used_at.getTime() : Date.parse(String(row.last_used_at).replace(' ', 'T') + 'Z');
    expect(stored).toBe(Date.parse(first));
  });
});

describe('BIFROST_TOKEN_MAX_TTL', () => {
  let t: TestApp;
  let orgId: string;
  beforeAll(async () => {
    t = await startApp({ env: { BIFROST_TOKEN_MAX_TTL: '1h' } });
    orgId = (await t.http().post('/api/orgs').set(bearer(t.adminToken)).send({ name: 'capped' }).expect(201)).body.id;
  });
  afterAll(() => t.close());

  it('requires an expiry within the maximum for new tokens; the bootstrap token is not affected', async () => {
    const before = await rawCount(t, 'api_tokens');
    const send = (body: Record<string, unknown>) => t.http().post('/api/tokens').set(bearer(t.adminToken)).send({ name: 'c', role: 'service', orgId, ...body });
    expect((await send({}).expect(400)).body.code).toBe('EXPIRY_REQUIRED');
    expect((await send({ ttlSeconds: 3601 }).expect(400)).body.code).toBe('EXPIRY_TOO_LONG');
    expect((await send({ expiresAt: new Date(Date.now() + 2 * 3600_000).toISOString() }).expect(400)).body.code).toBe('EXPIRY_TOO_LONG');
    expect(await rawCount(t, 'api_tokens')).toBe(before);
    const ok = (await send({ ttlSeconds: 3600 }).expect(201)).body;
    await t.http().get('/api/me').set(bearer(ok.token)).expect(200);
    await t.http().get('/api/me').set(bearer(t.adminToken)).expect(200);
  });
});
