import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { encodeBound } from '../src/crypto/binding';
import { Keyring } from '../src/crypto/keyring';
import { SecretRegistry } from '../src/scrubber/secret-registry';
import { rawRows } from './helpers/raw-db';
import { bearer, freshDatabase, seedOrg, startApp, TestApp, TestDatabase } from './helpers/test-app';
import { waitFor } from './helpers/poll';
import { CLI, exited, MAIN, run as runScript } from './helpers/processes';

/** The CLI and server of these tests run with NODE_ENV=test. */
const run = (script: string, args: string[], env: Record<string, string>) => runScript(script, args, { NODE_ENV: 'test', ...env });

// The built server and CLI as users run them; `npm test` builds first (pretest).
const OLD = 'key-census-old-key-'.padEnd(44, 'o');
const NEW = 'key-census-new-key-'.padEnd(44, 'n');
const oldId = Keyring.fromSecrets(OLD).keyIds[0];
const newId = Keyring.fromSecrets(NEW).keyIds[0];

describe('an interrupted key rotation', () => {
  const N = 150;
  let db: TestDatabase;
  beforeAll(async () => {
    if (!existsSync(MAIN) || !existsSync(CLI)) throw new Error('dist/ is missing: run `npm run build` (npm test does it first)');
    db = await freshDatabase();
    const old = await startApp({ db, env: { BIFROST_SECRET_KEY: OLD } });
    try {
      const org = await seedOrg(old, 'census-org');
      for (let i = 0; i < N; i++) {
        const scope = i % 3 === 0 ? 'global' : org.org.id;
        await old.http().put(`/api/scopes/${scope}/configs/k${String(i).padStart(3, '0')}`).set(bearer(old.adminToken)).send({ type: 'secret', value: `census-secret-${i}-${randomBytes(6).toString('hex')}` }).expect(201);
      }
      const execution = (await old.http().post('/api/executions').set(bearer(org.service)).send({ workflow: 'census-wf' }).expect(201)).body;
      await old.http().post(`/api/executions/${execution.id}/secrets`).set(bearer(org.service)).send({ values: ['census-dynamic-1', 'census-dynamic-2'] }).expect(204);
    } finally {
      await old.close();
    }
  });
  afterAll(async () => db?.drop());

  it('killed part way: the service refuses to start without the old key in one line, rotate-key --status says so, rotate-key resumes, then the old key is not needed', async () => {
    const base = { DATABASE_URL: db.url, BIFROST_SECRET_KEY: NEW };
    // rotate-key, one secret a batch, killed (SIGKILL) at its first progress line (after 10 batches).
    const rotation = run(CLI, ['rotate-key', '--batch-size', '1'], { ...base, BIFROST_SECRET_KEY_PREVIOUS: OLD });
    await waitFor(() => /re-encrypted \d+/.test(rotation.output()) || rotation.child.exitCode !== null, 'rotate-key to report progress', 60_000, 10);
    rotation.child.kill('SIGKILL');
    expect(await exited(rotation.child)).toMatchObject({ signal: 'SIGKILL' });
    const underNew = await countUnder(db, newId);
    expect(underNew).toBeGreaterThanOrEqual(10);
    expect(underNew).toBeLessThan(N + 2);
    const stranded = N + 2 - underNew;

    // The old key dropped: the service refuses, in one line naming the count, the key id and the way out.
    const port = 20000 + (randomBytes(2).readUInt16BE() % 20000);
    const refused = run(MAIN, [], { ...base, PORT: String(port) });
    expect(await exited(refused.child)).toEqual({ code: 1, signal: null });
    const lines = refused.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`Start-up failed: ${stranded} of ${N + 2} stored secrets are encrypted with a key that is not configured (key id ${oldId})`);
    expect(lines[0]).toContain('BIFROST_SECRET_KEY_PREVIOUS');
    process.stdout.write(`key census: a rotation killed after ${underNew} of ${N + 2} secrets; start-up without the old key refused: ${lines[0]}\n`);

    // In-process too (the same check, on Nest's bootstrap).
    await expect(startApp({ db, env: base })).rejects.toThrow(/stored secrets are encrypted with a key that is not configured/);

    // --status: what is left, by key; exit code 1 while incomplete.
    const status = run(CLI, ['rotate-key', '--status'], { ...base, BIFROST_SECRET_KEY_PREVIOUS: OLD });
    expect(await exited(status.child)).toMatchObject({ code: 1 });
    expect(JSON.parse(status.stdout())).toMatchObject({ total: N + 2, current: underNew, previous: stranded, unknown: 0 });
    expect(status.output()).toContain(`${stranded} of ${N + 2} stored secrets are not under the current key: ${stranded} under a key of BIFROST_SECRET_KEY_PREVIOUS, 0 under no configured key`);
    const lost = run(CLI, ['rotate-key', '--status'], base);
    expect(await exited(lost.child)).toMatchObject({ code: 1 });
    expect(JSON.parse(lost.stdout())).toMatchObject({ unknown: stranded, unknownKeyIds: [oldId] });
    expect(JSON.parse(lost.stdout()).stranded.length).toBe(Math.min(100, stranded));

    // Run again with the old key back: it resumes, says so, and finishes.
    const resumed = run(CLI, ['rotate-key'], { ...base, BIFROST_SECRET_KEY_PREVIOUS: OLD });
    expect(await exited(resumed.child)).toMatchObject({ code: 0 });
    expect(resumed.output()).toContain('an earlier rotation did not finish: resuming it');
    expect(JSON.parse(resumed.stdout())).toMatchObject({ reencrypted: stranded, alreadyCurrent: underNew, failed: 0, complete: true });
    expect(await countUnder(db, newId)).toBe(N + 2);

    // Now the service starts with the new key alone.
    const started = run(MAIN, [], { ...base, PORT: String(port), LOG_LEVEL: 'info' });
    try {
      await waitFor(() => started.output().includes('Listening on port') || started.child.exitCode !== null, 'the server to listen');
      expect(started.output()).toContain('Listening on port');
    } finally {
      started.child.kill('SIGTERM');
      await exited(started.child);
    }
  });
});

/** Stored secrets (configs and execution secrets) that the key with this id opens (tried, not read off key_id). */
async function countUnder(db: TestDatabase, keyId: string): Promise<number> {
  const ring = [Keyring.fromSecrets(OLD), Keyring.fromSecrets(NEW)].find((k) => k.keyIds[0] === keyId)!;
  const { DataSource } = await import('typeorm');
  const { dataSourceOptions } = await import('../src/common/database');
  const { loadEnv } = await import('../src/common/env');
  const env = loadEnv({ NODE_ENV: 'test', DATABASE_URL: db.url, BIFROST_SECRET_KEY: NEW });
  const ds = new DataSource(dataSourceOptions(env.database, []));
  await ds.initialize();
  try {
    const rows: { c: string }[] = await ds.query('SELECT ciphertext AS c FROM configs WHERE ciphertext IS NOT NULL UNION ALL SELECT ciphertext FROM execution_secrets');
    return rows.filter((r) => ring.isCurrent(r.c)).length;
  } finally {
    await ds.destroy();
  }
}

describe('a secret that no configured key opens', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startApp();
  });
  afterEach(async () => t?.close());

  it("is never left out of scrubbing: that org's answers are withheld (503 SECRETS_UNREADABLE), other orgs' are not, until it is replaced", async () => {
    const alpha = await seedOrg(t, 'alpha-census');
    const beta = await seedOrg(t, 'beta-census');
    const secret = `unreadable-${randomBytes(12).toString('hex')}`;
    await t.http().put(`/api/scopes/${alpha.org.id}/configs/api_key`).set(bearer(alpha.orgAdmin)).send({ type: 'secret', value: secret }).expect(201);
    // A plain setting that happens to hold the secret: scrubbed from every answer.
    await t.http().put(`/api/scopes/${alpha.org.id}/configs/note`).set(bearer(alpha.orgAdmin)).send({ type: 'string', value: `call with ${secret}` }).expect(201);
    await t.http().put(`/api/scopes/${beta.org.id}/configs/note`).set(bearer(beta.orgAdmin)).send({ type: 'string', value: 'beta-ok' }).expect(201);
    const before = await t.http().get(`/api/scopes/${alpha.org.id}/configs/note`).set(bearer(alpha.member)).expect(200);
    expect(JSON.stringify(before.body)).not.toContain(secret);

    // The same value, rewritten (as another instance would, in its transaction with the version
    // bump) under a key this instance does not have.
    const foreign = Keyring.fromSecrets('census-foreign-key-'.padEnd(44, 'f'));
    // Its key_id is left as it was: the start-up census would not catch this row, the read path does.
    await t.dataSource.query('UPDATE configs SET ciphertext = ? WHERE scope = ? AND `key` = ?', [foreign.encrypt(encodeBound({ scope: alpha.org.id, key: 'api_key' }, secret)), alpha.org.id, 'api_key']);
    await t.dataSource.query('UPDATE secret_versions SET version = version + 1 WHERE scope = ?', [alpha.org.id]);

    // One request loads the changed scope; then every pending matcher rebuild is let finish (a secret
    // left out of the matcher stops being redacted once its base layer is rebuilt).
    await t.http().get(`/api/scopes/${alpha.org.id}/configs/note`).set(bearer(alpha.member));
    await t.app.get(SecretRegistry).settle();
    const answers = [
      await t.http().get(`/api/scopes/${alpha.org.id}/configs/note`).set(bearer(alpha.member)),
      await t.http().get(`/api/scopes/${alpha.org.id}/configs`).set(bearer(alpha.orgAdmin)),
      await t.http().get('/api/sdk/configs/note').set(bearer(alpha.service)),
      // An org-less admin answer may hold any org's data.
      await t.http().get('/api/orgs').set(bearer(t.adminToken)),
    ];
    for (const res of answers) {
      expect(res.text).not.toContain(secret);
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 503, code: 'SECRETS_UNREADABLE' });
    }
    // The unreadable secret itself: an error, never a value.
    const own = await t.http().get('/api/sdk/configs/api_key').set(bearer(alpha.service));
    expect(own.status).toBe(500);
    expect(own.body.code).toBe('DECRYPTION_FAILED');
    // Another org is served as before.
    expect((await t.http().get(`/api/scopes/${beta.org.id}/configs/note`).set(bearer(beta.member)).expect(200)).body.value).toBe('beta-ok');
    // The log says where, never what.
    expect(t.logLines.some((l) => l.includes(`1 stored secret(s) of scope ${alpha.org.id} cannot be decrypted`))).toBe(true);
    expect(t.logLines.join('\n')).not.toContain(secret);

    // Replaced by the org admin: its answers are served (and scrubbed of the new value) again.
    const next = `replacement-${randomBytes(12).toString('hex')}`;
    await t.http().put(`/api/scopes/${alpha.org.id}/configs/api_key`).set(bearer(alpha.orgAdmin)).send({ type: 'secret', value: next }).expect(200);
    await t.http().put(`/api/scopes/${alpha.org.id}/configs/note`).set(bearer(alpha.orgAdmin)).send({ type: 'string', value: `now ${next}` }).expect(200);
    const after = await t.http().get(`/api/scopes/${alpha.org.id}/configs/note`).set(bearer(alpha.member)).expect(200);
    expect(after.text).not.toContain(next);
    await t.http().get('/api/orgs').set(bearer(t.adminToken)).expect(200);
    expect((await rawRows<{ k: string }>(t, 'SELECT key_id AS k FROM configs WHERE scope = ? AND `key` = ?', [alpha.org.id, 'api_key']))[0].k).toBe(Keyring.fromSecrets(t.env.secretKey).keyIds[0]);
  });

  it('in an execution: answers naming it are withheld too', async () => {
    const org = await seedOrg(t, 'gamma-census');
    const execution = (await t.http().post('/api/executions').set(bearer(org.service)).send({ workflow: 'census-wf' }).expect(201)).body;
    await t.http().post(`/api/executions/${execution.id}/secrets`).set(bearer(org.service)).send({ values: ['gamma-dynamic-secret-1'] }).expect(204);
    const foreign = Keyring.fromSecrets('census-foreign-key-'.padEnd(44, 'g'));
    await t.dataSource.query('INSERT INTO execution_secrets (execution_id, ciphertext, created_at) VALUES (?, ?, ?)', [execution.id, foreign.encrypt('gamma-dynamic-secret-2'), new Date().toISOString().replace('T', ' ').replace('Z', '')]);
    const res = await t.http().get(`/api/executions/${execution.id}`).set(bearer(org.service));
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 503, code: 'SECRETS_UNREADABLE' });
    expect(res.text).not.toContain('gamma-dynamic-secret');
  });
});
