import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { rawRows } from './helpers/raw-db';
import { CLI, exited, run } from './helpers/processes';
import { bearer, onMysql, seedOrg, startApp, TEST_SECRET_KEY, TestApp } from './helpers/test-app';

type Seeded = Awaited<ReturnType<typeof seedOrg>>;
type Json = Record<string, unknown>;

// Credentials assembled at run time, so that no file holds one whole.
const STRIPE = ['sk', 'live', randomBytes(18).toString('hex')].join('_');
const GITHUB = 'ghp' + '_' + randomBytes(27).toString('base64url').replace(/[-_]/g, 'x').slice(0, 36);
const AWS = 'AKIA' + randomBytes(8).toString('hex').toUpperCase();
const RANDOM_PASSWORD = randomBytes(18).toString('base64url') + 'A1';
const ALL_VALUES = [STRIPE, GITHUB, AWS, RANDOM_PASSWORD];

describe(`plain values that look like credentials (${onMysql ? 'MariaDB' : 'SQLite'})`, () => {
  let t: TestApp;
  let a: Seeded;
  let admin: Record<string, string>;
  const path = (scope: string, key: string) => `/api/scopes/${scope}/configs/${encodeURIComponent(key)}`;
  const put = (scope: string, key: string, body: object, token = t.adminToken) => t.http().put(path(scope, key)).set(bearer(token)).send(body);
  const sdkPut = (key: string, body: object, token = a.service) => t.http().put(`/api/sdk/configs/${encodeURIComponent(key)}`).set(bearer(token)).send(body);
  const importBundle = (configs: Json[], query: string) =>
    t
      .http()
      .post(`/api/import?${query}`)
      .set(admin)
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ format: 'bifrost-config-bundle', version: 1, portable: true, exportedAt: new Date().toISOString(), configs }));
  const auditFor = (scope: string, key: string) =>
    rawRows<{ action: string; outcome: string; reason: string | null; config_type: string | null }>(t, 'SELECT action, outcome, reason, config_type FROM audit_entries WHERE scope = ? AND `key` = ? ORDER BY id', [scope, key]);
  const noValueIn = (text: string) => {
    for (const v of ALL_VALUES) expect(text).not.toContain(v);
  };
  const uniq = (p: string) => `${p}_${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    t = await startApp({ listen: true });
    admin = bearer(t.adminToken);
    a = await seedOrg(t, 'leaks-a');
  });
  afterAll(async () => {
    if (!t) return;
    // No value sent by this file is in any audit entry, nor in any log line.
    const entries = JSON.stringify(await rawRows(t, 'SELECT * FROM audit_entries'));
    noValueIn(entries);
    noValueIn(t.logLines.join('\n'));
    await t.close();
  });

  describe('REST PUT', () => {
    it('refuses a credential as a plain string, names the detector only, writes nothing, and audits the refusal', async () => {
      const key = uniq('payments');
      const res = await put(a.org.id, key, { type: 'string', value: STRIPE }).expect(400);
      expect(res.body).toMatchObject({ code: 'LOOKS_LIKE_A_SECRET', details: { detector: 'stripe-live-key' } });
      expect(res.body.message).toMatch(/stripe-live-key/);
      noValueIn(res.text);
      await t.http().get(path(a.org.id, key)).set(admin).expect(404);
      expect(await auditFor(a.org.id, key)).toEqual([
        expect.objectContaining({ action: 'config.create', outcome: 'failure', reason: 'LOOKS_LIKE_A_SECRET stripe-live-key', config_type: 'string' }),
        expect.objectContaining({ action: 'config.read', outcome: 'failure' }),
      ]);
    });

    it('accepts it with allowSecretLikeValue, audited as flagged and kept plain; a later plain write is refused as an update', async () => {
      const key = uniq('aws_id');
      const created = await put(a.org.id, key, { type: 'string', value: AWS, allowSecretLikeValue: true }).expect(201);
      expect(created.body).toMatchObject({ type: 'string', value: AWS, masked: false });
      const again = await put(a.org.id, key, { type: 'json', value: { nested: [AWS] } }).expect(400);
      expect(again.body.details).toEqual({ detector: 'aws-access-key-id' });
      const audit = await auditFor(a.org.id, key);
      expect(audit).toEqual([
        expect.objectContaining({ action: 'config.create', outcome: 'success', reason: 'looks like a secret (aws-access-key-id), kept plain by allowSecretLikeValue' }),
        expect.objectContaining({ action: 'config.update', outcome: 'failure', reason: 'LOOKS_LIKE_A_SECRET aws-access-key-id', config_type: 'json' }),
      ]);
      // allowSecretLikeValue must be a boolean.
      expect((await put(a.org.id, key, { type: 'string', value: 'x', allowSecretLikeValue: 'yes' }).expect(400)).body.code).toBe('VALIDATION_FAILED');
    });

    it('looks inside json values and at credential-named keys', async () => {
      const res = await put(a.org.id, uniq('db'), { type: 'json', value: { host: 'db.internal', port: 5432, password: RANDOM_PASSWORD } }).expect(400);
      expect(res.body.details).toEqual({ detector: 'high-entropy-under-secret-name' });
      noValueIn(res.text);
      expect((await put('global', uniq('smtp_password'), { type: 'string', value: RANDOM_PASSWORD }).expect(400)).body.details).toEqual({ detector: 'high-entropy-under-secret-name' });
    });

    it('a secret with such a value is what it should be; ordinary values pass', async () => {
      await put(a.org.id, uniq('stripe_key'), { type: 'secret', value: STRIPE }).expect(201);
      const sha = createHash('sha1').update('x').digest('hex');
      const ordinary: [string, string, unknown][] = [
        ['request_id', 'string', randomUUID()],
        ['homepage', 'string', 'https://example.com/a?b=c'],
        ['deployed_commit', 'string', sha],
        ['logo', 'string', Buffer.from('a logo, not a secret at all').toString('base64')],
        ['max_tokens', 'int', 4096],
        ['release', 'json', { commit: sha, tag: 'v1.2.3', url: 'postgres://db.internal/app' }],
      ];
      for (const [key, type, value] of ordinary) await put(a.org.id, uniq(key), { type, value }).expect(201);
    });
  });

  describe('SDK PUT', () => {
    it('refuses an inferred plain value that looks like a credential, accepts it with the flag or as a secret', async () => {
      const key = uniq('gh');
      const res = await sdkPut(key, { value: GITHUB }).expect(400);
      expect(res.body).toMatchObject({ code: 'LOOKS_LIKE_A_SECRET', details: { detector: 'github-token' } });
      noValueIn(res.text);
      expect(await auditFor(a.org.id, key)).toEqual([expect.objectContaining({ action: 'config.create', outcome: 'failure', reason: 'LOOKS_LIKE_A_SECRET github-token' })]);
      await sdkPut(key, { value: GITHUB, allowSecretLikeValue: true }).expect(204);
      expect((await t.http().get(path(a.org.id, key)).set(admin).expect(200)).body).toMatchObject({ type: 'string', value: GITHUB });
      const secretKey = uniq('gh_secret');
      await sdkPut(secretKey, { value: GITHUB, isSecret: true }).expect(204);
      // Written over an existing secret without isSecret, it stays a secret: nothing to refuse.
      await sdkPut(secretKey, { value: GITHUB }).expect(204);
      expect((await t.http().get(path(a.org.id, secretKey)).set(admin).expect(200)).body).toMatchObject({ type: 'secret', masked: true });
      const audit = await auditFor(a.org.id, key);
      expect(audit.filter((e) => e.outcome === 'success' && e.action === 'config.create')).toEqual([
        expect.objectContaining({ reason: 'looks like a secret (github-token), kept plain by allowSecretLikeValue' }),
      ]);
    });
  });

  describe('import', () => {
    const rows = (k: string) => [
      { scope: 'global', key: `${k}_site`, type: 'string', value: 'example.org' },
      { scope: { org: 'leaks-a' }, key: `${k}_stripe`, type: 'string', value: STRIPE },
      { scope: 'global', key: `${k}_db`, type: 'json', value: { user: 'app', password: RANDOM_PASSWORD } },
      { scope: 'global', key: `${k}_real_secret`, type: 'secret', value: null },
    ];

    it.each(['dryRun=true', 'dryRun=false'])('reports each such row as a problem with its scope, key and detector (%s), writes nothing', async (q) => {
      const k = uniq('imp');
      const res = await importBundle(rows(k), q).expect(400);
      expect(res.body.code).toBe('INVALID_BUNDLE');
      expect(res.body.details).toEqual([
        expect.objectContaining({ row: 1, key: `${k}_stripe`, scope: { org: 'leaks-a' }, code: 'LOOKS_LIKE_A_SECRET', detector: 'stripe-live-key' }),
        expect.objectContaining({ row: 2, key: `${k}_db`, scope: 'global', code: 'LOOKS_LIKE_A_SECRET', detector: 'high-entropy-under-secret-name' }),
      ]);
      noValueIn(res.text);
      expect(await rawRows(t, 'SELECT `key` FROM configs WHERE `key` LIKE ?', [`${k}%`])).toEqual([]);
      const [entry] = await rawRows<{ outcome: string; reason: string }>(t, "SELECT outcome, reason FROM audit_entries WHERE action = 'config.import' ORDER BY id DESC LIMIT 1");
      expect(entry).toEqual({ outcome: 'failure', reason: `INVALID_BUNDLE LOOKS_LIKE_A_SECRET rows=2${q === 'dryRun=true' ? ' (dry run)' : ''}` });
    });

    it('imports them with allowSecretLikeValues=true, each audited as flagged', async () => {
      const k = uniq('imp');
      expect((await importBundle(rows(k), 'dryRun=true&allowSecretLikeValues=true').expect(200)).body).toMatchObject({ created: 4, errors: [] });
      expect((await importBundle(rows(k), 'allowSecretLikeValues=true').expect(200)).body).toMatchObject({ created: 4, errors: [] });
      expect(await auditFor(a.org.id, `${k}_stripe`)).toEqual([
        expect.objectContaining({ action: 'config.create', outcome: 'success', reason: 'import, looks like a secret (stripe-live-key), kept plain by allowSecretLikeValues' }),
      ]);
      expect(await auditFor('global', `${k}_site`)).toEqual([expect.objectContaining({ action: 'config.create', reason: 'import' })]);
      expect((await t.http().post('/api/import?allowSecretLikeValues=maybe').set(admin).set('Content-Type', 'application/json').send('{}').expect(400)).body.code).toBe('VALIDATION_FAILED');
    });
  });

  describe('scan', () => {
    let scanOrg: Seeded;
    beforeAll(async () => {
      scanOrg = await seedOrg(t, 'leaks-scan');
      const s = scanOrg.org.id;
      await put(s, 'stripe_plain', { type: 'string', value: STRIPE, allowSecretLikeValue: true }).expect(201);
      await put(s, 'db', { type: 'json', value: { password: RANDOM_PASSWORD }, allowSecretLikeValue: true }).expect(201);
      await put(s, 'stripe_secret', { type: 'secret', value: STRIPE }).expect(201);
      await put(s, 'site', { type: 'string', value: 'example.org' }).expect(201);
    });
    const expected = () => [
      { scope: scanOrg.org.id, key: 'db', type: 'json', detector: 'high-entropy-under-secret-name' },
      { scope: scanOrg.org.id, key: 'stripe_plain', type: 'string', detector: 'stripe-live-key' },
    ];

    it('GET /api/scan lists plain configs that look like credentials by scope, key and detector, never a value (admin only)', async () => {
      const res = await t.http().get(`/api/scan?scope=${scanOrg.org.id}`).set(admin).expect(200);
      expect(res.body).toEqual({ scanned: 3, found: 2, items: expected(), truncated: false });
      noValueIn(res.text);
      const all = await t.http().get('/api/scan').set(admin).expect(200);
      expect(all.body.items).toEqual(expect.arrayContaining([...expected(), expect.objectContaining({ scope: a.org.id, detector: 'github-token' })]));
      expect(all.body.items.some((i: Json) => i.key === 'stripe_secret')).toBe(false);
      noValueIn(all.text);
      expect((await t.http().get('/api/scan?scope=nope').set(admin).expect(400)).body.code).toBe('INVALID_SCOPE');
      expect((await t.http().get('/api/scan').set(bearer(scanOrg.orgAdmin)).expect(403)).body.code).toBe('ROLE_NOT_ALLOWED');
      const [entry] = await rawRows<{ reason: string; outcome: string }>(t, "SELECT reason, outcome FROM audit_entries WHERE action = 'config.list' AND scope = ? ORDER BY id DESC LIMIT 1", [scanOrg.org.id]);
      expect(entry).toEqual({ outcome: 'success', reason: 'leak scan: 2 of 3 plain configs look like credentials' });
    });

    it('bifrost scan prints the same list (--json and text), exit code 1 when any is found, 0 when none', async () => {
      const env = { DATABASE_URL: t.db.url, BIFROST_SECRET_KEY: TEST_SECRET_KEY, NODE_ENV: 'test' };
      const json = run(CLI, ['scan', '--scope', scanOrg.org.id, '--json'], env);
      expect((await exited(json.child)).code).toBe(1);
      expect(JSON.parse(json.stdout())).toEqual({ scanned: 3, found: 2, items: expected(), truncated: false });
      expect(json.output()).toMatch(/2 of 3 plain configs look like credentials/);
      noValueIn(json.output());

      const text = run(CLI, ['scan', '--scope', scanOrg.org.id], env);
      expect((await exited(text.child)).code).toBe(1);
      expect(text.stdout()).toBe(`${scanOrg.org.id}\tdb\tjson\thigh-entropy-under-secret-name\n${scanOrg.org.id}\tstripe_plain\tstring\tstripe-live-key\n`);

      const empty = await seedOrg(t, 'leaks-empty');
      const none = run(CLI, ['scan', '--scope', empty.org.id, '--json'], env);
      expect((await exited(none.child)).code).toBe(0);
      expect(JSON.parse(none.stdout())).toEqual({ scanned: 0, found: 0, items: [], truncated: false });

      const bad = run(CLI, ['scan', '--nope'], env);
      expect((await exited(bad.child)).code).toBe(2);
      const [entry] = await rawRows<{ actor_name: string }>(t, "SELECT actor_name FROM audit_entries WHERE action = 'config.list' AND scope = ? ORDER BY id DESC LIMIT 1", [empty.org.id]);
      expect(entry.actor_name).toBe('cli');
    }, 120_000);

    it('bifrost import refuses such rows unless --allow-secret-like-values', async () => {
      const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
      const { join } = await import('node:path');
      const { tmpdir } = await import('node:os');
      const dir = mkdtempSync(join(tmpdir(), 'bifrost-leaks-'));
      try {
        const file = join(dir, 'bundle.json');
        const k = uniq('cli');
        writeFileSync(file, JSON.stringify({ format: 'bifrost-config-bundle', version: 1, portable: true, exportedAt: new Date().toISOString(), configs: [{ scope: 'global', key: k, type: 'string', value: AWS }] }));
        const env = { DATABASE_URL: t.db.url, BIFROST_SECRET_KEY: TEST_SECRET_KEY, NODE_ENV: 'test' };
        const refused = run(CLI, ['import', file, '--dry-run'], env);
        expect((await exited(refused.child)).code).toBe(1);
        expect(refused.output()).toMatch(new RegExp(`row 0 \\(${k}\\): LOOKS_LIKE_A_SECRET .*aws-access-key-id`));
        noValueIn(refused.output());
        const accepted = run(CLI, ['import', file, '--allow-secret-like-values'], env);
        expect((await exited(accepted.child)).code).toBe(0);
        expect(JSON.parse(accepted.stdout())).toMatchObject({ created: 1 });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 120_000);
  });
});
