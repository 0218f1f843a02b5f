import { badRequest } from '../../common/errors';
import { BundleHeader, descendBundle, headerCollector, isRowPath, rowArrayPath } from '../bundle';
import { JsonSyntaxError, JsonValueTooLargeError, scanJson } from '../json-stream';
import { invalidBundle } from './problems';
import { IMPORT_BATCH } from './statements';
import type { BundleSource, RawRow } from './types';

/** The source is fed to the scanner at most this many bytes at a time, so a batch never overshoots by much. */
const SCAN_SLICE = 64 * 1024;

/** Pass 1: format, version, wrapping and key; rows are only counted. */
export async function readHeader(source: BundleSource): Promise<BundleHeader> {
  const { handlers, result } = headerCollector();
  await scan(source, handlers);
  return result();
}

/** Reads the document once, handing its rows to `fn` IMPORT_BATCH at a time (the last batch may be shorter). */
export async function forEachBatch(source: BundleSource, header: BundleHeader, fn: (batch: RawRow[]) => Promise<void>): Promise<void> {
  const rowsAt = rowArrayPath(header).join('\u0000');
  const pending: RawRow[] = [];
  const isOurRow = (path: readonly (string | number)[]) => isRowPath(path) && path.slice(0, -1).join('\u0000') === rowsAt;
  const sliced = async function* (): AsyncIterable<Buffer> {
    for await (const chunk of source()) {
      for (let i = 0; i < chunk.length; i += SCAN_SLICE) yield chunk.subarray(i, i + SCAN_SLICE);
    }
  };
  await scan(
    sliced,
    {
      descend: descendBundle,
      wants: isOurRow,
      value: (path, value) => {
        if (isOurRow(path)) pending.push({ row: path[path.length - 1] as number, raw: value });
      },
    },
    async () => {
      while (pending.length >= IMPORT_BATCH) await fn(pending.splice(0, IMPORT_BATCH));
    },
  );
  if (pending.length > 0) await fn(pending);
}

/** One streaming read of the document; its syntax and size errors become the import's 400s. */
async function scan(source: BundleSource, handlers: Parameters<typeof scanJson>[1], onChunk?: () => Promise<void>): Promise<void> {
  try {
    await scanJson(source(), handlers, onChunk);
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw badRequest('INVALID_JSON', err.message);
    if (err instanceof JsonValueTooLargeError) {
      const row = typeof err.path[err.path.length - 1] === 'number' ? (err.path[err.path.length - 1] as number) : null;
      throw invalidBundle([{ row, code: 'VALUE_TOO_LARGE', message: err.message }]);
    }
    throw err;
  }
}
