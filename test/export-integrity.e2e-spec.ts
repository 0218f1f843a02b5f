import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { CLI, finished } from './helpers/processes';
import { bearer, seedOrg, startApp, TEST_SECRET_KEY, TestApp } from './helpers/test-app';
import { rawRows } from './helpers/raw-db';

/**
 * Issue 12, item 4: every export is valid JSON whatever the secrets are; a backup restores exactly
 * what was stored; a portable bundle is scrubbed value by value, the same way by the HTTP route and
 * by `bifrost export`.
 */
type Json = Record<string, unknown>;
interface Item {
  scope: 'global' | { org: string };
  key: string;
  type: string;
  description: string | null;
  value?: unknown;
  encryptedValue?: string | null;
}
interface Bundle {
  format: string;
  portable: boolean;
  configs: Item[];
}

const MARK = randomBytes(4).toString('hex');
/**
 * Secrets chosen to break a bundle whose *text* is scrubbed: a short one inside ordinary values, JSON
 * punctuation, and words of the bundle's own structure ("global" is a scope, "secret" a type).
 */
const GLOBAL_SECRETS: Record<string, string> = {
  pin: '1234',
  punct: ',"value":',
  closer: '"}]}\\',
  scope_word: 'global',
  type_word: 'secret',
};
const ACME_SECRET = `acme-${MARK}-pw`;
const ALL_SECRETS = [...Object.values(GLOBAL_SECRETS), ACME_SECRET];

/** Non-secret values that contain the secrets (as an operator may have pasted them). */
const PLAIN: { scope: 'global' | 'acme'; key: string; type: string; value: unknown; description?: string | null }[] = [
  { scope: 'global', key: 'build', type: 'string', value: '12345', description: 'pin 1234 inside' },
  { scope: 'global', key: 'port', type: 'int', value: 12345 },
  { scope: 'global', key: 'small', type: 'int', value: 123 },
  { scope: 'global', key: 'punctuated', type: 'string', value: 'a,"value":b "}]}\\ c' },
  { scope: 'global', key: 'global_region', type: 'string', value: 'the global region' },
  { scope: 'global', key: 'db_secret_name', type: 'string', value: 'no secret word here? secret!' },
  { scope: 'global', key: 'flag', type: 'bool', value: true, description: 'a "quoted" \\ description,"value":' },
  {
    scope: 'global',
    key: 'nested',
    type: 'json',
    value: { a: 'x1234y', n: 12345, k1234: true, arr: [1234, 'global', null, { deep: 'secret,"value":' }], plain: 'kept', num: 42 },
  },
  { scope: 'acme', key: 'dsn', type: 'string', value: `postgres://u:${ACME_SECRET}@db/1234`, description: `uses ${ACME_SECRET}` },
  { scope: 'acme', key: 'list', type: 'json', value: ['global', 'plain', 7] },
  { scope: 'acme', key: 'nothing', type: 'json', value: null },
];

/** Every config row as stored, keyed "scope|key", without ids, timestamps or ciphertexts. */
async function storedRows(t: TestApp): Promise<Map<string, Json>> {
  const rows = await rawRows<Json>(t, 'SELECT scope, `key`, type, value, has_value, description FROM configs ORDER BY scope, `key`');
  return new Map(rows.map((r) => [`${r.scope}|${r.key}`, { ...r, has_value: Number(r.has_value) }]));
}

/** Every string and object key inside a JSON value (numbers as their text). */
function leaves(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (typeof value === 'number') out.push(String(value));
  else if (Array.isArray(value)) for (const v of value) leaves(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      leaves(v, out);
    }
  }
  return out;
}

describe('export integrity (issue 12, item 4)', () => {
  const ROOT = resolve(__dirname, '..');
  // The built CLI as users run it (its Nest graph needs the decorator metadata tsc emits).
  let t: TestApp;
  let acme: Awaited<ReturnType<typeof seedOrg>>;
  let scopeOf: (s: 'global' | 'acme') => string;

  const exportText = async (query: string, token = t.adminToken) => {
    const res = await t.http().get(`/api/export?${query}`).set(bearer(token)).buffer(true).parse((r, cb) => {
      let text = '';
      r.setEncoding('utf8');
      r.on('data', (c: string) => (text += c));
      r.on('end', () => cb(null, text));
    });
    return { status: res.status, text: res.body as unknown as string };
  };

  const cli = (args: string[]) =>
    finished(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'test', DATABASE_URL: t.db.url, BIFROST_SECRET_KEY: TEST_SECRET_KEY },
    });

  beforeAll(async () => {
    t = await startApp();
    acme = await seedOrg(t, 'acme');
    scopeOf = (s) => (s === 'global' ? 'global' : acme.org.id);
    const put = (scope: string, key: string, body: Json) =>
      t
        .http()
        .put(`/api/scopes/${scope}/configs/${key}`)
        .set(bearer(t.adminToken))
        .send(body)
        .expect((res) => expect(res.status).toBe(201));
    for (const [key, value] of Object.entries(GLOBAL_SECRETS)) await put('global', `secret_${key}`, { type: 'secret', value });
    await put(acme.org.id, 'db_password', { type: 'secret', value: ACME_SECRET, description: 'primary' });
    // `dsn` holds a credential in a plain value on purpose (what the scrubber must catch): the write says it means it.
    for (const p of PLAIN) await put(scopeOf(p.scope), p.key, { type: p.type, value: p.value, allowSecretLikeValue: true, ...(p.description !== undefined ? { description: p.description } : {}) });
  });
  afterAll(async () => t?.close());

  it('writes a backup that is valid JSON and carries every non-secret value exactly as stored', async () => {
    const { status, text } = await exportText('portable=false');
    expect(status).toBe(200);
    const bundle = JSON.parse(text) as Bundle;
    expect(bundle).toMatchObject({ format: 'bifrost-config-bundle', portable: false });
    expect(bundle.configs).toHaveLength(PLAIN.length + Object.keys(GLOBAL_SECRETS).length + 1);
    for (const p of PLAIN) {
      const item = bundle.configs.find((c) => c.key === p.key)!;
      expect(item).toEqual({ scope: p.scope === 'global' ? 'global' : { org: 'acme' }, key: p.key, type: p.type, description: p.description ?? null, value: p.value });
    }
    for (const item of bundle.configs.filter((c) => c.type === 'secret')) expect(item.encryptedValue).toMatch(/^gAAAAA/);
  });

  it('restores a backup into the same deployment: exactly what was there, secrets included', async () => {
    const before = await storedRows(t);
    const backup = (await exportText('portable=false')).text;

    // Change, add and delete things after the backup was taken.
    const admin = bearer(t.adminToken);
    await t.http().put('/api/scopes/global/configs/build').set(admin).send({ type: 'string', value: 'changed', description: 'changed' }).expect(200);
    await t.http().put('/api/scopes/global/configs/nested').set(admin).send({ type: 'json', value: { other: 1 } }).expect(200);
    await t.http().put(`/api/scopes/${acme.org.id}/configs/db_password`).set(admin).send({ type: 'secret', value: 'replaced-after-backup' }).expect(200);
    await t.http().delete(`/api/scopes/${acme.org.id}/configs/dsn`).set(admin).expect(204);
    await t.http().delete('/api/scopes/global/configs/secret_pin').set(admin).expect(204);

    const res = await t.http().post('/api/import?onConflict=overwrite&allowSecretLikeValues=true').set(admin).set('Content-Type', 'application/json').send(backup);
    expect(res.status).toBe(200);
    // (The response itself passes the scrubber, which also rewrites the word "secret" in its member names.)
    expect(res.body).toMatchObject({ created: 2, errors: [] });

    expect(await storedRows(t)).toEqual(before);
    // The secrets decrypt to what they were (the SDK read's value is the one field never scrubbed).
    const service = (await t.http().post('/api/tokens').set(admin).send({ name: 'restore-check', role: 'service', orgId: acme.org.id }).expect(201)).body.token as string;
    const read = async (key: string) => (await t.http().get(`/api/sdk/configs/${key}`).set(bearer(service)).expect(200)).body.value;
    expect(await read('db_password')).toBe(ACME_SECRET);
    for (const [key, value] of Object.entries(GLOBAL_SECRETS)) expect(await read(`secret_${key}`)).toBe(value);
  });

  it('writes a portable bundle that is valid JSON, structure intact, scrubbed value by value', async () => {
    const { status, text } = await exportText('portable=true');
    expect(status).toBe(200);
    const bundle = JSON.parse(text) as Bundle;
    expect(bundle).toMatchObject({ format: 'bifrost-config-bundle', version: 1, portable: true });
    const stored = await storedRows(t);
    expect(bundle.configs).toHaveLength(stored.size);
    const byKey = new Map(bundle.configs.map((c) => [c.key, c]));
    // Scopes, keys and types are the rows' own; secrets have a null value.
    for (const row of stored.values()) {
      const item = byKey.get(String(row.key))!;
      expect(item).toBeDefined();
      expect(item.scope).toEqual(row.scope === 'global' ? 'global' : { org: 'acme' });
      expect(item.type).toBe(row.type);
      expect(Object.keys(item)).toEqual(['scope', 'key', 'type', 'description', 'value']);
      if (row.type === 'secret') expect(item.value).toBeNull();
    }
    // No secret in any value or description, however deep.
    for (const item of bundle.configs) {
      for (const leaf of [...leaves(item.value), ...leaves(item.description)]) for (const s of ALL_SECRETS) expect(leaf).not.toContain(s);
    }
    // Value by value: what holds no secret is untouched, what does is redacted in place.
    expect(byKey.get('build')).toMatchObject({ value: '[REDACTED]5', description: 'pin [REDACTED] inside' });
    expect(byKey.get('port')!.value).toBe('[REDACTED]');
    expect(byKey.get('small')!.value).toBe(123);
    expect(byKey.get('flag')).toMatchObject({ value: true, description: 'a "quoted" \\ description[REDACTED]' });
    expect(byKey.get('global_region')!.value).toBe('the [REDACTED] region');
    expect(byKey.get('punctuated')!.value).toBe('a[REDACTED]b [REDACTED] c');
    expect(byKey.get('nested')!.value).toEqual({ a: 'x[REDACTED]y', n: '[REDACTED]', 'k[REDACTED]': true, arr: ['[REDACTED]', '[REDACTED]', null, { deep: '[REDACTED]' }], plain: 'kept', num: 42 });
    expect(byKey.get('list')!.value).toEqual(['[REDACTED]', 'plain', 7]);
    expect(byKey.get('dsn')).toMatchObject({ value: 'postgres://u:[REDACTED]@db/[REDACTED]', description: 'uses [REDACTED]' });
  });

  it('lets org_admin take a portable bundle of its org but refuses it a backup (BACKUP_ADMIN_ONLY)', async () => {
    const own = await exportText('portable=true', acme.orgAdmin);
    expect(own.status).toBe(200);
    const bundle = JSON.parse(own.text) as Bundle;
    expect(bundle.configs.map((c) => c.key).sort()).toEqual(['db_password', 'dsn', 'list', 'nothing']);
    expect(own.text).not.toContain(ACME_SECRET);
    const refused = await t.http().get('/api/export?portable=false').set(bearer(acme.orgAdmin));
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('BACKUP_ADMIN_ONLY');
    const audit = await t.http().get('/api/audit?action=auth.denied').set(bearer(t.adminToken)).expect(200);
    expect(audit.body.items.length).toBeGreaterThan(0);
  });

  it('scrubs `bifrost export --portable` exactly as GET /api/export does', async () => {
    const overHttp = JSON.parse((await exportText('portable=true')).text) as Bundle;
    const fromCli = await cli(['export', '--portable']);
    expect(fromCli.code).toBe(0);
    const bundle = JSON.parse(fromCli.stdout) as Bundle;
    expect(bundle.configs).toEqual(overHttp.configs);
    for (const s of [ACME_SECRET, '12345', 'x1234y']) expect(fromCli.stdout).not.toContain(s);

    const orgHttp = JSON.parse((await exportText(`portable=true&scope=${acme.org.id}`)).text) as Bundle;
    const orgCli = await cli(['export', '--scope', acme.org.id]);
    expect(orgCli.code).toBe(0);
    expect((JSON.parse(orgCli.stdout) as Bundle).configs).toEqual(orgHttp.configs);

    // A backup from the CLI is as faithful as one over HTTP.
    const backup = await cli(['export', '--backup']);
    expect(backup.code).toBe(0);
    const items = (JSON.parse(backup.stdout) as Bundle).configs;
    expect(items.find((c) => c.key === 'build')!.value).toBe('12345');
  }, 240_000);
});
