import { Cipher, createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream';
import { makeTempDir } from '../common/temp-dir';

/** About this many (scope, key) pairs per bucket: the most one bucket's Map holds when checked. */
export const BUCKET_ENTRIES = 4096;
/** Pairs buffered in memory (over all buckets) before they are appended to the buckets' files. */
const FLUSH_ENTRIES = 4096;
const MAX_BUCKETS = 4096;

export interface Duplicate {
  row: number;
  key: string;
  /** The row where the same scope and key appeared first. */
  first: number;
}

/**
 * Finds repeated (scope, key) pairs among a bundle's rows, exactly, in memory that does not grow
 * with the number of rows. Pairs are hash-partitioned into buckets, their number chosen from the
 * row count the header pass found so that a bucket holds about BUCKET_ENTRIES pairs; a bucket's
 * pairs are buffered and appended to its own temp file (a private directory, made only when more
 * than FLUSH_ENTRIES pairs arrive). Then each bucket is read back in row order and checked with a
 * Map of its pairs alone. The hash is salted per check, so a bundle cannot be crafted to pile its
 * keys into one bucket. dispose() removes the files; call it in a finally.
 *
 * The files hold org ids and config keys, so they are encrypted (AES-256-CTR, one stream per
 * bucket file, its own IV) under a key that exists only in this object: a process killed before
 * dispose() leaves nothing readable, and the folder (one of the service's own, see temp-dir.ts) is
 * removed at the next start.
 */
export class DuplicateCheck {
  private readonly buckets: number;
  private readonly salt = randomBytes(16);
  private readonly buffers: string[][];
  private buffered = 0;
  private dir: string | null = null;
  private readonly spilled = new Set<number>();
  /** The ephemeral file key, and each spilled bucket's IV and running cipher. */
  private readonly fileKey = randomBytes(32);
  private readonly ciphers = new Map<number, { iv: Buffer; cipher: Cipher; lines: number }>();

  constructor(expectedRows: number) {
    this.buckets = Math.min(MAX_BUCKETS, Math.max(1, Math.ceil(expectedRows / BUCKET_ENTRIES)));
    this.buffers = Array.from({ length: this.buckets }, () => []);
  }

  /** Notes a pair (rows must come in increasing order). Call flush() now and then (after each batch). */
  add(scope: string, key: string, row: number): void {
    const b = this.buckets === 1 ? 0 : this.bucketOf(scope, key);
    this.buffers[b].push(JSON.stringify([row, scope, key]));
    this.buffered++;
  }

  /** Appends the buffered pairs to their buckets' files once enough have piled up. */
  async flush(force = false): Promise<void> {
    if (this.buffered === 0 || (!force && this.buffered < FLUSH_ENTRIES)) return;
    this.dir ??= await makeTempDir('dups');
    for (let b = 0; b < this.buckets; b++) {
      const lines = this.buffers[b];
      if (lines.length === 0) continue;
      let stream = this.ciphers.get(b);
      if (!stream) {
        const iv = randomBytes(16);
        stream = { iv, cipher: createCipheriv('aes-256-ctr', this.fileKey, iv), lines: 0 };
        this.ciphers.set(b, stream);
      }
      stream.lines += lines.length;
      await appendFile(this.file(b), stream.cipher.update(lines.join('\n') + '\n', 'utf8'), { mode: 0o600 });
      this.spilled.add(b);
      this.buffers[b] = [];
    }
    this.buffered = 0;
  }

  /** Every repeat of a pair, bucket by bucket (in row order within a bucket). */
  async *duplicates(): AsyncGenerator<Duplicate> {
    if (this.dir) await this.flush(true);
    for (let b = 0; b < this.buckets; b++) {
      const firstRows = new Map<string, number>();
      const check = (line: string): Duplicate | null => {
        const [row, scope, key] = JSON.parse(line) as [number, string, string];
        const id = `${scope}\u0000${key}`;
        const first = firstRows.get(id);
        if (first !== undefined) return { row, key, first };
        firstRows.set(id, row);
        return null;
      };
      if (this.spilled.has(b)) {
        const decipher = createDecipheriv('aes-256-ctr', this.fileKey, this.ciphers.get(b)!.iv);
        decipher.setEncoding('utf8');
        // pipeline, not pipe: a read error reaches the loop instead of leaving it waiting.
        const input = pipeline(createReadStream(this.file(b)), decipher, () => undefined);
        const lines = createInterface({ input, crlfDelay: Infinity });
        for await (const line of lines) {
          const d = line ? check(line) : null;
          if (d) yield d;
        }
      }
      for (const line of this.buffers[b]) {
        const d = check(line);
        if (d) yield d;
      }
      this.buffers[b] = [];
    }
  }

  /** Removes the temp files (safe to call more than once, and when none were made). */
  async dispose(): Promise<void> {
    for (let b = 0; b < this.buckets; b++) this.buffers[b] = [];
    this.buffered = 0;
    const dir = this.dir;
    this.dir = null;
    this.spilled.clear();
    this.ciphers.clear();
    if (dir) await rm(dir, { recursive: true, force: true });
  }

  /** For tests: how many pairs each spilled bucket's file holds. */
  get spilledLines(): number[] {
    return [...this.ciphers.values()].map((c) => c.lines);
  }

  /** For tests: whether pairs went to temp files, and where. */
  get spillDir(): string | null {
    return this.dir;
  }

  private bucketOf(scope: string, key: string): number {
    const h = createHash('md5').update(this.salt).update(scope).update('\u0000').update(key).digest();
    return h.readUInt32BE(0) % this.buckets;
  }

  private file(b: number): string {
    return join(this.dir!, `bucket-${b}.jsonl`);
  }
}
