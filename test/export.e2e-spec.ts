import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet, IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeBound } from '../src/crypto/binding';
import { Fernet } from '../src/crypto/fernet';
import { deriveFernetKey, wrapBifrostStored } from '../src/crypto/key-derivation';
import { Keyring } from '../src/crypto/keyring';
import { KeyRotationService } from '../src/crypto/key-rotation.service';
import { EXPORT_PAGE } from '../src/export/export.service';
import { MAX_LISTED_PROBLEMS } from '../src/export/problem-list';
import { CLI, finished } from './helpers/processes';
import { bearer, freshDatabase, onMysql, seedOrg, startApp, TEST_SECRET_KEY, TestApp, TestDatabase } from './helpers/test-app';
import { rawCount, rawRows } from './helpers/raw-db';

type Json = Record<string, unknown>;
interface Seeded {
  scope: 'global' | { org: string };
  key: string;
  type: string;
  value: unknown;
  description?: string | null;
}

const MARK = 'MARK-' + randomBytes(6).toString('hex');

/** Configs of every type in the global scope and two orgs; secrets hold recognisable plaintexts. */
function seedRows(): Seeded[] {
  return [
    { scope: 'global', key: 'app_name', type: 'string', value: 'Bifrost ✓ ünïcødé "quoted" \\ back', description: 'Display name' },
    { scope: 'global', key: 'max_retries', type: 'int', value: -42, description: null },
    { scope: 'global', key: 'feature.x-enabled', type: 'bool', value: true },
    { scope: 'global', key: 'limits', type: 'json', value: { a: [1, 2.5, { b: null }], s: 'x', t: false }, description: 'nested' },
    { scope: 'global', key: 'empty_json', type: 'json', value: null },
    { scope: 'global', key: 'stripe_api_key', type: 'secret', value: `sk_live_${MARK}_global`, description: 'Stripe live key' },
    { scope: { org: 'acme' }, key: 'region', type: 'string', value: 'eu-west-1' },
    { scope: { org: 'acme' }, key: 'Case_Key', type: 'string', value: 'upper' },
    { scope: { org: 'acme' }, key: 'case_key', type: 'string', value: 'lower' },
    { scope: { org: 'acme' }, key: 'db_password', type: 'secret', value: `pw-${MARK}-acme`, description: 'Primary DB' },
    { scope: { org: 'acme' }, key: 'webhook_secret', type: 'secret', value: `whsec_${MARK}\nsecond line` },
    { scope: { org: 'acme' }, key: 'big', type: 'int', value: Number.MAX_SAFE_INTEGER },
    { scope: { org: 'globex' }, key: 'flags', type: 'json', value: ['a', 'b'] },
    { scope: { org: 'globex' }, key: 'enabled', type: 'bool', value: false, description: '' },
  ];
}

async function putAll(t: TestApp, rows: Seeded[], orgIds: Record<string, string>): Promise<void> {
  for (const r of rows) {
    const scope = r.scope === 'global' ? 'global' : orgIds[r.scope.org];
    await t
      .http()
      .put(`/api/scopes/${scope}/configs/${encodeURIComponent(r.key)}`)
      .set(bearer(t.adminToken))
      .send({ type: r.type, value: r.value, ...(r.description !== undefined ? { description: r.description } : {}) })
      .expect((res) => expect([200, 201]).toContain(res.status));
  }
}

const importBundle = (t: TestApp, body: unknown, query = '', token = t.adminToken) =>
  t
    .http()
    .post(`/api/import${query ? `?${query}` : ''}`)
    .set(bearer(token))
    .set('Content-Type', 'application/json')
    .send(typeof body === 'string' ? body : JSON.stringify(body));

const exportText = async (t: TestApp, query: string, token = t.adminToken) => {
  const res = await t.http().get(`/api/export?${query}`).set(bearer(token)).buffer(true).parse((r, cb) => {
    let text = '';
    r.setEncoding('utf8');
    r.on('data', (c: string) => (text += c));
    r.on('end', () => cb(null, text));
  });
  return { status: res.status, text: res.body as unknown as string, headers: res.headers };
};

/** Every config of the app, keyed `orgName|key` (global as `global|key`), as the API lists them. */
async function listAll(t: TestApp): Promise<Map<string, Json>> {
  const orgs = (await t.http().get('/api/orgs').set(bearer(t.adminToken)).expect(200)).body.items as { id: string; name: string }[];
  const out = new Map<string, Json>();
  for (const [scope, label] of [['global', 'global'], ...orgs.map((o) => [o.id, o.name])]) {
    let cursor: string | null = null;
    do {
      const res: { body: { items: Json[]; nextCursor: string | null } } = await t
        .http()
        .get(`/api/scopes/${scope}/configs?limit=500${cursor ? `&cursor=${cursor}` : ''}`)
        .set(bearer(t.adminToken))
        .expect(200);
      for (const item of res.body.items) out.set(`${label}|${String(item.key)}`, item);
      cursor = res.body.nextCursor;
    } while (cursor);
  }
  return out;
}

const label = (s: Seeded['scope']) => (s === 'global' ? 'global' : s.org);

/** Bundles taken from the source deployment, for the tests that import them elsewhere. */
const taken: { portable?: Json & { configs: Json[] }; backup?: Json & { configs: Json[] }; backupText?: string } = {};
const rows = seedRows();
const secrets = rows.filter((r) => r.type === 'secret');

// passport keeps one `bearer` strategy per process (the last app's), so two apps are never open at
// once here: the source deployment's tests run first, and each import test opens its own target.
describe('export (source deployment)', () => {
  let source: TestApp;
  let orgIds: Record<string, string>;
  let acme: Awaited<ReturnType<typeof seedOrg>>;

  beforeAll(async () => {
    source = await startApp();
    acme = await seedOrg(source, 'acme');
    const globex = await seedOrg(source, 'globex');
    orgIds = { acme: acme.org.id, globex: globex.org.id };
    await putAll(source, rows, orgIds);
    taken.portable = JSON.parse((await exportText(source, 'portable=true')).text);
    taken.backupText = (await exportText(source, 'portable=false')).text;
    taken.backup = JSON.parse(taken.backupText);
  });
  afterAll(async () => source?.close());

  it('writes a portable bundle with no secret value, ciphertext, id, timestamp or updatedBy', async () => {
    const { status, text, headers } = await exportText(source, 'portable=true');
    expect(status).toBe(200);
    expect(headers['content-type']).toMatch(/^application\/json/);
    expect(headers['content-disposition']).toMatch(/attachment; filename="bifrost-config-portable-/);
    const bundle = JSON.parse(text);
    expect(bundle).toMatchObject({ format: 'bifrost-config-bundle', version: 1, portable: true, exportedAt: expect.any(String) });
    expect(bundle.configs).toHaveLength(rows.length);
    for (const item of bundle.configs) expect(Object.keys(item)).toEqual(['scope', 'key', 'type', 'description', 'value']);
    for (const item of bundle.configs.filter((c: Json) => c.type === 'secret')) expect(item.value).toBeNull();

    // Scan the text itself.
    expect(text).not.toContain(MARK);
    for (const s of secrets) expect(text).not.toContain(String(s.value).split('\n')[0]);
    const stored = await rawRows<{ ciphertext: string | null; updated_by: string }>(source, 'SELECT ciphertext, updated_by FROM configs');
    for (const r of stored) if (r.ciphertext) expect(text).not.toContain(r.ciphertext.slice(10, 60));
    expect(text).not.toContain('gAAAAA'); // any Fernet token
    for (const id of Object.values(orgIds)) expect(text).not.toContain(id);
    expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/);
    expect(text).not.toMatch(/updatedAt|createdAt|updatedBy|"id"/);
    // The only timestamp is the bundle's own exportedAt.
    expect(text.match(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/g)).toEqual([bundle.exportedAt.slice(0, 16)]);
    expect(text).not.toContain(source.adminToken);
  });

  it('documents both routes in Swagger, with bearer auth and the bundle schemas', async () => {
    const doc = (await source.http().get('/docs-json').expect(200)).body;
    for (const [path, method] of [
      ['/api/export', 'get'],
      ['/api/import', 'post'],
    ]) {
      const op = doc.paths[path]?.[method];
      expect(op).toBeDefined();
      expect(op.summary).toBeTruthy();
      expect(op.security).toEqual([{ bearer: [] }]);
    }
    expect(doc.paths['/api/import'].post.requestBody.content['application/json'].schema.oneOf).toHaveLength(3);
    expect(doc.paths['/api/import'].post.parameters.map((p: Json) => p.name).sort()).toEqual(['allowSecretLikeValues', 'allowTypeChange', 'createOrgs', 'dryRun', 'onConflict']);
    expect(doc.paths['/api/export'].get.parameters.map((p: Json) => p.name).sort()).toEqual(['portable', 'scope']);
    for (const schema of ['BundleDto', 'WrappedBundleDto', 'BifrostExportDto', 'ImportResultDto', 'ImportProblemDto']) expect(doc.components.schemas[schema]).toBeDefined();
  });

  it('exports one scope, and org_admin only its own org', async () => {
    const global = JSON.parse((await exportText(source, 'scope=global')).text);
    expect(global.configs.map((c: Json) => c.scope)).toEqual(rows.filter((r) => r.scope === 'global').map(() => 'global'));
    const own = JSON.parse((await exportText(source, '', acme.orgAdmin)).text);
    expect(own.configs.map((c: Json) => c.key).sort()).toEqual(rows.filter((r) => label(r.scope) === 'acme').map((r) => r.key).sort());
    for (const q of ['scope=global', 'scope=all', `scope=${orgIds.globex}`, 'portable=false&scope=all']) {
      const res = await source.http().get(`/api/export?${q}`).set(bearer(acme.orgAdmin));
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('ORG_FORBIDDEN');
    }
    await source.http().get('/api/export').set(bearer(acme.member)).expect(403);
    const bad = await source.http().get('/api/export?scope=nope').set(bearer(source.adminToken)).expect(400);
    expect(bad.body.code).toBe('INVALID_SCOPE');
    await source.http().get('/api/export?portable=maybe').set(bearer(source.adminToken)).expect(400);
  });

  it('keeps org_admin to its own org on import, and audits export and import', async () => {
    const mine = JSON.stringify({ format: 'bifrost-config-bundle', version: 1, configs: [{ scope: { org: 'acme' }, key: 'by_org_admin', type: 'string', value: 'v' }] });
    const ok = await importBundle(source, mine, 'onConflict=overwrite', acme.orgAdmin).expect(200);
    expect(ok.body).toMatchObject({ created: 1 });
    const foreign = await importBundle(source, { format: 'bifrost-config-bundle', version: 1, configs: [{ scope: 'global', key: 'nope', type: 'string', value: 'v' }, { scope: { org: 'globex' }, key: 'nope', type: 'string', value: 'v' }] }, '', acme.orgAdmin).expect(403);
    expect(foreign.body.code).toBe('ORG_FORBIDDEN');
    expect(foreign.body.details.map((d: Json) => [d.row, d.code])).toEqual([
      [0, 'SCOPE_FORBIDDEN'],
      [1, 'SCOPE_FORBIDDEN'],
    ]);
    await importBundle(source, mine, 'createOrgs=true', acme.orgAdmin).expect(403);
    await importBundle(source, mine, '', acme.member).expect(403);

    const exports = await source.http().get('/api/audit?action=config.export').set(bearer(source.adminToken)).expect(200);
    expect(exports.body.items.length).toBeGreaterThan(0);
    expect(exports.body.items[0]).toMatchObject({ action: 'config.export', outcome: 'success' });
    const imports = await source.http().get(`/api/audit?action=config.import&scope=${orgIds.acme}`).set(bearer(acme.orgAdmin)).expect(200);
    expect(imports.body.items[0]).toMatchObject({ action: 'config.import', outcome: 'success', actor: { role: 'org_admin' }, reason: expect.stringContaining('created=1') });
    const perConfig = await source.http().get(`/api/audit?key=by_org_admin&scope=${orgIds.acme}`).set(bearer(source.adminToken)).expect(200);
    expect(perConfig.body.items[0]).toMatchObject({ action: 'config.create', reason: 'import' });
  });

});

describe('import (fresh deployments)', () => {
  it('round-trips a portable bundle into a fresh database: every value, type and description; secrets listed as needing a value', async () => {
    const bundle = taken.portable!;
    const target = await startApp();
    try {
      // Without createOrgs the missing orgs are problems, one per row, and nothing is written.
      const refused = await importBundle(target, bundle).expect(400);
      expect(refused.body.code).toBe('INVALID_BUNDLE');
      const orgRows = rows.map((r, i) => [r, i] as const).filter(([r]) => r.scope !== 'global');
      expect(refused.body.details.map((d: Json) => d.row)).toEqual(orgRows.map(([, i]) => bundleIndex(bundle, rows[i])).sort((a, b) => a - b));
      expect(refused.body.details.every((d: Json) => d.code === 'ORG_NOT_FOUND')).toBe(true);
      expect(await rawCount(target, 'configs')).toBe(0);

      const dry = await importBundle(target, bundle, 'createOrgs=true&dryRun=true').expect(200);
      expect(await rawCount(target, 'configs')).toBe(0);
      expect(await rawCount(target, 'orgs')).toBe(0);

      const res = await importBundle(target, bundle, 'createOrgs=true').expect(200);
      expect(res.body).toEqual(dry.body);
      expect(res.body).toMatchObject({ created: rows.length, updated: 0, skipped: 0, errors: [] });
      expect(new Set(res.body.secretsNeedingValue.map((s: Json) => JSON.stringify(s)))).toEqual(new Set(secrets.map((s) => JSON.stringify({ scope: s.scope, key: s.key }))));

      const after = await listAll(target);
      expect(after.size).toBe(rows.length);
      for (const r of rows) {
        const got = after.get(`${label(r.scope)}|${r.key}`)!;
        expect(got).toBeDefined();
        expect(got.type).toBe(r.type);
        expect(got.description).toBe(r.description ?? null);
        if (r.type === 'secret') expect(got).toMatchObject({ value: null, hasValue: false, masked: true });
        else expect(got.value).toEqual(r.value);
      }
      // Importing it again: every row exists now.
      const skip = await importBundle(target, bundle, 'onConflict=skip').expect(200);
      expect(skip.body).toMatchObject({ created: 0, updated: 0, skipped: rows.length });
      expect(skip.body.secretsNeedingValue).toHaveLength(secrets.length);
    } finally {
      await target.close();
    }
  });

  it('restores a backup bundle with its secrets (same key), and a null secret never overwrites a value', async () => {
    const backupText = taken.backupText!;
    const backup = taken.backup!;
    expect(backup).toMatchObject({ format: 'bifrost-config-bundle', portable: false });
    for (const item of backup.configs.filter((c: Json) => c.type === 'secret')) {
      expect(Object.keys(item)).toEqual(['scope', 'key', 'type', 'description', 'encryptedValue']);
      expect(item.encryptedValue).toMatch(/^gAAAAA/);
    }
    expect(backupText).not.toContain(MARK);
    const target = await startApp();
    try {
      const res = await importBundle(target, backup, 'createOrgs=true').expect(200);
      expect(res.body).toMatchObject({ created: rows.length, secretsNeedingValue: [] });
      const orgs = (await target.http().get('/api/orgs').set(bearer(target.adminToken))).body.items as { id: string; name: string }[];
      const acmeId = orgs.find((o) => o.name === 'acme')!.id;
      const svc = (await target.http().post('/api/tokens').set(bearer(target.adminToken)).send({ name: 'svc', role: 'service', orgId: acmeId }).expect(201)).body.token;
      for (const s of secrets) {
        const read = await target.http().get(`/api/sdk/configs/${s.key}`).set(bearer(svc)).expect(200);
        expect(read.body.value).toBe(s.value);
      }
      // A portable bundle over it: the null secrets keep their values; everything else is updated.
      const portable = taken.portable!;
      const over = await importBundle(target, portable, 'onConflict=overwrite').expect(200);
      expect(over.body).toMatchObject({ created: 0, updated: rows.length, skipped: 0, secretsNeedingValue: [] });
      for (const s of secrets) expect((await target.http().get(`/api/sdk/configs/${s.key}`).set(bearer(svc)).expect(200)).body.value).toBe(s.value);
    } finally {
      await target.close();
    }
  });

  it('imports a Bifrost configs export made with a known key; the secrets decrypt through the SDK', async () => {
    const bifrostKey = 'the-old-bifrost-deployment-key-' + randomBytes(8).toString('hex');
    const fernet = new Fernet(deriveFernetKey(bifrostKey));
    const export_ = {
      bifrost_export_version: '1.0',
      entity_type: 'configs',
      exported_at: new Date().toISOString(),
      contains_encrypted_values: true,
      item_count: 6,
      items: [
        { key: 'bf_api_key', value: wrapBifrostStored(fernet.encrypt(`bf-${MARK}-wrapped`)), config_type: 'secret', description: 'wrapped form', organization_id: null, organization_name: null, integration_name: null },
        { key: 'bf_plain_token', value: fernet.encrypt(`bf-${MARK}-plain ünï`), config_type: 'SECRET', description: null, organization_id: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', organization_name: 'initech' },
        { key: 'bf_url', value: 'https://api.example.com', config_type: 'string', description: 'url' },
        { key: 'bf_timeout', value: '30', config_type: 'int', organization_name: 'initech' },
        { key: 'bf_flag', value: 'True', config_type: 'bool' },
        { key: 'bf_obj', value: { nested: [1, 2] }, config_type: 'json', organization_name: 'initech' },
      ],
    };
    const target = await startApp();
    try {
      // Without the key the secrets cannot be opened: two problems, one per secret row.
      const noKey = await importBundle(target, export_, 'createOrgs=true').expect(400);
      expect(noKey.body.details.map((d: Json) => [d.row, d.code])).toEqual([
        [0, 'SECRET_UNDECRYPTABLE'],
        [1, 'SECRET_UNDECRYPTABLE'],
      ]);
      const wrong = await importBundle(target, { bundle: export_, sourceSecretKey: 'not-the-key-' + MARK }, 'createOrgs=true').expect(400);
      expect(wrong.body.details.map((d: Json) => [d.row, d.code])).toEqual([
        [0, 'SECRET_UNDECRYPTABLE'],
        [1, 'SECRET_UNDECRYPTABLE'],
      ]);
      expect(JSON.stringify(wrong.body)).not.toContain(MARK);
      expect(await rawCount(target, 'configs')).toBe(0);

      const res = await importBundle(target, { bundle: export_, sourceSecretKey: bifrostKey }, 'createOrgs=true').expect(200);
      expect(res.body).toMatchObject({ created: 6, updated: 0, skipped: 0, secretsNeedingValue: [] });
      const initech = (await target.http().get('/api/orgs').set(bearer(target.adminToken))).body.items.find((o: Json) => o.name === 'initech');
      const svc = (await target.http().post('/api/tokens').set(bearer(target.adminToken)).send({ name: 'svc', role: 'service', orgId: initech.id }).expect(201)).body.token;
      const read = async (key: string) => (await target.http().get(`/api/sdk/configs/${key}`).set(bearer(svc)).expect(200)).body;
      expect(await read('bf_api_key')).toMatchObject({ value: `bf-${MARK}-wrapped`, source: 'global', type: 'secret' });
      expect(await read('bf_plain_token')).toMatchObject({ value: `bf-${MARK}-plain ünï`, source: 'org' });
      expect(await read('bf_timeout')).toMatchObject({ value: 30, type: 'int' });
      expect(await read('bf_flag')).toMatchObject({ value: true, type: 'bool' });
      expect(await read('bf_obj')).toMatchObject({ value: { nested: [1, 2] }, type: 'json' });
      // Stored under this deployment's key, not the source's.
      const ours = Keyring.fromSecrets(TEST_SECRET_KEY);
      for (const r of await rawRows<{ ciphertext: string }>(target, 'SELECT ciphertext FROM configs WHERE ciphertext IS NOT NULL')) {
        expect(ours.isCurrent(r.ciphertext)).toBe(true);
      }
    } finally {
      await target.close();
    }
  });

  it('answers every bad input with a 400 listing every problem with its row, and writes nothing', async () => {
    const target = await startApp();
    try {
      await seedOrg(target, 'acme');
      const before = { configs: await rawCount(target, 'configs'), orgs: await rawCount(target, 'orgs') };
      const good = { scope: 'global', key: 'ok_row', type: 'string', description: null, value: 'fine' };
      const bad = {
        format: 'bifrost-config-bundle',
        version: 1,
        portable: true,
        exportedAt: new Date().toISOString(),
        configs: [
          good,
          { ...good, value: `dup ${MARK}` }, // 1: duplicate of row 0
          { scope: 'global', key: 'port', type: 'int', description: null, value: `${MARK}` }, // 2: not an int
          { scope: { org: 'no-such-org' }, key: 'x', type: 'string', value: 'v' }, // 3: missing org
          { scope: 'global', key: '../etc', type: 'string', value: 'v' }, // 4: bad key
          { scope: 'global', key: 'leaked', type: 'secret', value: `plain-${MARK}` }, // 5: secret in clear
          { scope: 'global', key: 'garbled', type: 'secret', value: null, encryptedValue: `junk-${MARK}` }, // 6: not a token
          { scope: 'global', key: 'typo', type: 'strng', value: 'v' }, // 7: bad type
          { scope: { org: 'acme' }, key: 'flag', type: 'bool', value: `yes-${MARK}` }, // 8: not a bool
          'not an object', // 9
          { scope: 'global', key: 'too_big', type: 'string', value: 'x'.repeat(70_000) }, // 10: over 64 KiB
          { scope: 'global', key: 'no_value', type: 'json' }, // 11: missing value
          { scope: { org: 'acme' }, key: 'deep', type: 'json', value: JSON.parse('['.repeat(70) + ']'.repeat(70)) }, // 12: too deep
        ],
      };
      const res = await importBundle(target, bad, 'dryRun=true').expect(400);
      expect(res.body).toMatchObject({ statusCode: 400, code: 'INVALID_BUNDLE', message: expect.stringContaining('12 problems') });
      expect(res.body.details.map((d: Json) => [d.row, d.code])).toEqual([
        [1, 'DUPLICATE_CONFIG'],
        [2, 'INVALID_VALUE'],
        [3, 'ORG_NOT_FOUND'],
        [4, 'INVALID_KEY'],
        [5, 'SECRET_IN_CLEAR'],
        [6, 'INVALID_SECRET'],
        [7, 'INVALID_TYPE'],
        [8, 'INVALID_VALUE'],
        [9, 'INVALID_ROW'],
        [10, 'VALUE_TOO_LARGE'],
        [11, 'MISSING_VALUE'],
        [12, 'JSON_TOO_DEEP'],
      ]);
      expect(res.body.details[0]).toMatchObject({ key: 'ok_row', message: expect.stringContaining('row 0') });
      expect(JSON.stringify(res.body)).not.toContain(MARK);
      // The same bundle for real: the same answer.
      const real = await importBundle(target, bad, 'createOrgs=false').expect(400);
      expect(real.body.details).toEqual(res.body.details);

      const whole = (configs: unknown[], extra: Json = {}) => ({ format: 'bifrost-config-bundle', version: 1, configs, ...extra });
      const cases: [unknown, string, number | null][] = [
        [{ ...whole([good]), format: 'something-else' }, 'UNSUPPORTED_FORMAT', null],
        [{ ...whole([good]), version: 2 }, 'UNSUPPORTED_FORMAT', null],
        [{ bifrost_export_version: '2.0', entity_type: 'configs', items: [] }, 'UNSUPPORTED_FORMAT', null],
        [{ bifrost_export_version: '1.0', entity_type: 'knowledge', items: [] }, 'UNSUPPORTED_FORMAT', null],
        [{ format: 'bifrost-config-bundle', version: 1 }, 'MISSING_CONFIGS', null],
        [[good], 'UNSUPPORTED_FORMAT', null],
        [{ bundle: whole([good]), sourceSecretKey: 42 }, 'INVALID_SOURCE_KEY', null],
        [{ hello: 'world' }, 'UNSUPPORTED_FORMAT', null],
      ];
      for (const [body, code, row] of cases) {
        const r = await importBundle(target, body);
        expect({ status: r.status, code: r.body.code === 'INVALID_BUNDLE' ? r.body.details[0].code : r.body.code, row: r.body.details?.[0]?.row ?? null }).toEqual({ status: 400, code, row });
      }
      for (const text of ['{"format": "bifrost-config-bundle", "version": 1, "configs": [', '', 'nope', '{"configs": [1,]}', `{"format":"bifrost-config-bundle","version":1,"configs":[]} {}`]) {
        const r = await importBundle(target, text);
        expect([r.status, r.body.code]).toEqual([400, 'INVALID_JSON']);
      }
      // A wrong sourceSecretKey: every secret row is a problem.
      const backup = taken.backup!;
      const wrongKey = await importBundle(target, { bundle: backup, sourceSecretKey: 'wrong-key-0123456789-0123456789-xx' }, 'createOrgs=true').expect(400);
      expect(wrongKey.body.details.map((d: Json) => d.code)).toEqual(secrets.map(() => 'SECRET_UNDECRYPTABLE'));
      expect(wrongKey.body.details.map((d: Json) => d.key).sort()).toEqual(secrets.map((s) => s.key).sort());
      // The right key (this test deployment's own) restores it.
      await importBundle(target, { bundle: backup, sourceSecretKey: TEST_SECRET_KEY }, 'createOrgs=true&dryRun=true').expect(200);

      expect({ configs: await rawCount(target, 'configs'), orgs: await rawCount(target, 'orgs') }).toEqual(before);
      // Refusals are audited, without values.
      const audit = await target.http().get('/api/audit?action=config.import&outcome=failure').set(bearer(target.adminToken)).expect(200);
      expect(audit.body.items.length).toBeGreaterThanOrEqual(3);
      expect(JSON.stringify(audit.body)).not.toContain(MARK);
    } finally {
      await target.close();
    }
  });

  it('streams an import far over the 1 MiB JSON limit', async () => {
    const n = 6000;
    const configs = Array.from({ length: n }, (_, i) => ({ scope: 'global', key: `bulk_${String(i).padStart(5, '0')}`, type: i % 3 === 0 ? 'int' : 'string', description: 'd'.repeat(200), value: i % 3 === 0 ? i : `value ${i} ${'v'.repeat(50)}` }));
    const text = JSON.stringify({ format: 'bifrost-config-bundle', version: 1, portable: true, configs });
    expect(text.length).toBeGreaterThan(1.5 * 1024 * 1024);
    const target = await startApp();
    try {
      const res = await importBundle(target, text).expect(200);
      expect(res.body).toMatchObject({ created: n, updated: 0, skipped: 0 });
      expect(await rawCount(target, 'configs')).toBe(n);
      const exported = JSON.parse((await exportText(target, 'scope=global')).text);
      expect(exported.configs).toHaveLength(n);
      expect(exported.configs[n - 1]).toEqual(configs[n - 1]);
    } finally {
      await target.close();
    }
  });
});

/** The index of a seeded row in an exported bundle. */
function bundleIndex(bundle: { configs: Json[] }, row: Seeded): number {
  return bundle.configs.findIndex((c) => c.key === row.key && JSON.stringify(c.scope) === JSON.stringify(row.scope));
}

describe('export snapshot and large bundles', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ listen: true });
  });
  afterAll(async () => t?.close());

  const bundleOf = (configs: unknown[]) => ({ format: 'bifrost-config-bundle', version: 1, portable: true, exportedAt: new Date().toISOString(), configs });
  const snapKey = (i: number) => `snap_${String(i).padStart(5, '0')}`;

  it('exports one point-in-time snapshot while writes go on, and does not hold the writes up', async () => {
    // Three pages of ~8 KiB values (~24 MiB): far more than the stream and socket buffers between the
    // server and a reader that has stopped reading, so the later pages are read after the writes below.
    const n = 3 * EXPORT_PAGE;
    const pad = 'p'.repeat(8000);
    const configs = Array.from({ length: n }, (_, i) => ({ scope: 'global', key: snapKey(i), type: 'string', description: null, value: `v0-${i}-${pad}` }));
    const imported = await importBundle(t, bundleOf(configs));
    expect(imported.status).toBe(200);
    expect(imported.body.created).toBe(n);

    const req = httpGet(`${t.baseUrl}/api/export?portable=true&scope=all`, { headers: bearer(t.adminToken) });
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    expect(res.statusCode).toBe(200);
    const reader = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const parts: Buffer[] = [];
    const first = await reader.next();
    expect(first.done).toBe(false);
    parts.push(first.value);

    // The export is open and its reader has stopped. Each write below completes before reading
    // resumes: an export that blocked writers would hang here (and fail on the test's timeout).
    const put = (key: string, value: string) =>
      t.http().put(`/api/scopes/global/configs/${key}`).set(bearer(t.adminToken)).send({ type: 'string', value }).expect(200);
    await put(snapKey(0), 'changed-first-page');
    await put(snapKey(n - 1), 'changed-last-page');
    await t.http().delete(`/api/scopes/global/configs/${snapKey(n - 2)}`).set(bearer(t.adminToken)).expect(204);
    await t.http().put('/api/scopes/global/configs/snap_zz_new').set(bearer(t.adminToken)).send({ type: 'string', value: 'created-during-export' }).expect(201);
    const sentBeforeWrites = parts.reduce((sum, b) => sum + b.length, 0);

    for (let next = await reader.next(); !next.done; next = await reader.next()) parts.push(next.value);
    const text = Buffer.concat(parts).toString('utf8');
    // The writes landed while most of the bundle was still to come.
    expect(sentBeforeWrites).toBeLessThan(text.length / 2);
    const bundle = JSON.parse(text) as { configs: { key: string; value: unknown }[] };
    // A value as its text without the padding (when it ends in it): short failure output.
    const shown = (v: unknown) => (typeof v === 'string' && v.endsWith(pad) ? `${v.slice(0, -pad.length)}+pad` : v);
    const byKey = new Map(bundle.configs.map((c) => [c.key, shown(c.value)]));
    // Exactly the state when the export began: no write made during it shows, on any page.
    expect(bundle.configs).toHaveLength(n);
    expect(byKey.get(snapKey(0))).toBe('v0-0-+pad');
    expect(byKey.get(snapKey(n - 1))).toBe(`v0-${n - 1}-+pad`);
    expect(byKey.get(snapKey(n - 2))).toBe(`v0-${n - 2}-+pad`);
    expect(byKey.has('snap_zz_new')).toBe(false);

    // The writes did happen: a new export has them.
    const after = JSON.parse((await exportText(t, 'portable=true&scope=global')).text) as { configs: { key: string; value: unknown }[] };
    const now = new Map(after.configs.map((c) => [c.key, c.value]));
    expect(now.get(snapKey(n - 1))).toBe('changed-last-page');
    expect(now.has(snapKey(n - 2))).toBe(false);
    expect(now.get('snap_zz_new')).toBe('created-during-export');
  });

  // An in-memory SQLite database has no second connection to read a snapshot from: the export holds
  // the write lock instead, so a write made during it waits and does not show in the bundle.
  (onMysql ? it.skip : it)('exports a snapshot from an in-memory SQLite database too, writes waiting until it is done', async () => {
    const mem = await startApp({ listen: true, db: { url: 'sqlite::memory:', drop: async () => undefined } });
    try {
      const n = 3 * EXPORT_PAGE;
      const pad = 'q'.repeat(8000);
      const configs = Array.from({ length: n }, (_, i) => ({ scope: 'global', key: snapKey(i), type: 'string', description: null, value: `m0-${i}-${pad}` }));
      expect((await importBundle(mem, bundleOf(configs))).status).toBe(200);

      const req = httpGet(`${mem.baseUrl}/api/export?portable=true&scope=all`, { headers: bearer(mem.adminToken) });
      const [res] = (await once(req, 'response')) as [IncomingMessage];
      const reader = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      const parts: Buffer[] = [];
      const first = await reader.next();
      parts.push(first.value);
      let written = false;
      const write = mem
        .http()
        .put(`/api/scopes/global/configs/${snapKey(n - 1)}`)
        .set(bearer(mem.adminToken))
        .send({ type: 'string', value: 'changed-during-export' })
        .then((r) => {
          written = true;
          return r;
        });
      await new Promise((r) => setTimeout(r, 200));
      // The export still holds the lock: the write has not gone through.
      expect(written).toBe(false);
      for (let next = await reader.next(); !next.done; next = await reader.next()) parts.push(next.value);
      const bundle = JSON.parse(Buffer.concat(parts).toString('utf8')) as { configs: { key: string; value: string }[] };
      expect(bundle.configs).toHaveLength(n);
      expect(bundle.configs.find((c) => c.key === snapKey(n - 1))?.value.startsWith(`m0-${n - 1}-`)).toBe(true);
      // Once the export is done, the write goes through.
      expect((await write).status).toBe(200);
      const after = JSON.parse((await exportText(mem, 'portable=true&scope=global')).text) as { configs: { key: string; value: unknown }[] };
      expect(after.configs.find((c) => c.key === snapKey(n - 1))?.value).toBe('changed-during-export');
    } finally {
      await mem.close();
    }
  });

  it('lists the first 1,000 problems by row of a bundle with 5,000 bad rows, gives the true total, and writes nothing', async () => {
    const before = await rawCount(t, 'configs');
    const configs = Array.from({ length: 5000 }, (_, i) => ({ scope: 'global', key: `bad_${i}`, type: 'int', value: `not-a-number-${MARK}` }));
    // Rows 0 and 2 also repeat one key (row 2 names row 0); row 4,999 too, beyond the listed ones.
    configs[2].key = configs[0].key;
    configs[4999].key = configs[0].key;
    const res = await importBundle(t, bundleOf(configs));
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('INVALID_BUNDLE');
    expect(res.body.message).toBe(`The bundle has 5000 problems (the first ${MAX_LISTED_PROBLEMS} by row are listed); nothing was imported`);
    const details = res.body.details as { row: number; code: string }[];
    expect(details).toHaveLength(MAX_LISTED_PROBLEMS);
    expect(details.map((d) => d.row)).toEqual(Array.from({ length: MAX_LISTED_PROBLEMS }, (_, i) => i));
    expect(details.every((d) => d.code === 'INVALID_VALUE')).toBe(true);
    expect(JSON.stringify(res.body)).not.toContain(MARK);
    expect(await rawCount(t, 'configs')).toBe(before);
  });

  it('finds repeated scope and key pairs among 20,000 rows (checked through temp files), naming the first row, and leaves no files', async () => {
    const before = await rawCount(t, 'configs');
    const dupDirs = () => new Set(readdirSync(tmpdir()).filter((f) => f.startsWith('bifrost-import-dups-')));
    const dirsBefore = dupDirs();
    const configs = Array.from({ length: 20_000 }, (_, i) => ({ scope: 'global', key: `many_${i}`, type: 'int', value: i }));
    configs[15_000].key = configs[10].key;
    configs[19_999].key = configs[12_345].key;
    const res = await importBundle(t, bundleOf(configs));
    expect(res.status).toBe(400);
    expect(res.body.message).toBe('The bundle has 2 problems; nothing was imported');
    expect(res.body.details).toEqual([
      { row: 15_000, key: 'many_10', code: 'DUPLICATE_CONFIG', message: 'The same scope and key appear in row 10 already' },
      { row: 19_999, key: 'many_12345', code: 'DUPLICATE_CONFIG', message: 'The same scope and key appear in row 12345 already' },
    ]);
    expect(await rawCount(t, 'configs')).toBe(before);
    expect([...dupDirs()].filter((d) => !dirsBefore.has(d))).toEqual([]);

    // Without the repeats the same bundle imports.
    configs[15_000].key = 'many_15000';
    configs[19_999].key = 'many_19999';
    const ok = await importBundle(t, bundleOf(configs));
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ created: 20_000, updated: 0, skipped: 0, errors: [] });
    expect(await rawCount(t, 'configs')).toBe(before + 20_000);
    expect([...dupDirs()].filter((d) => !dirsBefore.has(d))).toEqual([]);
  });
});

describe('key rotation and the start-up key check', () => {
  const OLD = 'rotation-old-key-' + randomBytes(12).toString('hex');
  const NEW = 'rotation-new-key-' + randomBytes(12).toString('hex');
  let db: TestDatabase;
  const plain = (i: number) => `secret-${i}-${MARK}`;
  const N = 90;
  const DYNAMIC = [`oauth-${MARK}-1`, `oauth-${MARK}-2`, `oauth-${MARK}-3`];

  beforeAll(async () => {
    db = await freshDatabase();
    const old = await startApp({ db, env: { BIFROST_SECRET_KEY: OLD } });
    try {
      const org = await seedOrg(old, 'rot-org');
      for (let i = 0; i < N; i++) {
        const scope = i % 2 === 0 ? 'global' : org.org.id;
        await old.http().put(`/api/scopes/${scope}/configs/k${String(i).padStart(3, '0')}`).set(bearer(old.adminToken)).send({ type: 'secret', value: plain(i) }).expect(201);
      }
      await old.http().put('/api/scopes/global/configs/plain_setting').set(bearer(old.adminToken)).send({ type: 'string', value: 'x' }).expect(201);
      // Dynamic secrets of an execution are stored encrypted too, and rotate with the rest.
      const execution = (await old.http().post('/api/executions').set(bearer(org.service)).send({ workflow: 'rotation-wf' }).expect(201)).body;
      await old.http().post(`/api/executions/${execution.id}/secrets`).set(bearer(org.service)).send({ values: DYNAMIC }).expect(204);
    } finally {
      await old.close();
    }
  });
  afterAll(async () => db?.drop());

  it('refuses to start when no configured key decrypts the stored secrets, naming BIFROST_SECRET_KEY', async () => {
    await expect(startApp({ db, env: { BIFROST_SECRET_KEY: 'some-other-key-' + randomBytes(12).toString('hex') } })).rejects.toThrow(/BIFROST_SECRET_KEY/);
  });

  it('re-encrypts every secret while SDK reads go on, resumes after a stop, and leaves only the new key needed', async () => {
    const t = await startApp({ db, env: { BIFROST_SECRET_KEY: NEW, BIFROST_SECRET_KEY_PREVIOUS: OLD } });
    try {
      const orgId = (await t.http().get('/api/orgs').set(bearer(t.adminToken))).body.items[0].id;
      const svc = (await t.http().post('/api/tokens').set(bearer(t.adminToken)).send({ name: 'svc', role: 'service', orgId }).expect(201)).body.token;
      const rotation = t.app.get(KeyRotationService);

      // A run stopped after one batch (as if killed) ...
      const first = await rotation.rotate({ batchSize: 20, maxBatches: 1 });
      expect(first).toMatchObject({ reencrypted: 20, alreadyCurrent: 0, failed: 0, complete: false, batches: 1 });

      // ... resumes: the re-encrypted ones count as current; SDK reads never fail meanwhile.
      const reads: Promise<unknown>[] = [];
      let failedReads = 0;
      const readAll = async () => {
        for (let round = 0; round < 3; round++) {
          await Promise.all(
            Array.from({ length: N }, async (_, i) => {
              const res = await t.http().get(`/api/sdk/configs/k${String(i).padStart(3, '0')}`).set(bearer(svc));
              if (res.status !== 200 || res.body.value !== plain(i)) failedReads++;
            }),
          );
        }
      };
      reads.push(readAll());
      const second = await rotation.rotate({ batchSize: 7 });
      await Promise.all(reads);
      expect(failedReads).toBe(0);
      expect(second.reencrypted + second.changedConcurrently).toBe(N - 20 + DYNAMIC.length);
      expect(second).toMatchObject({ alreadyCurrent: 20, failed: 0, complete: true });
      expect(second.batches).toBeGreaterThan(10);

      const third = await rotation.rotate();
      expect(third).toMatchObject({ reencrypted: 0, alreadyCurrent: N + DYNAMIC.length, failed: 0 });

      const onlyNew = Keyring.fromSecrets(NEW);
      const stored = await rawRows<{ ciphertext: string }>(t, 'SELECT ciphertext FROM configs WHERE ciphertext IS NOT NULL');
      expect(stored).toHaveLength(N);
      // Each in the bound form (its scope and key before the value).
      for (const r of stored) expect(decodeBound(onlyNew.decrypt(r.ciphertext).toString('utf8'))).toMatchObject({ binding: { key: expect.stringMatching(/^k\d{3}$/) }, value: expect.stringMatching(/^secret-\d+-/) });
      const dynamic = await rawRows<{ ciphertext: string }>(t, 'SELECT ciphertext FROM execution_secrets');
      expect(dynamic).toHaveLength(DYNAMIC.length);
      // (How the executions module frames a dynamic secret inside its token is its business.)
      for (const r of dynamic) expect(DYNAMIC.some((d) => onlyNew.decrypt(r.ciphertext).toString('utf8').includes(d))).toBe(true);

      const audit = await t.http().get('/api/audit?action=key.rotate').set(bearer(t.adminToken)).expect(200);
      expect(audit.body.items.length).toBeGreaterThan(3);
      expect(JSON.stringify(audit.body)).not.toContain(MARK);
    } finally {
      await t.close();
    }
    // The old key is no longer needed.
    const fresh = await startApp({ db, env: { BIFROST_SECRET_KEY: NEW } });
    try {
      const orgId = (await fresh.http().get('/api/orgs').set(bearer(fresh.adminToken))).body.items[0].id;
      const svc = (await fresh.http().post('/api/tokens').set(bearer(fresh.adminToken)).send({ name: 'svc2', role: 'service', orgId }).expect(201)).body.token;
      expect((await fresh.http().get('/api/sdk/configs/k001').set(bearer(svc)).expect(200)).body.value).toBe(plain(1));
    } finally {
      await fresh.close();
    }
    await expect(startApp({ db, env: { BIFROST_SECRET_KEY: OLD } })).rejects.toThrow(/BIFROST_SECRET_KEY/);
  });
});

describe('the bifrost CLI', () => {
  // Each test spawns several CLI processes: generous under a loaded CI machine.
  const CLI_TIMEOUT = 240_000;
  const ROOT = resolve(__dirname, '..');
  // The built CLI as users run it (its Nest graph needs the decorator metadata tsc emits).
  let t: TestApp;
  let dir: string;
  let acmeId: string;

  const cli = (args: string[], extraEnv: Record<string, string> = {}) =>
    finished(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'test', DATABASE_URL: t.db.url, BIFROST_SECRET_KEY: TEST_SECRET_KEY, ...extraEnv },
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bifrost-cli-'));
    t = await startApp();
    acmeId = (await seedOrg(t, 'acme')).org.id;
    await t.http().put('/api/scopes/global/configs/site').set(bearer(t.adminToken)).send({ type: 'string', value: 'example.org', description: 'site' }).expect(201);
    await t.http().put(`/api/scopes/${acmeId}/configs/api_key`).set(bearer(t.adminToken)).send({ type: 'secret', value: `cli-${MARK}` }).expect(201);
  });
  afterAll(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('migrates, creates a token, exports, imports (dry run and for real), rotates, all audited as cli', async () => {
    const migrate = await cli(['migrate']);
    expect(migrate).toMatchObject({ code: 0, stdout: '' });
    expect(migrate.stderr).toMatch(/up to date/);

    const token = await cli(['tokens', 'create', '--role', 'service', '--org', 'acme', '--name', 'from-cli']);
    expect(token.code).toBe(0);
    const created = JSON.parse(token.stdout);
    expect(created).toMatchObject({ role: 'service', orgId: acmeId, name: 'from-cli', token: expect.stringMatching(/^bft_/) });
    expect((await t.http().get('/api/sdk/configs/api_key').set(bearer(created.token)).expect(200)).body.value).toBe(`cli-${MARK}`);

    const out = join(dir, 'portable.json');
    const exported = await cli(['export', '--portable', '-o', out]);
    expect(exported.code).toBe(0);
    expect(exported.stderr).toMatch(/exported 2 configs/);
    const bundle = JSON.parse(readFileSync(out, 'utf8'));
    expect(bundle.configs).toEqual([
      { scope: 'global', key: 'site', type: 'string', description: 'site', value: 'example.org' },
      { scope: { org: 'acme' }, key: 'api_key', type: 'secret', description: null, value: null },
    ].sort((a, b) => (JSON.stringify(a.scope) < JSON.stringify(b.scope) ? 1 : -1)));

    const backup = await cli(['export', '--backup', '--scope', 'global']);
    expect(backup.code).toBe(0);
    expect(JSON.parse(backup.stdout)).toMatchObject({ portable: false, configs: [{ key: 'site' }] });

    const dry = await cli(['import', out, '--dry-run', '--on-conflict', 'overwrite']);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toEqual({ created: 0, updated: 2, skipped: 0, secretsNeedingValue: [], errors: [] });

    bundle.configs.push({ scope: 'global', key: 'added_by_cli', type: 'int', description: null, value: 7 });
    writeFileSync(out, JSON.stringify(bundle));
    const real = await cli(['import', out]);
    expect(real.code).toBe(0);
    expect(JSON.parse(real.stdout)).toMatchObject({ created: 1, updated: 0, skipped: 2 });
    expect((await t.http().get('/api/scopes/global/configs/added_by_cli').set(bearer(t.adminToken)).expect(200)).body).toMatchObject({ value: 7, updatedBy: 'cli' });

    const rotate = await cli(['rotate-key', '--batch-size', '10']);
    expect(rotate.code).toBe(0);
    expect(JSON.parse(rotate.stdout)).toMatchObject({ reencrypted: 0, alreadyCurrent: 1, failed: 0 });

    const audit = (await t.http().get('/api/audit?actor=cli&limit=500').set(bearer(t.adminToken)).expect(200)).body.items as Json[];
    const actions = new Set(audit.map((e) => e.action));
    for (const action of ['token.create', 'config.export', 'config.import', 'config.create', 'key.rotate']) expect(actions).toContain(action);
    for (const e of audit) expect(e.actor).toEqual({ id: 'cli', name: 'cli', role: 'admin' });
  }, CLI_TIMEOUT);

  it('exits 1 listing every problem of a bad bundle one a line, and writes nothing', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({
        format: 'bifrost-config-bundle',
        version: 1,
        configs: [
          { scope: 'global', key: 'fine', type: 'string', value: 'ok' },
          { scope: 'global', key: 'n', type: 'int', value: `x${MARK}` },
          { scope: { org: 'ghost' }, key: 'k', type: 'string', value: 'v' },
        ],
      }),
    );
    const before = await rawCount(t, 'configs');
    const res = await cli(['import', file]);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    const lines = res.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^bifrost import: INVALID_BUNDLE: /);
    expect(lines[1]).toMatch(/^  row 1 \(n\): INVALID_VALUE /);
    expect(lines[2]).toMatch(/^  row 2 \(k\): ORG_NOT_FOUND .*--create-orgs/);
    expect(res.stderr).not.toContain(MARK);
    expect(await rawCount(t, 'configs')).toBe(before);

    const usage = await cli(['import']);
    expect(usage.code).toBe(2);
    expect(usage.stderr.trimEnd().split('\n')).toHaveLength(1);
    const wrongKey = await cli(['export'], { BIFROST_SECRET_KEY: 'an-entirely-different-key-0123456789abc' });
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(wrongKey.stderr).toMatch(/BIFROST_SECRET_KEY/);
  }, CLI_TIMEOUT);
});
