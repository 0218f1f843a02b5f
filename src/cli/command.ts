import { once } from 'node:events';
import type { AppEnv } from '../common/env';
import type { CliContext } from './cli-context';

/** A usage mistake: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptionSpec {
  /** The long name, without `--`. */
  name: string;
  short?: string;
  type: 'string' | 'boolean';
  /** What a string option's value is, for the help text (FILE, N, ORG). */
  value?: string;
  help: string;
}

export type OptionValues = Record<string, string | boolean | undefined>;

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

/** What a running command is given. */
export interface CommandRun {
  env: AppEnv;
  /** The services on the database (commands with `services: true`). */
  services: CliContext;
  io: Io;
  /** `--json`: the command's result is one JSON document on stdout, and nothing else is. */
  json: boolean;
  /**
   * The command's result on stdout: with --json the document; without, `text` when given, else the
   * document as one JSON line (what import, rotate-key and tokens create have always printed).
   */
  result(doc: unknown, text?: string): void;
  /** A line for the person at the terminal: stderr, in both modes. */
  say(line: string): void;
}

/**
 * One `bifrost` subcommand. Its file exports it and `commands/index.ts` lists it: the parser, the
 * help texts and `--json` come from here, so a new command is a file and one line in that list.
 */
export interface CliCommand<A = unknown> {
  /** The words that call it: `export`, `tokens create`. */
  name: string;
  /** One line for `bifrost --help`. */
  summary: string;
  /** Positional arguments, for the usage line (`FILE`); all required. */
  args?: string[];
  options: OptionSpec[];
  /** More of `bifrost <command> --help`, after the options. */
  details?: string;
  /**
   * Opens the database and builds the services first (false: the command gets the environment only,
   * as `migrate` does). Only a command with `createsDatabase` may create a database or a key.
   */
  services: boolean;
  createsDatabase?: boolean;
  /** Checks the keys against the stored secrets before running, as the server does at start-up. */
  checkKeys?: boolean;
  /** Checks and converts the parsed options; throws UsageError. */
  parse(values: OptionValues, args: string[]): A;
  run(args: A, c: CommandRun): Promise<void>;
}

export const defineCommand = <A>(command: CliCommand<A>): CliCommand<A> => command;

/** Options every command has. */
export const COMMON_OPTIONS: OptionSpec[] = [
  { name: 'json', type: 'boolean', help: 'print the result (or the failure) as one JSON document on stdout' },
  { name: 'help', short: 'h', type: 'boolean', help: 'show this help' },
];

function optionLabel(o: OptionSpec): string {
  const long = `--${o.name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
  return o.short ? `-${o.short}, ${long}` : `    ${long}`;
}

/** Two columns, the second wrapped at about 100 characters. */
export function columns(rows: [string, string][], indent = 2): string {
  const width = Math.min(28, Math.max(...rows.map(([l]) => l.length)) + 2);
  return rows
    .map(([label, text]) => {
      const pad = ' '.repeat(indent);
      const lines: string[] = [];
      let line = '';
      for (const word of text.split(' ')) {
        if (line && line.length + word.length + 1 > 100 - width - indent) {
          lines.push(line);
          line = word;
        } else line = line ? `${line} ${word}` : word;
      }
      lines.push(line);
      const first = label.length + 2 > width ? [`${pad}${label}`, ...lines.map((l) => pad + ' '.repeat(width) + l)] : [`${pad}${label.padEnd(width)}${lines[0]}`, ...lines.slice(1).map((l) => pad + ' '.repeat(width) + l)];
      return first.join('\n');
    })
    .join('\n');
}

export function usageLine(c: CliCommand): string {
  return `bifrost ${c.name}${(c.args ?? []).map((a) => ` ${a}`).join('')} [options]`;
}

/** `bifrost <command> --help`. */
export function commandHelp(c: CliCommand): string {
  const options = [...c.options, ...COMMON_OPTIONS];
  return [`Usage: ${usageLine(c)}`, '', c.summary, '', 'Options:', columns(options.map((o) => [optionLabel(o), o.help])), ...(c.details ? ['', c.details] : [])].join('\n');
}

/** A failure the command describes itself: its message is the line shown, `code` its --json code. */
export class CommandFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CommandFailure';
  }
}

/** Writes a chunk, waiting for the stream to drain when its buffer is full. */
export async function write(stream: NodeJS.WritableStream, chunk: string): Promise<void> {
  if (!stream.write(chunk)) await once(stream, 'drain');
}

/**
 * An org named on the command line, by id or, failing that, by name: the CLI's user knows orgs by
 * name (bundles, the client name them); an id is taken first, so an org can never be shadowed by
 * another whose name is that id.
 */
export async function orgIdOf(services: CliContext, ref: string, option: string, hint = ''): Promise<string> {
  const org = await services.orgs.findByIdOrName(ref);
  if (!org) throw new UsageError(`${option}: no org with the id or name "${ref}"${hint}`);
  return org.id;
}
