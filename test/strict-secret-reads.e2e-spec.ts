import { rawCount } from './helpers/raw-db';
import { bearer, seedOrg, startApp } from './helpers/test-app';

/**
 * Issue 17: BIFROST_STRICT_SECRET_READS. On, a secret's plaintext goes only to a read made with a
 * running execution's token (so it is always registered with that execution's scrubber); off (the
 * default), a service token reads it as before.
 */
jest.setTimeout(120_000);

const SECRET = 'sk_live_strict_mode_secret_abcdef0123';

async function setup(env: Record<string, string>) {
  const t = await startApp({ env });
  const org = await seedOrg(t, 'strict');
  await t.http().put(`/api/scopes/${org.org.id}/configs/stripe_key`).set(bearer(t.adminToken)).send({ type: 'secret', value: SECRET }).expect(201);
  await t.http().put(`/api/scopes/${org.org.id}/configs/retries`).set(bearer(t.adminToken)).send({ type: 'int', value: 2 }).expect(201);
  const start = async () => (await t.http().post('/api/executions').set(bearer(org.service)).send({ workflow: 'w' }).expect(201)).body as { id: string; token: string };
  return { t, org, start };
}

describe('BIFROST_STRICT_SECRET_READS=true', () => {
  let s: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => {
    s = await setup({ BIFROST_STRICT_SECRET_READS: 'true' });
  });
  afterAll(() => s.t.close());

  it('refuses a secret to a service token, even naming a running execution: 403 SECRET_NEEDS_EXECUTION, audited, nothing registered', async () => {
    const { t, org, start } = s;
    const e = await start();
    for (const headers of [{}, { 'X-Bifrost-Execution': e.id }]) {
      const res = await t.http().get('/api/sdk/configs/stripe_key').set(bearer(org.service)).set(headers).expect(403);
      expect(res.body.code).toBe('SECRET_NEEDS_EXECUTION');
      expect(JSON.stringify(res.body)).not.toContain(SECRET);
    }
    expect(await rawCount(t, 'execution_secrets', 'execution_id = ?', [e.id])).toBe(0);
    // Other types are read as ever.
    expect((await t.http().get('/api/sdk/configs/retries').set(bearer(org.service)).expect(200)).body.value).toBe(2);
    const audit = (await t.http().get('/api/audit').set(bearer(t.adminToken)).query({ limit: '500' }).expect(200)).body.items as { action: string; outcome: string; reason: string | null; key: string | null }[];
    expect(audit.filter((x) => x.action === 'config.read' && x.key === 'stripe_key' && x.reason === 'SECRET_NEEDS_EXECUTION')).toHaveLength(2);
    expect(audit.filter((x) => x.action === 'auth.denied' && x.reason?.startsWith('403 SECRET_NEEDS_EXECUTION'))).toHaveLength(2);
  });

  it('returns it to the execution token of a running execution, registered with its scrubber; not after finish', async () => {
    const { t, start } = s;
    const e = await start();
    expect((await t.http().get('/api/sdk/configs/stripe_key').set(bearer(e.token)).expect(200)).body.value).toBe(SECRET);
    expect(await rawCount(t, 'execution_secrets', 'execution_id = ?', [e.id])).toBe(1);
    await t.http().post(`/api/executions/${e.id}/finish`).set(bearer(e.token)).send({ status: 'success' }).expect(200);
    const after = await t.http().get('/api/sdk/configs/stripe_key').set(bearer(e.token)).expect(401);
    expect(after.body.code).toBe('EXECUTION_TOKEN_FINISHED');
    expect(JSON.stringify(after.body)).not.toContain(SECRET);
  });
});

describe('BIFROST_STRICT_SECRET_READS off (the default)', () => {
  let s: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => {
    s = await setup({});
  });
  afterAll(() => s.t.close());

  it('a service token reads the secret, with or without an execution; an execution token too', async () => {
    const { t, org, start } = s;
    expect((await t.http().get('/api/sdk/configs/stripe_key').set(bearer(org.service)).expect(200)).body.value).toBe(SECRET);
    const e = await start();
    expect((await t.http().get('/api/sdk/configs/stripe_key').set(bearer(org.service)).set('X-Bifrost-Execution', e.id).expect(200)).body.value).toBe(SECRET);
    expect((await t.http().get('/api/sdk/configs/stripe_key').set(bearer(e.token)).expect(200)).body.value).toBe(SECRET);
  });
});
