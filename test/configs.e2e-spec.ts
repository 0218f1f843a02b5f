import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { ConfigEntity } from '../src/configs/config.entity';
import { CryptoService } from '../src/crypto/crypto.service';
import { decodeBound } from '../src/crypto/binding';
import { Keyring } from '../src/crypto/keyring';
import { auditLeaks, configRow, leakForms, rawCount, rawHttp, rawRows, sentTo } from './helpers/raw-db';
import { bearer, onMysql, seedOrg, startApp, TEST_SECRET_KEY, TestApp } from './helpers/test-app';

const MASK = '••••••';
const FERNET_TOKEN = /^gAAAAA[A-Za-z0-9_-]+={0,2}$/;

type Seeded = Awaited<ReturnType<typeof seedOrg>>;

describe(`configs: typed values, secrets, cascade, SDK (${onMysql ? 'MariaDB' : 'SQLite'})`, () => {
  let t: TestApp;
  let a: Seeded;
  let b: Seeded;
  let admin: Record<string, string>;
  const api = () => request(t.baseUrl);
  const path = (scope: string, key: string) => `/api/scopes/${scope}/configs/${encodeURIComponent(key)}`;
  /** Every secret this file sends, for the audit scan at the end. */
  const usedSecrets = new Set<string>();
  const usedTokens: string[] = [];
  const put = (scope: string, key: string, body: unknown, token = t.adminToken) => {
    const b = body as { type?: unknown; value?: unknown };
    if (b?.type === 'secret' && typeof b.value === 'string') usedSecrets.add(b.value);
    return api().put(path(scope, key)).set(bearer(token)).send(body as object);
  };
  const get = (scope: string, key: string, token = t.adminToken) => api().get(path(scope, key)).set(bearer(token));
  const sdkGet = (key: string, token: string, headers: Record<string, string> = {}) =>
    api().get(`/api/sdk/configs/${encodeURIComponent(key)}`).set(bearer(token)).set(headers);
  const uniq = (p: string) => `${p}_${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    t = await startApp({ listen: true });
    admin = bearer(t.adminToken);
    a = await seedOrg(t, 'cfg-a');
    b = await seedOrg(t, 'cfg-b');
  });
  afterAll(async () => t?.close());

  describe('typed values', () => {
    const cases: [string, string, unknown, unknown][] = [
      ['str_plain', 'string', 'hello world', 'hello world'],
      ['str_empty', 'string', '', ''],
      ['str_unicode', 'string', 'héllo 🌍 漢字 שלום \u0000 "quoted" \\', 'héllo 🌍 漢字 שלום \u0000 "quoted" \\'],
      ['str_digits', 'string', '42', '42'],
      ['str_lone_surrogate', 'string', 'a\ud800b', 'a\ud800b'],
      ['int_num', 'int', 42, 42],
      ['int_str', 'int', '42', 42],
      ['int_neg_str', 'int', '-17', -17],
      ['int_zero', 'int', 0, 0],
      ['int_max', 'int', Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
      ['int_min', 'int', Number.MIN_SAFE_INTEGER, Number.MIN_SAFE_INTEGER],
      ['bool_true', 'bool', true, true],
      ['bool_false', 'bool', false, false],
      ['bool_str_true', 'bool', 'true', true],
      ['bool_str_false', 'bool', 'false', false],
      ['json_object', 'json', { a: 1, b: 'two', c: true, d: null }, { a: 1, b: 'two', c: true, d: null }],
      ['json_array', 'json', [1, 'two', false, null, 2.5], [1, 'two', false, null, 2.5]],
      [
        'json_nested',
        'json',
        { level1: { level2: { level3: [{ deep: [1, [2, [3, { x: 'y' }]]] }] } }, list: [[], {}] },
        { level1: { level2: { level3: [{ deep: [1, [2, [3, { x: 'y' }]]] }] } }, list: [[], {}] },
      ],
      ['json_unicode', 'json', { emoji: '🚀🔑', cjk: '漢字', rtl: 'שלום', 'ключ': 'значение' }, { emoji: '🚀🔑', cjk: '漢字', rtl: 'שלום', 'ключ': 'значение' }],
      ['json_null', 'json', null, null],
      ['json_string', 'json', 'just a string', 'just a string'],
      ['json_number', 'json', 3.25, 3.25],
      ['json_bool', 'json', false, false],
    ];

    it.each(['global', 'org'])('round-trips every type with its JSON type in the %s scope (PUT, GET, list, effective, SDK)', async (where) => {
      const scope = where === 'global' ? 'global' : a.org.id;
      for (const [key, type, input, expected] of cases) {
        const created = await put(scope, key, { type, value: input, description: `${type} case` }).expect(201);
        expect(created.body).toEqual({
          scope,
          key,
          type,
          value: expected,
          masked: false,
          hasValue: true,
          description: `${type} case`,
          updatedAt: expect.any(String),
          updatedBy: 'bootstrap',
          exposedAt: null,
          fingerprint: null,
        });
        const read = await get(scope, key).expect(200);
        expect(read.body.value).toStrictEqual(expected);
        expect(read.body.type).toBe(type);
        const sdk = await sdkGet(key, a.service).expect(200);
        expect(sdk.body).toStrictEqual({ key, type, value: expected, source: where });
      }
      const list = await api().get(`/api/scopes/${scope}/configs?limit=500`).set(admin).expect(200);
      for (const [key, type, , expected] of cases) {
        expect(list.body.items.find((i: { key: string }) => i.key === key)).toMatchObject({ key, type, value: expected, masked: false, hasValue: true });
      }
      const effective = await api().get(`/api/orgs/${a.org.id}/effective-configs?limit=500`).set(admin).expect(200);
      for (const [key, , , expected] of cases) {
        expect(effective.body.items.find((i: { key: string }) => i.key === key)).toMatchObject({ value: expected, source: where });
      }
      const sdkAll = await api().get('/api/sdk/configs').set(bearer(a.service)).expect(200);
      for (const [key, , , expected] of cases) expect(sdkAll.body[key]).toStrictEqual(expected);
    });

    it('keeps a value of nearly 64 KiB intact', async () => {
      const big = 'x'.repeat(64 * 1024 - 2); // serialized with its quotes: exactly 64 KiB
      await put('global', 'big_string', { type: 'string', value: big }).expect(201);
      expect((await sdkGet('big_string', a.service).expect(200)).body.value).toBe(big);
      const secret = 's'.repeat(64 * 1024);
      await put('global', 'big_secret', { type: 'secret', value: secret }).expect(201);
      expect((await sdkGet('big_secret', a.service).expect(200)).body.value).toBe(secret);
    });
  });

  describe('secrets', () => {
    const plaintext = 'sk_live_' + randomBytes(16).toString('hex');
    const key = 'stripe_api_key';

    it('masks a secret everywhere a human looks: PUT answer, list, single read, effective view', async () => {
      const created = await put(a.org.id, key, { type: 'secret', value: plaintext, description: 'Stripe live key' }, a.orgAdmin).expect(201);
      expect(created.body).toEqual({
        scope: a.org.id,
        key,
        type: 'secret',
        value: MASK,
        masked: true,
        hasValue: true,
        description: 'Stripe live key',
        updatedAt: expect.any(String),
        updatedBy: 'cfg-a-org_admin',
        exposedAt: null,
        fingerprint: expect.stringMatching(/^[0-9a-f]{12}$/),
      });
      const responses = [
        created,
        await put(a.org.id, key, { type: 'secret', value: plaintext }, a.orgAdmin).expect(200),
        await get(a.org.id, key, a.member).expect(200),
        await get(a.org.id, key, a.orgAdmin).expect(200),
        await get(a.org.id, key).expect(200),
        await api().get(`/api/scopes/${a.org.id}/configs`).set(bearer(a.member)).expect(200),
        await api().get(`/api/scopes/${a.org.id}/configs?type=secret`).set(admin).expect(200),
        await api().get(`/api/orgs/${a.org.id}/effective-configs`).set(bearer(a.member)).expect(200),
        await api().get('/api/sdk/configs').set(bearer(a.service)).expect(200),
      ];
      for (const res of responses) expect(res.text).not.toContain(plaintext);
      expect(responses[2].body).toMatchObject({ value: MASK, masked: true, hasValue: true, description: 'Stripe live key' });
      expect(responses[5].body.items.find((i: { key: string }) => i.key === key)).toMatchObject({ value: MASK, masked: true, hasValue: true });
      expect(responses[7].body.items.find((i: { key: string }) => i.key === key)).toMatchObject({ value: MASK, masked: true, source: 'org' });
      expect(responses[8].body[key]).toBe(MASK);
      // There is no reveal switch.
      const reveal = await api().get(`${path(a.org.id, key)}?reveal=true`).set(admin);
      expect(reveal.text).not.toContain(plaintext);
    });

    it('stores a Fernet token that decrypts to the value, and the plaintext in no column', async () => {
      const row = (await configRow(t, a.org.id, key))!;
      expect(row).toBeDefined();
      const token = row.ciphertext as string;
      expect(token).toMatch(FERNET_TOKEN);
      const raw = Buffer.from(token, 'base64url');
      expect(raw[0]).toBe(0x80);
      expect((raw.length - 1 - 8 - 16 - 32) % 16).toBe(0);
      expect(t.app.get(CryptoService).decryptString(token)).toBe(plaintext);
      // Standard Fernet; its plaintext is the value bound to its scope and key (the bound form).
      expect(decodeBound(Keyring.fromSecrets(TEST_SECRET_KEY).decrypt(token).toString('utf8'))).toEqual({ binding: { scope: a.org.id, key }, value: plaintext });
      expect(row.value).toBeNull();
      expect(Number(row.has_value)).toBe(1);
      for (const [column, v] of Object.entries(row)) {
        if (v === null || v === undefined) continue;
        const text = v instanceof Date ? v.toISOString() : String(v);
        expect({ column, leaks: text.includes(plaintext) }).toEqual({ column, leaks: false });
        expect({ column, leaks: text.includes(Buffer.from(plaintext).toString('base64')) }).toEqual({ column, leaks: false });
      }
      // A new write of the same value is a new token (fresh IV), still the same plaintext.
      await put(a.org.id, key, { type: 'secret', value: plaintext }, a.orgAdmin).expect(200);
      const again = (await configRow(t, a.org.id, key))!.ciphertext as string;
      expect(again).not.toBe(token);
      expect(t.app.get(CryptoService).decryptString(again)).toBe(plaintext);
    });

    it('replaces a secret only with a full new value; PATCH changes the description only', async () => {
      const before = (await configRow(t, a.org.id, key))!;
      const patched = await api().patch(path(a.org.id, key)).set(bearer(a.orgAdmin)).send({ description: 'rotated quarterly' }).expect(200);
      expect(patched.body).toMatchObject({ key, type: 'secret', value: MASK, masked: true, description: 'rotated quarterly' });
      const after = (await configRow(t, a.org.id, key))!;
      expect(after.ciphertext).toBe(before.ciphertext);
      expect(after.type).toBe('secret');
      expect((await sdkGet(key, a.service).expect(200)).body.value).toBe(plaintext);
      // PATCH carries no value, type, or anything else.
      const withValue = await api().patch(path(a.org.id, key)).set(bearer(a.orgAdmin)).send({ description: 'x', value: 'sneaky-new-value' }).expect(400);
      expect(withValue.body.code).toBe('VALIDATION_FAILED');
      expect(withValue.text).not.toContain('sneaky-new-value');
      await api().patch(path(a.org.id, key)).set(bearer(a.orgAdmin)).send({ type: 'string' }).expect(400);
      expect((await configRow(t, a.org.id, key))!.ciphertext).toBe(before.ciphertext);
      // The description can be cleared; a missing key is a 404.
      await api().patch(path(a.org.id, key)).set(bearer(a.orgAdmin)).send({ description: null }).expect(200).expect((r) => expect(r.body.description).toBeNull());
      await api().patch(path(a.org.id, 'no_such_key')).set(admin).send({ description: 'x' }).expect(404).expect((r) => expect(r.body.code).toBe('CONFIG_NOT_FOUND'));
      // A new full value replaces the old one.
      const next = 'sk_live_' + randomBytes(16).toString('hex');
      await put(a.org.id, key, { type: 'secret', value: next }, a.orgAdmin).expect(200);
      expect((await sdkGet(key, a.service).expect(200)).body.value).toBe(next);
      await put(a.org.id, key, { type: 'secret', value: plaintext }, a.orgAdmin).expect(200);
    });

    it('PATCH of a non-secret leaves its value alone', async () => {
      await put(a.org.id, 'patch_me', { type: 'json', value: { keep: [1, 2] }, description: 'one' }).expect(201);
      const res = await api().patch(path(a.org.id, 'patch_me')).set(admin).send({ description: 'two' }).expect(200);
      expect(res.body).toMatchObject({ type: 'json', value: { keep: [1, 2] }, description: 'two' });
      expect((await get(a.org.id, 'patch_me').expect(200)).body).toMatchObject({ type: 'json', value: { keep: [1, 2] }, description: 'two' });
    });
  });

  describe('create, replace, delete', () => {
    it('answers PUT 201 then 200, DELETE 204 then 404', async () => {
      const key = uniq('lifecycle');
      await put(a.org.id, key, { type: 'string', value: 'one' }, a.orgAdmin).expect(201);
      const replaced = await put(a.org.id, key, { type: 'int', value: 2 }, a.orgAdmin).expect(200);
      expect(replaced.body).toMatchObject({ type: 'int', value: 2 });
      expect(await rawCount(t, 'configs', 'scope = ? AND `key` = ?', [a.org.id, key])).toBe(1);
      await api().delete(path(a.org.id, key)).set(bearer(a.orgAdmin)).expect(204);
      const gone = await api().delete(path(a.org.id, key)).set(bearer(a.orgAdmin)).expect(404);
      expect(gone.body).toMatchObject({ statusCode: 404, code: 'CONFIG_NOT_FOUND' });
      await get(a.org.id, key).expect(404).expect((r) => expect(r.body.code).toBe('CONFIG_NOT_FOUND'));
      expect(await configRow(t, a.org.id, key)).toBeUndefined();
      // Re-creating after a delete is a create again.
      await put(a.org.id, key, { type: 'bool', value: 'true' }, a.orgAdmin).expect(201);
    });

    it('keeps the description on a PUT without one and replaces it when given', async () => {
      const key = uniq('desc');
      await put('global', key, { type: 'string', value: 'v', description: 'first' }).expect(201);
      expect((await put('global', key, { type: 'string', value: 'w' }).expect(200)).body.description).toBe('first');
      expect((await put('global', key, { type: 'string', value: 'w', description: 'second' }).expect(200)).body.description).toBe('second');
    });

    it('turns a secret into a plain value and back without leaving ciphertext behind', async () => {
      const key = uniq('flip');
      await put(a.org.id, key, { type: 'secret', value: 'flip-secret-value' }).expect(201);
      // Said explicitly (issue 12, 5b): without allowTypeChange the PUT is refused.
      await put(a.org.id, key, { type: 'string', value: 'now public', allowTypeChange: true }).expect(200);
      const row = (await configRow(t, a.org.id, key))!;
      expect(row.ciphertext).toBeNull();
      expect(JSON.parse(row.value as string)).toBe('now public');
      await put(a.org.id, key, { type: 'secret', value: 'secret-again' }).expect(200);
      const row2 = (await configRow(t, a.org.id, key))!;
      expect(row2.value).toBeNull();
      expect(row2.ciphertext).toMatch(FERNET_TOKEN);
    });
  });

  describe('the cascade', () => {
    it('overlays global keys with the org’s own and marks each item’s source', async () => {
      await put('global', 'casc_global_only', { type: 'string', value: 'g-only' }).expect(201);
      await put('global', 'casc_shared', { type: 'int', value: 1 }).expect(201);
      await put('global', 'casc_secret', { type: 'secret', value: 'global-cascade-secret' }).expect(201);
      await put(a.org.id, 'casc_shared', { type: 'int', value: 2 }, a.orgAdmin).expect(201);
      await put(a.org.id, 'casc_org_only', { type: 'bool', value: true }, a.orgAdmin).expect(201);

      const effA = await api().get(`/api/orgs/${a.org.id}/effective-configs?prefix=casc_`).set(bearer(a.member)).expect(200);
      expect(effA.body.nextCursor).toBeNull();
      expect(effA.body.items.map((i: { key: string; source: string; value: unknown }) => [i.key, i.source, i.value])).toEqual([
        ['casc_global_only', 'global', 'g-only'],
        ['casc_org_only', 'org', true],
        ['casc_secret', 'global', MASK],
        ['casc_shared', 'org', 2],
      ]);
      expect(effA.body.items[0]).toMatchObject({ scope: 'global', masked: false, hasValue: true });
      expect(effA.body.items[2]).toMatchObject({ scope: 'global', masked: true, type: 'secret' });
      expect(effA.text).not.toContain('global-cascade-secret');

      const effB = await api().get(`/api/orgs/${b.org.id}/effective-configs?prefix=casc_`).set(bearer(b.orgAdmin)).expect(200);
      expect(effB.body.items.map((i: { key: string; source: string; value: unknown }) => [i.key, i.source, i.value])).toEqual([
        ['casc_global_only', 'global', 'g-only'],
        ['casc_secret', 'global', MASK],
        ['casc_shared', 'global', 1],
      ]);
      // SDK: the org's row shadows the global one.
      expect((await sdkGet('casc_shared', a.service).expect(200)).body).toStrictEqual({ key: 'casc_shared', type: 'int', value: 2, source: 'org' });
      expect((await sdkGet('casc_shared', b.service).expect(200)).body).toStrictEqual({ key: 'casc_shared', type: 'int', value: 1, source: 'global' });
      expect((await sdkGet('casc_secret', b.service).expect(200)).body).toStrictEqual({ key: 'casc_secret', type: 'secret', value: 'global-cascade-secret', source: 'global' });
      await sdkGet('casc_org_only', b.service).expect(404);
      // The SDK list is the same cascade as {key: value}.
      const all = (await api().get('/api/sdk/configs').set(bearer(a.service)).expect(200)).body;
      expect(all).toMatchObject({ casc_global_only: 'g-only', casc_shared: 2, casc_org_only: true, casc_secret: MASK });
      expect(JSON.stringify(all)).not.toContain('global-cascade-secret');
      const allB = (await api().get('/api/sdk/configs').set(bearer(b.service)).expect(200)).body;
      expect(allB).toMatchObject({ casc_shared: 1 });
      expect(allB.casc_org_only).toBeUndefined();
    });

    it('pages through the effective view without losing or repeating keys', async () => {
      const org = await seedOrg(t, 'cfg-eff-pages');
      const keys = Array.from({ length: 9 }, (_, i) => `effp_${i}`);
      for (const [i, key] of keys.entries()) {
        if (i % 3 !== 2) await put('global', key, { type: 'int', value: i }).expect(201);
        if (i % 3 !== 0) await put(org.org.id, key, { type: 'int', value: 100 + i }).expect(201);
      }
      const seen: [string, string, number][] = [];
      let cursor: string | null = null;
      do {
        const res: request.Response = await api()
          .get(`/api/orgs/${org.org.id}/effective-configs?prefix=effp_&limit=2${cursor ? `&cursor=${cursor}` : ''}`)
          .set(admin)
          .expect(200);
        expect(res.body.items.length).toBeLessThanOrEqual(2);
        seen.push(...res.body.items.map((i: { key: string; source: string; value: number }) => [i.key, i.source, i.value] as [string, string, number]));
        cursor = res.body.nextCursor;
      } while (cursor);
      expect(seen).toEqual(keys.map((k, i) => (i % 3 === 0 ? [k, 'global', i] : [k, 'org', 100 + i])));
    });
  });

  describe('SDK endpoints', () => {
    it('reads the decrypted, typed value; 404, 409 and 500 with their codes', async () => {
      await put(a.org.id, 'sdk_secret', { type: 'secret', value: 'sdk-plain-secret-1' }).expect(201);
      expect((await sdkGet('sdk_secret', a.service).expect(200)).body).toStrictEqual({ key: 'sdk_secret', type: 'secret', value: 'sdk-plain-secret-1', source: 'org' });

      const missing = await sdkGet('sdk_nope', a.service).expect(404);
      expect(missing.body).toEqual({ statusCode: 404, error: 'Not Found', code: 'CONFIG_NOT_FOUND', message: expect.any(String) });

      await t.dataSource.getRepository(ConfigEntity).insert({
        scope: a.org.id,
        key: 'sdk_no_value',
        type: 'secret',
        value: null,
        ciphertext: null,
        hasValue: false,
        description: 'imported without a value',
        updatedBy: 'import',
        createdAt: new Date(),
        updatedAt: new Date(),
      });
      const noValue = await sdkGet('sdk_no_value', a.service).expect(409);
      expect(noValue.body).toMatchObject({ statusCode: 409, code: 'SECRET_VALUE_MISSING' });
      expect((await get(a.org.id, 'sdk_no_value').expect(200)).body).toMatchObject({ type: 'secret', value: null, masked: true, hasValue: false });
      expect((await api().get('/api/sdk/configs').set(bearer(a.service)).expect(200)).body.sdk_no_value).toBeNull();

      const foreignPlain = 'encrypted-under-another-key';
      usedSecrets.add(foreignPlain);
      const foreign = Keyring.fromSecrets('some-other-deployment-key-0123456789-abcdef').encrypt(foreignPlain);
      await t.dataSource.getRepository(ConfigEntity).insert({
        scope: a.org.id,
        key: 'sdk_foreign',
        type: 'secret',
        value: null,
        ciphertext: foreign,
        hasValue: true,
        description: null,
        updatedBy: 'restore',
        createdAt: new Date(),
        updatedAt: new Date(),
      });
      const broken = await sdkGet('sdk_foreign', a.service).expect(500);
      expect(broken.body).toMatchObject({ statusCode: 500, error: 'Internal Server Error', code: 'DECRYPTION_FAILED' });
      expect(broken.body.message).toContain('sdk_foreign');
      expect(broken.body.message).toContain('BIFROST_SECRET_KEY');
      expect(broken.text).not.toContain(foreign);
      expect(broken.text).not.toContain(foreignPlain);
      // Once the scope is reloaded (a writer bumps its version with every secret change), a secret
      // that cannot be opened cannot be scrubbed either: the org's answers are withheld, never a silent
      // null and never unscrubbed (issue 13 item 10) ...
      await t.dataSource.query('UPDATE secret_versions SET version = version + 1 WHERE scope = ?', [a.org.id]);
      const withheld = await get(a.org.id, 'sdk_foreign').expect(503);
      expect(withheld.body).toMatchObject({ code: 'SECRETS_UNREADABLE' });
      expect(withheld.text).not.toContain(foreignPlain);
      // ... until the row is deleted (or replaced): then the org is served again.
      await api().delete(path(a.org.id, 'sdk_foreign')).set(bearer(t.adminToken)).expect(204);
      expect((await sdkGet('sdk_secret', a.service).expect(200)).body.value).toBe('sdk-plain-secret-1');
    });

    it('infers the type on PUT and writes in the org’s scope only', async () => {
      const cases: [string, unknown, boolean | undefined, string][] = [
        ['inf_object', { a: { b: [1] } }, undefined, 'json'],
        ['inf_array', [1, 'x'], undefined, 'json'],
        ['inf_bool', false, undefined, 'bool'],
        ['inf_int', 7, undefined, 'int'],
        ['inf_neg_int', -3, undefined, 'int'],
        ['inf_float', 1.5, undefined, 'json'],
        ['inf_null', null, undefined, 'json'],
        ['inf_string', 'plain', undefined, 'string'],
        ['inf_digits', '42', undefined, 'string'],
        ['inf_secret', 'sdk-put-secret-value', true, 'secret'],
        ['inf_not_secret', 'explicitly not', false, 'string'],
      ];
      for (const [key, value, isSecret, type] of cases) {
        if (isSecret) usedSecrets.add(value as string);
        await api()
          .put(`/api/sdk/configs/${key}`)
          .set(bearer(a.service))
          .send({ value, ...(isSecret === undefined ? {} : { isSecret }) })
          .expect(204)
          .expect((r) => expect(r.text).toBe(''));
        const stored = (await get(a.org.id, key).expect(200)).body;
        expect({ key, type: stored.type, updatedBy: stored.updatedBy }).toEqual({ key, type, updatedBy: 'cfg-a-service' });
        const read = (await sdkGet(key, a.service).expect(200)).body;
        expect(read).toStrictEqual({ key, type, value, source: 'org' });
        await get('global', key).expect(404);
        await get(b.org.id, key).expect(404);
      }
      expect((await configRow(t, a.org.id, 'inf_secret'))!.ciphertext).toMatch(FERNET_TOKEN);
      // A second PUT replaces (still 204) and may change the type.
      await api().put('/api/sdk/configs/inf_int').set(bearer(a.service)).send({ value: 'now a string' }).expect(204);
      expect((await sdkGet('inf_int', a.service).expect(200)).body).toMatchObject({ type: 'string', value: 'now a string' });
      // Bad SDK input: 400, nothing echoed.
      const emptySecret = await api().put('/api/sdk/configs/inf_bad').set(bearer(a.service)).send({ value: '', isSecret: true }).expect(400);
      expect(emptySecret.body.code).toBe('INVALID_VALUE');
      const overflow = await api().put('/api/sdk/configs/inf_bad').set(bearer(a.service)).set('Content-Type', 'application/json').send('{"value": [1e400]}').expect(400);
      expect(overflow.body.code).toBe('INVALID_VALUE');
      const badFlag = await api().put('/api/sdk/configs/inf_bad').set(bearer(a.service)).send({ value: 'x', isSecret: 'yes-please' }).expect(400);
      expect(badFlag.body.code).toBe('VALIDATION_FAILED');
      expect(badFlag.text).not.toContain('yes-please');
      await get(a.org.id, 'inf_bad').expect(404);
    });

    it('lists the cascade as {key: value} with secrets masked', async () => {
      const all = (await api().get('/api/sdk/configs').set(bearer(a.service)).expect(200)).body;
      expect(Array.isArray(all)).toBe(false);
      expect(all.items).toBeUndefined();
      expect(all).toMatchObject({ inf_object: { a: { b: [1] } }, inf_secret: MASK, sdk_secret: MASK, inf_bool: false, inf_null: null });
      const text = JSON.stringify(all);
      for (const plain of ['sdk-put-secret-value', 'sdk-plain-secret-1', 'global-cascade-secret']) expect(text).not.toContain(plain);
    });

    it('deletes the org’s own row only, never the global one', async () => {
      await put('global', 'sdk_del', { type: 'string', value: 'global value' }).expect(201);
      await api().put('/api/sdk/configs/sdk_del').set(bearer(a.service)).send({ value: 'org value' }).expect(204);
      expect((await sdkGet('sdk_del', a.service).expect(200)).body).toMatchObject({ value: 'org value', source: 'org' });
      await api().delete('/api/sdk/configs/sdk_del').set(bearer(a.service)).expect(204);
      expect((await sdkGet('sdk_del', a.service).expect(200)).body).toMatchObject({ value: 'global value', source: 'global' });
      const again = await api().delete('/api/sdk/configs/sdk_del').set(bearer(a.service)).expect(404);
      expect(again.body.code).toBe('CONFIG_NOT_FOUND');
      expect((await get('global', 'sdk_del').expect(200)).body.value).toBe('global value');
      await api().delete('/api/sdk/configs/never_existed').set(bearer(a.service)).expect(404);
    });

    it('lets an org-less service token act for the org named in X-Bifrost-Org (id or name)', async () => {
      const created = await api().post('/api/tokens').set(admin).send({ name: 'engine', role: 'service' }).expect(201);
      usedTokens.push(created.body.token);
      expect(created.body.orgId).toBeNull();
      const engine = created.body.token as string;
      await put(a.org.id, 'hdr_key', { type: 'string', value: 'for a' }).expect(201);
      await put(b.org.id, 'hdr_key', { type: 'string', value: 'for b' }).expect(201);
      expect((await sdkGet('hdr_key', engine, { 'X-Bifrost-Org': a.org.id }).expect(200)).body).toMatchObject({ value: 'for a', source: 'org' });
      expect((await sdkGet('hdr_key', engine, { 'X-Bifrost-Org': 'cfg-b' }).expect(200)).body).toMatchObject({ value: 'for b', source: 'org' });
      expect((await api().get('/api/sdk/configs').set(bearer(engine)).set('X-Bifrost-Org', 'cfg-a').expect(200)).body.hdr_key).toBe('for a');
      await api().put('/api/sdk/configs/hdr_written').set(bearer(engine)).set('X-Bifrost-Org', 'cfg-b').send({ value: 5 }).expect(204);
      expect((await get(b.org.id, 'hdr_written').expect(200)).body).toMatchObject({ type: 'int', value: 5 });
      await api().delete('/api/sdk/configs/hdr_written').set(bearer(engine)).set('X-Bifrost-Org', b.org.id).expect(204);
      await get(b.org.id, 'hdr_written').expect(404);

      const noHeader = await sdkGet('hdr_key', engine).expect(400);
      expect(noHeader.body.code).toBe('ORG_REQUIRED');
      const unknown = await sdkGet('hdr_key', engine, { 'X-Bifrost-Org': 'no-such-org-name' }).expect(404);
      expect(unknown.body.code).toBe('ORG_NOT_FOUND');
      expect(unknown.text).not.toContain('no-such-org-name');
      // A service token with an org may not act for another.
      await sdkGet('hdr_key', a.service, { 'X-Bifrost-Org': b.org.id }).expect(403);
      await sdkGet('hdr_key', a.service, { 'X-Bifrost-Org': 'cfg-b' }).expect(403);
      expect((await sdkGet('hdr_key', a.service, { 'X-Bifrost-Org': 'cfg-a' }).expect(200)).body.value).toBe('for a');
    });

    it('picks up a new value on the very next read (no stale cache)', async () => {
      await put(a.org.id, 'fresh', { type: 'string', value: 'v1' }).expect(201);
      expect((await sdkGet('fresh', a.service).expect(200)).body.value).toBe('v1');
      await put(a.org.id, 'fresh', { type: 'string', value: 'v2' }).expect(200);
      expect((await sdkGet('fresh', a.service).expect(200)).body.value).toBe('v2');
      await put(a.org.id, 'fresh', { type: 'secret', value: 'fresh-secret-3' }).expect(200);
      expect((await sdkGet('fresh', a.service).expect(200)).body).toMatchObject({ type: 'secret', value: 'fresh-secret-3' });
      await api().delete(path(a.org.id, 'fresh')).set(admin).expect(204);
      await sdkGet('fresh', a.service).expect(404);
    });
  });

  describe('listing', () => {
    it('pages by cursor, filters by type and prefix, and stays stable while rows are inserted between pages', async () => {
      const org = await seedOrg(t, 'cfg-pages');
      const scope = org.org.id;
      const initial = Array.from({ length: 23 }, (_, i) => `pg_${String(i * 2).padStart(3, '0')}`);
      for (const [i, key] of initial.entries()) await put(scope, key, i % 2 ? { type: 'int', value: i } : { type: 'string', value: `s${i}` }).expect(201);
      await put(scope, 'other_key', { type: 'int', value: 1 }).expect(201);
      await put(scope, 'PG_upper', { type: 'int', value: 1 }).expect(201);

      const seen: string[] = [];
      let cursor: string | null = null;
      let page = 0;
      const insertedAfter: string[] = [];
      do {
        const res: request.Response = await api()
          .get(`/api/scopes/${scope}/configs?prefix=pg_&limit=5${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
          .set(bearer(org.member))
          .expect(200);
        expect(res.body.items.length).toBeLessThanOrEqual(5);
        seen.push(...res.body.items.map((i: { key: string }) => i.key));
        cursor = res.body.nextCursor;
        if (page === 1 && cursor) {
          // Between pages: one key before the cursor (not seen on this walk), one after (seen), an update.
          const last = seen[seen.length - 1];
          await put(scope, 'pg_000a', { type: 'string', value: 'behind' }).expect(201);
          await put(scope, 'pg_031', { type: 'string', value: 'ahead' }).expect(201);
          insertedAfter.push('pg_031');
          await put(scope, initial[20], { type: 'string', value: 'updated' }).expect(200);
          await api().delete(path(scope, 'pg_044')).set(admin).expect(204);
          expect(last < 'pg_031').toBe(true);
        }
        page++;
      } while (cursor);
      const expected = [...initial.filter((k) => k !== 'pg_044'), ...insertedAfter].sort();
      expect(seen).toEqual(expected);
      expect(new Set(seen).size).toBe(seen.length);

      const ints = await api().get(`/api/scopes/${scope}/configs?type=int&limit=500`).set(admin).expect(200);
      expect(ints.body.items.length).toBeGreaterThan(0);
      expect(ints.body.items.every((i: { type: string }) => i.type === 'int')).toBe(true);
      expect(ints.body.items.map((i: { key: string }) => i.key)).toEqual(expect.arrayContaining(['other_key', 'PG_upper', 'pg_002']));
      const intsPrefixed = await api().get(`/api/scopes/${scope}/configs?type=int&prefix=pg_&limit=500`).set(admin).expect(200);
      expect(intsPrefixed.body.items.every((i: { key: string; type: string }) => i.type === 'int' && i.key.startsWith('pg_'))).toBe(true);
      // Prefixes are case-sensitive, and a prefix with LIKE wildcards is taken literally.
      const upper = await api().get(`/api/scopes/${scope}/configs?prefix=PG_`).set(admin).expect(200);
      expect(upper.body.items.map((i: { key: string }) => i.key)).toEqual(['PG_upper']);
      const wild = await api().get(`/api/scopes/${scope}/configs?prefix=${encodeURIComponent('p%')}`).set(admin).expect(200);
      expect(wild.body.items).toEqual([]);
    });

    it('rejects bad list parameters with their codes', async () => {
      const cases: [string, string][] = [
        ['limit=0', 'INVALID_LIMIT'],
        ['limit=501', 'INVALID_LIMIT'],
        ['limit=abc', 'INVALID_LIMIT'],
        ['limit=-1', 'INVALID_LIMIT'],
        ['cursor=not-a-cursor!!', 'INVALID_CURSOR'],
        [`cursor=${Buffer.from('k:../x').toString('base64url')}`, 'INVALID_CURSOR'],
        ['type=password', 'INVALID_TYPE'],
        ['bogus=1', 'VALIDATION_FAILED'],
      ];
      for (const [query, code] of cases) {
        const res = await api().get(`/api/scopes/global/configs?${query}`).set(admin);
        expect({ query, status: res.status, code: res.body.code }).toEqual({ query, status: 400, code });
      }
    });
  });

  describe('bad input', () => {
    const marker = () => 'ECHO' + randomBytes(6).toString('hex');

    it('answers 400 with a code, never echoes the value, and writes nothing', async () => {
      const m = marker();
      const big = m.repeat(Math.ceil((64 * 1024) / m.length) + 1);
      const key = 'bad_input_target';
      const cases: [string, object | string, string][] = [
        ['string given a number', { type: 'string', value: 12345 }, 'INVALID_VALUE'],
        ['string given an object', { type: 'string', value: { m } }, 'INVALID_VALUE'],
        ['int given text', { type: 'int', value: m }, 'INVALID_VALUE'],
        ['int given digits and text', { type: 'int', value: `12${m}` }, 'INVALID_VALUE'],
        ['int given a fraction', { type: 'int', value: 1.5 }, 'INVALID_VALUE'],
        ['int given a fraction string', { type: 'int', value: '1.5' }, 'INVALID_VALUE'],
        ['int given an exponent', { type: 'int', value: '1e3' }, 'INVALID_VALUE'],
        ['int given a bool', { type: 'int', value: true }, 'INVALID_VALUE'],
        ['int beyond the safe range', { type: 'int', value: 2 ** 53 }, 'INVALID_VALUE'],
        ['int string beyond the safe range', { type: 'int', value: '9007199254740993' }, 'INVALID_VALUE'],
        ['int string far beyond the safe range', { type: 'int', value: '123456789012345678901234567890' }, 'INVALID_VALUE'],
        ['bool given text', { type: 'bool', value: m }, 'INVALID_VALUE'],
        ['bool given 1', { type: 'bool', value: 1 }, 'INVALID_VALUE'],
        ['bool given "TRUE"', { type: 'bool', value: 'TRUE' }, 'INVALID_VALUE'],
        ['json without a value', { type: 'json' }, 'INVALID_VALUE'],
        ['empty secret', { type: 'secret', value: '' }, 'INVALID_VALUE'],
        ['secret given a number', { type: 'secret', value: 4242 }, 'INVALID_VALUE'],
        ['secret given an object', { type: 'secret', value: { m } }, 'INVALID_VALUE'],
        ['string over 64 KiB', { type: 'string', value: big }, 'VALUE_TOO_LARGE'],
        ['secret over 64 KiB', { type: 'secret', value: big }, 'VALUE_TOO_LARGE'],
        ['json over 64 KiB', { type: 'json', value: { big } }, 'VALUE_TOO_LARGE'],
        ['unknown type', { type: m, value: 'x' }, 'VALIDATION_FAILED'],
        ['no type', { value: m }, 'VALIDATION_FAILED'],
        ['unknown body field', { type: 'string', value: 'ok', extra: m }, 'VALIDATION_FAILED'],
        ['description not a string', { type: 'string', value: m, description: 42 }, 'VALIDATION_FAILED'],
        ['description too long', { type: 'string', value: 'v', description: m.repeat(100) }, 'VALIDATION_FAILED'],
        ['json with a number JSON cannot hold', `{"type": "json", "value": {"${m}": [1, 1e400]}}`, 'INVALID_VALUE'],
        ['json that is an overflowing number', `{"type": "json", "value": -1e999}`, 'INVALID_VALUE'],
        ['int that overflows', `{"type": "int", "value": 1e400}`, 'INVALID_VALUE'],
        ['secret with a lone surrogate', `{"type": "secret", "value": "${m}\\ud800"}`, 'INVALID_VALUE'],
        ['invalid JSON', `{"type": "secret", "value": "${m}"`, 'INVALID_JSON'],
        ['JSON with a trailing comma', `{"type": "secret", "value": "${m}",}`, 'INVALID_JSON'],
      ];
      for (const scope of ['global', a.org.id]) {
        const before = await rawCount(t, 'configs');
        for (const [name, body, code] of cases) {
          const req = api().put(path(scope, key)).set(admin);
          const res = typeof body === 'string' ? await req.set('Content-Type', 'application/json').send(body) : await req.send(body);
          expect({ name, status: res.status, code: res.body.code }).toEqual({ name, status: 400, code });
          expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request', message: expect.any(String) });
          expect({ name, echoed: res.text.includes(m) }).toEqual({ name, echoed: false });
        }
        expect(await rawCount(t, 'configs')).toBe(before);
        expect(await configRow(t, scope, key)).toBeUndefined();
      }
      // A bad replacement leaves the old value in place.
      await put(a.org.id, key, { type: 'int', value: 7 }).expect(201);
      const row = await configRow(t, a.org.id, key);
      await put(a.org.id, key, { type: 'int', value: m }).expect(400);
      await put(a.org.id, key, { type: 'secret', value: '' }).expect(400);
      expect(await configRow(t, a.org.id, key)).toEqual(row);
    });

    it('rejects keys outside the pattern (., .., -a, 256 characters, ...) with INVALID_KEY', async () => {
      const before = await rawCount(t, 'configs');
      const badKeys = ['.', '..', '-a', '.hidden', 'a'.repeat(256), 'a b', 'a/b', 'ключ', 'a\u0000b', 'a%b', 'a:b', 'a\nb'];
      for (const key of badKeys) {
        const encoded = key === '.' || key === '..' ? key : encodeURIComponent(key);
        for (const [method, body] of [
          ['PUT', JSON.stringify({ type: 'string', value: 'v' })],
          ['GET', undefined],
          ['PATCH', JSON.stringify({ description: 'd' })],
          ['DELETE', undefined],
        ] as [string, string | undefined][]) {
          const res = await rawHttp(t.baseUrl, method, `/api/scopes/global/configs/${encoded}`, bearer(t.adminToken), body);
          expect({ key: key.slice(0, 20), method, status: res.status, code: res.body.code }).toEqual({ key: key.slice(0, 20), method, status: 400, code: 'INVALID_KEY' });
        }
        const sdk = await rawHttp(t.baseUrl, 'GET', `/api/sdk/configs/${encoded}`, bearer(a.service));
        expect({ key: key.slice(0, 20), status: sdk.status, code: sdk.body.code }).toEqual({ key: key.slice(0, 20), status: 400, code: 'INVALID_KEY' });
        const sdkPut = await rawHttp(t.baseUrl, 'PUT', `/api/sdk/configs/${encoded}`, bearer(a.service), JSON.stringify({ value: 'v' }));
        expect({ key: key.slice(0, 20), status: sdkPut.status, code: sdkPut.body.code }).toEqual({ key: key.slice(0, 20), status: 400, code: 'INVALID_KEY' });
      }
      // Paths the router refuses before any handler runs still get the one error shape and no echo.
      const tooLong = 'k' + randomBytes(1200).toString('hex');
      const long = await rawHttp(t.baseUrl, 'GET', `/api/scopes/global/configs/${tooLong}`, bearer(t.adminToken));
      expect({ status: long.status, body: long.body }).toEqual({ status: 414, body: { statusCode: 414, error: 'URI Too Long', code: 'URI_TOO_LONG', message: expect.any(String) } });
      expect(long.text).not.toContain(tooLong.slice(0, 40));
      const badEncoding = await rawHttp(t.baseUrl, 'GET', '/api/scopes/global/configs/ECHOab%E0%A4%A', bearer(t.adminToken));
      expect({ status: badEncoding.status, code: badEncoding.body.code }).toEqual({ status: 400, code: 'INVALID_PATH' });
      expect(badEncoding.text).not.toContain('ECHOab');
      // The limits themselves are fine: 255 characters, dots and dashes after the first.
      for (const key of ['a'.repeat(255), '_x', 'a.b-c_d', 'A..b', '0', 'a.', 'a-']) await put('global', key, { type: 'string', value: 'ok' }).expect(201);
      expect(await rawCount(t, 'configs')).toBe(before + 7);
    });

    it('rejects an unknown scope with INVALID_SCOPE and writes nothing', async () => {
      const before = await rawCount(t, 'configs');
      for (const scope of ['nope', 'GLOBAL', 'Global', '00000000-0000-4000-8000-000000000000', `${a.org.id}x`]) {
        const res = await put(scope, 'k', { type: 'string', value: 'v' });
        expect({ scope, status: res.status, code: res.body.code }).toEqual({ scope, status: 400, code: 'INVALID_SCOPE' });
        const list = await api().get(`/api/scopes/${scope}/configs`).set(admin);
        expect({ scope, status: list.status, code: list.body.code }).toEqual({ scope, status: 400, code: 'INVALID_SCOPE' });
      }
      expect(await rawCount(t, 'configs')).toBe(before);
    });

    it('treats __proto__, constructor and toString as ordinary keys', async () => {
      const org = await seedOrg(t, 'cfg-proto');
      const keys = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];
      for (const [i, key] of keys.entries()) await put(org.org.id, key, { type: 'int', value: i + 1 }).expect(201);
      for (const [i, key] of keys.entries()) {
        expect((await get(org.org.id, key).expect(200)).body).toMatchObject({ key, type: 'int', value: i + 1 });
        expect((await sdkGet(key, org.service).expect(200)).body).toStrictEqual({ key, type: 'int', value: i + 1, source: 'org' });
      }
      const all = await api().get('/api/sdk/configs').set(bearer(org.service)).expect(200);
      // JSON.parse makes each of them an own property, __proto__ included.
      expect(Object.keys(all.body)).toEqual(expect.arrayContaining(keys));
      expect(keys.map((k) => Object.getOwnPropertyDescriptor(all.body, k)?.value)).toEqual([1, 2, 3, 4]);
      const list = await api().get(`/api/scopes/${org.org.id}/configs`).set(admin).expect(200);
      expect(list.body.items.map((i: { key: string }) => i.key).sort()).toEqual([...keys].sort());
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('keeps stripe_key and STRIPE_KEY apart', async () => {
      for (const scope of ['global', b.org.id]) {
        await put(scope, 'stripe_key', { type: 'string', value: 'lower' }).expect(201);
        await put(scope, 'STRIPE_KEY', { type: 'string', value: 'UPPER' }).expect(201);
        await put(scope, 'Stripe_Key', { type: 'secret', value: 'mixed-case-secret' }).expect(201);
        expect((await get(scope, 'stripe_key').expect(200)).body.value).toBe('lower');
        expect((await get(scope, 'STRIPE_KEY').expect(200)).body.value).toBe('UPPER');
        expect(await rawCount(t, 'configs', 'scope = ? AND `key` IN (?, ?, ?)', [scope, 'stripe_key', 'STRIPE_KEY', 'Stripe_Key'])).toBe(3);
        const list = await api().get(`/api/scopes/${scope}/configs?prefix=${scope === 'global' ? 'stripe' : 'STRIPE'}`).set(admin).expect(200);
        expect(list.body.items.map((i: { key: string }) => i.key)).toEqual([scope === 'global' ? 'stripe_key' : 'STRIPE_KEY']);
      }
      expect((await sdkGet('stripe_key', a.service).expect(200)).body).toMatchObject({ value: 'lower', source: 'global' });
      expect((await sdkGet('STRIPE_KEY', b.service).expect(200)).body).toMatchObject({ value: 'UPPER', source: 'org' });
      expect((await sdkGet('Stripe_Key', b.service).expect(200)).body).toMatchObject({ value: 'mixed-case-secret', source: 'org' });
      await api().delete(path('global', 'STRIPE_KEY')).set(admin).expect(204);
      expect((await get('global', 'stripe_key').expect(200)).body.value).toBe('lower');
      await get('global', 'STRIPE_KEY').expect(404);
    });
  });

  describe('races', () => {
    it.each([
      ['global', 'string'],
      ['an org', 'string'],
      ['an org', 'secret'],
      ['global', 'secret'],
    ])('50 concurrent PUTs of one key in %s (%s) leave one row with one of the values, no 500', async (where, type) => {
      const scope = where === 'global' ? 'global' : a.org.id;
      const key = uniq('race');
      const values = Array.from({ length: 50 }, (_, i) => `race-value-${i}-${randomBytes(4).toString('hex')}`);
      const results = await Promise.all(values.map((value) => put(scope, key, { type, value })));
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((s) => s !== 200 && s !== 201)).toEqual([]);
      expect(statuses.filter((s) => s === 201)).toHaveLength(1);
      expect(await rawCount(t, 'configs', 'scope = ? AND `key` = ?', [scope, key])).toBe(1);
      const row = (await configRow(t, scope, key))!;
      const stored = type === 'secret' ? t.app.get(CryptoService).decryptString(row.ciphertext as string) : JSON.parse(row.value as string);
      expect(values).toContain(stored);
      const read = (await sdkGet(key, a.service).expect(200)).body.value;
      expect(read).toBe(stored);
    });
  });

  describe('many first writes at once', () => {
    it('40 writers each creating new keys of one org (secrets among them): no 5xx, every key stored once', async () => {
      const writers = 40;
      const perWriter = 30;
      const prefix = uniq('first');
      const statuses: number[] = [];
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          for (let i = 0; i < perWriter; i++) {
            const type = i % 2 === 0 ? 'secret' : 'string';
            const key = `${prefix}_${randomBytes(5).toString('hex')}`;
            const value = `first-${w}-${i}-${randomBytes(4).toString('hex')}`;
            // Half through the REST API, half through the SDK (the workflow engine's writes).
            const res =
              w % 2 === 0
                ? await put(a.org.id, key, { type, value })
                : await api().put(`/api/sdk/configs/${key}`).set(bearer(a.service)).send({ value, isSecret: type === 'secret' });
            statuses.push(res.status);
          }
        }),
      );
      expect(statuses.filter((s) => s !== 201 && s !== 204)).toEqual([]);
      expect(await rawCount(t, 'configs', 'scope = ? AND `key` LIKE ?', [a.org.id, `${prefix}%`])).toBe(writers * perWriter);
    });
  });

  describe('who may do what', () => {
    it('forbids org principals of org A anything in org B', async () => {
      await put(b.org.id, 'b_only', { type: 'string', value: 'b' }).expect(201);
      for (const token of [a.member, a.orgAdmin]) {
        const calls = [
          api().get(`/api/scopes/${b.org.id}/configs`).set(bearer(token)),
          api().get(path(b.org.id, 'b_only')).set(bearer(token)),
          api().put(path(b.org.id, 'b_only')).set(bearer(token)).send({ type: 'string', value: 'hijack' }),
          api().put(path(b.org.id, 'b_new')).set(bearer(token)).send({ type: 'string', value: 'hijack' }),
          api().patch(path(b.org.id, 'b_only')).set(bearer(token)).send({ description: 'hijack' }),
          api().delete(path(b.org.id, 'b_only')).set(bearer(token)),
          api().get(`/api/orgs/${b.org.id}/effective-configs`).set(bearer(token)),
        ];
        for (const res of await Promise.all(calls)) {
          expect({ url: sentTo(res), status: res.status }).toEqual({ url: sentTo(res), status: 403 });
          expect(res.body.code).toEqual(expect.any(String));
        }
      }
      expect((await get(b.org.id, 'b_only').expect(200)).body).toMatchObject({ value: 'b', description: null });
      await get(b.org.id, 'b_new').expect(404);
    });

    it('forbids members writing, and org principals writing global', async () => {
      await put(a.org.id, 'member_target', { type: 'string', value: 'orig' }).expect(201);
      await put('global', 'global_for_all', { type: 'secret', value: 'global-for-all-secret' }).expect(201);
      const memberCalls = [
        put(a.org.id, 'member_target', { type: 'string', value: 'changed' }, a.member),
        put(a.org.id, 'member_new', { type: 'string', value: 'new' }, a.member),
        api().patch(path(a.org.id, 'member_target')).set(bearer(a.member)).send({ description: 'changed' }),
        api().delete(path(a.org.id, 'member_target')).set(bearer(a.member)),
        put('global', 'member_new', { type: 'string', value: 'new' }, a.member),
        put('global', 'org_admin_new', { type: 'string', value: 'new' }, a.orgAdmin),
        api().delete(path('global', 'global_for_all')).set(bearer(a.orgAdmin)),
        api().patch(path('global', 'global_for_all')).set(bearer(a.orgAdmin)).send({ description: 'x' }),
      ];
      for (const res of await Promise.all(memberCalls)) expect({ url: sentTo(res), status: res.status }).toEqual({ url: sentTo(res), status: 403 });
      expect((await get(a.org.id, 'member_target').expect(200)).body).toMatchObject({ value: 'orig', description: null });
      await get(a.org.id, 'member_new').expect(404);
      await get('global', 'member_new').expect(404);
      await get('global', 'org_admin_new').expect(404);
      // Members may read their org and global, masked.
      await api().get(`/api/scopes/global/configs`).set(bearer(a.member)).expect(200);
      const globalRead = await get('global', 'global_for_all', a.member).expect(200);
      expect(globalRead.body).toMatchObject({ value: MASK, masked: true, description: null });
    });

    it('keeps every human principal away from the SDK, and service tokens away from the admin endpoints', async () => {
      await put(a.org.id, 'sdk_guarded', { type: 'secret', value: 'guarded-secret-value' }).expect(201);
      for (const token of [t.adminToken, a.orgAdmin, a.member]) {
        const calls = [
          sdkGet('sdk_guarded', token),
          sdkGet('sdk_guarded', token, { 'X-Bifrost-Org': a.org.id }),
          api().get('/api/sdk/configs').set(bearer(token)),
          api().put('/api/sdk/configs/sdk_guarded').set(bearer(token)).send({ value: 'x', isSecret: true }),
          api().delete('/api/sdk/configs/sdk_guarded').set(bearer(token)),
        ];
        for (const res of await Promise.all(calls)) {
          expect({ url: sentTo(res), status: res.status }).toEqual({ url: sentTo(res), status: 403 });
          expect(res.text).not.toContain('guarded-secret-value');
        }
      }
      for (const res of await Promise.all([
        api().get(`/api/scopes/${a.org.id}/configs`).set(bearer(a.service)),
        get(a.org.id, 'sdk_guarded', a.service),
        put(a.org.id, 'sdk_guarded', { type: 'string', value: 'x' }, a.service),
        api().get(`/api/orgs/${a.org.id}/effective-configs`).set(bearer(a.service)),
      ])) {
        expect({ url: sentTo(res), status: res.status }).toEqual({ url: sentTo(res), status: 403 });
      }
      expect((await sdkGet('sdk_guarded', a.service).expect(200)).body.value).toBe('guarded-secret-value');
      // No token: 401.
      await api().get('/api/sdk/configs/sdk_guarded').expect(401);
    });
  });

  describe('the audit trail of all of the above', () => {
    it('holds none of the secrets, ciphertexts or tokens used in this file, in any form', async () => {
      const crypto = t.app.get(CryptoService);
      const needles = new Map<string, string>();
      for (const row of await rawRows<{ ciphertext: string }>(t, 'SELECT ciphertext FROM configs WHERE ciphertext IS NOT NULL')) {
        needles.set(row.ciphertext, 'ciphertext');
        try {
          usedSecrets.add(crypto.decryptString(row.ciphertext));
        } catch {
          // the row written under another deployment's key; its plaintext is in usedSecrets already
        }
      }
      for (const secret of usedSecrets) if (secret.length >= 4) for (const form of leakForms(secret)) needles.set(form, `secret ${secret.slice(0, 6)}…`);
      for (const token of [t.adminToken, ...usedTokens, ...[a, b].flatMap((o) => [o.orgAdmin, o.member, o.service])]) for (const form of leakForms(token)) needles.set(form, 'token');
      expect(usedSecrets.size).toBeGreaterThan(100);
      const { rows, leaks } = await auditLeaks(t, needles);
      expect(rows).toBeGreaterThan(500);
      expect(leaks).toEqual([]);
    });
  });
});
