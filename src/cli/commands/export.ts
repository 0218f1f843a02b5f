import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { CLI_PRINCIPAL } from '../../auth/roles';
import type { CliContext } from '../cli-context';
import { defineCommand, orgIdOf, UsageError, write } from '../command';

const PROGRESS_EVERY = 10_000;

/** `--scope`: all, global, or an org by id or by name (orgIdOf). */
export async function resolveScope(services: CliContext, scope: string | undefined): Promise<string | undefined> {
  if (scope === undefined || scope === 'all' || scope === 'global') return scope;
  return orgIdOf(services, scope, '--scope', " (all, global, or an org's id or name)");
}

export const exportCommand = defineCommand({
  name: 'export',
  summary: 'Write a bundle of the configs: portable (secrets without values) by default, or a backup (with their Fernet tokens).',
  options: [
    { name: 'portable', type: 'boolean', help: 'secrets without their values (the default)' },
    { name: 'backup', type: 'boolean', help: 'secrets with their Fernet tokens, for a restore under the same key' },
    { name: 'scope', type: 'string', value: 'SCOPE', help: "all (the default), global, or an org's id or name" },
    { name: 'output', short: 'o', type: 'string', value: 'FILE', help: 'write the bundle to FILE (readable by its owner only) instead of stdout' },
  ],
  details: 'With --json (which needs -o: without it the bundle itself is the JSON on stdout) the summary is {"configs": N, "mode": "portable"|"backup", "scope": ..., "file": ...}.',
  services: true,
  checkKeys: true,
  parse(values) {
    if (values.portable && values.backup) throw new UsageError('--portable and --backup exclude each other');
    if (values.json && !values.output) throw new UsageError('--json needs -o FILE: without it the bundle itself is the JSON document on stdout');
    return { portable: !values.backup, scope: values.scope as string | undefined, output: values.output as string | undefined };
  },
  async run(cmd, c) {
    const scope = await resolveScope(c.services, cmd.scope);
    let out: NodeJS.WritableStream = c.io.stdout;
    let file: WriteStream | null = null;
    if (cmd.output) {
      // A backup holds every secret's ciphertext: readable by its owner only.
      file = createWriteStream(cmd.output, { mode: 0o600 });
      await once(file, 'open');
      out = file;
    }
    let reported = 0;
    const { configs } = await c.services.exports.export(CLI_PRINCIPAL, { portable: cmd.portable, scope }, (chunk) => write(out, chunk), {
      onProgress: (n) => {
        if (n - reported >= PROGRESS_EVERY) {
          reported = n;
          c.say(`exported ${n} configs...`);
        }
      },
    });
    if (file) {
      file.end();
      await once(file, 'finish');
    }
    const mode = cmd.portable ? 'portable' : 'backup';
    c.say(`exported ${configs} configs (${mode})${cmd.output ? ` to ${cmd.output}` : ''}`);
    if (c.json) c.result({ configs, mode, scope: scope ?? 'all', file: cmd.output });
  },
});
