import { CLI_PRINCIPAL } from '../../auth/roles';
import type { KeyCensus, StoredSecretPlace } from '../../crypto/startup-key-check';
import { CommandFailure, defineCommand, UsageError } from '../command';

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

export const rotateKeyCommand = defineCommand({
  name: 'rotate-key',
  summary: 'Re-encrypt every secret under BIFROST_SECRET_KEY (old keys in BIFROST_SECRET_KEY_PREVIOUS); safe while the service runs, resumable.',
  options: [
    { name: 'batch-size', type: 'string', value: 'N', help: 'secrets re-encrypted per transaction (1 to 99999)' },
    { name: 'status', type: 'boolean', help: 'only count the secrets by the key they are under and list those no configured key opens (exit code 1 while a rotation is incomplete)' },
  ],
  details: 'A run that was stopped is resumed by running it again. The counts are printed on stdout as one JSON line.',
  services: true,
  // Its own census is what repairs an incomplete rotation.
  checkKeys: false,
  parse(values) {
    const raw = values['batch-size'] as string | undefined;
    if (raw !== undefined && !/^[1-9]\d{0,4}$/.test(raw)) throw new UsageError('--batch-size must be an integer from 1 to 99999');
    return { batchSize: raw === undefined ? undefined : Number(raw), status: !!values.status };
  },
  async run(cmd, c) {
    const rotation = c.services.rotation;
    const before = await rotation.status();
    // The wrong BIFROST_SECRET_KEY altogether: nothing would be re-encrypted.
    if (before.unknown > 0 && before.current + before.previous === 0) {
      const { KeyMismatchError } = await import('../../crypto/startup-key-check');
      throw new KeyMismatchError(before.total);
    }
    if (cmd.status) {
      const complete = before.previous + before.unknown === 0;
      c.result({ total: before.total, current: before.current, previous: before.previous, unknown: before.unknown, unknownKeyIds: before.unknownKeyIds, stranded: before.stranded, complete });
      c.say(describeCensus(before));
      if (!complete) throw new CommandFailure('ROTATION_INCOMPLETE', before.unknown > 0 ? 'incomplete: some secrets are under no configured key' : 'incomplete: run `bifrost rotate-key`');
      return;
    }
    c.say(describeCensus(before) + (before.current > 0 && before.previous > 0 ? '; an earlier rotation did not finish: resuming it' : ''));
    let lastBatches = 0;
    const report = await rotation.rotate({
      batchSize: cmd.batchSize,
      actor: CLI_PRINCIPAL,
      onProgress: (r) => {
        if (r.batches - lastBatches >= 10) {
          lastBatches = r.batches;
          c.say(`re-encrypted ${r.reencrypted}, already current ${r.alreadyCurrent}, failed ${r.failed}...`);
        }
      },
    });
    const { failures, ...counts } = report;
    c.result(counts);
    c.say(`re-encrypted ${report.reencrypted}, already current ${report.alreadyCurrent}, failed ${report.failed}`);
    if (report.failed > 0) {
      throw new CommandFailure('DECRYPTION_FAILED', `${report.failed} secret(s) cannot be decrypted with BIFROST_SECRET_KEY or BIFROST_SECRET_KEY_PREVIOUS and were left as they are: ${places(failures)}`);
    }
  },
});
