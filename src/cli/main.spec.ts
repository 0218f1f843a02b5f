import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { badRequest } from '../common/errors';
import { EnvError } from '../common/env';
import { defineCommand } from './command';
import { COMMANDS } from './commands';
import { parseCommand, run, usage, UsageError, VERSION } from './main';
import { describeFailure, failureDocument, PROBLEM_LINES, problemLines } from './output';

function io(env: NodeJS.ProcessEnv = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c) => (out += c));
  stderr.on('data', (c) => (err += c));
  return { io: { stdout, stderr, env }, out: () => out, err: () => err };
}

const argsOf = (argv: string[]) => {
  const parsed = parseCommand(argv);
  if (parsed.name !== 'command') throw new Error(`not a command: ${parsed.name}`);
  return { name: parsed.command.name, ...(parsed.args as object), json: parsed.json };
};

describe('parseCommand', () => {
  it('parses every command and its options', () => {
    expect(argsOf(['export', '--portable', '--scope', 'global', '-o', 'out.json'])).toEqual({ name: 'export', portable: true, scope: 'global', output: 'out.json', json: false });
    expect(argsOf(['export'])).toEqual({ name: 'export', portable: true, scope: undefined, output: undefined, json: false });
    expect(argsOf(['export', '--backup'])).toMatchObject({ portable: false });
    expect(argsOf(['export', '--scope', 'acme', '-o', 'f', '--json'])).toMatchObject({ scope: 'acme', json: true });
    expect(argsOf(['import', 'b.json', '--dry-run', '--on-conflict', 'overwrite', '--create-orgs'])).toEqual({ name: 'import', file: 'b.json', dryRun: true, onConflict: 'overwrite', createOrgs: true, json: false });
    expect(argsOf(['import', 'b.json', '--json'])).toEqual({ name: 'import', file: 'b.json', dryRun: false, onConflict: 'skip', createOrgs: false, json: true });
    expect(argsOf(['rotate-key'])).toEqual({ name: 'rotate-key', batchSize: undefined, status: false, json: false });
    expect(argsOf(['rotate-key', '--batch-size', '50'])).toMatchObject({ batchSize: 50, status: false });
    expect(argsOf(['rotate-key', '--status', '--json'])).toMatchObject({ batchSize: undefined, status: true, json: true });
    expect(argsOf(['tokens', 'create', '--role', 'org_admin', '--org', 'acme', '--name', 'ops'])).toEqual({ name: 'tokens create', role: 'org_admin', org: 'acme', tokenName: 'ops', json: false });
    expect(argsOf(['tokens', 'create', '--role', 'service', '--name', 'engine', '--ttl', '30d'])).toMatchObject({ role: 'service', tokenName: 'engine', ttlSeconds: 30 * 86400 });
    expect(() => parseCommand(['tokens', 'create', '--role', 'service', '--name', 'engine', '--ttl', 'soon'])).toThrow(/--ttl must be a duration/);
    expect(() => parseCommand(['tokens', 'create', '--role', 'execution', '--name', 'x'])).toThrow(/--role must be one of admin, org_admin, member, service$/);
    expect(argsOf(['tokens', 'list', '--org', 'acme', '--json'])).toEqual({ name: 'tokens list', org: 'acme', revoked: false, json: true });
    expect(argsOf(['migrate'])).toEqual({ name: 'migrate', json: false });
    for (const help of [[], ['help'], ['--help'], ['-h']]) expect(parseCommand(help)).toEqual({ name: 'help', text: expect.stringMatching(/^Usage: bifrost <command>/) });
    for (const version of [['--version'], ['-V'], ['version']]) expect(parseCommand(version)).toEqual({ name: 'version' });
  });

  it.each([
    [['nope']],
    [['export', '--portable', '--backup']],
    [['export', '--unknown']],
    [['export', 'extra']],
    [['export', '--json']],
    [['import']],
    [['import', 'a', 'b']],
    [['import', 'a', '--on-conflict', 'replace']],
    [['rotate-key', '--batch-size', '0']],
    [['rotate-key', '--batch-size', 'ten']],
    [['tokens']],
    [['tokens', 'revoke']],
    [['tokens', 'create', '--role', 'root', '--name', 'x']],
    [['tokens', 'create', '--role', 'admin']],
    [['migrate', 'now']],
  ])('refuses %j as a usage error', (argv) => {
    expect(() => parseCommand(argv)).toThrow(UsageError);
  });

  it.each(COMMANDS.map((c) => [c.name]))('%s answers --help (and -h) with its usage and every option, whatever else is on the line', (name) => {
    const command = COMMANDS.find((c) => c.name === name)!;
    const words = name.split(' ');
    for (const argv of [[...words, '--help'], [...words, '-h'], [...words, '--no-such-option', '--help'], ['help', ...words]]) {
      const parsed = parseCommand(argv);
      expect(parsed.name).toBe('help');
      const text = (parsed as { text: string }).text;
      expect(text.split('\n')[0]).toBe(`Usage: bifrost ${name}${(command.args ?? []).map((a) => ` ${a}`).join('')} [options]`);
      for (const o of command.options) expect(text).toContain(`--${o.name}`);
      expect(text).toContain('--json');
    }
  });

  it('lists every command in bifrost --help, and the commands under a first word in bifrost tokens --help', () => {
    const text = (parseCommand(['--help']) as { text: string }).text;
    for (const c of COMMANDS) expect(text).toMatch(new RegExp(`^  ${c.name} +\\S`, 'm'));
    const tokens = (parseCommand(['tokens', '--help']) as { text: string }).text;
    expect(tokens).toContain('tokens create');
    expect(tokens).toContain('tokens list');
    expect(tokens).not.toContain('rotate-key');
  });

  it('takes a new command from the registry: its parser, help and --json come with it', async () => {
    const ran: unknown[] = [];
    const probe = defineCommand({
      name: 'probe',
      summary: 'A command added by one entry.',
      options: [{ name: 'deep', type: 'boolean', help: 'look deeper' }],
      services: false,
      parse: (values) => ({ deep: !!values.deep }),
      async run(args, c) {
        ran.push(args);
        c.result({ found: 0 }, 'found nothing');
      },
    });
    const commands = [...COMMANDS, probe];
    expect((parseCommand(['--help'], commands) as { text: string }).text).toContain('A command added by one entry.');
    expect((parseCommand(['probe', '--help'], commands) as { text: string }).text).toContain('--deep');
    const plain = io({ NODE_ENV: 'test', DATABASE_URL: 'sqlite::memory:', BIFROST_SECRET_KEY: 'k'.repeat(40) });
    expect(await run(['probe', '--deep'], plain.io, commands)).toBe(0);
    expect(plain.out()).toBe('found nothing\n');
    const json = io({ NODE_ENV: 'test', DATABASE_URL: 'sqlite::memory:', BIFROST_SECRET_KEY: 'k'.repeat(40) });
    expect(await run(['probe', '--json'], json.io, commands)).toBe(0);
    expect(JSON.parse(json.out())).toEqual({ found: 0 });
    expect(ran).toEqual([{ deep: true }, { deep: false }]);
  });
});

describe('describeFailure and problemLines', () => {
  const refused = (n: number) =>
    badRequest(
      'INVALID_BUNDLE',
      `The bundle has ${n} problems; nothing was imported`,
      Array.from({ length: n }, (_, i) =>
        i === 0
          ? { row: null, code: 'UNSUPPORTED_FORMAT', message: 'bad format' }
          : { row: i, key: `k${i}`, code: 'ORG_NOT_FOUND', message: 'The org named by this row does not exist here (import with createOrgs=true to create it)' },
      ),
    );

  it('describes a refused bundle in one line and its problems one a line, in the CLI\'s words', () => {
    const err = refused(3);
    expect(describeFailure(err)).toBe('INVALID_BUNDLE: The bundle has 3 problems; nothing was imported');
    expect(problemLines(err)).toEqual([
      '  bundle: UNSUPPORTED_FORMAT bad format',
      '  row 1 (k1): ORG_NOT_FOUND The org named by this row does not exist here (import with --create-orgs to create it)',
      '  row 2 (k2): ORG_NOT_FOUND The org named by this row does not exist here (import with --create-orgs to create it)',
    ]);
    expect(describeFailure(new EnvError('BIFROST_SECRET_KEY', 'must be at least 32 characters'))).toBe('BIFROST_SECRET_KEY: must be at least 32 characters');
  });

  it('caps the problem lines at 50 and says how many there are in all', () => {
    const lines = problemLines(refused(2000));
    expect(lines).toHaveLength(PROBLEM_LINES + 1);
    expect(lines[PROBLEM_LINES]).toBe('  ... and 1950 more (2000 problems in all; --json lists every one)');
    expect(problemLines(refused(50))).toHaveLength(50);
  });

  it('gives --json every problem with its code, in the CLI\'s words', () => {
    const doc = failureDocument(refused(120));
    expect(doc.error).toMatchObject({ code: 'INVALID_BUNDLE', problemCount: 120 });
    expect(doc.error.problems).toHaveLength(120);
    expect(doc.error.problems![5]).toEqual({ row: 5, key: 'k5', code: 'ORG_NOT_FOUND', message: expect.stringContaining('--create-orgs') });
    expect(JSON.stringify(doc)).not.toContain('createOrgs');
    expect(failureDocument(new EnvError('DATABASE_URL', 'bad'))).toEqual({ error: { code: 'INVALID_ENVIRONMENT', message: 'DATABASE_URL: bad' } });
  });

  it('says DATABASE_BUSY, on one line, when another process kept the SQLite write lock past the wait', () => {
    const busy = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    const err = { name: 'QueryFailedError', message: 'SqliteError: database is locked', driverError: busy };
    const line = describeFailure(err);
    expect(line).toMatch(/^DATABASE_BUSY: .*120 s.*run the command again$/);
    expect(line).not.toContain('\n');
    expect(failureDocument(err).error.code).toBe('DATABASE_BUSY');
  });
});

describe('run', () => {
  it('prints the usage for help and exits 0', async () => {
    const t = io();
    expect(await run(['help'], t.io)).toBe(0);
    expect(t.out()).toMatch(/^Usage: bifrost/);
  });

  it('prints the package version for --version and exits 0', async () => {
    const t = io();
    expect(await run(['--version'], t.io)).toBe(0);
    expect(t.out()).toBe(`${require('../../package.json').version}\n`);
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('exits 2 with one line on a usage error, and 1 with one line on a bad environment', async () => {
    const usage = io();
    expect(await run(['frobnicate'], usage.io)).toBe(2);
    expect(usage.err().trimEnd().split('\n')).toEqual(['bifrost: unknown command "frobnicate" (bifrost --help for usage)']);
    const option = io();
    expect(await run(['export', '--bogus'], option.io)).toBe(2);
    expect(option.err()).toBe("bifrost export: Unknown option '--bogus' (bifrost export --help for usage)\n");
    const json = io();
    expect(await run(['import', '--json'], json.io)).toBe(2);
    expect(JSON.parse(json.out())).toEqual({ error: { code: 'USAGE', message: 'import needs the bundle FILE' } });
    const env = io({ NODE_ENV: 'production', DATABASE_URL: 'sqlite::memory:' });
    expect(await run(['export'], env.io)).toBe(1);
    expect(env.err().trimEnd().split('\n')).toEqual(['bifrost export: BIFROST_SECRET_KEY: is required in production (at least 32 characters)']);
    expect(env.out()).toBe('');
    const envJson = io({ NODE_ENV: 'production', DATABASE_URL: 'sqlite::memory:' });
    expect(await run(['export', '-o', 'x', '--json'], envJson.io)).toBe(1);
    expect(JSON.parse(envJson.out())).toEqual({ error: { code: 'INVALID_ENVIRONMENT', message: 'BIFROST_SECRET_KEY: is required in production (at least 32 characters)' } });
  });

  it('creates only the token asked for in development: the server\'s first-start token is the server\'s, and stdout is the result alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bifrost-cli-dev-'));
    try {
      const env = { NODE_ENV: 'development', DATABASE_URL: `sqlite:${join(dir, 'bifrost.db')}`, BIFROST_SECRET_KEY: 'k'.repeat(40) };
      expect(await run(['migrate'], io(env).io)).toBe(0);
      const created = io(env);
      expect(await run(['tokens', 'create', '--role', 'admin', '--name', 'ops', '--json'], created.io)).toBe(0);
      expect(JSON.parse(created.out())).toMatchObject({ name: 'ops', role: 'admin', token: expect.stringMatching(/^bft_/) });
      const listed = io(env);
      expect(await run(['tokens', 'list', '--json'], listed.io)).toBe(0);
      expect(JSON.parse(listed.out()).items.map((t: { name: string }) => t.name)).toEqual(['ops']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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

describe('bifrost scan: arguments', () => {
  it('parses --scope and --json', () => {
    expect(argsOf(['scan'])).toEqual({ name: 'scan', scope: undefined, json: false });
    expect(argsOf(['scan', '--scope', 'global', '--json'])).toEqual({ name: 'scan', scope: 'global', json: true });
  });

  it('refuses unknown options and arguments as usage errors', () => {
    expect(() => parseCommand(['scan', '--nope'])).toThrow(UsageError);
    expect(() => parseCommand(['scan', 'extra'])).toThrow(UsageError);
  });

  it('is in the usage, answers --help, and import takes --allow-secret-like-values', () => {
    expect(usage()).toMatch(/\bscan\b/);
    expect(parseCommand(['scan', '--help'])).toEqual({ name: 'help', text: expect.stringMatching(/^Usage: bifrost scan \[options\][\s\S]*--scope SCOPE/) });
    expect(argsOf(['import', 'f.json', '--allow-secret-like-values'])).toMatchObject({ name: 'import', allowSecretLikeValues: true });
    expect(argsOf(['import', 'f.json'])).not.toHaveProperty('allowSecretLikeValues');
  });
});
