import { Readable } from 'node:stream';
import { Slots } from '../common/slots';

/**
 * Exports in flight at once, per principal and in all. On MySQL each holds a pool connection and a
 * REPEATABLE READ transaction for as long as its client takes to read the bundle: four of the
 * pool's twenty at most, so exports can never starve the requests around them.
 */
export const MAX_EXPORTS_PER_PRINCIPAL = 2;
export const MAX_EXPORTS = 4;
export const EXPORT_RETRY_AFTER = 5;

/** 429 TOO_MANY_EXPORTS for a principal over its share, 503 EXPORTS_BUSY once every slot is taken. */
export class ExportSlots extends Slots {
  constructor(perPrincipal = MAX_EXPORTS_PER_PRINCIPAL, max = MAX_EXPORTS) {
    super(perPrincipal, max, { tooMany: 'TOO_MANY_EXPORTS', busy: 'EXPORTS_BUSY', noun: 'exports', retryAfter: EXPORT_RETRY_AFTER });
  }
}

export class ExportStalledError extends Error {
  constructor(idleMs: number) {
    super(`The client read nothing of the export for ${Math.round(idleMs / 1000)} s`);
    this.name = 'ExportStalledError';
  }
}

/**
 * The bundle's chunks as a byte stream that gives up on a client that stops reading: once a chunk
 * is waiting in a full buffer and nothing more is asked of the stream for `idleMs`, the stream is
 * destroyed with ExportStalledError, so the response is cut off. However it ends (done, stalled,
 * the client gone), the generator is closed (its snapshot released, an interrupted export audited)
 * and then `onClosed` runs, once. Waiting on the database is not idleness: only the reader's part
 * is timed.
 */
export function exportStream(chunks: AsyncGenerator<string, unknown>, idleMs: number, onClosed: () => void): Readable {
  let idle: NodeJS.Timeout | undefined;
  let pulling = false;
  const stream = new Readable({
    read() {
      clearTimeout(idle);
      idle = undefined;
      if (pulling) return;
      pulling = true;
      chunks.next().then(
        (next) => {
          pulling = false;
          if (stream.destroyed) return;
          if (next.done) {
            stream.push(null);
            return;
          }
          // false: the buffer is full and the reader has to take it before read() comes again.
          if (!stream.push(next.value)) idle = setTimeout(() => stream.destroy(new ExportStalledError(idleMs)), idleMs);
        },
        (err: unknown) => {
          pulling = false;
          stream.destroy(err as Error);
        },
      );
    },
    destroy(err, callback) {
      clearTimeout(idle);
      chunks.return(undefined).then(
        () => callback(err),
        (closeErr: unknown) => callback(err ?? (closeErr as Error)),
      );
    },
  });
  let closed = false;
  stream.once('close', () => {
    if (closed) return;
    closed = true;
    onClosed();
  });
  return stream;
}
