import { parseArgs } from 'node:util';
import { CLI_PRINCIPAL } from '../auth/roles';
import { ScanService } from '../leaks/scan.service';
import type { CliContext } from './cli-context';

/** `bifrost scan`: its usage lines, for the CLI's help. */
export const SCAN_USAGE = `  scan [--scope global|ORG_ID] [--json]
      List the plain (non-secret) configs that look like credentials, by scope, key and detector
      (never a value). Exit code 1 when any is found. --json: the list as one JSON document.`;

export interface ScanCommand {
  name: 'scan';
  scope?: string;
  json: boolean;
}

/** Parses the arguments after `scan`; `usage` builds the CLI's usage error. */
export function parseScan(args: string[], usage: (message: string) => Error): ScanCommand {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { scope: { type: 'string' }, json: { type: 'boolean' } }, allowPositionals: false, strict: true });
  } catch (err) {
    throw usage((err as Error).message.split('\n')[0]);
  }
  return { name: 'scan', ...(parsed.values.scope !== undefined ? { scope: parsed.values.scope } : {}), json: !!parsed.values.json };
}

/** Findings were listed: exit code 1 (the CLI prints this message as its last line). */
export class LeaksFound extends Error {}

export async function runScan(ctx: CliContext, cmd: ScanCommand, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): Promise<void> {
  const result = await new ScanService(ctx.dataSource, ctx.audit).scan(CLI_PRINCIPAL, cmd.scope);
  if (cmd.json) io.stdout.write(JSON.stringify(result) + '\n');
  else for (const f of result.items) io.stdout.write(`${f.scope}\t${f.key}\t${f.type}\t${f.detector}\n`);
  const more = result.truncated ? ` (the first ${result.items.length} are listed)` : '';
  const summary = `${result.found} of ${result.scanned} plain configs look like credentials${more}`;
  if (result.found > 0) throw new LeaksFound(`${summary}: store each as a secret (PUT with type secret), or leave it`);
  io.stderr.write(summary + '\n');
}
