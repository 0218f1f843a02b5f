import { fingerprintKey, fingerprintOf } from '../src/crypto/fingerprint';
import { VERIFY_LIMIT } from '../src/configs/secret-checks.service';
import { rawRows } from './helpers/raw-db';
import { bearer, onMysql, seedOrg, startApp, TEST_SECRET_KEY, TestApp } from './helpers/test-app';

type Seeded = Awaited<ReturnType<typeof seedOrg>>;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const STRIPE = 'sk_live_Exposure+Test/Value=1';
const STRIPE_NEW = 'sk_live_Rotated-Value-2222';
const UNUSED = 'never-logged-secret-3333';
const GLOBAL = 'ghp_GlobalExposureToken4444';
const DYNAMIC = 'ya29.dynamic-exposure-token-5555';
const ALL = [STRIPE, STRIPE_NEW, UNUSED, GLOBAL, DYNAMIC];

describe(`secret exposure, verify and fingerprints (${onMysql ? 'MariaDB' : 'SQLite'})`, () => {
  let t: TestApp;
  let acme: Seeded;
  let other: Seeded;
  let admin: Record<string, string>;

  const put = (scope: string, key: string, body: object, token = t.adminToken) => t.http().put(`/api/scopes/${scope}/configs/${key}`).set(bearer(token)).send(body);
  const config = async (scope: string, key: string) => (await t.http().get(`/api/scopes/${scope}/configs/${key}`).set(admin).expect(200)).body as Json;
  const exposed = async (scope: string, token = t.adminToken) => (await t.http().get(`/api/scopes/${scope}/exposed-secrets`).set(bearer(token)).expect(200)).body as Json;
  const start = async () => (await t.http().post('/api/executions').set(bearer(acme.service)).send({ workflow: 'charge' }).expect(201)).body as { id: string; token: string };
  const log = (id: string, ...messages: string[]) =>
    t.http().post(`/api/executions/${id}/logs`).set(bearer(acme.service)).send({ lines: messages.map((message) => ({ level: 'info', message })) }).expect(204);
  const redactedEntries = async (executionId: string) =>
    ((await t.http().get('/api/audit?action=secret.redacted&limit=500').set(admin).expect(200)).body.items as Json[]).filter((e) => e.executionId === executionId);
  const verify = (scope: string, key: string, value: unknown, token = t.adminToken) => t.http().post(`/api/scopes/${scope}/configs/${key}/verify`).set(bearer(token)).send({ value });
  const noValues = (text: string) => {
    for (const s of ALL) expect(text).not.toContain(s);
  };

  beforeAll(async () => {
    t = await startApp();
    admin = bearer(t.adminToken);
    acme = await seedOrg(t, 'exposure-acme');
    other = await seedOrg(t, 'exposure-other');
    await put(acme.org.id, 'stripe_key', { type: 'secret', value: STRIPE }, acme.orgAdmin).expect(201);
    await put(acme.org.id, 'unused_key', { type: 'secret', value: UNUSED }, acme.orgAdmin).expect(201);
    await put(acme.org.id, 'plain_key', { type: 'string', value: 'hello' }, acme.orgAdmin).expect(201);
    await put('global', 'gh_token', { type: 'secret', value: GLOBAL }).expect(201);
  });
  afterAll(async () => t?.close());

  describe('redaction is a leak signal', () => {
    let first: { id: string };

    beforeAll(async () => {
      first = await start();
      await t.http().post(`/api/executions/${first.id}/secrets`).set(bearer(acme.service)).send({ values: [DYNAMIC] }).expect(204);
      await log(first.id, `charging with ${STRIPE}`, 'an ordinary line', `again ${Buffer.from(STRIPE).toString('base64')}`, `oauth ${DYNAMIC}`);
      await log(first.id, `a later batch: ${STRIPE} and ${GLOBAL}`);
      await t.http().post(`/api/executions/${first.id}/finish`).set(bearer(acme.service)).send({ status: 'failed', error: { message: `bad key ${GLOBAL}` } }).expect(200);
    });

    it('records one secret.redacted entry per execution and secret, with the count of the write that first redacted it, never the value', async () => {
      const entries = await redactedEntries(first.id);
      const byKey = Object.fromEntries(entries.map((e) => [`${e.scope}|${e.key}`, e]));
      expect(Object.keys(byKey).sort()).toEqual([`${acme.org.id}|stripe_key`, 'global|gh_token', 'null|null'].sort());
      expect(entries).toHaveLength(3);
      expect(byKey[`${acme.org.id}|stripe_key`]).toMatchObject({ outcome: 'success', configType: 'secret', reason: 'count=2 in=logs' });
      expect(byKey['global|gh_token']).toMatchObject({ reason: 'count=1 in=logs' });
      expect(byKey['null|null'].reason).toBe('count=1 in=logs (dynamic secrets of the execution)');
      noValues(JSON.stringify(entries));
      expect(await rawRows(t, 'SELECT scope, `key`, count FROM secret_exposures WHERE execution_id = ? ORDER BY scope, `key`', [first.id])).toHaveLength(3);
    });

    it('marks the configs exposed in the masked view and the list, and lists them per scope', async () => {
      const stripe = await config(acme.org.id, 'stripe_key');
      expect(typeof stripe.exposedAt).toBe('string');
      expect(Date.parse(stripe.exposedAt)).toBeGreaterThan(Date.now() - 60_000);
      expect((await config(acme.org.id, 'unused_key')).exposedAt).toBeNull();
      expect((await config(acme.org.id, 'plain_key')).exposedAt).toBeNull();
      const list = (await t.http().get(`/api/scopes/${acme.org.id}/configs`).set(bearer(acme.member)).expect(200)).body.items as Json[];
      expect(Object.fromEntries(list.map((c) => [c.key, c.exposedAt !== null]))).toEqual({ plain_key: false, stripe_key: true, unused_key: false });
      const mine = await exposed(acme.org.id, acme.orgAdmin);
      expect(mine.items.map((i: Json) => i.key)).toEqual(['stripe_key']);
      expect(mine.items[0]).toMatchObject({ scope: acme.org.id, exposedAt: stripe.exposedAt, fingerprint: stripe.fingerprint });
      expect((await exposed('global', acme.orgAdmin)).items.map((i: Json) => i.key)).toEqual(['gh_token']);
      noValues(JSON.stringify(mine));
    });

    it('refuses the exposed list to members and to another org', async () => {
      expect((await t.http().get(`/api/scopes/${acme.org.id}/exposed-secrets`).set(bearer(acme.member))).status).toBe(403);
      const res = await t.http().get(`/api/scopes/${acme.org.id}/exposed-secrets`).set(bearer(other.orgAdmin));
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('ORG_FORBIDDEN');
      expect((await exposed(other.org.id, other.orgAdmin)).items).toEqual([]);
    });

    it('counts a result and a workflow name too', async () => {
      const run = (await t.http().post('/api/executions').set(bearer(acme.service)).send({ workflow: `wf ${UNUSED}` }).expect(201)).body as { id: string };
      expect((await redactedEntries(run.id)).map((e) => [e.key, e.reason])).toEqual([['unused_key', 'count=1 in=workflow']]);
      await t.http().post(`/api/executions/${run.id}/finish`).set(bearer(acme.service)).send({ status: 'success', result: { a: STRIPE, b: [STRIPE] } }).expect(200);
      const entries = await redactedEntries(run.id);
      expect(Object.fromEntries(entries.map((e) => [e.key, e.reason]))).toEqual({ unused_key: 'count=1 in=workflow', stripe_key: 'count=2 in=result' });
      expect((await config(acme.org.id, 'unused_key')).exposedAt).not.toBeNull();
      // Set again, so the tests below start from one exposed secret in the org.
      await put(acme.org.id, 'unused_key', { type: 'secret', value: UNUSED }, acme.orgAdmin).expect(200);
    });

    it('records a secret registered after the output that holds it: the stored output is scrubbed again, and that redaction is audited too', async () => {
      const late = await start();
      const LATE = 'ya29.late-registered-token-6666';
      await log(late.id, `token ${LATE} in a line logged before it was registered`);
      expect(await redactedEntries(late.id)).toEqual([]);
      await t.http().post(`/api/executions/${late.id}/secrets`).set(bearer(acme.service)).send({ values: [LATE] }).expect(204);
      const entries = await redactedEntries(late.id);
      expect(entries.map((e) => e.reason)).toEqual(['count=1 in=stored output (dynamic secrets of the execution)']);
      expect(JSON.stringify(entries)).not.toContain(LATE);
      const stored = await rawRows<{ message: string }>(t, 'SELECT message FROM execution_logs WHERE execution_id = ?', [late.id]);
      expect(stored.map((r) => r.message).join('\n')).not.toContain(LATE);
    });

    it('records nothing for an execution whose output holds no secret', async () => {
      const quiet = await start();
      await log(quiet.id, 'nothing to see', `almost ${STRIPE.slice(0, 10)}`);
      await t.http().post(`/api/executions/${quiet.id}/finish`).set(bearer(acme.service)).send({ status: 'success', result: { ok: 1 } }).expect(200);
      expect(await redactedEntries(quiet.id)).toEqual([]);
      expect(await rawRows(t, 'SELECT * FROM secret_exposures WHERE execution_id = ?', [quiet.id])).toEqual([]);
    });

    it('a new value clears the mark; a later leak marks it again; delete and create again clears it too', async () => {
      const before = await config(acme.org.id, 'stripe_key');
      // A description change is no new value.
      await t.http().patch(`/api/scopes/${acme.org.id}/configs/stripe_key`).set(bearer(acme.orgAdmin)).send({ description: 'rotate me' }).expect(200);
      expect((await config(acme.org.id, 'stripe_key')).exposedAt).toBe(before.exposedAt);
      const res = await put(acme.org.id, 'stripe_key', { type: 'secret', value: STRIPE_NEW }, acme.orgAdmin).expect(200);
      expect(res.body.exposedAt).toBeNull();
      expect((await config(acme.org.id, 'stripe_key')).exposedAt).toBeNull();
      expect((await exposed(acme.org.id)).items).toEqual([]);

      // The old value in a new execution's output exposes nothing any more.
      const again = await start();
      await log(again.id, `old ${STRIPE}`);
      expect((await config(acme.org.id, 'stripe_key')).exposedAt).toBeNull();
      await log(again.id, `new ${STRIPE_NEW}`);
      expect((await config(acme.org.id, 'stripe_key')).exposedAt).not.toBeNull();
      expect((await redactedEntries(again.id)).map((e) => e.key)).toEqual(['stripe_key']);

      await t.http().delete('/api/scopes/global/configs/gh_token').set(admin).expect(204);
      expect((await put('global', 'gh_token', { type: 'secret', value: GLOBAL }).expect(201)).body.exposedAt).toBeNull();
      expect((await exposed('global')).items).toEqual([]);
    });

    it('an import keeps the mark for the very token already stored (or a null secret) and clears it for a new value', async () => {
      const backup = (await t.http().get(`/api/export?portable=false&scope=${acme.org.id}`).set(admin).expect(200)).text;
      const portable = (await t.http().get(`/api/export?scope=${acme.org.id}`).set(admin).expect(200)).text;
      for (const text of [backup, portable]) {
        noValues(text);
        expect(text).not.toContain('fingerprint');
        expect(text).not.toContain('exposedAt');
      }
      const importing = (text: string) => t.http().post('/api/import?onConflict=overwrite').set(admin).set('Content-Type', 'application/json').send(text).expect(200);
      // The same tokens back, or no value at all: the mark stays.
      await importing(backup);
      expect((await config(acme.org.id, 'stripe_key')).exposedAt).not.toBeNull();
      await importing(portable);
      expect((await config(acme.org.id, 'stripe_key')).exposedAt).not.toBeNull();
      // Another value (a new one set and leaked since the backup), then the backup: its value is new here.
      await put(acme.org.id, 'stripe_key', { type: 'secret', value: STRIPE }, acme.orgAdmin).expect(200);
      const leak = await start();
      await log(leak.id, `leak ${STRIPE}`);
      expect((await config(acme.org.id, 'stripe_key')).exposedAt).not.toBeNull();
      await importing(backup);
      expect((await config(acme.org.id, 'stripe_key')).exposedAt).toBeNull();
      expect((await verify(acme.org.id, 'stripe_key', STRIPE_NEW).expect(200)).body).toEqual({ matches: true });
    });
  });

  describe('verify without reveal', () => {
    it('answers whether a value is the stored secret, audited with the result and never the value', async () => {
      await put(acme.org.id, 'verify_key', { type: 'secret', value: STRIPE }, acme.orgAdmin).expect(201);
      expect((await verify(acme.org.id, 'verify_key', STRIPE, acme.orgAdmin).expect(200)).body).toEqual({ matches: true });
      expect((await verify(acme.org.id, 'verify_key', STRIPE + 'x', acme.orgAdmin).expect(200)).body).toEqual({ matches: false });
      expect((await verify(acme.org.id, 'verify_key', STRIPE.slice(0, -1), acme.orgAdmin).expect(200)).body).toEqual({ matches: false });
      expect((await verify(acme.org.id, 'verify_key', STRIPE).expect(200)).body).toEqual({ matches: true });
      const entries = (await t.http().get(`/api/audit?action=config.verify&scope=${acme.org.id}&key=verify_key`).set(admin).expect(200)).body.items as Json[];
      expect(entries.map((e) => e.reason)).toEqual(['matches=true', 'matches=false', 'matches=false', 'matches=true']);
      expect(entries.every((e) => e.outcome === 'success' && e.configType === 'secret')).toBe(true);
      noValues(JSON.stringify(entries));
    });

    it('404 for a missing config, 409 for a plain one or a secret without a value, 400 for a value that is not a string', async () => {
      expect((await verify(acme.org.id, 'nope', 'x').expect(404)).body.code).toBe('CONFIG_NOT_FOUND');
      expect((await verify(acme.org.id, 'plain_key', 'hello').expect(409)).body.code).toBe('NOT_A_SECRET');
      expect((await verify(acme.org.id, 'stripe_key', 42).expect(400)).body.code).toBe('VALIDATION_FAILED');
      // A secret without a value: a portable bundle brings the key alone.
      const bundle = JSON.parse((await t.http().get(`/api/export?scope=${acme.org.id}`).set(admin).expect(200)).text);
      const item = bundle.configs.find((c: Json) => c.key === 'stripe_key');
      bundle.configs = [{ ...item, key: 'valueless_key' }];
      const imported = await t.http().post('/api/import').set(admin).set('Content-Type', 'application/json').send(JSON.stringify(bundle));
      expect([imported.status, imported.body.code]).toEqual([200, undefined]);
      expect((await config(acme.org.id, 'valueless_key')).hasValue).toBe(false);
      expect((await config(acme.org.id, 'valueless_key')).fingerprint).toBeNull();
      expect((await verify(acme.org.id, 'valueless_key', 'x').expect(409)).body.code).toBe('SECRET_VALUE_MISSING');
      const entries = (await t.http().get(`/api/audit?action=config.verify&scope=${acme.org.id}`).set(admin).expect(200)).body.items as Json[];
      expect(entries.filter((e) => e.outcome === 'failure').map((e) => e.reason)).toEqual(expect.arrayContaining(['CONFIG_NOT_FOUND', 'NOT_A_SECRET', 'SECRET_VALUE_MISSING']));
    });

    it('is for those who may write the config: members, other orgs and org admins in global are refused', async () => {
      expect((await verify(acme.org.id, 'verify_key', STRIPE, acme.member).expect(403)).body.code).toBe('ROLE_NOT_ALLOWED');
      expect((await verify(acme.org.id, 'verify_key', STRIPE, acme.service).expect(403)).body.code).toBe('ROLE_NOT_ALLOWED');
      expect((await verify(acme.org.id, 'verify_key', STRIPE, other.orgAdmin).expect(403)).body.code).toBe('ORG_FORBIDDEN');
      expect((await verify('global', 'gh_token', GLOBAL, acme.orgAdmin).expect(403)).body.code).toBe('GLOBAL_WRITE_FORBIDDEN');
      expect((await verify('global', 'gh_token', GLOBAL).expect(200)).body).toEqual({ matches: true });
    });

    it(`allows ${VERIFY_LIMIT} attempts a minute per token, then 429 VERIFY_THROTTLED with Retry-After (audited once)`, async () => {
      const token = (await t.http().post('/api/tokens').set(admin).send({ name: 'verify-throttle', role: 'org_admin', orgId: acme.org.id }).expect(201)).body.token as string;
      for (let i = 0; i < VERIFY_LIMIT; i++) await verify(acme.org.id, i % 2 ? 'verify_key' : 'nope', 'guess-' + i, token).expect((r) => expect([200, 404]).toContain(r.status));
      for (let i = 0; i < 2; i++) {
        const res = await verify(acme.org.id, 'verify_key', STRIPE, token).expect(429);
        expect(res.body.code).toBe('VERIFY_THROTTLED');
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      }
      // Another token is not held back.
      expect((await verify(acme.org.id, 'verify_key', STRIPE, acme.orgAdmin).expect(200)).body.matches).toBe(true);
      const denied = ((await t.http().get(`/api/audit?action=config.verify&outcome=denied`).set(admin).expect(200)).body.items as Json[]).filter((e) => e.actor.name === 'verify-throttle');
      expect(denied.map((e) => e.reason)).toEqual(['VERIFY_THROTTLED']);
    });
  });

  describe('fingerprints', () => {
    it('equal for equal values in any scope, different for different values, null for plain configs; the HMAC of the value under a key derived from BIFROST_SECRET_KEY', async () => {
      await put(acme.org.id, 'same_a', { type: 'secret', value: 'shared-value-9999' }, acme.orgAdmin).expect(201);
      await put(other.org.id, 'same_b', { type: 'secret', value: 'shared-value-9999' }, other.orgAdmin).expect(201);
      await put(other.org.id, 'different', { type: 'secret', value: 'shared-value-9998' }, other.orgAdmin).expect(201);
      const a = (await config(acme.org.id, 'same_a')).fingerprint;
      const b = (await config(other.org.id, 'same_b')).fingerprint;
      const c = (await config(other.org.id, 'different')).fingerprint;
      expect(a).toMatch(/^[0-9a-f]{12}$/);
      expect(b).toBe(a);
      expect(c).not.toBe(a);
      // What another deployment with the same key computes for the same value.
      expect(a).toBe(fingerprintOf(fingerprintKey(TEST_SECRET_KEY), 'shared-value-9999'));
      expect(a).not.toBe(fingerprintOf(fingerprintKey(TEST_SECRET_KEY + '-other'), 'shared-value-9999'));
      expect((await config(acme.org.id, 'plain_key')).fingerprint).toBeNull();
      const list = (await t.http().get(`/api/scopes/${other.org.id}/configs`).set(bearer(other.orgAdmin)).expect(200)).body.items as Json[];
      expect(list.find((i) => i.key === 'same_b')?.fingerprint).toBe(a);
      const effective = (await t.http().get(`/api/orgs/${other.org.id}/effective-configs`).set(bearer(other.orgAdmin)).expect(200)).body.items as Json[];
      expect(effective.find((i) => i.key === 'same_b')?.fingerprint).toBe(a);
      // A new value, a new fingerprint, in the write's own answer too.
      const res = await put(acme.org.id, 'same_a', { type: 'secret', value: 'shared-value-0000' }, acme.orgAdmin).expect(200);
      expect(res.body.fingerprint).toBe(fingerprintOf(fingerprintKey(TEST_SECRET_KEY), 'shared-value-0000'));
    });

    it('is shown only to those who may write the scope: not to members, nor to an org_admin for global or another org', async () => {
      await put('global', 'global_fp', { type: 'secret', value: 'shared-value-9999' }).expect(201);
      const fingerprints = async (path: string, token: string) => ((await t.http().get(path).set(bearer(token)).expect(200)).body.items as Json[]).map((i) => [i.key, i.fingerprint]);
      // A member reads the masked list of its org and the effective list: no fingerprint in either.
      for (const [, fp] of await fingerprints(`/api/scopes/${other.org.id}/configs`, other.member)) expect(fp).toBeNull();
      for (const [, fp] of await fingerprints(`/api/orgs/${other.org.id}/effective-configs`, other.member)) expect(fp).toBeNull();
      const one = await t.http().get(`/api/scopes/${other.org.id}/configs/same_b`).set(bearer(other.member)).expect(200);
      expect(one.body.fingerprint).toBeNull();
      // An org_admin sees its own org's, never global's (it may not write global).
      const effective = Object.fromEntries(await fingerprints(`/api/orgs/${other.org.id}/effective-configs`, other.orgAdmin));
      expect(effective.same_b).toMatch(/^[0-9a-f]{12}$/);
      expect(effective.global_fp).toBeNull();
      expect((await t.http().get('/api/scopes/global/configs/global_fp').set(bearer(other.orgAdmin)).expect(200)).body.fingerprint).toBeNull();
      expect((await config('global', 'global_fp')).fingerprint).toBe(effective.same_b);
    });

    it('is in no export, portable or backup', async () => {
      for (const q of ['portable=true&scope=all', 'portable=false&scope=all']) {
        const res = await t.http().get(`/api/export?${q}`).set(admin).expect(200);
        expect(res.text).not.toContain('fingerprint');
        expect(res.text).not.toContain((await config(other.org.id, 'same_b')).fingerprint);
      }
    });
  });
});
