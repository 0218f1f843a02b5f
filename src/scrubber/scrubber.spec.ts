import { StreamableFile } from '@nestjs/common';
import fc from 'fast-check';
import { Readable } from 'node:stream';
import { Scrubber, ScrubStream } from './scrubber';

const SECRET = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc';
const OTHER = 'p@ss w0rd/with+chars&more';

async function collect(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

describe('Scrubber', () => {
  const s = Scrubber.of([SECRET, OTHER, 'abc']);

  it('scrubs strings, JSON values and object keys', () => {
    expect(s.scrubBody(`token=${SECRET}`)).toBe('token=[REDACTED]');
    expect(s.scrubBody({ [SECRET]: [1, { x: encodeURIComponent(OTHER) }], n: 2 })).toEqual({ '[REDACTED]': [1, { x: '[REDACTED]' }], n: 2 });
    expect(s.scrubBody(null)).toBeNull();
    expect(s.scrubBody(undefined)).toBeUndefined();
  });

  it('does not scrub secrets under 4 characters', () => {
    expect(s.scrub('abc abcd')).toBe('abc abcd');
  });

  it('leaves an exempt top-level field alone and scrubs everything else, keys included', () => {
    const body = { key: 'stripe', value: SECRET, source: SECRET, [OTHER]: 1 };
    expect(s.scrubBody(body, ['value'])).toEqual({ key: 'stripe', value: SECRET, source: '[REDACTED]', '[REDACTED]': 1 });
    // Only at the top level: a nested `value` is scrubbed.
    expect(s.scrubBody({ nested: { value: SECRET } }, ['value'])).toEqual({ nested: { value: '[REDACTED]' } });
    // An array body has no fields to exempt.
    expect(s.scrubBody([SECRET], ['value'])).toEqual(['[REDACTED]']);
  });

  it('scrubs buffers as UTF-8 text, and binary ones byte for byte', () => {
    const out = s.scrubBody(Buffer.from(`héllo ${SECRET}`)) as Buffer;
    expect(out.toString('utf8')).toBe('héllo [REDACTED]');
    const binary = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00]), Buffer.from(SECRET), Buffer.from([0x80])]);
    const scrubbed = s.scrubBody(binary) as Buffer;
    expect(scrubbed.includes(Buffer.from(SECRET))).toBe(false);
    expect([...scrubbed.subarray(0, 3)]).toEqual([0xff, 0xfe, 0x00]);
  });

  it('scrubs a streamed file and drops its length', async () => {
    const file = new StreamableFile(Readable.from([Buffer.from(`a ${SECRET.slice(0, 10)}`), Buffer.from(`${SECRET.slice(10)} b`)]), { type: 'text/plain', length: 99 });
    const out = s.scrubBody(file) as StreamableFile;
    expect(out).toBeInstanceOf(StreamableFile);
    expect(out.getHeaders()).toMatchObject({ type: 'text/plain', length: undefined });
    expect(await collect(out.getStream())).toBe('a [REDACTED] b');
  });

  it('is a no-op with no secrets', () => {
    expect(Scrubber.EMPTY.isEmpty).toBe(true);
    const body = { a: SECRET };
    expect(Scrubber.EMPTY.scrubBody(body)).toEqual(body);
  });
});

describe('ScrubStream', () => {
  const secrets = [SECRET, OTHER, 'línea-con-acentos-ñ', '🔑-emoji-secret-🔑'];
  const scrubber = Scrubber.of(secrets);

  it('gives the same output as scrubbing the whole text, however the text is cut into chunks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.constantFrom(...secrets, Buffer.from(SECRET).toString('base64'), encodeURIComponent(OTHER)), fc.string({ maxLength: 40 })), { maxLength: 200 }),
        fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 20 }),
        async (parts, sizes) => {
          const text = parts.join(' ');
          const bytes = Buffer.from(text, 'utf8');
          const chunks: Buffer[] = [];
          for (let i = 0, k = 0; i < bytes.length; k++) {
            const n = sizes[k % sizes.length];
            chunks.push(bytes.subarray(i, i + n));
            i += n;
          }
          // A small flush threshold so the stream really cuts inside the text.
          const out = await collect(Readable.from(chunks).pipe(new ScrubStream(scrubber, 16)));
          // Cuts are made only where no form can cross them: the very same output.
          expect(out).toBe(scrubber.scrub(text));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('passes text on as it comes rather than holding the whole stream', async () => {
    const quiet = `{"log":"nothing to see in this line, just padding text"}\n`;
    const chunks = Array.from({ length: 20_000 }, (_, i) => (i % 500 === 0 ? `{"log":"call with ${SECRET}"}\n` : quiet));
    let pieces = 0;
    let out = '';
    for await (const chunk of Readable.from(chunks.map((c) => Buffer.from(c))).pipe(new ScrubStream(scrubber))) {
      pieces++;
      out += Buffer.from(chunk).toString('utf8');
    }
    expect(pieces).toBeGreaterThan(5);
    expect(out).toBe(scrubber.scrub(chunks.join('')));
    expect(out).not.toContain(SECRET);
  });

  it('holds text where secrets are too dense to cut, and still scrubs it all, in linear time', async () => {
    const line = `{"log":"call with ${SECRET} done"}\n`;
    const started = Date.now();
    const stream = Readable.from(Array.from({ length: 20_000 }, () => Buffer.from(line))).pipe(new ScrubStream(scrubber));
    const out = await collect(stream);
    expect(out).toBe(`{"log":"call with [REDACTED] done"}\n`.repeat(20_000));
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
