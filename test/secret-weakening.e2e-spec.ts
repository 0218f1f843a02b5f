import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { BifrostClient } from '../src/client';
import { Fernet } from '../src/crypto/fernet';
import { deriveFernetKey } from '../src/crypto/key-derivation';
import { configRow, rawCount } from './helpers/raw-db';
import { bearer, onMysql, seedOrg, startApp, TestApp } from './helpers/test-app';

/** What every listing shows for a secret. */
const MASK = '••••••';
const FERNET_TOKEN = /^gAAAAA[A-Za-z0-9_-]+={0,2}$/;

type Seeded = Awaited<ReturnType<typeof seedOrg>>;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * Issue 12, item 5b: values that silently weaken a secret. The mask sent back as a value, and a
 * write that does not say it is a secret turning one into a plain string.
 */
describe(`values that would weaken a secret are refused (${onMysql ? 'MariaDB' : 'SQLite'})`, () => {
  let t: TestApp;
  let a: Seeded;
  const api = () => request(t.baseUrl);
  const path = (scope: string, key: string) => `/api/scopes/${scope}/configs/${encodeURIComponent(key)}`;
  const put = (scope: string, key: string, body: object, token = t.adminToken) => api().put(path(scope, key)).set(bearer(token)).send(body);
  const sdkPut = (key: string, body: object, token = a.service) => api().put(`/api/sdk/configs/${encodeURIComponent(key)}`).set(bearer(token)).send(body);
  const sdkRead = async (key: string) => (await api().get(`/api/sdk/configs/${encodeURIComponent(key)}`).set(bearer(a.service)).expect(200)).body;
  const uniq = (p: string) => `${p}_${randomBytes(4).toString('hex')}`;
  const realValue = () => `sk_live_${randomBytes(12).toString('hex')}`;
  /** The org's listing of its secrets: every one must read as the mask. */
  const listedSecrets = async (scope: string) =>
    ((await api().get(`/api/scopes/${scope}/configs?type=secret&limit=500`).set(bearer(t.adminToken)).expect(200)).body.items as Json[]).map((c) => [c.key, c.value]);

  beforeAll(async () => {
    t = await startApp({ listen: true });
    a = await seedOrg(t, 'weak-a');
  });
  afterAll(async () => t?.close());

  describe('the mask as a value', () => {
    const maskLike = [MASK, ` ${MASK} `, '••••', `${MASK}\n${MASK}`, '••••••••••'];

    it('REST PUT refuses it (400 MASK_AS_VALUE) for an existing secret, which keeps its value, and for a new key', async () => {
      const key = uniq('stripe');
      const value = realValue();
      await put(a.org.id, key, { type: 'secret', value }).expect(201);
      for (const attempt of maskLike) {
        const res = await put(a.org.id, key, { type: 'secret', value: attempt }).expect(400);
        expect(res.body).toMatchObject({ statusCode: 400, code: 'MASK_AS_VALUE' });
        expect(res.text).not.toContain('••');
        const fresh = uniq('fresh');
        expect((await put(a.org.id, fresh, { type: 'secret', value: attempt }).expect(400)).body.code).toBe('MASK_AS_VALUE');
        await api().get(path(a.org.id, fresh)).set(bearer(t.adminToken)).expect(404);
      }
      // Global scope too.
      expect((await put('global', uniq('g'), { type: 'secret', value: MASK }).expect(400)).body.code).toBe('MASK_AS_VALUE');
      expect((await sdkRead(key)).value).toBe(value);
      expect((await api().get(path(a.org.id, key)).set(bearer(t.adminToken)).expect(200)).body).toMatchObject({ type: 'secret', value: MASK, masked: true });
      for (const [, shown] of await listedSecrets(a.org.id)) expect(shown).toBe(MASK);
    });

    it('the SDK PUT refuses it, with isSecret and on an existing secret without it', async () => {
      const key = uniq('sdk_mask');
      const value = realValue();
      await sdkPut(key, { value, isSecret: true }).expect(204);
      expect((await sdkPut(key, { value: MASK, isSecret: true }).expect(400)).body.code).toBe('MASK_AS_VALUE');
      expect((await sdkPut(key, { value: MASK }).expect(400)).body.code).toBe('MASK_AS_VALUE');
      expect((await sdkPut(uniq('sdk_new'), { value: MASK, isSecret: true }).expect(400)).body.code).toBe('MASK_AS_VALUE');
      expect(await sdkRead(key)).toMatchObject({ type: 'secret', value });
      for (const [, shown] of await listedSecrets(a.org.id)) expect(shown).toBe(MASK);
    });

    it('an import refuses a secret whose value is the mask, and writes nothing', async () => {
      const sourceKey = 'another-deployment-key-' + randomBytes(8).toString('hex');
      const fernet = new Fernet(deriveFernetKey(sourceKey));
      const key = uniq('imported');
      const bundle = {
        bifrost_export_version: '1.0',
        entity_type: 'configs',
        items: [
          { key: uniq('ok_value'), value: 'plain', config_type: 'string', organization_name: a.org.name },
          { key, value: fernet.encrypt(MASK), config_type: 'secret', organization_name: a.org.name },
        ],
      };
      const before = await rawCount(t, 'configs');
      const res = await api().post('/api/import').set(bearer(t.adminToken)).set('Content-Type', 'application/json').send(JSON.stringify({ bundle, sourceSecretKey: sourceKey })).expect(400);
      expect(res.body.details.map((d: Json) => [d.row, d.code])).toEqual([[1, 'MASK_AS_VALUE']]);
      expect(await rawCount(t, 'configs')).toBe(before);
    });

    it('a secret one of whose lines is (part of) the mask never turns the mask into a redaction', async () => {
      // Accepted (it holds more than the mask), and its lines are registered with the scrubber:
      // none of them may redact the mask that every listing shows.
      const key = uniq('multi');
      await put(a.org.id, key, { type: 'secret', value: `${realValue()}\n••••\n  ${MASK}` }).expect(201);
      await put(a.org.id, uniq('other'), { type: 'secret', value: realValue() }).expect(201);
      const listed = await listedSecrets(a.org.id);
      expect(listed.length).toBeGreaterThanOrEqual(3);
      for (const [, shown] of listed) expect(shown).toBe(MASK);
      const all = (await api().get('/api/sdk/configs').set(bearer(a.service)).expect(200)).body as Json;
      expect(all[key]).toBe(MASK);
      const eff = (await api().get(`/api/orgs/${a.org.id}/effective-configs?type=secret`).set(bearer(a.orgAdmin)).expect(200)).body.items as Json[];
      for (const c of eff) expect(c.value).toBe(MASK);
    });
  });

  describe('a write that does not say it is a secret', () => {
    it('the client’s config.set(key, value) without isSecret on an existing secret keeps it a secret', async () => {
      const client = new BifrostClient({ baseUrl: t.baseUrl, token: a.service, retryBaseMs: 5, retryMaxMs: 20 });
      const key = uniq('partner_secret');
      await client.config.set(key, realValue(), { isSecret: true });
      const next = realValue();
      await client.config.set(key, next);
      const row = (await configRow(t, a.org.id, key))!;
      expect(row.type).toBe('secret');
      expect(row.value).toBeNull();
      expect(row.ciphertext).toMatch(FERNET_TOKEN);
      expect(await client.config.get(key)).toBe(next);
      expect((await api().get(path(a.org.id, key)).set(bearer(t.adminToken)).expect(200)).body).toMatchObject({ type: 'secret', value: MASK, masked: true });
      // A value that is no string cannot be a secret: refused, the secret unchanged.
      expect((await sdkPut(key, { value: 42 }).expect(400)).body.code).toBe('INVALID_VALUE');
      expect(await client.config.get(key)).toBe(next);
    });

    it('the SDK PUT with isSecret: false on an existing secret is refused (409 SECRET_TYPE_CHANGE)', async () => {
      const key = uniq('sdk_downgrade');
      const value = realValue();
      await sdkPut(key, { value, isSecret: true }).expect(204);
      const res = await sdkPut(key, { value: 'now public', isSecret: false }).expect(409);
      expect(res.body.code).toBe('SECRET_TYPE_CHANGE');
      expect(res.text).not.toContain('now public');
      expect(await sdkRead(key)).toMatchObject({ type: 'secret', value });
      // A plain value stays plain, and may become a secret.
      const plain = uniq('sdk_plain');
      await sdkPut(plain, { value: 'x' }).expect(204);
      await sdkPut(plain, { value: 7 }).expect(204);
      expect(await sdkRead(plain)).toMatchObject({ type: 'int', value: 7 });
      await sdkPut(plain, { value: 'upgraded-secret-value', isSecret: true }).expect(204);
      expect(await sdkRead(plain)).toMatchObject({ type: 'secret', value: 'upgraded-secret-value' });
    });

    it('a REST PUT that turns a secret into another type needs "allowTypeChange": true (409 SECRET_TYPE_CHANGE without)', async () => {
      for (const scope of [a.org.id, 'global']) {
        const key = uniq('flip');
        const value = realValue();
        await put(scope, key, { type: 'secret', value }).expect(201);
        for (const [type, v] of [['string', 'now public'], ['int', 5], ['bool', true], ['json', { a: 1 }]] as const) {
          const res = await put(scope, key, { type, value: v }).expect(409);
          expect(res.body.code).toBe('SECRET_TYPE_CHANGE');
          expect(res.text).not.toContain('now public');
          expect((await put(scope, key, { type, value: v, allowTypeChange: false }).expect(409)).body.code).toBe('SECRET_TYPE_CHANGE');
        }
        const row = (await configRow(t, scope, key))!;
        expect(row.type).toBe('secret');
        expect(row.ciphertext).toMatch(FERNET_TOKEN);
        expect((await api().get(path(scope, key)).set(bearer(t.adminToken)).expect(200)).body).toMatchObject({ type: 'secret', value: MASK });
        expect((await put(scope, key, { type: 'string', value: 'x', allowTypeChange: 'yes' }).expect(400)).body.code).toBe('VALIDATION_FAILED');
        // Said explicitly: allowed, and audited as a type change.
        const changed = await put(scope, key, { type: 'string', value: 'now public', allowTypeChange: true }).expect(200);
        expect(changed.body).toMatchObject({ type: 'string', value: 'now public', masked: false });
        expect((await configRow(t, scope, key))!.ciphertext).toBeNull();
        const audit = (await api().get(`/api/audit?key=${key}&action=config.update`).set(bearer(t.adminToken)).expect(200)).body.items as Json[];
        expect(audit.map((e) => e.reason)).toContain('type changed from secret to string');
      }
      // The org admin too; and a secret replaced by a secret needs no flag.
      const key = uniq('org_admin_flip');
      await put(a.org.id, key, { type: 'secret', value: realValue() }, a.orgAdmin).expect(201);
      await put(a.org.id, key, { type: 'secret', value: realValue() }, a.orgAdmin).expect(200);
      expect((await put(a.org.id, key, { type: 'json', value: [1] }, a.orgAdmin).expect(409)).body.code).toBe('SECRET_TYPE_CHANGE');
      await put(a.org.id, key, { type: 'json', value: [1], allowTypeChange: true }, a.orgAdmin).expect(200);
      for (const [, shown] of await listedSecrets(a.org.id)) expect(shown).toBe(MASK);
    });
    it('an import with onConflict=overwrite that turns a secret into another type needs allowTypeChange=true (SECRET_TYPE_CHANGE problem without, dry run too)', async () => {
      const key = uniq('import_flip');
      const value = realValue();
      await put(a.org.id, key, { type: 'secret', value }).expect(201);
      const other = uniq('import_other');
      const bundle = JSON.stringify({
        format: 'bifrost-config-bundle',
        version: 1,
        configs: [
          { scope: { org: 'weak-a' }, key: other, type: 'string', value: 'written only with the rest' },
          { scope: { org: 'weak-a' }, key, type: 'string', value: 'now public' },
        ],
      });
      const importAs = (query: string, token = t.adminToken) =>
        api().post(`/api/import?onConflict=overwrite${query}`).set(bearer(token)).set('Content-Type', 'application/json').send(bundle);
      for (const [query, token] of [['', t.adminToken], ['&dryRun=true', t.adminToken], ['&allowTypeChange=false', a.orgAdmin]] as const) {
        const res = await importAs(query, token).expect(400);
        expect(res.body.code).toBe('INVALID_BUNDLE');
        expect(res.body.details).toEqual([expect.objectContaining({ row: 1, key, code: 'SECRET_TYPE_CHANGE' })]);
        expect(res.text).not.toContain('now public');
      }
      // Nothing of the refused imports was written: the secret is intact and the other row absent.
      expect(await sdkRead(key)).toMatchObject({ type: 'secret', value });
      expect(await configRow(t, a.org.id, other)).toBeFalsy();
      // skip leaves the secret as it is, with no flag needed.
      expect((await importAs('').expect(400)).body.details[0].code).toBe('SECRET_TYPE_CHANGE');
      await api().post('/api/import?onConflict=skip').set(bearer(t.adminToken)).set('Content-Type', 'application/json').send(bundle).expect(200);
      expect(await sdkRead(key)).toMatchObject({ type: 'secret', value });
      // Said explicitly: allowed, and audited as a type change.
      expect((await importAs('&allowTypeChange=true', a.orgAdmin).expect(200)).body).toMatchObject({ updated: 2, errors: [] });
      expect((await configRow(t, a.org.id, key))!).toMatchObject({ type: 'string', ciphertext: null });
      const audit = (await api().get(`/api/audit?key=${key}&action=config.update`).set(bearer(t.adminToken)).expect(200)).body.items as Json[];
      expect(audit.map((e) => e.reason)).toContain('import, type changed from secret to string');
    });
  });
});
