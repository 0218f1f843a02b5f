#!/usr/bin/env node
/**
 * `bifrost`: the subcommands of commands/index.ts, on the server's own database settings
 * (DATABASE_URL, BIFROST_SECRET_KEY, BIFROST_SECRET_KEY_PREVIOUS, ...), audited as actor `cli`.
 * Results go to stdout, progress to stderr; a failure is one line on stderr (a refused bundle's
 * problems one a line after it) and a non-zero exit; with --json, stdout holds one JSON document.
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CLI_PRINCIPAL } from '../auth/roles';
import { AppEnv, loadEnv } from '../common/env';
import { runWithContext } from '../common/request-context';
import { sweepTempDirs } from '../common/temp-dir';
import type { CliContext } from './cli-context';
import { CliCommand, columns, COMMON_OPTIONS, commandHelp, CommandRun, Io, OptionValues, UsageError } from './command';
import { COMMANDS } from './commands';

export { UsageError } from './command';
export type { Io } from './command';

// The services and the failure descriptions load the whole server (about a second): only a command
// that runs needs them, never --help, --version or a usage error.
const loadServices = () => import('./cli-context');
const output = () => import('./output');

/** The package's version (dist/cli and src/cli are both two folders below package.json). */
export const VERSION: string = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')).version;

/** `bifrost --help`, or the help of the commands under a first word (`bifrost tokens --help`). */
export function usage(commands: CliCommand[] = COMMANDS, group?: string): string {
  const shown = group ? commands.filter((c) => c.name.startsWith(`${group} `)) : commands;
  return [
    `Usage: bifrost ${group ?? '<command>'} ${group ? '<subcommand> ' : ''}[options]`,
    '',
    'Commands:',
    columns(shown.map((c) => [c.name, c.summary])),
    '',
    'Options of every command:',
    columns([...COMMON_OPTIONS.map((o): [string, string] => [`${o.short ? `-${o.short}, ` : ''}--${o.name}`, o.help]), ['--version', 'print the version of bifrost (bifrost --version)']]),
    '',
    `bifrost <command> --help shows a command's options. The database and keys come from the same variables as the server`,
    '(DATABASE_URL, BIFROST_SECRET_KEY, ...); only `bifrost migrate` may create a database or a development key.',
  ].join('\n');
}

export type Parsed =
  | { name: 'help'; text: string }
  | { name: 'version' }
  | { name: 'command'; command: CliCommand; args: unknown; json: boolean };

/** The longest command whose words begin the line. */
const findCommand = (argv: string[], commands: CliCommand[]): CliCommand | undefined =>
  commands.filter((c) => c.name.split(' ').every((w, i) => argv[i] === w)).sort((a, b) => b.name.length - a.name.length)[0];

const isHelp = (a: string | undefined) => a === '--help' || a === '-h';

/** Parses the command line (without `node` and the script). */
export function parseCommand(argv: string[], commands: CliCommand[] = COMMANDS): Parsed {
  const [first] = argv;
  if (first === undefined || first === 'help' || isHelp(first)) {
    // `bifrost help export` is `bifrost export --help`.
    if (first === 'help' && argv.length > 1) return parseCommand([...argv.slice(1), '--help'], commands);
    return { name: 'help', text: usage(commands) };
  }
  if (first === '--version' || first === '-V' || first === 'version') return { name: 'version' };
  const command = findCommand(argv, commands);
  if (!command) {
    const group = commands.filter((c) => c.name.startsWith(`${first} `));
    if (group.length > 0) {
      if (isHelp(argv[1])) return { name: 'help', text: usage(commands, first) };
      throw new UsageError(`the ${first} commands are ${group.map((c) => `"${c.name}"`).join(', ')}`);
    }
    throw new UsageError(`unknown command "${first}"`);
  }
  const rest = argv.slice(command.name.split(' ').length);
  const end = rest.indexOf('--');
  if ((end === -1 ? rest : rest.slice(0, end)).some(isHelp)) return { name: 'help', text: commandHelp(command) };
  const options = Object.fromEntries([...command.options, ...COMMON_OPTIONS].map((o) => [o.name, { type: o.type, ...(o.short ? { short: o.short } : {}) }]));
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (err) {
    // Node's message goes on to explain `--`; its first sentence is the mistake.
    throw new UsageError((err as Error).message.split('\n')[0].replace(/\. To specify a positional argument.*$/, ''));
  }
  const wanted = command.args?.length ?? 0;
  if (parsed.positionals.length > wanted) throw new UsageError(`unexpected argument "${parsed.positionals[wanted]}"`);
  const values = parsed.values as OptionValues;
  return { name: 'command', command, args: command.parse(values, parsed.positionals), json: !!values.json };
}

/** Runs one command line; returns the exit code. */
export async function run(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr, env: process.env }, commands: CliCommand[] = COMMANDS): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseCommand(argv, commands);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    if (argv.includes('--json')) io.stdout.write(JSON.stringify({ error: { code: 'USAGE', message: err.message } }) + '\n');
    const command = findCommand(argv, commands);
    io.stderr.write(`bifrost${command ? ` ${command.name}` : ''}: ${err.message} (bifrost ${command ? `${command.name} ` : ''}--help for usage)\n`);
    return 2;
  }
  if (parsed.name === 'help') {
    io.stdout.write(parsed.text + '\n');
    return 0;
  }
  if (parsed.name === 'version') {
    io.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const { command, args, json } = parsed;
  let opened: CliContext | null = null;
  let wrote = false;
  const c: Omit<CommandRun, 'env' | 'services'> = {
    io,
    json,
    result: (doc, text) => {
      wrote = true;
      io.stdout.write((json || text === undefined ? JSON.stringify(doc) : text) + '\n');
    },
    say: (line) => void io.stderr.write(line + '\n'),
  };
  try {
    // Only a command that creates the database (migrate; or the server) may create a development key.
    const env: AppEnv = loadEnv(io.env, { createDevelopmentKey: !!command.createsDatabase });
    // Temp folders left by killed processes of this service on this machine (never a live one's).
    await sweepTempDirs();
    if (command.services) opened = await (await loadServices()).openCli(env, { checkKeys: !!command.checkKeys });
    const ctx = opened;
    // Every audit entry of this run names the actor `cli` and carries one request id.
    await runWithContext({ requestId: `cli-${randomUUID()}`, ip: null, userAgent: `bifrost-cli ${command.name}`.slice(0, 255), method: 'CLI', path: command.name, principal: CLI_PRINCIPAL }, () =>
      command.run(args, {
        ...c,
        env,
        get services(): CliContext {
          if (!ctx) throw new Error(`${command.name} opens no services`);
          return ctx;
        },
      }),
    );
    return 0;
  } catch (err) {
    const { describeFailure, failureDocument, problemLines } = await output();
    // With --json, a failure is the document unless the command printed its result already.
    if (json && !wrote) io.stdout.write(JSON.stringify(failureDocument(err)) + '\n');
    io.stderr.write([`bifrost ${command.name}: ${describeFailure(err)}`, ...problemLines(err)].join('\n') + '\n');
    return err instanceof UsageError ? 2 : 1;
  } finally {
    await opened?.close().catch(() => undefined);
  }
}

if (require.main === module) {
  run(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    async (err) => {
      process.stderr.write(`bifrost: ${(await output()).describeFailure(err)}\n`);
      process.exitCode = 1;
    },
  );
}
