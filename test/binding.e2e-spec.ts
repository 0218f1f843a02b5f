import { randomBytes } from 'node:crypto';
import { decodeBound } from '../src/crypto/binding';
import { Keyring } from '../src/crypto/keyring';
import { KeyRotationService } from '../src/crypto/key-rotation.service';
import { timeParam } from '../src/common/database';
import { bearer, seedOrg, startApp, TEST_SECRET_KEY, TestApp } from './helpers/test-app';
import { configRow, rawCount, rawRows } from './helpers/raw-db';

type Json = Record<string, unknown>;
const MARK = 'BIND-' + randomBytes(6).toString('hex');
const PLAIN_A = `pw-${MARK}-alpha`;
const LEGACY = `legacy-${MARK}-value`;
const ours = Keyring.fromSecrets(TEST_SECRET_KEY);

const importBundle = (t: TestApp, body: unknown, query = '', token = t.adminToken) =>
  t.http().post(`/api/import${query ? `?${query}` : ''}`).set(bearer(token)).set('Content-Type', 'application/json').send(JSON.stringify(body));

const bundleOf = (configs: Json[]) => ({ format: 'bifrost-config-bundle', version: 1, configs });
const secretRow = (org: string, key: string, encryptedValue: string) => ({ scope: { org }, key, type: 'secret', encryptedValue });

/** What is inside a stored token, opened with the test key (no service involved). */
const inside = (token: string) => decodeBound(ours.decrypt(token).toString('utf8'));

async function backupOf(t: TestApp, orgId: string): Promise<Json & { configs: Json[] }> {
  const res = await t.http().get(`/api/export?portable=false&scope=${orgId}`).set(bearer(t.adminToken)).buffer(true).parse((r, cb) => {
    let text = '';
    r.setEncoding('utf8');
    r.on('data', (c: string) => (text += c));
    r.on('end', () => cb(null, text));
  });
  expect(res.status).toBe(200);
  return JSON.parse(res.body as unknown as string);
}

const insertConfig = (t: TestApp, scope: string, key: string, ciphertext: string) =>
  t.dataSource.query('INSERT INTO configs (scope, `key`, type, value, ciphertext, has_value, description, updated_by, created_at, updated_at) VALUES (?, ?, ?, NULL, ?, 1, NULL, ?, ?, ?)', [
    scope,
    key,
    'secret',
    ciphertext,
    'raw',
    timeParam(t.dataSource, new Date()),
    timeParam(t.dataSource, new Date()),
  ]);

// Binding a ciphertext to the scope and key it was written for (issue 12, item 3).
describe('secrets bound to their scope and key', () => {
  let t: TestApp;
  let alpha: Awaited<ReturnType<typeof seedOrg>>;
  let beta: Awaited<ReturnType<typeof seedOrg>>;
  let alphaToken: string;

  beforeAll(async () => {
    t = await startApp();
    alpha = await seedOrg(t, 'alpha');
    beta = await seedOrg(t, 'beta');
    await t.http().put(`/api/scopes/${alpha.org.id}/configs/db_password`).set(bearer(t.adminToken)).send({ type: 'secret', value: PLAIN_A }).expect(201);
    alphaToken = (await configRow(t, alpha.org.id, 'db_password'))!.ciphertext as string;
  });
  afterAll(async () => t?.close());

  it('writes the bound form: standard Fernet whose plaintext names the scope and key', async () => {
    expect(alphaToken).toMatch(/^gAAAAA/);
    expect(inside(alphaToken)).toEqual({ binding: { scope: alpha.org.id, key: 'db_password' }, value: PLAIN_A });
    await t.http().put('/api/scopes/global/configs/shared_secret').set(bearer(t.adminToken)).send({ type: 'secret', value: `g-${MARK}` }).expect(201);
    expect(inside((await configRow(t, 'global', 'shared_secret'))!.ciphertext as string).binding).toEqual({ scope: 'global', key: 'shared_secret' });
  });

  it("refuses org A's ciphertext (from A's backup or the database) imported into org B by B's org_admin, and writes nothing", async () => {
    const backup = await backupOf(t, alpha.org.id);
    const fromBackup = backup.configs.find((c) => c.key === 'db_password')!.encryptedValue as string;
    expect(fromBackup).toBe(alphaToken);
    const before = await rawCount(t, 'configs');
    for (const body of [
      bundleOf([secretRow('beta', 'db_password', fromBackup)]),
      bundleOf([secretRow('beta', 'stolen', alphaToken)]),
      bundleOf([{ scope: { org: 'beta' }, key: 'ok_row', type: 'string', value: 'v' }, secretRow('beta', 'db_password', alphaToken)]),
    ]) {
      for (const dryRun of ['true', 'false']) {
        const res = await importBundle(t, body, `dryRun=${dryRun}&onConflict=overwrite`, beta.orgAdmin);
        expect(res.status).toBe(400);
        expect(res.body.code).toBe('INVALID_BUNDLE');
        expect(res.body.details.map((d: Json) => d.code)).toEqual(['SECRET_SCOPE_MISMATCH']);
        expect(res.text).not.toContain(alphaToken);
        expect(res.text).not.toContain(MARK);
      }
    }
    expect(await rawCount(t, 'configs')).toBe(before);
    expect(await rawCount(t, 'configs', 'scope = ?', [beta.org.id])).toBe(0);
    // Not even the admin moves a ciphertext to another scope, or to another key of its own scope.
    const asAdmin = await importBundle(t, bundleOf([secretRow('beta', 'db_password', alphaToken)]), '', t.adminToken).expect(400);
    expect(asAdmin.body.details.map((d: Json) => d.code)).toEqual(['SECRET_SCOPE_MISMATCH']);
    const otherKey = await importBundle(t, bundleOf([secretRow('alpha', 'another_key', alphaToken)]), '', alpha.orgAdmin).expect(400);
    expect(otherKey.body.details.map((d: Json) => d.code)).toEqual(['SECRET_SCOPE_MISMATCH']);
    const toGlobal = await importBundle(t, bundleOf([{ scope: 'global', key: 'db_password', type: 'secret', encryptedValue: alphaToken }]), '', t.adminToken).expect(400);
    expect(toGlobal.body.details.map((d: Json) => d.code)).toEqual(['SECRET_SCOPE_MISMATCH']);
    expect(await rawCount(t, 'configs')).toBe(before);
    // The refusal is audited, without the value.
    const audit = await t.http().get(`/api/audit?action=config.import&outcome=failure`).set(bearer(t.adminToken)).expect(200);
    expect(audit.body.items[0]).toMatchObject({ outcome: 'failure', reason: 'INVALID_BUNDLE' });
    expect(JSON.stringify(audit.body)).not.toContain(MARK);
  });

  it("restores A's backup into A (same deployment): the SDK read returns the plaintext", async () => {
    const backup = await backupOf(t, alpha.org.id);
    await t.http().delete(`/api/scopes/${alpha.org.id}/configs/db_password`).set(bearer(t.adminToken)).expect(204);
    await t.http().get('/api/sdk/configs/db_password').set(bearer(alpha.service)).expect(404);
    const res = await importBundle(t, backup, 'onConflict=overwrite', alpha.orgAdmin).expect(200);
    expect(res.body).toMatchObject({ created: 1, secretsNeedingValue: [] });
    expect((await configRow(t, alpha.org.id, 'db_password'))!.ciphertext).toBe(alphaToken); // kept as it was
    const read = await t.http().get('/api/sdk/configs/db_password').set(bearer(alpha.service)).expect(200);
    expect(read.body).toMatchObject({ value: PLAIN_A, source: 'org' });
    // By the admin too.
    await importBundle(t, backup, 'onConflict=overwrite').expect(200);
    expect((await t.http().get('/api/sdk/configs/db_password').set(bearer(alpha.service)).expect(200)).body.value).toBe(PLAIN_A);
  });

  it("moves a value to another scope only through sourceSecretKey: decrypted and encrypted again, bound to the new place", async () => {
    const res = await importBundle(t, { bundle: bundleOf([secretRow('beta', 'moved', alphaToken)]), sourceSecretKey: TEST_SECRET_KEY }, '', beta.orgAdmin).expect(200);
    expect(res.body).toMatchObject({ created: 1 });
    const stored = (await configRow(t, beta.org.id, 'moved'))!.ciphertext as string;
    expect(stored).not.toBe(alphaToken);
    expect(inside(stored)).toEqual({ binding: { scope: beta.org.id, key: 'moved' }, value: PLAIN_A });
    expect((await t.http().get('/api/sdk/configs/moved').set(bearer(beta.service)).expect(200)).body.value).toBe(PLAIN_A);
    await t.http().delete(`/api/scopes/${beta.org.id}/configs/moved`).set(bearer(t.adminToken)).expect(204);
  });

  it('a database row copied to another org, or to another key, does not decrypt: an error code, never the plaintext', async () => {
    await insertConfig(t, beta.org.id, 'db_password', alphaToken);
    await insertConfig(t, alpha.org.id, 'copied_key', alphaToken);
    try {
      for (const [token, key] of [
        [beta.service, 'db_password'],
        [alpha.service, 'copied_key'],
      ]) {
        const res = await t.http().get(`/api/sdk/configs/${key}`).set(bearer(token));
        expect(res.status).toBe(500);
        expect(res.body.code).toBe('SECRET_BINDING_MISMATCH');
        expect(res.text).not.toContain(MARK);
      }
      const audit = await t.http().get(`/api/audit?action=config.read&scope=${beta.org.id}&key=db_password`).set(bearer(t.adminToken)).expect(200);
      expect(audit.body.items[0]).toMatchObject({ outcome: 'failure', reason: 'SECRET_BINDING_MISMATCH' });
      // The org's own value still reads.
      expect((await t.http().get('/api/sdk/configs/db_password').set(bearer(alpha.service)).expect(200)).body.value).toBe(PLAIN_A);
      // rotate-key does not bless a copied row: it is left as it is and reported by place.
      const report = await t.app.get(KeyRotationService).rotate();
      expect(report.failed).toBe(2);
      expect(report.failures).toEqual(expect.arrayContaining([{ table: 'configs', scope: beta.org.id, key: 'db_password' }, { table: 'configs', scope: alpha.org.id, key: 'copied_key' }]));
      expect((await configRow(t, beta.org.id, 'db_password'))!.ciphertext).toBe(alphaToken);
    } finally {
      await t.dataSource.query('DELETE FROM configs WHERE (scope = ? AND `key` = ?) OR (scope = ? AND `key` = ?)', [beta.org.id, 'db_password', alpha.org.id, 'copied_key']);
    }
  });

  it('legacy (unbound) tokens still read; only an admin imports them; rotate-key binds them and they still read', async () => {
    const legacyToken = ours.encrypt(LEGACY); // what Bifrost and earlier versions stored: Fernet of the value
    await insertConfig(t, alpha.org.id, 'legacy_key', legacyToken);
    expect((await t.http().get('/api/sdk/configs/legacy_key').set(bearer(alpha.service)).expect(200)).body.value).toBe(LEGACY);

    // An org_admin cannot bring an unbound ciphertext in (it could be any scope's).
    for (const org of ['alpha', 'beta']) {
      const res = await importBundle(t, bundleOf([secretRow(org, 'legacy_import', legacyToken)]), '', org === 'alpha' ? alpha.orgAdmin : beta.orgAdmin).expect(400);
      expect(res.body.details.map((d: Json) => d.code)).toEqual(['SECRET_UNBOUND']);
      expect(res.text).not.toContain(MARK);
    }
    expect(await rawCount(t, 'configs', '`key` = ?', ['legacy_import'])).toBe(0);
    // The admin restoring an old backup may; the value is stored in the bound form.
    await importBundle(t, bundleOf([secretRow('alpha', 'legacy_import', legacyToken)])).expect(200);
    expect(inside((await configRow(t, alpha.org.id, 'legacy_import'))!.ciphertext as string)).toEqual({ binding: { scope: alpha.org.id, key: 'legacy_import' }, value: LEGACY });

    // rotate-key rewrites the legacy row (same key) into the bound form.
    const report = await t.app.get(KeyRotationService).rotate();
    expect(report).toMatchObject({ failed: 0, complete: true });
    expect(report.reencrypted).toBe(1);
    const after = (await configRow(t, alpha.org.id, 'legacy_key'))!.ciphertext as string;
    expect(inside(after)).toEqual({ binding: { scope: alpha.org.id, key: 'legacy_key' }, value: LEGACY });
    expect((await t.http().get('/api/sdk/configs/legacy_key').set(bearer(alpha.service)).expect(200)).body.value).toBe(LEGACY);
    // Nothing left in the legacy form; a second run has nothing to do.
    for (const r of await rawRows<{ ciphertext: string }>(t, 'SELECT ciphertext FROM configs WHERE ciphertext IS NOT NULL')) expect(inside(r.ciphertext).binding).not.toBeNull();
    expect(await t.app.get(KeyRotationService).rotate()).toMatchObject({ reencrypted: 0, failed: 0 });
  });
});

// passport keeps one bearer strategy per process: this app opens after the first one closed.
describe('a backup restored into a fresh database with the same key', () => {
  it('creates the orgs with their ids, so the bound secrets restore and read', async () => {
    const source = await startApp();
    let backup: Json & { configs: Json[] };
    let ids: Record<string, string>;
    try {
      const a = await seedOrg(source, 'alpha');
      const b = await seedOrg(source, 'Zürich');
      ids = { alpha: a.org.id, Zürich: b.org.id };
      for (const [org, id] of Object.entries(ids)) {
        await source.http().put(`/api/scopes/${id}/configs/region`).set(bearer(source.adminToken)).send({ type: 'string', value: `eu-${org}` }).expect(201);
        await source.http().put(`/api/scopes/${id}/configs/api_key`).set(bearer(source.adminToken)).send({ type: 'secret', value: `${org}-${MARK}` }).expect(201);
      }
      backup = await backupOf(source, 'all');
    } finally {
      await source.close();
    }
    // A hand-edited bundle may spell a name decomposed (NFD): the org is still the one its secrets name.
    for (const c of backup.configs) if ((c.scope as { org?: string }).org === 'Zürich') c.scope = { org: 'Zürich'.normalize('NFD') };
    const target = await startApp();
    try {
      const dry = await importBundle(target, backup, 'createOrgs=true&dryRun=true').expect(200);
      const res = await importBundle(target, backup, 'createOrgs=true').expect(200);
      expect(res.body).toEqual(dry.body);
      expect(res.body).toMatchObject({ created: 4, secretsNeedingValue: [] });
      const orgs = (await target.http().get('/api/orgs').set(bearer(target.adminToken)).expect(200)).body.items as { id: string; name: string }[];
      expect(Object.fromEntries(orgs.map((o) => [o.name, o.id]))).toEqual(ids);
      for (const [org, id] of Object.entries(ids)) {
        const svc = (await target.http().post('/api/tokens').set(bearer(target.adminToken)).send({ name: `svc-${org.length}`, role: 'service', orgId: id }).expect(201)).body.token;
        expect((await target.http().get('/api/sdk/configs/api_key').set(bearer(svc)).expect(200)).body.value).toBe(`${org}-${MARK}`);
      }
    } finally {
      await target.close();
    }
  });
});
