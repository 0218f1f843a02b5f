import { AppError } from '../common/errors';
import { isDatabaseBusy } from '../common/database';
import { EnvError } from '../common/env';
import { KeyMismatchError, StrandedSecretsError } from '../crypto/startup-key-check';
import type { ImportProblem } from '../export/bundle';
import { CLI_LOCK_WAIT_MS } from './cli-context';
import { CommandFailure, UsageError } from './command';

/** How many problems of a refused bundle are printed, one a line; --json gives them all. */
export const PROBLEM_LINES = 50;

/**
 * The service's words for the HTTP API's parameters, in the CLI's: a hint must name what the user
 * can type here.
 */
const CLI_WORDS: [RegExp, string][] = [
  [/\bcreateOrgs=true\b/g, '--create-orgs'],
  [/\bcreateOrgs\b/g, '--create-orgs'],
  [/\bonConflict=(skip|overwrite)\b/g, '--on-conflict $1'],
  [/\bdryRun=true\b/g, '--dry-run'],
  [/\bsend the bundle wrapped with its sourceSecretKey\b/g, 'wrap the bundle as {"bundle": ..., "sourceSecretKey": "..."} or set BIFROST_SOURCE_SECRET_KEY'],
];

export const inCliWords = (text: string) => CLI_WORDS.reduce((t, [from, to]) => t.replace(from, to), text);

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ');

/** The problems an error carries (a refused bundle's), or none. */
export function problemsOf(err: unknown): ImportProblem[] {
  return err instanceof AppError && Array.isArray(err.details) ? (err.details as ImportProblem[]) : [];
}

export const problemLine = (p: ImportProblem) => inCliWords(oneLine(`${p.row === null ? 'bundle' : `row ${p.row}`}${p.key ? ` (${p.key})` : ''}: ${p.code} ${p.message}`));

/** The failure's code for --json. */
export function codeOf(err: unknown): string {
  if (err instanceof AppError || err instanceof CommandFailure) return err.code;
  if (err instanceof UsageError) return 'USAGE';
  if (err instanceof EnvError) return 'INVALID_ENVIRONMENT';
  if (err instanceof KeyMismatchError) return 'KEY_MISMATCH';
  if (err instanceof StrandedSecretsError) return 'STRANDED_SECRETS';
  if (isDatabaseBusy(err)) return 'DATABASE_BUSY';
  return 'ERROR';
}

/** One line describing a failure, never a value; a refused bundle's problems are problemLines'. */
export function describeFailure(err: unknown): string {
  if (err instanceof AppError) return inCliWords(oneLine(`${err.code}: ${err.message}`));
  if (err instanceof EnvError || err instanceof KeyMismatchError || err instanceof StrandedSecretsError || err instanceof UsageError || err instanceof CommandFailure) {
    return oneLine(err.message);
  }
  if (isDatabaseBusy(err)) {
    return `DATABASE_BUSY: another process (the service?) held the SQLite database's write lock for ${CLI_LOCK_WAIT_MS / 1000} s or more; the step that waited wrote nothing: run the command again`;
  }
  const message = err instanceof Error ? err.message : String(err);
  return oneLine(message) || 'unexpected error';
}

/** A refused bundle's problems, one a line, the first `cap` of them, then how many there are in all. */
export function problemLines(err: unknown, cap = PROBLEM_LINES): string[] {
  const problems = problemsOf(err);
  const lines = problems.slice(0, cap).map((p) => `  ${problemLine(p)}`);
  if (problems.length > cap) lines.push(`  ... and ${problems.length - cap} more (${problems.length} problems in all; --json lists every one)`);
  return lines;
}

/** The --json document of a failure. */
export function failureDocument(err: unknown): { error: { code: string; message: string; problemCount?: number; problems?: ImportProblem[] } } {
  const problems = problemsOf(err);
  return {
    error: {
      code: codeOf(err),
      message: describeFailure(err),
      ...(problems.length > 0 ? { problemCount: problems.length, problems: problems.map((p) => ({ ...p, message: inCliWords(oneLine(p.message)) })) } : {}),
    },
  };
}
