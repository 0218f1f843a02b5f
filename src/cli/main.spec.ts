import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { badRequest } from '../common/errors';
import { EnvError } from '../common/env';
import { describeFailure, parseCommand, run, UsageError } from './main';

function io(env: NodeJS.ProcessEnv = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c) => (out += c));
  stderr.on('data', (c) => (err += c));
  return { io: { stdout, stderr, env }, out: () => out, err: () => err };
}

describe('parseCommand', () => {
  it('parses every command and its options', () => {
    expect(parseCommand(['export', '--portable', '--scope', 'global', '-o', 'out.json'])).toEqual({ name: 'export', portable: true, scope: 'global', output: 'out.json' });
    expect(parseCommand(['export'])).toEqual({ name: 'export', portable: true, scope: undefined, output: undefined });
    expect(parseCommand(['export', '--backup'])).toMatchObject({ portable: false });
    expect(parseCommand(['import', 'b.json', '--dry-run', '--on-conflict', 'overwrite', '--create-orgs'])).toEqual({ name: 'import', file: 'b.json', dryRun: true, onConflict: 'overwrite', createOrgs: true });
    expect(parseCommand(['import', 'b.json'])).toEqual({ name: 'import', file: 'b.json', dryRun: false, onConflict: 'skip', createOrgs: false });
    expect(parseCommand(['rotate-key'])).toEqual({ name: 'rotate-key', batchSize: undefined, status: false });
    expect(parseCommand(['rotate-key', '--batch-size', '50'])).toEqual({ name: 'rotate-key', batchSize: 50, status: false });
    expect(parseCommand(['rotate-key', '--status'])).toEqual({ name: 'rotate-key', batchSize: undefined, status: true });
    expect(parseCommand(['tokens', 'create', '--role', 'org_admin', '--org', 'acme', '--name', 'ops'])).toEqual({ name: 'tokens-create', role: 'org_admin', org: 'acme', tokenName: 'ops' });
    expect(parseCommand(['tokens', 'create', '--role', 'service', '--name', 'engine', '--ttl', '30d'])).toEqual({ name: 'tokens-create', role: 'service', tokenName: 'engine', ttlSeconds: 30 * 86400 });
    expect(() => parseCommand(['tokens', 'create', '--role', 'service', '--name', 'engine', '--ttl', 'soon'])).toThrow(/--ttl must be a duration/);
    expect(() => parseCommand(['tokens', 'create', '--role', 'execution', '--name', 'x'])).toThrow(/--role must be one of admin, org_admin, member, service$/);
    expect(parseCommand(['migrate'])).toEqual({ name: 'migrate' });
    for (const help of [[], ['help'], ['--help'], ['-h']]) expect(parseCommand(help)).toEqual({ name: 'help' });
  });

  it.each([
    [['nope']],
    [['export', '--portable', '--backup']],
    [['export', '--unknown']],
    [['export', 'extra']],
    [['import']],
    [['import', 'a', 'b']],
    [['import', 'a', '--on-conflict', 'replace']],
    [['rotate-key', '--batch-size', '0']],
    [['rotate-key', '--batch-size', 'ten']],
    [['tokens']],
    [['tokens', 'list']],
    [['tokens', 'create', '--role', 'root', '--name', 'x']],
    [['tokens', 'create', '--role', 'admin']],
    [['migrate', 'now']],
  ])('refuses %j as a usage error', (argv) => {
    expect(() => parseCommand(argv)).toThrow(UsageError);
  });
});

describe('describeFailure', () => {
  it('lists every problem of a refused bundle on one line, with its row', () => {
    const err = badRequest('INVALID_BUNDLE', 'The bundle has 2 problems; nothing was imported', [
      { row: null, code: 'UNSUPPORTED_FORMAT', message: 'bad format' },
      { row: 3, key: 'k', code: 'INVALID_VALUE', message: 'not an int' },
    ]);
    const line = describeFailure(err);
    expect(line).toBe('INVALID_BUNDLE: The bundle has 2 problems; nothing was imported: bundle: UNSUPPORTED_FORMAT bad format; row 3 (k): INVALID_VALUE not an int');
    expect(line).not.toContain('\n');
    expect(describeFailure(new EnvError('BIFROST_SECRET_KEY', 'must be at least 32 characters'))).toBe('BIFROST_SECRET_KEY: must be at least 32 characters');
  });

  it('says DATABASE_BUSY, on one line, when another process kept the SQLite write lock past the wait', () => {
    const busy = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    const line = describeFailure({ name: 'QueryFailedError', message: 'SqliteError: database is locked', driverError: busy });
    expect(line).toMatch(/^DATABASE_BUSY: .*120 s.*run the command again$/);
    expect(line).not.toContain('\n');
  });
});

describe('run', () => {
  it('prints the usage for help and exits 0', async () => {
    const t = io();
    expect(await run(['help'], t.io)).toBe(0);
    expect(t.out()).toMatch(/^Usage: bifrost/);
  });

  it('exits 2 with one line on a usage error, and 1 with one line on a bad environment', async () => {
    const usage = io();
    expect(await run(['frobnicate'], usage.io)).toBe(2);
    expect(usage.err().trimEnd().split('\n')).toEqual(['bifrost: unknown command "frobnicate" (bifrost help for usage)']);
    const env = io({ NODE_ENV: 'production', DATABASE_URL: 'sqlite::memory:' });
    expect(await run(['export'], env.io)).toBe(1);
    expect(env.err().trimEnd().split('\n')).toEqual(['bifrost export: BIFROST_SECRET_KEY: is required in production (at least 32 characters)']);
    expect(env.out()).toBe('');
  });

  it('creates no database and no key but in migrate: run from the wrong folder, a command refuses with one line (issue 20)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bifrost-cli-nowhere-'));
    try {
      const env = { NODE_ENV: 'development', DATABASE_URL: `sqlite:${join(dir, 'data', 'bifrost.db')}` };
      for (const args of [['export'], ['tokens', 'create', '--role', 'admin', '--name', 'x'], ['rotate-key']]) {
        const t = io(env);
        expect(await run(args, t.io)).toBe(1);
        const lines = t.err().trimEnd().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(/BIFROST_SECRET_KEY: is not set and there is no development key at .*secret-key/);
        expect(t.out()).toBe('');
      }
      const keyed = io({ ...env, BIFROST_SECRET_KEY: 'k'.repeat(40) });
      expect(await run(['export'], keyed.io)).toBe(1);
      expect(keyed.err().trimEnd().split('\n')).toEqual([expect.stringMatching(/DATABASE_URL: there is no database at .*bifrost\.db: .*bifrost migrate/)]);
      // Nothing was created: no key file, no database.
      expect(existsSync(join(dir, 'data'))).toBe(false);
      // migrate may create both.
      const migrated = io(env);
      expect(await run(['migrate'], migrated.io)).toBe(0);
      expect(existsSync(join(dir, 'data', 'bifrost.db'))).toBe(true);
      expect(existsSync(join(dir, 'data', 'secret-key'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
