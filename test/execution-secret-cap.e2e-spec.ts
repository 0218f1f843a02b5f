import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { MAX_EXECUTION_SECRET_BYTES, MAX_SECRET_LENGTH } from '../src/executions/dto/execution.dto';
import { rawCount } from './helpers/raw-db';
import { bearer, onMysql, seedOrg, startApp, TestApp } from './helpers/test-app';

type Seeded = Awaited<ReturnType<typeof seedOrg>>;

/**
 * Issue 12, item 5: the dynamic secrets of one execution are capped in total size (every matcher
 * build, and the memory it takes, grows with that size), with 413 EXECUTION_SECRETS_TOO_LARGE.
 */
describe(`the total size of an execution's dynamic secrets is capped (${onMysql ? 'MariaDB' : 'SQLite'})`, () => {
  let t: TestApp;
  let a: Seeded;
  const api = () => request(t.baseUrl);
  /** A secret of exactly `bytes` UTF-8 bytes (ASCII), distinct each time. */
  const secretOf = (bytes: number) => (randomBytes(16).toString('hex') + 'x'.repeat(bytes)).slice(0, bytes);
  const start = async () => (await api().post('/api/executions').set(bearer(a.service)).send({ workflow: 'cap' }).expect(201)).body as { id: string; token: string };
  const register = (id: string, values: string[]) => api().post(`/api/executions/${id}/secrets`).set(bearer(a.service)).send({ values });
  const stored = (id: string) => rawCount(t, 'execution_secrets', 'execution_id = ?', [id]);

  beforeAll(async () => {
    t = await startApp({ listen: true });
    a = await seedOrg(t, 'cap-a');
  });
  afterAll(async () => t?.close());

  it('is 256 KiB: well above what OAuth tokens, JWTs and keys take, far below what stalled the service', () => {
    expect(MAX_EXECUTION_SECRET_BYTES).toBe(256 * 1024);
    expect(MAX_SECRET_LENGTH).toBe(64 * 1024);
  });

  it('accepts secrets up to the cap, in several requests, and refuses the one that goes over with 413 (nothing stored)', async () => {
    const ex = await start();
    const quarter = MAX_EXECUTION_SECRET_BYTES / 4;
    await register(ex.id, [secretOf(quarter), secretOf(quarter)]).expect(204);
    await register(ex.id, [secretOf(quarter)]).expect(204);
    const last = secretOf(quarter - 10);
    await register(ex.id, [last]).expect(204);
    expect(await stored(ex.id)).toBe(4);
    // One byte over: refused whole, even though the first value would fit.
    const over = await register(ex.id, [secretOf(5), secretOf(6)]).expect(413);
    expect(over.body).toMatchObject({ statusCode: 413, code: 'EXECUTION_SECRETS_TOO_LARGE' });
    expect(over.body.message).toContain(String(MAX_EXECUTION_SECRET_BYTES));
    expect(await stored(ex.id)).toBe(4);
    // Exactly the cap: accepted.
    await register(ex.id, [secretOf(10)]).expect(204);
    expect(await stored(ex.id)).toBe(5);
    // Full: even a small new one is refused; one registered already is no new byte.
    expect((await register(ex.id, [secretOf(8)]).expect(413)).body.code).toBe('EXECUTION_SECRETS_TOO_LARGE');
    await register(ex.id, [last]).expect(204);
    expect(await stored(ex.id)).toBe(5);
    // What is registered is still scrubbed from what the execution stores.
    await api().post(`/api/executions/${ex.id}/logs`).set(bearer(a.service)).send({ lines: [{ level: 'info', message: `token ${last}` }] }).expect(204);
    const read = (await api().get(`/api/executions/${ex.id}`).set(bearer(a.service)).expect(200)).body;
    expect(read.logs[0].message).toBe('token [REDACTED]');
  });

  it('counts UTF-8 bytes, so a multi-byte secret cannot slip past the cap', async () => {
    const ex = await start();
    // 3 bytes a character: 40,000 characters are 120,000 bytes each; the third goes over.
    const wide = () => randomBytes(4).toString('hex') + '€'.repeat(40_000 - 8);
    await register(ex.id, [wide(), wide()]).expect(204);
    expect((await register(ex.id, [wide()]).expect(413)).body.code).toBe('EXECUTION_SECRETS_TOO_LARGE');
    expect(await stored(ex.id)).toBe(2);
  });

  it('refuses an SDK read of a secret that would take the execution over the cap (413), and audits it', async () => {
    const big = secretOf(MAX_SECRET_LENGTH);
    await api().put(`/api/scopes/${a.org.id}/configs/big_secret`).set(bearer(t.adminToken)).send({ type: 'secret', value: big }).expect(201);
    const ex = await start();
    const three = MAX_EXECUTION_SECRET_BYTES / 4;
    await register(ex.id, [secretOf(three), secretOf(three), secretOf(three)]).expect(204);
    await register(ex.id, [secretOf(three - 100)]).expect(204);
    const res = await api().get('/api/sdk/configs/big_secret').set(bearer(a.service)).set('X-Bifrost-Execution', ex.id).expect(413);
    expect(res.body.code).toBe('EXECUTION_SECRETS_TOO_LARGE');
    expect(res.text).not.toContain(big.slice(0, 40));
    expect(await stored(ex.id)).toBe(4);
    const audit = (await api().get('/api/audit?key=big_secret&outcome=failure').set(bearer(t.adminToken)).expect(200)).body.items;
    expect(audit.map((e: { reason: string }) => e.reason)).toContain('EXECUTION_SECRETS_TOO_LARGE');
  });
});
