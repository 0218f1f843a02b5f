import { existsSync, readFileSync, statSync } from 'node:fs';
import { AppError } from '../common/errors';
import { ImportSlots, spoolBody } from './import-body';

async function* chunks(text: string, size: number) {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function readAll(source: () => AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of source()) parts.push(c);
  return Buffer.concat(parts).toString();
}

describe('spoolBody', () => {
  const text = JSON.stringify({ configs: Array.from({ length: 500 }, (_, i) => ({ key: `k${i}`, value: 'ünï'.repeat(20) })) });

  it('keeps a small body in memory and reads it back as often as asked', async () => {
    const body = await spoolBody(chunks(text, 1000), {});
    expect(body.file).toBeUndefined();
    expect(body.bytes).toBe(Buffer.byteLength(text));
    expect(await readAll(body.source)).toBe(text);
    expect(await readAll(body.source)).toBe(text);
    await body.dispose();
  });

  it('spools a larger body to a private temp file, removed by dispose()', async () => {
    const body = await spoolBody(chunks(text, 777), {}, 10 * 1024 * 1024, 4096);
    expect(body.file).toBeDefined();
    expect(statSync(body.file!).mode & 0o777).toBe(0o600);
    // Nothing of the body is readable on disk (it may carry another deployment's sourceSecretKey).
    const onDisk = readFileSync(body.file!);
    expect(onDisk.length).toBe(Buffer.byteLength(text));
    expect(onDisk.toString('latin1')).not.toContain('configs');
    expect(onDisk.toString('utf8')).not.toContain('ünï');
    expect(await readAll(body.source)).toBe(text);
    expect(await readAll(body.source)).toBe(text);
    await body.dispose();
    expect(existsSync(body.file!)).toBe(false);
  });

  it('refuses a body over the limit (413), announced or not, and a compressed one (415)', async () => {
    const refused = async (p: Promise<unknown>) => {
      const err = (await p.catch((e) => e)) as AppError;
      expect(err).toBeInstanceOf(AppError);
      return [err.getStatus(), err.code];
    };
    expect(await refused(spoolBody(chunks(text, 100), { 'content-length': String(10_000_000) }, 1_000_000))).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    expect(await refused(spoolBody(chunks(text, 100), {}, 1000, 100))).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    expect(await refused(spoolBody(chunks(text, 100), { 'content-encoding': 'gzip' }))).toEqual([415, 'UNSUPPORTED_ENCODING']);
  });

  it('treats a missing body as empty', async () => {
    const body = await spoolBody(undefined, {});
    expect(body.bytes).toBe(0);
    expect(await readAll(body.source)).toBe('');
  });
});

describe('ImportSlots', () => {
  const refusal = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      const e = err as AppError & { retryAfter?: number };
      return [e.getStatus(), e.code, e.retryAfter];
    }
    return null;
  };

  it('caps the imports in flight per principal (429) and in all (503), each with a retry-after, and gives slots back once', () => {
    const slots = new ImportSlots(2, 3);
    const a1 = slots.acquire('a');
    const a2 = slots.acquire('a');
    expect(refusal(() => slots.acquire('a'))).toEqual([429, 'TOO_MANY_IMPORTS', expect.any(Number)]);
    const b1 = slots.acquire('b');
    // Full: a principal under its own cap is told the service is busy.
    expect(refusal(() => slots.acquire('c'))).toEqual([503, 'IMPORTS_BUSY', expect.any(Number)]);
    // Over its own cap, a principal hears about that first.
    expect(refusal(() => slots.acquire('a'))).toEqual([429, 'TOO_MANY_IMPORTS', expect.any(Number)]);
    expect(slots.inFlight).toBe(3);
    a1();
    a1(); // releasing twice frees one slot only
    expect(slots.inFlight).toBe(2);
    const c1 = slots.acquire('c');
    expect(refusal(() => slots.acquire('b'))).toEqual([503, 'IMPORTS_BUSY', expect.any(Number)]);
    for (const release of [a2, b1, c1]) release();
    expect(slots.inFlight).toBe(0);
    expect(slots.of('a')).toBe(0);
  });
});

describe('spoolBody on a stalled upload', () => {
  it('gives up on a body that stops arriving (408 IMPORT_BODY_STALLED) and stops reading it', async () => {
    let returned = false;
    const stalled: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]() {
        let sent = 0;
        return {
          next: () => (sent++ < 3 ? Promise.resolve({ done: false, value: Buffer.alloc(3000, 0x20) }) : new Promise<IteratorResult<Buffer>>(() => undefined)),
          return: async () => {
            returned = true;
            return { done: true, value: undefined };
          },
        };
      },
    };
    const err = (await spoolBody(stalled, {}, 1_000_000, 4096, 50).catch((e) => e)) as AppError;
    expect(err).toBeInstanceOf(AppError);
    expect([err.getStatus(), err.code]).toEqual([408, 'IMPORT_BODY_STALLED']);
    // The stream was told to stop (a Readable is destroyed by return()).
    expect(returned).toBe(true);
  });
});
