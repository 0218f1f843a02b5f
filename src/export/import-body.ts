import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { HttpStatus } from '@nestjs/common';
import { AppError, badRequest } from '../common/errors';
import { Slots } from '../common/slots';
import { makeTempDir } from '../common/temp-dir';
import type { BundleSource } from './import.service';

/** Largest import body accepted: about 1.5 million configs of typical size. */
export const MAX_IMPORT_BYTES = 512 * 1024 * 1024;

/** Bodies up to this size stay in memory; larger ones are spooled to a private temp file. */
export const IN_MEMORY_BYTES = 8 * 1024 * 1024;

const CHUNK = 64 * 1024;

/** A body that sends nothing for this long is given up (408), so a stalled upload cannot hold a slot. */
export const IMPORT_IDLE_MS = 30_000;

/** Imports in flight (reading their body, or importing it) at once, per principal and in all. */
export const MAX_IMPORTS_PER_PRINCIPAL = 2;
export const MAX_IMPORTS = 4;
/** Seconds a refused import is told to wait (Retry-After). */
export const IMPORT_RETRY_AFTER = 5;

/**
 * The import slots of this process. A slot is taken before the first byte of a body is read and
 * given back once the import is done (its spool file removed), so at most MAX_IMPORTS bodies (each
 * up to MAX_IMPORT_BYTES of temp disk, IN_MEMORY_BYTES of memory) exist at once, and one principal
 * holds at most MAX_IMPORTS_PER_PRINCIPAL of them: 429 TOO_MANY_IMPORTS for that principal, 503
 * IMPORTS_BUSY for everyone once all are taken, both with a Retry-After.
 */
export class ImportSlots extends Slots {
  constructor(perPrincipal = MAX_IMPORTS_PER_PRINCIPAL, max = MAX_IMPORTS) {
    super(perPrincipal, max, { tooMany: 'TOO_MANY_IMPORTS', busy: 'IMPORTS_BUSY', noun: 'imports', retryAfter: IMPORT_RETRY_AFTER });
  }
}

export interface SpooledBody {
  source: BundleSource;
  bytes: number;
  /** The temp file holding the body, when it was too large to keep in memory. */
  file?: string;
  dispose(): Promise<void>;
}

/**
 * Reads a request body so it can be scanned several times: in memory when small, else in a temp
 * file (mode 0600, removed by dispose()). Memory stays bounded by IN_MEMORY_BYTES either way.
 * The file is encrypted (AES-256-CTR) under a key that exists only in this process's memory: a
 * bundle can carry another deployment's `sourceSecretKey`, and a crash that leaves the file behind
 * must not leave that key, or anything else of the body, readable on disk. The folder is one of
 * the service's own temp folders (temp-dir.ts): one a SIGKILL leaves behind is removed at the next start.
 */
export async function spoolBody(
  body: AsyncIterable<Buffer> | undefined,
  headers: Record<string, string | string[] | undefined>,
  maxBytes = MAX_IMPORT_BYTES,
  inMemoryBytes = IN_MEMORY_BYTES,
  idleMs = IMPORT_IDLE_MS,
): Promise<SpooledBody> {
  const encoding = String(headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') throw new AppError(HttpStatus.UNSUPPORTED_MEDIA_TYPE, 'UNSUPPORTED_ENCODING', 'Send the bundle without Content-Encoding');
  const declared = Number(headers['content-length'] ?? NaN);
  if (declared > maxBytes) throw tooLarge(maxBytes);

  const memory: Buffer[] = [];
  const key = randomBytes(32);
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  let bytes = 0;
  let dir: string | null = null;
  let file: FileHandle | null = null;
  const dispose = async () => {
    await file?.close().catch(() => undefined);
    file = null;
    if (dir) await rm(dir, { recursive: true, force: true });
  };
  const chunks: AsyncIterator<Buffer> = (body ?? (async function* () {})())[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await withIdleLimit(chunks, idleMs);
      if (next.done) break;
      const chunk = next.value;
      bytes += chunk.length;
      if (bytes > maxBytes) throw tooLarge(maxBytes);
      if (!file && bytes <= inMemoryBytes) {
        memory.push(chunk);
        continue;
      }
      if (!file) {
        dir = await makeTempDir('import');
        file = await open(join(dir, 'body.json'), 'w', 0o600);
        for (const m of memory.splice(0)) await file.write(cipher.update(m));
      }
      await file.write(cipher.update(chunk));
    }
  } catch (err) {
    // Stop reading (a Readable is destroyed by return()); a refused body is not read to its end.
    await Promise.resolve(chunks.return?.()).catch(() => undefined);
    await dispose();
    if (err instanceof AppError) throw err;
    throw badRequest('REQUEST_ABORTED', 'The request body could not be read');
  }
  if (file) {
    await (file as FileHandle).close();
    file = null;
    const path = join(dir!, 'body.json');
    // pipeline, not pipe: a read error reaches the scanner instead of leaving it waiting.
    const source = () => pipeline(createReadStream(path, { highWaterMark: CHUNK }), createDecipheriv('aes-256-ctr', key, iv), () => undefined);
    return { bytes, file: path, source, dispose };
  }
  const whole = Buffer.concat(memory);
  return {
    bytes,
    source: async function* () {
      for (let i = 0; i < whole.length; i += CHUNK) yield whole.subarray(i, i + CHUNK);
    },
    dispose,
  };
}

/** The next chunk, or 408 when none comes within `idleMs`. */
async function withIdleLimit(chunks: AsyncIterator<Buffer>, idleMs: number): Promise<IteratorResult<Buffer>> {
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AppError(HttpStatus.REQUEST_TIMEOUT, 'IMPORT_BODY_STALLED', `No part of the body arrived for ${Math.round(idleMs / 1000)} s`)), idleMs);
  });
  try {
    return await Promise.race([chunks.next(), idle]);
  } finally {
    clearTimeout(timer);
  }
}

const tooLarge = (max: number) => new AppError(HttpStatus.PAYLOAD_TOO_LARGE, 'PAYLOAD_TOO_LARGE', `An import body may be at most ${Math.round(max / 1024 / 1024)} MiB`);
