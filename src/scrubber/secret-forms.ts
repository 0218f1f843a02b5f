/* eslint-disable no-control-regex -- the forms are about control and non-ASCII characters: the ranges name them on purpose. */
/**
 * Every textual form in which a secret may leak into a response, a log line or an execution record.
 *
 * Pure functions, no Nest code. `SecretMatcher` (secret-matcher.ts) registers all of these forms in
 * one automaton and replaces them in a single pass over the text.
 *
 * Rules:
 * - A secret is registered only if it has at least `MIN_SECRET_LENGTH` characters (Unicode code
 *   points, so two emoji are two characters) and is not whitespace only. Shorter secrets yield no
 *   form at all, by rule: redacting every "abc" would destroy the text and protect nothing.
 * - Forms shorter than `MIN_SECRET_LENGTH` characters are dropped, and the list is deduplicated.
 * - A multi-line secret (split on `\r?\n`) also registers each of its lines, trimmed, when the
 *   trimmed line has at least `MIN_SECRET_LENGTH` characters, with every form of that line.
 *   Whitespace-only lines (indentation) are never registered, or every response would lose its
 *   indentation. A secret with surrounding whitespace also registers its trimmed text.
 */

export const MIN_SECRET_LENGTH = 4;

/**
 * What every listing shows in place of a secret. No form that occurs inside it is ever registered:
 * a secret (or a line of one) made of bullets would otherwise turn every masked value into a
 * redaction. The write paths refuse the mask as a secret's value (`MASK_AS_VALUE`); this also holds
 * for anything stored before they did.
 */
export const MASK = '\u2022'.repeat(6);

/** Number of Unicode code points in `s` (a lone surrogate counts as one). */
export function charLength(s: string): number {
  let n = s.length;
  for (let i = 0; i + 1 < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** True when `secret` is long enough (and not only whitespace) to be registered with the scrubber. */
export function isScrubbableSecret(secret: unknown): secret is string {
  return typeof secret === 'string' && charLength(secret) >= MIN_SECRET_LENGTH && /\S/.test(secret);
}

// ---------------------------------------------------------------------------------------------
// JSON

interface JsonEscapeOptions {
  /** Write every non-ASCII code unit as `\uXXXX` (Python `ensure_ascii`, Jackson, ...). */
  readonly nonAscii: boolean;
  /** Write every control character (and DEL) as `\uXXXX` instead of `\n`, `\t`, ... */
  readonly controlsAsUnicode: boolean;
  /** Upper-case hex digits in `\uXXXX`. */
  readonly upperHex: boolean;
  /** Go's encoding/json: `<`, `>`, `&`, U+2028 and U+2029 as `\u003c` ... */
  readonly htmlSafe: boolean;
  /** PHP's json_encode: `/` as `\/`. */
  readonly escapeSlash: boolean;
}

const SHORT_ESCAPES: Readonly<Record<number, string>> = {
  0x08: '\\b',
  0x09: '\\t',
  0x0a: '\\n',
  0x0c: '\\f',
  0x0d: '\\r',
};

function unicodeEscape(code: number, upper: boolean): string {
  const hex = code.toString(16).padStart(4, '0');
  return '\\u' + (upper ? hex.toUpperCase() : hex);
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** The text a JSON serializer writes between the quotes of a string, under `o`. */
function jsonEscape(s: string, o: JsonEscapeOptions): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x2f && o.escapeSlash) out += '\\/';
    else if (c < 0x20 || (c === 0x7f && o.controlsAsUnicode)) {
      const short = o.controlsAsUnicode ? undefined : SHORT_ESCAPES[c];
      out += short ?? unicodeEscape(c, o.upperHex);
    } else if (o.htmlSafe && (c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029)) {
      out += unicodeEscape(c, false);
    } else if (c >= 0x80 && o.nonAscii) {
      out += unicodeEscape(c, o.upperHex);
    } else if (isHighSurrogate(c) || isLowSurrogate(c)) {
      // Well-formed JSON.stringify: a pair is written raw, a lone surrogate as \udxxx.
      if (isHighSurrogate(c) && i + 1 < s.length && isLowSurrogate(s.charCodeAt(i + 1))) {
        out += s[i] + s[i + 1];
        i++;
      } else {
        out += unicodeEscape(c, o.upperHex);
      }
    } else {
      out += s[i];
    }
  }
  return out;
}

const JSON_STRINGIFY: JsonEscapeOptions = {
  nonAscii: false,
  controlsAsUnicode: false,
  upperHex: false,
  htmlSafe: false,
  escapeSlash: false,
};

const JSON_VARIANTS: readonly JsonEscapeOptions[] = [
  JSON_STRINGIFY,
  // non-ASCII as \uXXXX, short control escapes (Python ensure_ascii=True), both hex cases
  { ...JSON_STRINGIFY, nonAscii: true },
  { ...JSON_STRINGIFY, nonAscii: true, upperHex: true },
  // every non-ASCII char and every control char as \uXXXX, both hex cases
  { ...JSON_STRINGIFY, nonAscii: true, controlsAsUnicode: true },
  { ...JSON_STRINGIFY, nonAscii: true, controlsAsUnicode: true, upperHex: true },
  // Go encoding/json
  { ...JSON_STRINGIFY, htmlSafe: true },
  // PHP json_encode, with and without JSON_UNESCAPED_UNICODE
  { ...JSON_STRINGIFY, nonAscii: true, escapeSlash: true },
  { ...JSON_STRINGIFY, escapeSlash: true },
];

/** JSON-escaped forms (the text between the quotes), plus the twice-escaped form (JSON in JSON). */
export function jsonForms(s: string): string[] {
  // Fast path: printable ASCII that no variant escapes.
  if (!/[^\x20\x21\x23-\x25\x27-\x2e\x30-\x3b\x3d\x3f-\x5b\x5d-\x7e]/.test(s)) return [s];
  // Only compute the variants whose options make a difference for this string.
  const hasNonAscii = /[^\x00-\x7f]/.test(s);
  const hasControl = /[\x00-\x1f\x7f]/.test(s);
  const hasHtml = /[<>&\u2028\u2029]/.test(s);
  const hasSlash = s.includes('/');
  const seen = new Set<string>();
  const forms: string[] = [];
  for (const o of JSON_VARIANTS) {
    const effective: JsonEscapeOptions = {
      nonAscii: o.nonAscii && hasNonAscii,
      controlsAsUnicode: o.controlsAsUnicode && hasControl,
      upperHex: o.upperHex && (hasNonAscii || hasControl),
      htmlSafe: o.htmlSafe && hasHtml,
      escapeSlash: o.escapeSlash && hasSlash,
    };
    const key = `${+effective.nonAscii}${+effective.controlsAsUnicode}${+effective.upperHex}${+effective.htmlSafe}${+effective.escapeSlash}`;
    if (seen.has(key)) continue;
    seen.add(key);
    forms.push(jsonEscape(s, effective));
  }
  forms.push(jsonEscape(forms[0], JSON_STRINGIFY));
  return forms;
}

// ---------------------------------------------------------------------------------------------
// URL

function lowerPercentHex(s: string): string {
  return s.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
}

function percentEncode(c: string): string {
  return '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
}

/**
 * URL-encoded forms: `encodeURIComponent`; RFC 3986 strict (also `!'()*`); form encoding with `+`
 * for space (both the `encodeURIComponent`-based one and WHATWG `URLSearchParams`); and the variants
 * that leave some characters unescaped: `encodeURI` (reserved characters raw) and Python's
 * `urllib.parse.quote` (`/` raw); plus lower-case hex for the common ones. Strings with a lone
 * surrogate cannot be percent-encoded by these functions and yield no URL form.
 */
export function urlForms(s: string): string[] {
  // Fast path: characters that no variant encodes.
  if (/^[A-Za-z0-9_.~-]*$/.test(s)) return [s];
  let component: string;
  try {
    component = encodeURIComponent(s);
  } catch {
    return [];
  }
  const strict = /[!'()*]/.test(component) ? component.replace(/[!'()*]/g, percentEncode) : component;
  const plus = component.includes('%20') ? component.replace(/%20/g, '+') : component;
  // WHATWG application/x-www-form-urlencoded (URLSearchParams): also !'()~ encoded, space as +.
  const searchParams = (/[!'()~]/.test(component) ? component.replace(/[!'()~]/g, percentEncode) : component).replace(/%20/g, '+');
  const forms = [component, strict, plus, searchParams, encodeURI(s), strict.replace(/%2F/g, '/')];
  if (/%[0-9A-F]?[A-F]/.test(strict + searchParams)) {
    forms.push(lowerPercentHex(component), lowerPercentHex(strict), lowerPercentHex(plus), lowerPercentHex(searchParams));
  }
  return forms;
}

// ---------------------------------------------------------------------------------------------
// HTML / XML

function htmlEscape(s: string, quote: string | null, apostrophe: string | null): string {
  let out = s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  if (quote !== null) out = out.replace(/"/g, quote);
  if (apostrophe !== null) out = out.replace(/'/g, apostrophe);
  return out;
}

/** HTML/XML-escaped forms: `&amp; &lt; &gt; &quot;` with each of `&#39; &#x27; &apos;`, and text-node escaping. */
export function htmlForms(s: string): string[] {
  if (!/[&<>"']/.test(s)) return [s];
  return [
    htmlEscape(s, '&quot;', '&#39;'),
    htmlEscape(s, '&quot;', '&#x27;'),
    htmlEscape(s, '&quot;', '&apos;'),
    htmlEscape(s, '&#34;', '&#39;'),
    htmlEscape(s, '&quot;', null),
    htmlEscape(s, null, null),
  ];
}

// ---------------------------------------------------------------------------------------------
// base64

function toBase64Url(b64: string): string {
  return b64.replace(/\+/g, '-').replace(/\//g, '_');
}

let scratch = Buffer.alloc(256);

/**
 * The run of base64 characters fully determined by `bytes` alone when they start at byte `offset`
 * (0, 1 or 2 modulo 3) of a longer base64-encoded buffer. Character i of a base64 text encodes bits
 * [6i, 6i+6) of the buffer; the secret holds bits [8*offset, 8*(offset+n)), so the characters that
 * depend on it alone are i in [ceil(8*offset/6), floor(8*(offset+n)/6)).
 */
export function base64Run(bytes: Uint8Array, offset: 0 | 1 | 2): string {
  // One scratch buffer, grown as needed: a fresh Buffer per run was a tenth of a secret write's CPU
  // (each rebuild of a scrubber computes six runs per secret).
  const size = offset + bytes.length + 2;
  if (scratch.length < size) scratch = Buffer.alloc(Math.max(size, 2 * scratch.length));
  scratch.fill(0, 0, offset);
  scratch.set(bytes, offset);
  scratch.fill(0, offset + bytes.length, size);
  const encoded = scratch.toString('base64', 0, size);
  const start = Math.ceil((8 * offset) / 6);
  const end = Math.floor((8 * (offset + bytes.length)) / 6);
  return encoded.slice(start, end);
}

/**
 * base64 and base64url of the UTF-8 bytes, padded and unpadded, and the determined runs at byte
 * offsets 0, 1 and 2 inside a longer base64 text (what GitHub's runner and Jenkins register).
 */
export function base64Forms(s: string): string[] {
  const bytes = Buffer.from(s, 'utf8');
  const padded = bytes.toString('base64');
  const unpadded = padded.replace(/=+$/, '');
  const forms = [padded, unpadded, toBase64Url(padded), toBase64Url(unpadded)];
  for (const offset of [0, 1, 2] as const) {
    const run = base64Run(bytes, offset);
    forms.push(run, toBase64Url(run));
  }
  return forms;
}

// ---------------------------------------------------------------------------------------------
// hex, bytes read as latin1, percent-encoding of every byte

/**
 * The forms the matcher needs to find a secret's hex (matcher/hex.ts decodes hex runs that hold a
 * letter, byte for byte): its UTF-8 bytes read as latin1 when it is not ASCII, and its hex itself
 * when that has no letter (then it is a run of decimal digits, which is not decoded). And every
 * byte percent-encoded in upper case (`%73%6B...`, as byte-wise encoders write it; urlForms has the
 * usual encodings in both cases).
 */
export function byteForms(s: string): string[] {
  const bytes = Buffer.from(s, 'utf8');
  const hex = bytes.toString('hex');
  const forms = [hex.toUpperCase().replace(/../g, '%$&')];
  if (/[^\x00-\x7f]/.test(s)) forms.push(bytes.toString('latin1'));
  if (!/[a-f]/.test(hex)) forms.push(hex);
  return forms;
}

// ---------------------------------------------------------------------------------------------
// SQL and shell quoting

/** The characters bash's `printf %q` escapes anywhere in a word (`~` and `#` only at its start). */
const SHELL_SPECIAL = /[ \t!"$&'()*,;<>?[\\\]^`{|}]/;
const SHELL_SPECIAL_ALL = new RegExp(SHELL_SPECIAL.source, 'g');

/**
 * The text between the quotes (or the whole word) when a secret is quoted for SQL or a shell:
 * SQL with single quotes doubled, and with backslash escapes (MySQL); shell single-quoted with `'`
 * written `'\''` (bash xtrace, Jenkins) or `'"'"'` (Python's shlex.quote); shell backslash-escaped
 * (`printf %q`); shell double-quoted (`\`, `"`, `$`, backquote escaped); and `$` doubled (Jenkins'
 * `$$`, Compose, Make).
 */
export function quotedForms(s: string): string[] {
  const forms: string[] = [];
  if (s.includes("'")) forms.push(s.replace(/'/g, "''"), s.replace(/'/g, "'\\''"), s.replace(/'/g, `'"'"'`));
  if (/['"\\]/.test(s)) forms.push(s.replace(/['"\\]/g, '\\$&'));
  if (/["$`\\]/.test(s)) forms.push(s.replace(/["$`\\]/g, '\\$&'));
  if (SHELL_SPECIAL.test(s) || /^[~#]/.test(s)) forms.push(s.replace(SHELL_SPECIAL_ALL, '\\$&').replace(/^[~#]/, '\\$&'));
  if (s.includes('$')) forms.push(s.replace(/\$/g, '$$$$'));
  return forms;
}

// ---------------------------------------------------------------------------------------------

function addFormsOf(s: string, out: Set<string>): void {
  out.add(s);
  for (const f of jsonForms(s)) out.add(f);
  for (const f of urlForms(s)) out.add(f);
  for (const f of htmlForms(s)) out.add(f);
  for (const f of base64Forms(s)) out.add(f);
  for (const f of byteForms(s)) out.add(f);
  // A quoted form is often logged inside JSON text too (a command line in a JSON log line).
  for (const f of quotedForms(s)) out.add(f).add(jsonEscape(f, JSON_STRINGIFY));
}

/**
 * Every form to match for one secret, deduplicated, each of at least `MIN_SECRET_LENGTH`
 * characters. The raw secret comes first. A secret shorter than `MIN_SECRET_LENGTH` characters (or
 * whitespace only) yields `[]`.
 */
export function secretForms(secret: string): string[] {
  if (!isScrubbableSecret(secret)) return [];
  const out = new Set<string>();
  addFormsOf(secret, out);
  const trimmed = secret.trim();
  if (trimmed !== secret && isScrubbableSecret(trimmed)) addFormsOf(trimmed, out);
  if (secret.includes('\n')) {
    for (const line of secret.split(/\r?\n/)) {
      const t = line.trim();
      if (isScrubbableSecret(t)) addFormsOf(t, out);
    }
  }
  const forms: string[] = [];
  for (const f of out) {
    if (MASK.includes(f)) continue;
    // A string of 2n code units has at least n code points.
    if (f.length >= 2 * MIN_SECRET_LENGTH || charLength(f) >= MIN_SECRET_LENGTH) forms.push(f);
  }
  return forms;
}
