#!/usr/bin/env node
/**
 * `bifrost`: export, import, rotate-key, tokens create, migrate — on the server's own database
 * settings (DATABASE_URL, BIFROST_SECRET_KEY, BIFROST_SECRET_KEY_PREVIOUS, ...), audited as actor `cli`.
 * Results go to stdout, progress to stderr; a failure is one line on stderr and a non-zero exit.
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { CLI_PRINCIPAL, CREATABLE_ROLES as ROLES, Role } from '../auth/roles';
import { AppError } from '../common/errors';
import { isDatabaseBusy } from '../common/database';
import { AppEnv, EnvError, loadEnv, parseDuration } from '../common/env';
import { runWithContext } from '../common/request-context';
import { sweepTempDirs } from '../common/temp-dir';
import { KeyCensus, KeyMismatchError, StoredSecretPlace, StrandedSecretsError } from '../crypto/startup-key-check';
import type { ImportProblem } from '../export/bundle';
import { CLI_LOCK_WAIT_MS, CliContext, migrate, openCli } from './cli-context';
import { parseScan, runScan, SCAN_USAGE, ScanCommand } from './scan-command';

export const USAGE = `Usage: bifrost <command> [options]

Commands:
  export [--portable | --backup] [--scope all|global|ORG_ID] [-o FILE]
      Write a bundle (portable by default: secrets without values; --backup: with their Fernet tokens).
  import FILE [--dry-run] [--on-conflict skip|overwrite] [--create-orgs] [--allow-secret-like-values]
      Import a bundle or a Bifrost configs export, all or nothing. A bundle from another deployment is
      either wrapped in the file as {"bundle": ..., "sourceSecretKey": "..."} or its key is given in
      BIFROST_SOURCE_SECRET_KEY. A plain row that looks like a credential is refused (LOOKS_LIKE_A_SECRET)
      unless --allow-secret-like-values.
  rotate-key [--batch-size N] [--status]
      Re-encrypt every secret under BIFROST_SECRET_KEY (old keys in BIFROST_SECRET_KEY_PREVIOUS);
      safe while the service runs, resumable: a run that was stopped is resumed by running it again.
      --status only counts the secrets by the key they are under and lists those no configured key
      opens (exit code 1 while a rotation is incomplete).
  tokens create --role admin|org_admin|member|service [--org NAME] --name NAME [--ttl DURATION]
      Create an API token; it is printed once. --ttl (3600, 90m, 12h, 30d): it expires then;
      required within BIFROST_TOKEN_MAX_TTL when that is set.
  migrate
      Bring the database schema up to date.
${SCAN_USAGE}

The database and keys come from the same variables as the server (DATABASE_URL, BIFROST_SECRET_KEY, ...).`;

/** A usage mistake: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type Command =
  | { name: 'export'; portable: boolean; scope?: string; output?: string }
  | { name: 'import'; file: string; dryRun: boolean; onConflict: 'skip' | 'overwrite'; createOrgs: boolean; allowSecretLikeValues?: boolean }
  | { name: 'rotate-key'; batchSize?: number; status: boolean }
  | { name: 'tokens-create'; role: Role; org?: string; tokenName: string; ttlSeconds?: number }
  | { name: 'migrate' }
  | ScanCommand
  | { name: 'help' };

/** Parses the command line (without `node` and the script). */
export function parseCommand(argv: string[]): Command {
  const [name, ...rest] = argv;
  type Options = Record<string, { type: 'string' | 'boolean'; short?: string }>;
  const parse = (options: Options, positionals = 0, args = rest): { values: Record<string, string | boolean | undefined>; positionals: string[] } => {
    let parsed;
    try {
      parsed = parseArgs({ args, options, allowPositionals: positionals > 0, strict: true });
    } catch (err) {
      throw new UsageError((err as Error).message.split('\n')[0]);
    }
    if (parsed.positionals.length > positionals) throw new UsageError(`unexpected argument "${parsed.positionals[positionals]}"`);
    return parsed as { values: Record<string, string | boolean | undefined>; positionals: string[] };
  };
  switch (name) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return { name: 'help' };
    case 'export': {
      const { values } = parse({ portable: { type: 'boolean' }, backup: { type: 'boolean' }, scope: { type: 'string' }, output: { type: 'string', short: 'o' } });
      if (values.portable && values.backup) throw new UsageError('--portable and --backup exclude each other');
      return { name: 'export', portable: !values.backup, scope: values.scope as string | undefined, output: values.output as string | undefined };
    }
    case 'import': {
      const { values, positionals } = parse({ 'dry-run': { type: 'boolean' }, 'on-conflict': { type: 'string' }, 'create-orgs': { type: 'boolean' }, 'allow-secret-like-values': { type: 'boolean' } }, 1);
      if (positionals.length !== 1) throw new UsageError('import needs the bundle FILE');
      const onConflict = (values['on-conflict'] as string | undefined) ?? 'skip';
      if (onConflict !== 'skip' && onConflict !== 'overwrite') throw new UsageError('--on-conflict must be skip or overwrite');
      return { name: 'import', file: positionals[0], dryRun: !!values['dry-run'], onConflict, createOrgs: !!values['create-orgs'], ...(values['allow-secret-like-values'] ? { allowSecretLikeValues: true } : {}) };
    }
    case 'rotate-key': {
      const { values } = parse({ 'batch-size': { type: 'string' }, status: { type: 'boolean' } });
      const raw = values['batch-size'] as string | undefined;
      if (raw !== undefined && !/^[1-9]\d{0,4}$/.test(raw)) throw new UsageError('--batch-size must be an integer from 1 to 99999');
      return { name: 'rotate-key', batchSize: raw === undefined ? undefined : Number(raw), status: !!values.status };
    }
    case 'tokens': {
      const [sub, ...more] = rest;
      if (sub !== 'create') throw new UsageError('the tokens command is "tokens create"');
      const { values } = parse({ role: { type: 'string' }, org: { type: 'string' }, name: { type: 'string' }, ttl: { type: 'string' } }, 0, more);
      if (typeof values.role !== 'string' || !(ROLES as readonly string[]).includes(values.role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
      if (typeof values.name !== 'string' || !values.name) throw new UsageError('--name is required');
      let ttlSeconds: number | undefined;
      if (values.ttl !== undefined) {
        try {
          ttlSeconds = parseDuration('--ttl', values.ttl as string);
        } catch {
          throw new UsageError('--ttl must be a duration: seconds, or a number with s, m, h or d (e.g. 3600, 90m, 30d)');
        }
      }
      return { name: 'tokens-create', role: values.role as Role, org: values.org as string | undefined, tokenName: values.name, ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) };
    }
    case 'migrate':
      parse({});
      return { name: 'migrate' };
    case 'scan':
      return parseScan(rest, (m) => new UsageError(m));
    default:
      throw new UsageError(`unknown command "${name}"`);
  }
}

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

const PROGRESS_EVERY = 10_000;

async function write(stream: NodeJS.WritableStream, chunk: string): Promise<void> {
  if (!stream.write(chunk)) await once(stream, 'drain');
}

async function runExport(ctx: CliContext, cmd: Extract<Command, { name: 'export' }>, io: Io): Promise<void> {
  let out: NodeJS.WritableStream = io.stdout;
  let file: WriteStream | null = null;
  if (cmd.output) {
    // A backup holds every secret's ciphertext: readable by its owner only.
    file = createWriteStream(cmd.output, { mode: 0o600 });
    await once(file, 'open');
    out = file;
  }
  let reported = 0;
  const { configs } = await ctx.exports.export(CLI_PRINCIPAL, { portable: cmd.portable, scope: cmd.scope }, (chunk) => write(out, chunk), {
    onProgress: (n) => {
      if (n - reported >= PROGRESS_EVERY) {
        reported = n;
        io.stderr.write(`exported ${n} configs...\n`);
      }
    },
  });
  if (file) {
    file.end();
    await once(file, 'finish');
  }
  io.stderr.write(`exported ${configs} configs (${cmd.portable ? 'portable' : 'backup'})${cmd.output ? ` to ${cmd.output}` : ''}\n`);
}

async function runImport(ctx: CliContext, cmd: Extract<Command, { name: 'import' }>, io: Io): Promise<void> {
  await stat(cmd.file).catch(() => {
    throw new UsageError(`cannot read ${cmd.file}`);
  });
  let reported = 0;
  const sourceSecretKey = io.env.BIFROST_SOURCE_SECRET_KEY || undefined;
  const result = await ctx.imports.import(
    CLI_PRINCIPAL,
    () => createReadStream(cmd.file, { highWaterMark: 64 * 1024 }),
    { dryRun: cmd.dryRun, onConflict: cmd.onConflict, createOrgs: cmd.createOrgs, sourceSecretKey, allowSecretLikeValues: cmd.allowSecretLikeValues },
    (p) => {
      if (p.rows - reported >= PROGRESS_EVERY || (p.phase === 'write' && reported > p.rows)) {
        reported = p.rows;
        io.stderr.write(`${p.phase === 'validate' ? 'checked' : cmd.dryRun ? 'counted' : 'imported'} ${p.rows} configs...\n`);
      }
    },
  );
  io.stdout.write(JSON.stringify(result) + '\n');
  io.stderr.write(
    `${cmd.dryRun ? 'dry run: would create' : 'created'} ${result.created}, ${cmd.dryRun ? 'update' : 'updated'} ${result.updated}, ${cmd.dryRun ? 'skip' : 'skipped'} ${result.skipped}; ` +
      `${result.secretsNeedingValue.length} secret(s) need a value\n`,
  );
}

/** Where stranded secrets are, never what. */
const places = (list: StoredSecretPlace[]) => list.map((f) => (f.table === 'configs' ? `${f.scope}/${f.key}` : `execution secret ${f.id}`)).join(', ');

/** One line: the stored secrets by the key they are under. */
function describeCensus(c: KeyCensus): string {
  const behind = c.previous + c.unknown;
  if (behind === 0) return `all ${c.total} stored secrets are under the current key`;
  let line = `${behind} of ${c.total} stored secrets are not under the current key: ${c.previous} under a key of BIFROST_SECRET_KEY_PREVIOUS, ${c.unknown} under no configured key`;
  if (c.unknown > 0) line += ` (${places(c.stranded)}${c.stranded.length < c.unknown ? ', ...' : ''})`;
  return line;
}

/** Exit code 1 for `rotate-key --status` while a rotation is incomplete. */
class IncompleteRotation extends Error {}

async function runRotate(ctx: CliContext, cmd: Extract<Command, { name: 'rotate-key' }>, io: Io): Promise<void> {
  const before = await ctx.rotation.status();
  // The wrong BIFROST_SECRET_KEY altogether: nothing would be re-encrypted.
  if (before.unknown > 0 && before.current + before.previous === 0) throw new KeyMismatchError(before.total);
  if (cmd.status) {
    io.stdout.write(JSON.stringify({ total: before.total, current: before.current, previous: before.previous, unknown: before.unknown, unknownKeyIds: before.unknownKeyIds, stranded: before.stranded }) + '\n');
    io.stderr.write(describeCensus(before) + '\n');
    if (before.previous + before.unknown > 0) throw new IncompleteRotation(before.unknown > 0 ? 'incomplete: some secrets are under no configured key' : 'incomplete: run `bifrost rotate-key`');
    return;
  }
  io.stderr.write(describeCensus(before) + (before.current > 0 && before.previous > 0 ? '; an earlier rotation did not finish: resuming it' : '') + '\n');
  let lastBatches = 0;
  const report = await ctx.rotation.rotate({
    batchSize: cmd.batchSize,
    actor: CLI_PRINCIPAL,
    onProgress: (r) => {
      if (r.batches - lastBatches >= 10) {
        lastBatches = r.batches;
        io.stderr.write(`re-encrypted ${r.reencrypted}, already current ${r.alreadyCurrent}, failed ${r.failed}...\n`);
      }
    },
  });
  const { failures, ...counts } = report;
  io.stdout.write(JSON.stringify(counts) + '\n');
  io.stderr.write(`re-encrypted ${report.reencrypted}, already current ${report.alreadyCurrent}, failed ${report.failed}\n`);
  if (report.failed > 0) {
    const where = places(failures);
    throw new Error(`${report.failed} secret(s) cannot be decrypted with BIFROST_SECRET_KEY or BIFROST_SECRET_KEY_PREVIOUS and were left as they are: ${where}`);
  }
}

async function runTokensCreate(ctx: CliContext, cmd: Extract<Command, { name: 'tokens-create' }>, io: Io): Promise<void> {
  let orgId: string | null = null;
  if (cmd.org !== undefined) {
    const org = await ctx.orgs.findByIdOrName(cmd.org);
    if (!org) throw new Error(`no org named "${cmd.org}"`);
    orgId = org.id;
  }
  const created = await ctx.tokens.create(CLI_PRINCIPAL, { name: cmd.tokenName, role: cmd.role, orgId, ...(cmd.ttlSeconds !== undefined ? { ttlSeconds: cmd.ttlSeconds } : {}) });
  io.stdout.write(JSON.stringify({ id: created.id, name: created.name, role: created.role, orgId: created.orgId, expiresAt: created.expiresAt, token: created.token }) + '\n');
  io.stderr.write('The token is shown only now: keep it somewhere safe.\n');
}

/** One line describing a failure: never a value, every problem of a refused bundle with its row. */
export function describeFailure(err: unknown): string {
  if (err instanceof AppError) {
    let line = `${err.code}: ${err.message}`;
    if (Array.isArray(err.details) && err.details.length > 0) {
      line += ': ' + (err.details as ImportProblem[]).map((p) => `${p.row === null ? 'bundle' : `row ${p.row}`}${p.key ? ` (${p.key})` : ''}: ${p.code} ${p.message}`).join('; ');
    }
    return line;
  }
  if (err instanceof EnvError || err instanceof KeyMismatchError || err instanceof StrandedSecretsError || err instanceof UsageError || err instanceof IncompleteRotation) return err.message;
  if (isDatabaseBusy(err)) {
    return `DATABASE_BUSY: another process (the service?) held the SQLite database's write lock for ${CLI_LOCK_WAIT_MS / 1000} s or more; the step that waited wrote nothing: run the command again`;
  }
  const message = err instanceof Error ? err.message : String(err);
  return message || 'unexpected error';
}

/** Runs one command; returns the exit code. */
export async function run(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  let cmd: Command;
  try {
    cmd = parseCommand(argv);
  } catch (err) {
    io.stderr.write(`bifrost: ${describeFailure(err)} (bifrost help for usage)\n`);
    return 2;
  }
  if (cmd.name === 'help') {
    io.stdout.write(USAGE + '\n');
    return 0;
  }
  const label = cmd.name === 'tokens-create' ? 'tokens create' : cmd.name;
  let ctx: CliContext | null = null;
  try {
    // Only `migrate` (or the server) may create a database or a development key.
    const env: AppEnv = loadEnv(io.env, { createDevelopmentKey: cmd.name === 'migrate' });
    // Temp folders left by killed processes of this service on this machine (never a live one's).
    await sweepTempDirs();
    if (cmd.name === 'migrate') {
      const ran = await migrate(env);
      io.stderr.write(ran.length ? `applied ${ran.length} migration(s): ${ran.join(', ')}\n` : 'the schema is up to date\n');
      return 0;
    }
    // rotate-key makes its own census (it is what repairs an incomplete rotation).
    const opened = await openCli(env, { checkKeys: cmd.name !== 'tokens-create' && cmd.name !== 'rotate-key' });
    ctx = opened;
    // Every audit entry of this run names the actor `cli` and carries one request id.
    await runWithContext({ requestId: `cli-${randomUUID()}`, ip: null, userAgent: `bifrost-cli ${label}`.slice(0, 255), method: 'CLI', path: label, principal: CLI_PRINCIPAL }, async () => {
      if (cmd.name === 'export') await runExport(opened, cmd, io);
      else if (cmd.name === 'import') await runImport(opened, cmd, io);
      else if (cmd.name === 'rotate-key') await runRotate(opened, cmd, io);
      else if (cmd.name === 'tokens-create') await runTokensCreate(opened, cmd, io);
      else if (cmd.name === 'scan') await runScan(opened, cmd, io);
    });
    return 0;
  } catch (err) {
    io.stderr.write(`bifrost ${label}: ${describeFailure(err).replace(/\s*\n\s*/g, ' ')}\n`);
    return err instanceof UsageError ? 2 : 1;
  } finally {
    await ctx?.close().catch(() => undefined);
  }
}

if (require.main === module) {
  run(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`bifrost: ${describeFailure(err).replace(/\s*\n\s*/g, ' ')}\n`);
      process.exitCode = 1;
    },
  );
}
