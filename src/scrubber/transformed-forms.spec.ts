import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import * as fc from 'fast-check';
import { base64Run, byteForms, quotedForms, secretForms } from './secret-forms';
import { Scrubber, ScrubStream } from './scrubber';
import { SecretMatcher, redactionMarker } from './secret-matcher';

const R = redactionMarker;

/** Printable ASCII secrets, the ones people quote into SQL and shell commands. */
const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 4, maxLength: 30 });
const anySecret = fc.string({ unit: 'binary', minLength: 4, maxLength: 30 }).filter((s) => s.trim().length >= 4);

// Naive references: each encoder written the obvious way, byte by byte or character by character.
const naiveHex = (s: string, upper: boolean): string =>
  [...Buffer.from(s, 'utf8')].map((b) => (upper ? b.toString(16).toUpperCase() : b.toString(16)).padStart(2, '0')).join('');
const naivePercentAll = (s: string): string => [...Buffer.from(s, 'utf8')].map((b) => '%' + b.toString(16).toUpperCase().padStart(2, '0')).join('');
const sqlLiteral = (s: string): string => `'${[...s].map((c) => (c === "'" ? "''" : c)).join('')}'`;
const mysqlLiteral = (s: string): string => `'${[...s].map((c) => (c === "'" || c === '"' || c === '\\' ? '\\' + c : c)).join('')}'`;
const shellSingle = (s: string): string => `'${[...s].map((c) => (c === "'" ? `'\\''` : c)).join('')}'`;
const shlexQuote = (s: string): string => `'${[...s].map((c) => (c === "'" ? `'"'"'` : c)).join('')}'`;
const shellDouble = (s: string): string => `"${[...s].map((c) => ('\\"$`'.includes(c) ? '\\' + c : c)).join('')}"`;

/** base64 of `bytes` wrapped at `width` columns with `eol`, as PEM (64, \n) and MIME (76, \r\n) write it. */
function wrap(bytes: Buffer, width: number, eol: string): string {
  const b64 = bytes.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += width) lines.push(b64.slice(i, i + width));
  return lines.join(eol);
}
const unwrap = (text: string): string => text.replace(/\r\n|\n|\\r\\n|\\n/g, '');

describe('hex forms', () => {
  it('scrubs the hex of a secret in lower and upper case, as a naive encoder writes it', () => {
    fc.assert(
      fc.property(anySecret, (secret) => {
        const m = new SecretMatcher([secret]);
        for (const upper of [false, true]) {
          const hex = naiveHex(secret, upper);
          expect(Buffer.from(hex, 'hex').toString('utf8')).toBe(secret);
          expect(m.scrub(`digest=${hex};`)).toBe(`digest=${R};`);
        }
      }),
    );
  });

  it('finds hex at either nibble alignment, in mixed case, inside a longer hex text', () => {
    const secret = 'pässwörd-42';
    const m = new SecretMatcher([secret]);
    const hex = naiveHex(secret, false);
    const mixed = [...hex].map((c, i) => (i % 3 === 0 ? c.toUpperCase() : c)).join('');
    expect(m.scrub(`0x${mixed}`)).toBe(`0x${R}`);
    expect(m.scrub(`ff00${hex}00ff`)).toBe(`ff00${R}00ff`);
    expect(m.scrub(`f${hex}0`)).toBe(`f${R}0`); // odd alignment
  });

  it('finds the hex of a secret whose hex is decimal digits only', () => {
    const secret = 'abcdefghi'; // 616263646566676869
    const m = new SecretMatcher([secret]);
    expect(naiveHex(secret, false)).toMatch(/^[0-9]+$/);
    expect(m.scrub(`n=${naiveHex(secret, false)}.`)).toBe(`n=${R}.`);
  });

  it('registers the per-byte percent form, the latin1 reading of a non-ASCII secret, and hex only when it has no letter', () => {
    expect(byteForms('sk_live_1')).toEqual(['%73%6B%5F%6C%69%76%65%5F%31']);
    expect(byteForms('abcd')).toEqual(['%61%62%63%64', '61626364']);
    expect(byteForms('päss')).toEqual(['%70%C3%A4%73%73', Buffer.from('päss', 'utf8').toString('latin1')]);
    expect(secretForms('sk_live_1')).toEqual(expect.arrayContaining(byteForms('sk_live_1')));
  });
});

describe('upper-case percent-encoding', () => {
  it('scrubs every byte percent-encoded in upper case', () => {
    fc.assert(
      fc.property(anySecret, (secret) => {
        const m = new SecretMatcher([secret]);
        const encoded = naivePercentAll(secret);
        expect(decodeURIComponent(encoded)).toBe(secret);
        expect(m.scrub(`https://example.test/cb?code=${encoded}&x=1`)).toBe(`https://example.test/cb?code=${R}&x=1`);
      }),
    );
  });

  it('scrubs encodeURIComponent with upper- and lower-case hex', () => {
    const secret = 'p@ss/wörd?&=';
    const m = new SecretMatcher([secret]);
    const upper = encodeURIComponent(secret);
    expect(upper).toMatch(/%[0-9A-F]*[A-F]/);
    expect(m.scrub(`q=${upper}`)).toBe(`q=${R}`);
    expect(m.scrub(`q=${upper.replace(/%[0-9A-F]{2}/g, (x) => x.toLowerCase())}`)).toBe(`q=${R}`);
  });
});

describe('SQL-quoted forms', () => {
  it('scrubs a secret in a standard SQL literal (single quotes doubled)', () => {
    fc.assert(
      fc.property(printable, (secret) => {
        const m = new SecretMatcher([secret]);
        expect(m.scrub(`UPDATE users SET pw = ${sqlLiteral(secret)} WHERE id = 7`)).toBe(`UPDATE users SET pw = '${R}' WHERE id = 7`);
      }),
    );
  });

  it('scrubs a secret in a MySQL literal (backslash escapes)', () => {
    fc.assert(
      fc.property(printable, (secret) => {
        const m = new SecretMatcher([secret]);
        expect(m.scrub(`SET PASSWORD = ${mysqlLiteral(secret)};`)).toBe(`SET PASSWORD = '${R}';`);
      }),
    );
  });
});

describe('shell-quoted forms (Jenkins, bash xtrace, shlex, printf %q)', () => {
  it.each([
    ["single quotes with '\\''", shellSingle],
    ["single quotes with '\"'\"' (shlex.quote)", shlexQuote],
    ['double quotes with \\ " $ ` escaped', shellDouble],
  ])('scrubs %s', (_name, quote) => {
    fc.assert(
      fc.property(printable, (secret) => {
        const m = new SecretMatcher([secret]);
        const quoted = quote(secret);
        const scrubbed = m.scrub(`+ curl -u admin:x -H ${quoted} https://api.test`);
        expect(scrubbed).not.toContain(quoted.slice(1, -1));
        expect(scrubbed.startsWith('+ curl -u admin:x -H ')).toBe(true);
        expect(scrubbed.endsWith(' https://api.test')).toBe(true);
        expect(scrubbed).toContain(R);
      }),
    );
  });

  const tricky = [`it's-a-secret`, `p@ss w0rd!$HOME"x`, 'back\\slash`cmd`', `a'b"c\\d$e f(g)|h;i&j*k`, '~tilde#hash,comma'];

  it.each(tricky)('scrubs what bash itself writes for %j (printf %%q and set -x)', (secret) => {
    const m = new SecretMatcher([secret]);
    const q = execFileSync('bash', ['-c', 'printf "%q" "$1"', 'bash', secret], { encoding: 'utf8' });
    expect(m.scrub(`token ${q} end`)).toBe(`token ${R} end`);
    const trace = spawnSync('bash', ['-xc', 'true "$1"', 'bash', secret], { encoding: 'utf8' }).stderr;
    expect(trace).toMatch(/^\+ true /);
    // bash prints the argument quoted its own way; nothing of the secret's quoted text survives.
    const scrubbedTrace = m.scrub(trace);
    expect(scrubbedTrace).toContain(R);
    expect(scrubbedTrace.replace(R, '')).not.toMatch(/secret|w0rd|slash|tilde/);
  });

  it('adds no quoted form for a secret without quotes, backslashes or shell characters', () => {
    expect(quotedForms('plainSecret123')).toEqual([]);
  });

  it('finds a shell-quoted secret inside JSON text (the backslashes escaped again)', () => {
    const secret = `a'b"c$d`;
    const m = new SecretMatcher([secret]);
    const line = JSON.stringify({ cmd: `mysql -p${shellDouble(secret)}` });
    expect(JSON.parse(m.scrub(line))).toEqual({ cmd: `mysql -p"${R}"` });
  });
});

describe('base64 wrapped at 64 (PEM, \\n) and 76 (MIME, \\r\\n) columns', () => {
  const layouts: Array<[string, number, string]> = [
    ['PEM', 64, '\n'],
    ['MIME', 76, '\r\n'],
    ['PEM with CRLF', 64, '\r\n'],
    ['MIME with LF', 76, '\n'],
  ];

  it.each(layouts)('%s: no base64 character that depends on the secret alone survives, at every byte offset', (_name, width, eol) => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 4, maxLength: 120, size: 'large' }).filter((s) => s.trim().length >= 4),
        // Lengths drawn uniformly, so the secret's run falls across a line break in most cases.
        fc.integer({ min: 0, max: 240 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
        fc.integer({ min: 0, max: 100 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
        fc.boolean(),
        (secret, prefix, suffix, asJson) => {
          const m = new SecretMatcher([secret]);
          const bytes = Buffer.from(secret, 'utf8');
          const body = wrap(Buffer.concat([prefix, bytes, suffix]), width, eol);
          const doc = `-----BEGIN DATA-----${eol}${body}${eol}-----END DATA-----`;
          const text = asJson ? JSON.stringify({ pem: doc }) : doc;
          const scrubbed = m.scrub(text);
          const run = base64Run(bytes, (prefix.length % 3) as 0 | 1 | 2);
          for (const piece of unwrap(scrubbed).split(R)) expect(piece).not.toContain(run);
          // The same holds for the parsed value (scrubDeep sees real line breaks).
          if (asJson) {
            const deep = m.scrubDeep(JSON.parse(text)) as { pem: string };
            for (const piece of unwrap(deep.pem).split(R)) expect(piece).not.toContain(run);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('redacts only the lines the secret spans, and keeps the armour and the other lines', () => {
    const secret = 'correct horse battery staple, and a long one at that';
    const m = new SecretMatcher([secret]);
    const prefix = randomBytes(300);
    const body = wrap(Buffer.concat([prefix, Buffer.from(secret), randomBytes(300)]), 64, '\n');
    const pem = `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`;
    const scrubbed = m.scrub(pem);
    expect(scrubbed).toContain(R);
    expect(scrubbed.startsWith(`-----BEGIN PRIVATE KEY-----\n${body.split('\n')[0]}\n`)).toBe(true);
    expect(scrubbed.endsWith('\n-----END PRIVATE KEY-----\n')).toBe(true);
    expect(m.containsSecret(pem)).toBe(true);
  });

  it('scrubs a secret wrapped in a single-secret matcher and in a scrubber of many', () => {
    const secret = 'a-secret-that-will-straddle-a-line-break';
    const many = new SecretMatcher([secret, ...Array.from({ length: 200 }, () => randomBytes(18).toString('base64'))]);
    for (let pad = 0; pad < 64; pad++) {
      const text = wrap(Buffer.concat([Buffer.alloc(pad * 3, 0x41), Buffer.from(secret)]), 64, '\n');
      expect(unwrap(many.scrub(text))).not.toContain(base64Run(Buffer.from(secret), 0));
    }
  });
});

describe('a streamed answer', () => {
  it('gives the same output as scrubbing the whole text, wrapped base64 and hex across chunk cuts included', async () => {
    const secret = 'stream-secret-value-that-is-long-enough';
    const scrubber = Scrubber.of([secret]);
    const pieces = [
      `-----BEGIN KEY-----\n${wrap(Buffer.concat([randomBytes(100), Buffer.from(secret), randomBytes(100)]), 64, '\n')}\n-----END KEY-----`,
      wrap(Buffer.concat([randomBytes(37), Buffer.from(secret)]), 76, '\r\n'),
      naiveHex(secret, true),
      `0x${naiveHex(secret, false)}ff`,
      'filler text with nothing secret in it',
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...pieces), { minLength: 5, maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 20 }),
        async (parts, sizes) => {
          const text = parts.join('\n');
          const bytes = Buffer.from(text, 'utf8');
          const chunks: Buffer[] = [];
          for (let at = 0, k = 0; at < bytes.length; k++) {
            const size = sizes[k % sizes.length];
            chunks.push(bytes.subarray(at, at + size));
            at += size;
          }
          const streamed: Buffer[] = [];
          for await (const chunk of Readable.from(chunks).pipe(new ScrubStream(scrubber, 16))) streamed.push(Buffer.from(chunk));
          const out = Buffer.concat(streamed).toString('utf8');
          expect(out).toBe(scrubber.scrub(text));
          for (const piece of unwrap(out).split(R)) expect(piece).not.toContain(base64Run(Buffer.from(secret), 1));
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('false positives: ordinary values that contain no secret pass unchanged', () => {
  const secrets = Array.from({ length: 50 }, () => randomBytes(24).toString('base64url'));
  secrets.push(`it's a "quoted" $ecret`, 'sk_live_51HxYzAbCdEfGhIjKlMnOp', 'hunter2-hunter2');
  const m = new SecretMatcher(secrets);

  it.each([
    ['UUIDs', () => Array.from({ length: 20 }, () => randomUUID()).join(' ')],
    ['upper-case UUIDs', () => Array.from({ length: 20 }, () => randomUUID().toUpperCase()).join(',')],
    ['URLs without credentials', () => 'https://api.example.com/v1/items?page=2&sort=-created_at#top https://example.org/a%2Fb?q=%E2%82%AC'],
    ['git SHAs', () => Array.from({ length: 20 }, () => createHash('sha1').update(randomBytes(8)).digest('hex')).join('\n')],
    ['upper-case hex digests', () => createHash('sha256').update('x').digest('hex').toUpperCase()],
    ['base64 of non-secret data, unwrapped', () => randomBytes(3000).toString('base64')],
    ['base64 of non-secret data, wrapped as PEM', () => `-----BEGIN CERTIFICATE-----\n${wrap(randomBytes(1200), 64, '\n')}\n-----END CERTIFICATE-----\n`],
    ['base64 of non-secret data, wrapped as MIME', () => wrap(randomBytes(2000), 76, '\r\n')],
    ['a JSON log with escaped line breaks', () => JSON.stringify({ lines: wrap(randomBytes(900), 76, '\n') })],
    ['SQL and shell commands', () => `SELECT * FROM t WHERE name = 'O''Brien'; echo 'it'\\''s' "a \\"b\\" \\$c" $$`],
  ])('%s', (_name, make) => {
    const text = make();
    expect(m.scrub(text)).toBe(text);
    expect(m.containsSecret(text)).toBe(false);
  });

  it('keeps the forms of a registered secret apart from ordinary text around them', () => {
    const secret = secrets[0];
    const text = `id=${randomUUID()} hex=${naiveHex(secret, true)} sha=${createHash('sha1').update('a').digest('hex')}`;
    expect(m.scrub(text)).toBe(text.replace(naiveHex(secret, true), R));
  });

  it('finds the new forms with a matcher of one secret (redactions are attributed that way)', () => {
    const secret = `o'neil-$ecret`;
    const forms = secretForms(secret);
    for (const f of ["o''neil-$ecret", "o'\\''neil-$ecret", `o'"'"'neil-$ecret`]) expect(forms).toContain(f);
    const one = new SecretMatcher([secret]);
    expect(one.secretCount).toBe(1);
    for (const text of [naiveHex(secret, true), naiveHex(secret, false), naivePercentAll(secret), wrap(Buffer.concat([randomBytes(47), Buffer.from(secret)]), 64, '\n')]) {
      expect(one.containsSecret(`x ${text} y`)).toBe(true);
    }
  });
});
