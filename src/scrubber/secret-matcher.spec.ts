import * as fc from 'fast-check';
import { base64Run, secretForms } from './secret-forms';
import { SecretMatcher, redactionMarker } from './secret-matcher';

const R = redactionMarker;
const b64 = (s: string | Uint8Array): string => Buffer.from(s as string).toString('base64');
const b64url = (s: string | Uint8Array): string => Buffer.from(s as string).toString('base64url');

/** The reference: every occurrence of every form by indexOf, union of the intervals (touching ones merged). */
function naiveScrub(text: string, secrets: readonly string[]): string {
  const patterns = new Set<string>();
  for (const s of secrets) for (const f of secretForms(s)) patterns.add(f);
  const intervals: Array<[number, number]> = [];
  for (const p of patterns) {
    for (let i = text.indexOf(p); i >= 0; i = text.indexOf(p, i + 1)) intervals.push([i, i + p.length]);
  }
  intervals.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const [a, b] of intervals) {
    const last = merged[merged.length - 1];
    if (last !== undefined && a <= last[1]) last[1] = Math.max(last[1], b);
    else merged.push([a, b]);
  }
  let out = '';
  let pos = 0;
  for (const [a, b] of merged) {
    out += text.slice(pos, a) + R;
    pos = b;
  }
  return out + text.slice(pos);
}

describe('SecretMatcher basics', () => {
  it('exports the marker', () => {
    expect(redactionMarker).toBe('[REDACTED]');
  });

  it('is empty without secrets, and returns its input unchanged', () => {
    const m = new SecretMatcher([]);
    expect(m.isEmpty).toBe(true);
    expect(m.patternCount).toBe(0);
    expect(m.scrub('anything at all')).toBe('anything at all');
    const value = { a: [1, 'x'] };
    expect(m.scrubDeep(value)).toEqual(value);
    expect(m.containsSecret('anything')).toBe(false);
  });

  it('is empty when every secret is shorter than 4 characters (they are not scrubbed, by rule)', () => {
    const m = new SecretMatcher(['abc', 'xy', '', '    ']);
    expect(m.isEmpty).toBe(true);
    expect(m.scrub('abc xy abcabc')).toBe('abc xy abcabc');
  });

  it('does not scrub a 3-character secret but does scrub a 4-character one', () => {
    const m = new SecretMatcher(['abc', 'wxyz']);
    expect(m.isEmpty).toBe(false);
    expect(m.secretCount).toBe(1);
    expect(m.scrub('abc wxyz abcd')).toBe(`abc ${R} abcd`);
  });

  it('accepts any iterable, once', () => {
    const m = new SecretMatcher(new Set(['secret-one', 'secret-two']));
    expect(m.scrub('secret-one/secret-two')).toBe(`${R}/${R}`);
    function* gen(): Generator<string> {
      yield 'generated-secret';
    }
    expect(new SecretMatcher(gen()).scrub('a generated-secret b')).toBe(`a ${R} b`);
  });

  it('returns the same string when nothing matches', () => {
    const m = new SecretMatcher(['hunter2-password']);
    const text = 'nothing to see here, hunter2-passwor';
    expect(m.scrub(text)).toBe(text);
    expect(m.containsSecret(text)).toBe(false);
    expect(m.containsSecret(text + 'd')).toBe(true);
  });

  it('scrubs at the very start and end of the text, and a text that is only the secret', () => {
    const m = new SecretMatcher(['s3cr3t!']);
    expect(m.scrub('s3cr3t!')).toBe(R);
    expect(m.scrub('s3cr3t! tail')).toBe(`${R} tail`);
    expect(m.scrub('head s3cr3t!')).toBe(`head ${R}`);
    expect(m.scrub('s3cr')).toBe('s3cr');
    expect(m.scrub('')).toBe('');
  });

  it('scrubs every occurrence', () => {
    const m = new SecretMatcher(['tok-123']);
    expect(m.scrub('tok-123 and tok-123, tok-123')).toBe(`${R} and ${R}, ${R}`);
  });
});

describe('every form of a secret is scrubbed', () => {
  const secret = `P@ss "wörd" & <more>/\\ 😀 'x'`;
  const m = new SecretMatcher([secret]);
  const cases: Array<[string, string]> = [
    ['raw', secret],
    ['JSON.stringify', JSON.stringify(secret).slice(1, -1)],
    ['JSON \\u lower case', secretForms(secret).find((f) => f.includes('\\u00f6'))!],
    ['JSON \\u upper case', secretForms(secret).find((f) => f.includes('\\u00F6'))!],
    ['encodeURIComponent', encodeURIComponent(secret)],
    ['form encoding (+)', new URLSearchParams([['k', secret]]).toString().slice(2)],
    ['HTML &#39;', secret.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')],
    ['HTML &#x27;', secret.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#x27;')],
    ['HTML &apos;', secret.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;')],
    ['base64 padded', b64(secret)],
    ['base64 unpadded', b64(secret).replace(/=+$/, '')],
    ['base64url padded', b64(secret).replace(/\+/g, '-').replace(/\//g, '_')],
    ['base64url unpadded', b64url(secret)],
  ];

  it.each(cases)('%s', (_name, form) => {
    expect(form).toBeDefined();
    const text = `before ${form} after`;
    expect(m.scrub(text)).toBe(`before ${R} after`);
  });

  it('inside a JSON document', () => {
    const doc = JSON.stringify({ password: secret, nested: [{ note: `uses ${secret}` }] });
    const scrubbed = m.scrub(doc);
    expect(scrubbed).not.toContain(JSON.stringify(secret).slice(1, -1));
    expect(JSON.parse(scrubbed)).toEqual({ password: R, nested: [{ note: `uses ${R}` }] });
  });

  it('inside a JSON document serialized again as a string', () => {
    const doc = JSON.stringify({ body: JSON.stringify({ password: secret }) });
    expect(JSON.parse(m.scrub(doc))).toEqual({ body: `{"password":"${R}"}` });
  });

  it('inside a URL query string', () => {
    const url = `https://example.com/cb?${new URLSearchParams({ code: secret, state: 'abc' }).toString()}`;
    expect(m.scrub(url)).toBe(`https://example.com/cb?code=${R}&state=abc`);
    const url2 = `https://example.com/cb?code=${encodeURIComponent(secret)}&state=abc`;
    expect(m.scrub(url2)).toBe(`https://example.com/cb?code=${R}&state=abc`);
  });

  it('in a basic-auth header (base64 at an offset)', () => {
    const m2 = new SecretMatcher(['correct-horse-battery']);
    for (const user of ['u', 'us', 'use', 'user']) {
      const header = `Basic ${b64(`${user}:correct-horse-battery`)}`;
      const scrubbed = m2.scrub(header);
      expect(scrubbed).toContain(R);
      for (const piece of scrubbed.split(R)) {
        for (let shift = 0; shift < 4; shift++) {
          expect(Buffer.from(piece.slice(shift), 'base64').toString('latin1')).not.toContain('horse-battery');
        }
      }
    }
  });
});

describe('base64 at byte offsets 0, 1 and 2 inside a longer base64 text', () => {
  /** True if the secret's bytes decode from some piece of the scrubbed text, at some alignment. */
  function secretDecodes(scrubbed: string, secret: Uint8Array, url: boolean): boolean {
    const needle = Buffer.from(secret);
    for (const piece of scrubbed.split(R)) {
      for (let shift = 0; shift < 4; shift++) {
        const decoded = Buffer.from(piece.slice(shift), url ? 'base64url' : 'base64');
        if (decoded.includes(needle)) return true;
      }
    }
    return false;
  }

  it('removes every base64 character that depends on the secret alone', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', minLength: 4, maxLength: 40 }).filter((s) => s.trim() === s && /\S/.test(s)),
        fc.uint8Array({ maxLength: 50 }),
        fc.uint8Array({ maxLength: 50 }),
        fc.boolean(),
        (secret, prefix, suffix, url) => {
          const bytes = Buffer.from(secret, 'utf8');
          const whole = Buffer.concat([prefix, bytes, suffix]);
          const text = url ? whole.toString('base64url') : whole.toString('base64');
          // The secret's bytes are there before scrubbing...
          expect(secretDecodes(text, bytes, url)).toBe(true);
          const scrubbed = new SecretMatcher([secret]).scrub(text);
          // ...and no longer after.
          expect(secretDecodes(scrubbed, bytes, url)).toBe(false);
          // Precisely: the run of characters fully determined by the secret is inside a redacted region.
          const start = Math.ceil((8 * prefix.length) / 6);
          const run = base64Run(bytes, (prefix.length % 3) as 0 | 1 | 2);
          const runText = url ? run.replace(/\+/g, '-').replace(/\//g, '_') : run;
          expect(text.slice(start, start + run.length)).toBe(runText);
          expect(scrubbed.startsWith(text.slice(0, start))).toBe(true);
          expect(scrubbed).not.toContain(runText);
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each([1, 2])('offset %i, by example', (offset) => {
    const secret = 'api-key-0123456789abcdef';
    const text = Buffer.concat([Buffer.alloc(offset, 0xff), Buffer.from(secret), Buffer.from([0, 1, 2, 3])]).toString('base64');
    expect(text).not.toContain(b64(secret).slice(0, 8)); // not the aligned encoding
    const scrubbed = new SecretMatcher([secret]).scrub(text);
    expect(scrubbed).toContain(R);
    expect(scrubbed.length).toBeLessThan(text.length);
    expect(Buffer.from(scrubbed.replace(R, ''), 'base64').toString('latin1')).not.toContain('0123456789');
  });
});

describe('multi-line secrets', () => {
  const key = ['-----BEGIN RSA PRIVATE KEY-----', 'MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo', '4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onL', '-----END RSA PRIVATE KEY-----'].join('\n');
  const m = new SecretMatcher([key]);

  it('scrubs the whole secret', () => {
    expect(m.scrub(`key:\n${key}\nend`)).toBe(`key:\n${R}\nend`);
    expect(m.scrub(JSON.stringify({ key }))).toBe(JSON.stringify({ key: R }));
  });

  it('scrubs each line on its own (a log split by lines, CRLF line ends)', () => {
    const log = key.split('\n').map((line, i) => `[${i}] ${line}`).join('\r\n');
    const scrubbed = m.scrub(log);
    expect(scrubbed).toBe([0, 1, 2, 3].map((i) => `[${i}] ${R}`).join('\r\n'));
  });

  it('scrubs a line in base64', () => {
    expect(m.scrub(`x ${b64('MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo')} y`)).toBe(`x ${R} y`);
  });
});

describe('overlaps, nesting and adjacency', () => {
  it('redacts the longer secret fully when it contains another', () => {
    const m = new SecretMatcher(['pass', 'my-password-is-long']);
    expect(m.scrub('x my-password-is-long y')).toBe(`x ${R} y`);
    expect(m.scrub('x password y')).toBe(`x ${R}word y`);
  });

  it('redacts the longer secret fully when the shorter one is its suffix or prefix', () => {
    const m = new SecretMatcher(['abcdefgh', 'efgh', 'abcd']);
    expect(m.scrub('--abcdefgh--')).toBe(`--${R}--`);
    expect(m.scrub('--efgh--abcd--')).toBe(`--${R}--${R}--`);
  });

  it('merges overlapping matches into one region', () => {
    const m = new SecretMatcher(['abcdef', 'defghi']);
    expect(m.scrub('_abcdefghi_')).toBe(`_${R}_`);
    expect(m.scrub('_abcdefghi_defghi_abcdef_')).toBe(`_${R}_${R}_${R}_`);
  });

  it('merges a chain of overlaps and a match that starts before earlier ones', () => {
    const m = new SecretMatcher(['bcde', 'defg', 'fghi', 'abcdefghijk']);
    expect(m.scrub('0abcdefghijk1')).toBe(`0${R}1`);
    expect(m.scrub('0bcdefghi1')).toBe(`0${R}1`);
  });

  it('merges adjacent matches into one region', () => {
    const m = new SecretMatcher(['first-secret', 'second-secret']);
    expect(m.scrub('<first-secretsecond-secret>')).toBe(`<${R}>`);
    expect(m.scrub('<first-secret second-secret>')).toBe(`<${R} ${R}>`);
  });

  it('handles self-overlapping secrets', () => {
    const m = new SecretMatcher(['aaaa', 'abab']);
    expect(m.scrub('xaaaaaaax')).toBe(`x${R}x`);
    expect(m.scrub('xababababx')).toBe(`x${R}x`);
    expect(m.scrub('xaaax')).toBe('xaaax');
  });
});

describe('special characters', () => {
  it('treats regex metacharacters literally', () => {
    const secret = 'a.b*c+?(x)[y]{z}|^$\\';
    const m = new SecretMatcher([secret]);
    expect(m.scrub(`<${secret}>`)).toBe(`<${R}>`);
    expect(m.scrub('<aXb*c+?(x)[y]{z}|^$\\>')).toBe('<aXb*c+?(x)[y]{z}|^$\\>');
    expect(m.scrub('abbbc')).toBe('abbbc');
    expect(m.scrub(JSON.stringify({ s: secret }))).toBe(JSON.stringify({ s: R }));
    expect(m.scrub(encodeURIComponent(secret))).toBe(R);
  });

  it.each([
    ['emoji', '🔑🗝️secret🔒'],
    ['accented', 'mötörhéad-çafé'],
    ['CJK', '秘密のパスワード'],
    ['4 emoji', '😀😁😂🤣'],
  ])('scrubs %s secrets in every form', (_name, secret) => {
    const m = new SecretMatcher([secret]);
    for (const form of secretForms(secret)) expect(m.scrub(`« ${form} »`)).toBe(`« ${R} »`);
    expect(m.scrub(JSON.stringify({ k: secret }))).toBe(JSON.stringify({ k: R }));
    const ascii = JSON.stringify({ k: secret }).replace(/[\u0080-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
    expect(m.scrub(ascii)).toBe(JSON.stringify({ k: R }));
    expect(m.scrub(`?k=${encodeURIComponent(secret)}`)).toBe(`?k=${R}`);
    expect(m.scrub(b64(secret))).toBe(R);
  });

  it('does not match half of a surrogate pair as a character', () => {
    const m = new SecretMatcher(['😀😀😀😀']);
    expect(m.scrub('😀😀😀😁')).toBe('😀😀😀😁');
  });
});

describe('scrubDeep', () => {
  const m = new SecretMatcher(['top-secret-value', '12345678', 'key-name-secret']);

  it('scrubs strings in nested objects and arrays, and object keys', () => {
    const value = {
      a: 'top-secret-value',
      b: ['x', 'prefix top-secret-value suffix', { c: 'top-secret-value' }],
      'key-name-secret': 'v',
      nested: { deeper: { 'has key-name-secret inside': [['top-secret-value']] } },
    };
    expect(m.scrubDeep(value)).toEqual({
      a: R,
      b: ['x', `prefix ${R} suffix`, { c: R }],
      [R]: 'v',
      nested: { deeper: { [`has ${R} inside`]: [[R]] } },
    });
  });

  it('leaves numbers, booleans and null alone, except numbers that contain a secret', () => {
    const value = { n: 42, f: 1.5, t: true, f2: false, z: null, secretNumber: 12345678, bigger: 9123456789, arr: [12345678, 7] };
    expect(m.scrubDeep(value)).toEqual({ n: 42, f: 1.5, t: true, f2: false, z: null, secretNumber: R, bigger: R, arr: [R, 7] });
    expect(m.scrubDeep(12345678n)).toBe(R);
    expect(m.scrubDeep(5n)).toBe(5n);
  });

  it('returns new objects and never mutates its input', () => {
    const value = { a: 'top-secret-value', list: ['top-secret-value'], o: { x: 1 } };
    const copy = structuredClone(value);
    const out = m.scrubDeep(value) as typeof value;
    expect(value).toEqual(copy);
    expect(out).not.toBe(value);
    expect(out.list).not.toBe(value.list);
    expect(out.o).not.toBe(value.o);
    expect(out.o).toEqual(value.o);
  });

  it('scrubs top-level strings and passes scalars through', () => {
    expect(m.scrubDeep('top-secret-value')).toBe(R);
    expect(m.scrubDeep(null)).toBeNull();
    expect(m.scrubDeep(undefined)).toBeUndefined();
    expect(m.scrubDeep(3)).toBe(3);
  });

  it('throws on a cycle', () => {
    const a: Record<string, unknown> = { x: 'top-secret-value' };
    a.self = a;
    expect(() => m.scrubDeep(a)).toThrow(/cycle/);
    const arr: unknown[] = [];
    arr.push({ inner: arr });
    expect(() => m.scrubDeep(arr)).toThrow(/cycle/);
  });

  it('accepts the same object twice (a shared reference is not a cycle)', () => {
    const shared = { s: 'top-secret-value' };
    expect(m.scrubDeep({ a: shared, b: [shared, shared] })).toEqual({ a: { s: R }, b: [{ s: R }, { s: R }] });
  });

  it('scrubs what JSON.stringify would write for objects with toJSON', () => {
    const withToJson = { toJSON: () => ({ token: 'top-secret-value' }) };
    expect(m.scrubDeep({ d: new Date(0), w: withToJson })).toEqual({ d: '1970-01-01T00:00:00.000Z', w: { token: R } });
  });

  it('keeps a "__proto__" key as a plain property', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": "top-secret-value"}}');
    const out = m.scrubDeep(parsed) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.stringify(out)).toBe(`{"__proto__":{"polluted":"${R}"}}`);
  });

  it('agrees with scrub on the serialized text', () => {
    const value = { a: ['top-secret-value', { 'key-name-secret': 'x top-secret-value' }], b: 'plain' };
    expect(JSON.parse(m.scrub(JSON.stringify(value)))).toEqual({ a: [R, { [R]: `x ${R}` }], b: 'plain' });
    expect(m.scrubDeep(value)).toEqual({ a: [R, { [R]: `x ${R}` }], b: 'plain' });
  });

  it('is the way to scrub JSON with numeric secrets (scrub on the text leaves a bare marker)', () => {
    const value = { n: 12345678 };
    expect(m.scrub(JSON.stringify(value))).toBe(`{"n":${R}}`); // not JSON any more
    expect(JSON.stringify(m.scrubDeep(value))).toBe(`{"n":"${R}"}`);
  });
});

describe('agreement with a naive reference', () => {
  const alphabets = ['ab', 'abc', 'ab+/=', 'aé😀\n "\\<&%', 'xyz0123456789'];

  it('scrub equals the indexOf-based reference, with dense and sparse automata', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...alphabets).chain((alphabet) => {
          const str = (min: number, max: number): fc.Arbitrary<string> =>
            fc.array(fc.constantFrom(...Array.from(alphabet)), { minLength: min, maxLength: max }).map((cs) => cs.join(''));
          return fc.record({
            secrets: fc.array(str(3, 9), { minLength: 1, maxLength: 6 }),
            text: str(0, 60),
            inserts: fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 5 }),
          });
        }),
        fc.constantFrom(undefined, 1, 50, 400),
        ({ secrets, text, inserts }, denseBudget) => {
          // Insert forms of the secrets at random places.
          for (const [which, where] of inserts) {
            const forms = secretForms(secrets[which % secrets.length]);
            if (forms.length === 0) continue;
            const form = forms[which % forms.length];
            const at = where % (text.length + 1);
            text = text.slice(0, at) + form + text.slice(at);
          }
          expect(new SecretMatcher(secrets, { denseBudget }).scrub(text)).toBe(naiveScrub(text, secrets));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('holds on repetitive text with self-overlapping secrets (the automaton path, not the filter)', () => {
    const secrets = ['a'.repeat(40) + 'b', 'aaab', 'ab'.repeat(10)];
    const text = 'a'.repeat(5000) + 'b' + 'ab'.repeat(3000) + 'a'.repeat(39) + 'b' + 'aab';
    for (const denseBudget of [undefined, 1]) {
      expect(new SecretMatcher(secrets, { denseBudget }).scrub(text)).toBe(naiveScrub(text, secrets));
    }
  });

  it('holds with many secrets sharing long prefixes', () => {
    const secrets = Array.from({ length: 300 }, (_, i) => `sk_live_${(i * 7919).toString(36).padStart(6, '0')}_${i % 7}`);
    const text = [secrets[5], 'sk_live_', secrets[299].slice(0, -1), `${secrets[17]}${secrets[18]}`, b64(secrets[42]), 'sk_live_zzzzzz_1'].join(' | ');
    for (const denseBudget of [undefined, 1, 5000]) {
      expect(new SecretMatcher(secrets, { denseBudget }).scrub(text)).toBe(naiveScrub(text, secrets));
    }
  });
});

describe('property: a registered secret never survives', () => {
  const MARKER_CHARS = new Set(Array.from(R));
  const char = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => !MARKER_CHARS.has(c) && /\S/.test(c));
  const secretArb = fc.array(char, { minLength: 4, maxLength: 24 }).map((cs) => cs.join(''));

  it('for random secrets at random positions in random text', () => {
    fc.assert(
      fc.property(
        fc.array(secretArb, { minLength: 1, maxLength: 5 }),
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 8 }),
        (secrets, base, inserts) => {
          let text = base;
          for (const [which, where] of inserts) {
            const at = where % (text.length + 1);
            text = text.slice(0, at) + secrets[which % secrets.length] + text.slice(at);
          }
          const scrubbed = new SecretMatcher(secrets).scrub(text);
          for (const s of secrets) expect(scrubbed.includes(s)).toBe(false);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('for any secret: no unredacted piece of the text contains it', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', minLength: 4, maxLength: 16 }).filter((s) => /\S/.test(s)),
        fc.string({ unit: 'grapheme-ascii', maxLength: 100 }),
        fc.nat(),
        (secret, base, where) => {
          const at = where % (base.length + 1);
          const text = base.slice(0, at) + secret + base.slice(at);
          const scrubbed = new SecretMatcher([secret]).scrub(text);
          for (const piece of scrubbed.split(R)) expect(piece.includes(secret)).toBe(false);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('for secrets embedded in JSON and scrubbed with scrubDeep', () => {
    fc.assert(
      fc.property(secretArb, fc.jsonValue(), fc.string({ maxLength: 10 }), (secret, json, key) => {
        const value = { data: json, [key]: [`x${secret}y`, { [secret]: secret }] };
        const m = new SecretMatcher([secret]);
        expect(JSON.stringify(m.scrubDeep(value)).includes(secret)).toBe(false);
        expect(m.scrub(JSON.stringify(value)).includes(secret)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});
