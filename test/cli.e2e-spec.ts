/**
 * The built `bifrost` CLI as an operator and a script use it (issue 20): every subcommand answers
 * --help, --version prints the package's, --json gives one JSON document on stdout for a result and
 * for a failure, an org is named by id or by name (an id wins), and a refused import prints its
 * problems one a line, capped, in the CLI's own words. On SQLite and on MySQL/MariaDB.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bearer, seedOrg, startApp, TEST_SECRET_KEY, TestApp } from './helpers/test-app';
import { rawCount } from './helpers/raw-db';
import { CLI, exited, run } from './helpers/processes';

const MARK = 'cli-e2e-value-7f3a9c';
const VERSION = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')).version;

/** Every subcommand, by the words that call it, and options its help must name. */
const SUBCOMMANDS: [string[], string[]][] = [
  [['export'], ['--portable', '--backup', '--scope', '--output']],
  [['import'], ['--dry-run', '--on-conflict', '--create-orgs']],
  [['rotate-key'], ['--batch-size', '--status']],
  [['tokens', 'create'], ['--role', '--org', '--name', '--ttl']],
  [['tokens', 'list'], ['--org', '--revoked']],
  [['migrate'], []],
];

describe('the bifrost CLI (built)', () => {
  let t: TestApp;
  let dir: string;
  let acme: { id: string; name: string };

  const cli = async (args: string[], env: Record<string, string> = {}) => {
    const p = run(CLI, args, { NODE_ENV: 'test', DATABASE_URL: t.db.url, BIFROST_SECRET_KEY: TEST_SECRET_KEY, ...env });
    const { code } = await exited(p.child);
    return { code, stdout: p.stdout(), stderr: p.stderr() };
  };

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error('dist/cli/main.js is missing: run `npm run build` (npm test does it first)');
    dir = mkdtempSync(join(tmpdir(), 'bifrost-cli-e2e-'));
    t = await startApp();
    acme = (await seedOrg(t, 'acme')).org;
    await t.http().put('/api/scopes/global/configs/site').set(bearer(t.adminToken)).send({ type: 'string', value: 'example.org' }).expect(201);
    await t.http().put(`/api/scopes/${acme.id}/configs/api_key`).set(bearer(t.adminToken)).send({ type: 'secret', value: MARK }).expect(201);
    await t.http().put(`/api/scopes/${acme.id}/configs/region`).set(bearer(t.adminToken)).send({ type: 'string', value: 'eu' }).expect(201);
  });
  afterAll(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers --help for bifrost and every subcommand (exit 0, its usage and options), and --version with the package version', async () => {
    // No database and no key needed, and none created: help needs nothing.
    const nowhere = { DATABASE_URL: `sqlite:${join(dir, 'nowhere', 'x.db')}`, BIFROST_SECRET_KEY: '' };
    const top = await cli(['--help'], nowhere);
    expect(top.code).toBe(0);
    for (const [words] of SUBCOMMANDS) expect(top.stdout).toContain(`  ${words.join(' ')} `);
    for (const [words, options] of SUBCOMMANDS) {
      const help = await cli([...words, '--help'], nowhere);
      expect({ words, code: help.code, stderr: help.stderr }).toEqual({ words, code: 0, stderr: '' });
      expect(help.stdout).toMatch(new RegExp(`^Usage: bifrost ${words.join(' ')} `));
      for (const o of [...options, '--json', '--help']) expect(help.stdout).toContain(o);
    }
    const version = await cli(['--version'], nowhere);
    expect(version).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    expect(existsSync(join(dir, 'nowhere'))).toBe(false);
  }, 120_000);

  it('exports an org named by its name as by its id; an id wins over a name that equals it; --json gives the summary', async () => {
    const byId = join(dir, 'by-id.json');
    const byName = join(dir, 'by-name.json');
    expect((await cli(['export', '--scope', acme.id, '-o', byId])).code).toBe(0);
    const named = await cli(['export', '--scope', 'acme', '-o', byName, '--json']);
    expect(named.code).toBe(0);
    expect(JSON.parse(named.stdout)).toEqual({ configs: 2, mode: 'portable', scope: acme.id, file: byName });
    const configsOf = (file: string) => JSON.parse(readFileSync(file, 'utf8')).configs as { key: string; scope: unknown }[];
    expect(configsOf(byName)).toEqual(configsOf(byId));
    expect(configsOf(byName).map((c) => c.key).sort()).toEqual(['api_key', 'region']);

    // Another org whose name is acme's id: the id still names acme.
    await t.http().post('/api/orgs').set(bearer(t.adminToken)).send({ name: acme.id }).expect(201);
    const shadow = join(dir, 'shadow.json');
    const res = await cli(['export', '--scope', acme.id, '-o', shadow, '--json']);
    expect(JSON.parse(res.stdout)).toMatchObject({ configs: 2, scope: acme.id });
    expect(configsOf(shadow)).toEqual(configsOf(byId));

    const unknown = await cli(['export', '--scope', 'no-such-org', '-o', join(dir, 'x.json'), '--json']);
    expect(unknown.code).toBe(2);
    expect(JSON.parse(unknown.stdout)).toEqual({ error: { code: 'USAGE', message: expect.stringContaining('no org with the id or name "no-such-org"') } });
    expect(unknown.stderr.trimEnd().split('\n')).toHaveLength(1);
  }, 120_000);

  it('creates and lists tokens by org name, as JSON, never printing a listed token', async () => {
    const created = await cli(['tokens', 'create', '--role', 'service', '--org', 'acme', '--name', 'engine', '--json']);
    expect(created.code).toBe(0);
    const token = JSON.parse(created.stdout);
    expect(token).toMatchObject({ role: 'service', orgId: acme.id, name: 'engine', token: expect.stringMatching(/^bft_/) });
    expect((await t.http().get('/api/sdk/configs/region').set(bearer(token.token)).expect(200)).body.value).toBe('eu');

    const listed = await cli(['tokens', 'list', '--org', 'acme', '--json']);
    expect(listed.code).toBe(0);
    const { items } = JSON.parse(listed.stdout) as { items: { id: string; orgId: string; name: string }[] };
    expect(items.map((i) => i.id)).toContain(token.id);
    expect(items.every((i) => i.orgId === acme.id)).toBe(true);
    expect(listed.stdout).not.toContain(token.token);
    const text = await cli(['tokens', 'list', '--org', acme.id]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(token.id);
    expect(() => JSON.parse(text.stdout)).toThrow();
  }, 120_000);

  it('prints a refused import one problem a line, the first 50 and the total, with hints in its own words; --json lists them all', async () => {
    const rows = 120;
    const file = join(dir, 'bad.json');
    const configs = Array.from({ length: rows }, (_, i) => ({ scope: { org: `ghost-${i}` }, key: `k${i}`, type: 'string', value: `${MARK}-${i}` }));
    writeFileSync(file, JSON.stringify({ format: 'bifrost-config-bundle', version: 1, configs }));
    const before = await rawCount(t, 'configs');

    const res = await cli(['import', file]);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    const lines = res.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^bifrost import: INVALID_BUNDLE: /);
    expect(lines).toHaveLength(1 + 50 + 1);
    expect(lines[1]).toMatch(/^  row 0 \(k0\): ORG_NOT_FOUND .*--create-orgs/);
    expect(lines[50]).toMatch(/^  row 49 \(k49\): ORG_NOT_FOUND/);
    expect(lines[51]).toBe(`  ... and ${rows - 50} more (${rows} problems in all; --json lists every one)`);
    expect(res.stderr).not.toContain('createOrgs');
    expect(res.stderr).not.toContain(MARK);

    const json = await cli(['import', file, '--json']);
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.stdout);
    expect(doc.error).toMatchObject({ code: 'INVALID_BUNDLE', problemCount: rows });
    expect(doc.error.problems).toHaveLength(rows);
    expect(doc.error.problems[rows - 1]).toEqual({ row: rows - 1, key: `k${rows - 1}`, code: 'ORG_NOT_FOUND', message: expect.stringContaining('--create-orgs') });
    expect(json.stdout).not.toContain(MARK);
    expect(await rawCount(t, 'configs')).toBe(before);

    // The hint works: with --create-orgs the same bundle goes in.
    const fixed = await cli(['import', file, '--create-orgs', '--json']);
    expect(fixed.code).toBe(0);
    expect(JSON.parse(fixed.stdout)).toMatchObject({ created: rows, updated: 0, skipped: 0 });
  }, 120_000);

  it('gives one JSON document for rotate-key --status, migrate and a bad environment', async () => {
    const status = await cli(['rotate-key', '--status', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ total: 1, current: 1, previous: 0, unknown: 0, complete: true });
    const migrate = await cli(['migrate', '--json']);
    expect(migrate.code).toBe(0);
    expect(JSON.parse(migrate.stdout)).toEqual({ applied: [] });
    const wrongKey = await cli(['export', '-o', join(dir, 'w.json'), '--json'], { BIFROST_SECRET_KEY: 'an-entirely-different-key-0123456789abc' });
    expect(wrongKey.code).toBe(1);
    expect(JSON.parse(wrongKey.stdout)).toEqual({ error: { code: 'KEY_MISMATCH', message: expect.stringContaining('BIFROST_SECRET_KEY') } });
    expect(wrongKey.stderr.trimEnd().split('\n')).toHaveLength(1);
  }, 120_000);
});
