import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { HttpStatus } from '@nestjs/common';
import { AppError, badRequest } from '../common/errors';
import type { BundleSource } from './import.service';

/** Largest import body accepted: about 1.5 million configs of typical size. */
export const MAX_IMPORT_BYTES = 512 * 1024 * 1024;

/** Bodies up to this size stay in memory; larger ones are spooled to a private temp file. */
export const IN_MEMORY_BYTES = 8 * 1024 * 1024;

const CHUNK = 64 * 1024;

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
 * must not leave that key, or anything else of the body, readable on disk.
 */
export async function spoolBody(
  body: AsyncIterable<Buffer> | undefined,
  headers: Record<string, string | string[] | undefined>,
  maxBytes = MAX_IMPORT_BYTES,
  inMemoryBytes = IN_MEMORY_BYTES,
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
  try {
    for await (const chunk of body ?? []) {
      bytes += chunk.length;
      if (bytes > maxBytes) throw tooLarge(maxBytes);
      if (!file && bytes <= inMemoryBytes) {
        memory.push(chunk);
        continue;
      }
      if (!file) {
        dir = await mkdtemp(join(tmpdir(), 'bifrost-import-'));
        file = await open(join(dir, 'body.json'), 'w', 0o600);
        for (const m of memory.splice(0)) await file.write(cipher.update(m));
      }
      await file.write(cipher.update(chunk));
    }
  } catch (err) {
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

const tooLarge = (max: number) => new AppError(HttpStatus.PAYLOAD_TOO_LARGE, 'PAYLOAD_TOO_LARGE', `An import body may be at most ${Math.round(max / 1024 / 1024)} MiB`);
