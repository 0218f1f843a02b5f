import * as fc from 'fast-check';
import {
  MASK,
  MIN_SECRET_LENGTH,
  base64Forms,
  base64Run,
  charLength,
  htmlForms,
  isScrubbableSecret,
  jsonForms,
  secretForms,
  urlForms,
} from './secret-forms';
import { SecretMatcher } from './secret-matcher';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const b64url = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');

describe('secretForms: the rule on length', () => {
  it('yields nothing for secrets shorter than 4 characters', () => {
    expect(MIN_SECRET_LENGTH).toBe(4);
    expect(secretForms('')).toEqual([]);
    expect(secretForms('a')).toEqual([]);
    expect(secretForms('abc')).toEqual([]);
    expect(secretForms('é€😀')).toEqual([]); // 3 characters, 4 code units
    expect(secretForms('😀😀')).toEqual([]); // 2 characters
  });

  it('yields nothing for whitespace-only secrets', () => {
    expect(secretForms('    ')).toEqual([]);
    expect(secretForms('\t\n  \r\n')).toEqual([]);
  });

  it('registers a 4-character secret, raw first', () => {
    expect(secretForms('abcd')[0]).toBe('abcd');
    expect(secretForms('😀😀😀😀')[0]).toBe('😀😀😀😀');
    expect(isScrubbableSecret('abcd')).toBe(true);
    expect(isScrubbableSecret('abc')).toBe(false);
    expect(isScrubbableSecret(1234 as unknown)).toBe(false);
  });

  it('counts characters as code points', () => {
    expect(charLength('abc')).toBe(3);
    expect(charLength('😀')).toBe(1);
    expect(charLength('a😀b')).toBe(3);
    expect(charLength('\ud800x')).toBe(2); // a lone surrogate counts as one
  });

  it('deduplicates and drops forms shorter than 4 characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 4, maxLength: 30 }), (secret) => {
        const forms = secretForms(secret);
        expect(new Set(forms).size).toBe(forms.length);
        for (const f of forms) expect(charLength(f)).toBeGreaterThanOrEqual(4);
      }),
    );
  });

  it('keeps a plain secret to a handful of forms', () => {
    const forms = secretForms('abcdefgh');
    expect(forms).toEqual(expect.arrayContaining(['abcdefgh', b64('abcdefgh'), b64('abcdefgh').replace(/=+$/, '')]));
    expect(forms.length).toBeLessThanOrEqual(12);
  });
});

describe('JSON-escaped forms', () => {
  const cases: Array<[string, string]> = [
    ['quotes', 'pa"ss"word'],
    ['backslashes', 'C:\\path\\to\\key'],
    ['control characters', 'line1\nline2\ttab\rcr\bbs\fff\u0001\u001f'],
    ['non-ASCII', 'pässwörd-€-日本語-😀'],
    ['slash and HTML characters', '</script>&<b>'],
    ['line separators', 'a\u2028b\u2029c'],
  ];

  it.each(cases)('includes what JSON.stringify writes, for %s', (_name, secret) => {
    expect(secretForms(secret)).toContain(JSON.stringify(secret).slice(1, -1));
  });

  it.each(cases)('only has forms that JSON.parse reads back as the secret, for %s', (_name, secret) => {
    const forms = jsonForms(secret);
    for (const f of forms.slice(0, -1)) expect(JSON.parse(`"${f}"`)).toBe(secret);
    // The last one is the twice-escaped form (a JSON document inside a JSON string).
    const once: string = JSON.parse(`"${forms[forms.length - 1]}"`);
    expect(JSON.parse(`"${once}"`)).toBe(secret);
  });

  it('includes every non-ASCII and control character as \\uXXXX, lower and upper case', () => {
    const forms = secretForms('é\n😀x"');
    expect(forms).toContain('\\u00e9\\u000a\\ud83d\\ude00x\\"');
    expect(forms).toContain('\\u00E9\\u000A\\uD83D\\uDE00x\\"');
    // Python's ensure_ascii: short escapes for controls, \u for the rest
    expect(forms).toContain('\\u00e9\\n\\ud83d\\ude00x\\"');
  });

  it('includes quotes and backslashes escaped', () => {
    expect(secretForms('a"b\\c')).toContain('a\\"b\\\\c');
    expect(secretForms('a"b\\c')).toContain('a\\\\\\"b\\\\\\\\c'); // escaped twice
  });

  it('includes the forms of Go (\\u003c ...) and PHP (\\/)', () => {
    expect(secretForms('<a&b>')).toContain('\\u003ca\\u0026b\\u003e');
    expect(secretForms('a/b/c')).toContain('a\\/b\\/c');
  });

  it('escapes lone surrogates as JSON.stringify does', () => {
    const secret = 'ab\ud800cd';
    expect(secretForms(secret)).toContain(JSON.stringify(secret).slice(1, -1));
  });

  it('round-trips for random strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }), (secret) => {
        const forms = jsonForms(secret);
        expect(forms).toContain(JSON.stringify(secret).slice(1, -1));
        for (const f of forms.slice(0, -1)) expect(JSON.parse(`"${f}"`)).toBe(secret);
      }),
    );
  });
});

describe('URL-encoded forms', () => {
  const secret = "p@ss w/rd?&=+!'()*~é";

  it('includes encodeURIComponent', () => {
    expect(secretForms(secret)).toContain(encodeURIComponent(secret));
  });

  it('includes form encoding with + for space, as URLSearchParams writes it', () => {
    const forms = secretForms(secret);
    expect(forms).toContain(encodeURIComponent(secret).replace(/%20/g, '+'));
    expect(forms).toContain(new URLSearchParams([['k', secret]]).toString().slice(2));
  });

  it('includes RFC 3986 strict, encodeURI, Python quote and lower-case hex variants', () => {
    const forms = urlForms(secret);
    const component = encodeURIComponent(secret);
    const strict = component.replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
    expect(forms).toContain(strict);
    expect(forms).toContain(encodeURI(secret));
    expect(forms).toContain(strict.replace(/%2F/g, '/'));
    expect(forms).toContain(component.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
  });

  it('only has forms that decode back to the secret', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }), (s) => {
        for (const f of urlForms(s)) {
          const decoded = decodeURIComponent(f.replace(/\+/g, '%20'));
          // `+` in the secret is written %2B by every variant except encodeURI, which keeps it raw.
          expect(decoded === s || f === encodeURI(s)).toBe(true);
        }
      }),
    );
  });

  it('yields no URL form for a string that cannot be percent-encoded', () => {
    expect(urlForms('ab\ud800cd')).toEqual([]);
  });

  it('does not multiply forms for unreserved characters', () => {
    expect(urlForms('abc-DEF_123.~')).toEqual(['abc-DEF_123.~']);
  });
});

describe('HTML/XML-escaped forms', () => {
  const secret = `a&b<c>d"e'f`;

  it.each([
    ['&#39;', 'a&amp;b&lt;c&gt;d&quot;e&#39;f'],
    ['&#x27;', 'a&amp;b&lt;c&gt;d&quot;e&#x27;f'],
    ['&apos;', 'a&amp;b&lt;c&gt;d&quot;e&apos;f'],
  ])('includes the form with %s', (_name, form) => {
    expect(secretForms(secret)).toContain(form);
  });

  it('includes text-node escaping (quotes raw)', () => {
    expect(htmlForms(secret)).toContain(`a&amp;b&lt;c&gt;d"e'f`);
  });

  it('escapes & first (no double escaping)', () => {
    expect(htmlForms('&lt;&&')).toContain('&amp;lt;&amp;&amp;');
  });
});

describe('base64 forms', () => {
  it.each(['abcd', 'abcde', 'abcdef', 'pässwörd', '😀 secret 日本'])('includes base64 and base64url, padded and unpadded, of %j', (secret) => {
    const forms = secretForms(secret);
    expect(forms).toContain(b64(secret));
    expect(forms).toContain(b64(secret).replace(/=+$/, ''));
    expect(forms).toContain(b64url(secret));
    const paddedUrl = b64(secret).replace(/\+/g, '-').replace(/\//g, '_');
    expect(forms).toContain(paddedUrl);
  });

  it('uses the base64url alphabet where it differs', () => {
    const secret = '\u00fb\u00ef\u00bf>>?'; // UTF-8 bytes whose base64 has + and /
    expect(b64(secret)).toMatch(/[+/]/);
    const forms = base64Forms(secret);
    expect(forms).toContain(b64url(secret));
    expect(b64url(secret)).toMatch(/[-_]/);
  });

  it('computes the runs at byte offsets 0, 1 and 2 exactly as they appear in a longer text', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 40 }),
        fc.uint8Array({ maxLength: 10 }),
        fc.uint8Array({ maxLength: 10 }),
        (secret, prefix, suffix) => {
          const offset = (prefix.length % 3) as 0 | 1 | 2;
          const text = Buffer.concat([prefix, secret, suffix]).toString('base64');
          const run = base64Run(secret, offset);
          const start = Math.ceil((8 * prefix.length) / 6);
          expect(text.slice(start, start + run.length)).toBe(run);
          // The run is as long as it can be: every base64 character whose 6 bits are all the secret's.
          expect(run.length).toBe(Math.floor((8 * (prefix.length + secret.length)) / 6) - start);
        },
      ),
    );
  });

  it('registers the runs at offsets 1 and 2, in both alphabets', () => {
    const secret = 'correct horse battery staple';
    const bytes = Buffer.from(secret);
    const forms = secretForms(secret);
    for (const offset of [1, 2] as const) {
      const run = base64Run(bytes, offset);
      expect(run.length).toBeGreaterThan(30);
      expect(forms).toContain(run);
      expect(forms).toContain(run.replace(/\+/g, '-').replace(/\//g, '_'));
    }
  });
});

describe('multi-line secrets', () => {
  const pem = ['-----BEGIN PRIVATE KEY-----', 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC', 'bGluZTIgb2YgdGhlIGtleQ==', '-----END PRIVATE KEY-----', ''].join('\n');

  it('registers each line of at least 4 characters, with its forms', () => {
    const forms = secretForms(pem);
    expect(forms[0]).toBe(pem);
    for (const line of pem.split('\n').filter((l) => l.length >= 4)) {
      expect(forms).toContain(line);
      expect(forms).toContain(b64(line));
      expect(forms).toContain(JSON.stringify(line).slice(1, -1));
      expect(forms).toContain(encodeURIComponent(line));
    }
    expect(forms).toContain(JSON.stringify(pem).slice(1, -1));
  });

  it('splits on CRLF too and trims each line', () => {
    const forms = secretForms('first-line\r\n  second-line  \r\nabc\r\n    \r\n');
    expect(forms).toContain('first-line');
    expect(forms).toContain('second-line');
    expect(forms).not.toContain('abc'); // shorter than 4
    expect(forms).not.toContain('    '); // whitespace only: never registered
    expect(forms).not.toContain('first-line\r');
  });

  it('registers a secret with surrounding whitespace trimmed too', () => {
    expect(secretForms('  token-value\n')).toContain('token-value');
  });
});

describe('secretForms: the mask that listings show is never a form', () => {
  it('registers no form that occurs inside the mask, from a secret or from one of its lines', () => {
    expect(MASK).toBe('••••••');
    for (const secret of [MASK, '••••', '•••••', ` ${MASK} `, `real-secret-value\n••••\n  ${MASK}`, `abcd\r\n•••••`]) {
      for (const form of secretForms(secret)) expect(MASK.includes(form)).toBe(false);
    }
    expect(secretForms(MASK)).not.toContain(MASK);
    // A longer secret that holds the mask is still registered, raw first.
    expect(secretForms(`x${MASK}`)[0]).toBe(`x${MASK}`);
    expect(secretForms(`real-secret-value\n${MASK}`)).toContain('real-secret-value');
  });

  it('so a matcher of such secrets leaves the mask alone and still redacts the rest', () => {
    const matcher = new SecretMatcher([MASK, '••••', `real-secret-value\n••••\n${MASK}`]);
    expect(matcher.scrub(`value: ${MASK}`)).toBe(`value: ${MASK}`);
    expect(matcher.scrubDeep({ a: MASK, b: [MASK] })).toEqual({ a: MASK, b: [MASK] });
    expect(matcher.scrub('got real-secret-value here')).toBe('got [REDACTED] here');
  });
});
