import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { CLI_PRINCIPAL } from '../../auth/roles';
import { defineCommand, UsageError } from '../command';

const PROGRESS_EVERY = 10_000;

export const importCommand = defineCommand({
  name: 'import',
  summary: 'Import a bundle or a Bifrost configs export, all or nothing.',
  args: ['FILE'],
  options: [
    { name: 'dry-run', type: 'boolean', help: 'check everything and count what would change; write nothing' },
    { name: 'on-conflict', type: 'string', value: 'skip|overwrite', help: 'what to do with a key that exists (default: skip)' },
    { name: 'create-orgs', type: 'boolean', help: 'create the orgs the bundle names that do not exist here' },
    { name: 'allow-secret-like-values', type: 'boolean', help: 'keep plain rows that look like credentials (refused as LOOKS_LIKE_A_SECRET otherwise)' },
  ],
  details:
    'A bundle from another deployment is either wrapped in the file as {"bundle": ..., "sourceSecretKey": "..."} or its key is\n' +
    'given in BIFROST_SOURCE_SECRET_KEY. The result ({"created", "updated", "skipped", "secretsNeedingValue", "errors"}) is\n' +
    'printed on stdout as one JSON line; a refused bundle lists its problems one a line (the first 50; --json gives them all).',
  services: true,
  checkKeys: true,
  parse(values, args) {
    if (args.length !== 1) throw new UsageError('import needs the bundle FILE');
    const onConflict = (values['on-conflict'] as string | undefined) ?? 'skip';
    if (onConflict !== 'skip' && onConflict !== 'overwrite') throw new UsageError('--on-conflict must be skip or overwrite');
    return { file: args[0], dryRun: !!values['dry-run'], onConflict: onConflict as 'skip' | 'overwrite', createOrgs: !!values['create-orgs'], ...(values['allow-secret-like-values'] ? { allowSecretLikeValues: true } : {}) };
  },
  async run(cmd, c) {
    await stat(cmd.file).catch(() => {
      throw new UsageError(`cannot read ${cmd.file}`);
    });
    let reported = 0;
    const sourceSecretKey = c.io.env.BIFROST_SOURCE_SECRET_KEY || undefined;
    const result = await c.services.imports.import(
      CLI_PRINCIPAL,
      () => createReadStream(cmd.file, { highWaterMark: 64 * 1024 }),
      { dryRun: cmd.dryRun, onConflict: cmd.onConflict, createOrgs: cmd.createOrgs, sourceSecretKey, allowSecretLikeValues: cmd.allowSecretLikeValues },
      (p) => {
        if (p.rows - reported >= PROGRESS_EVERY || (p.phase === 'write' && reported > p.rows)) {
          reported = p.rows;
          c.say(`${p.phase === 'validate' ? 'checked' : cmd.dryRun ? 'counted' : 'imported'} ${p.rows} configs...`);
        }
      },
    );
    c.result(result);
    c.say(
      `${cmd.dryRun ? 'dry run: would create' : 'created'} ${result.created}, ${cmd.dryRun ? 'update' : 'updated'} ${result.updated}, ${cmd.dryRun ? 'skip' : 'skipped'} ${result.skipped}; ` +
        `${result.secretsNeedingValue.length} secret(s) need a value`,
    );
  },
});
