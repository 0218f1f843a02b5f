/**
 * The one JSON reader for request bodies (whole bodies, and each value an import takes whole).
 *
 * JSON.parse is lenient where a configuration service must not be: invalid UTF-8 becomes U+FFFD,
 * the last of two equal keys wins (`{"type":"secret",…,"type":"string"}` stored a would-be secret as
 * plaintext), and a number that a double cannot hold is rounded (12345678901234567890 became
 * 12345678901234567000). This reader refuses all three, and bounds the work a body can ask for: its
 * nesting depth and its number of values are capped while it is read, so refusing any body costs
 * time linear in its size. One pass, no recursion, nothing of the text in an error.
 */

/** A body this reader refuses: a stable code, a message with an offset at most, never content. */
export class StrictJsonError extends Error {
  constructor(
    readonly code: 'INVALID_JSON' | 'INVALID_UTF8' | 'DUPLICATE_KEY' | 'NUMBER_NOT_EXACT' | 'INVALID_VALUE' | 'JSON_TOO_DEEP' | 'TOO_MANY_VALUES',
    message: string,
  ) {
    super(message);
    this.name = 'StrictJsonError';
  }
}

export interface StrictJsonLimits {
  /** Deepest nesting of objects and arrays (the outermost container is depth 1). */
  maxDepth: number;
  /** Most values in the document: every object, array, string, number, true, false and null. */
  maxValues: number;
}

// fatal: invalid bytes throw instead of becoming U+FFFD. A leading byte order mark is dropped.
const DECODER = new TextDecoder('utf-8', { fatal: true });

/** Strict UTF-8: a byte sequence that is not UTF-8 (overlong forms and surrogates included) is refused. */
export function decodeUtf8Strict(bytes: Uint8Array): string {
  try {
    return DECODER.decode(bytes);
  } catch {
    throw new StrictJsonError('INVALID_UTF8', 'The body is not valid UTF-8');
  }
}

/** Reads UTF-8 bytes as strict JSON (see the module comment). */
export function parseStrictJsonBytes(bytes: Uint8Array, limits: StrictJsonLimits): unknown {
  return parseStrictJson(decodeUtf8Strict(bytes), limits);
}

const enum C {
  Tab = 0x09,
  Lf = 0x0a,
  Cr = 0x0d,
  Space = 0x20,
  Quote = 0x22,
  Plus = 0x2b,
  Comma = 0x2c,
  Minus = 0x2d,
  Dot = 0x2e,
  Zero = 0x30,
  Nine = 0x39,
  Colon = 0x3a,
  UpperE = 0x45,
  LBracket = 0x5b,
  Backslash = 0x5c,
  RBracket = 0x5d,
  LowerE = 0x65,
  LBrace = 0x7b,
  RBrace = 0x7d,
}

const ESCAPES: Record<number, string> = { 0x22: '"', 0x5c: '\\', 0x2f: '/', 0x62: '\b', 0x66: '\f', 0x6e: '\n', 0x72: '\r', 0x74: '\t' };

const hasOwn = Object.prototype.hasOwnProperty;

interface Container {
  value: Record<string, unknown> | unknown[];
  /** The key the next value is stored under (objects), or null for arrays. */
  key: string | null;
}

/**
 * Parses `text` as JSON, refusing duplicate keys, numbers that do not survive the trip to a double
 * and back, `__proto__` keys and `constructor.prototype` (prototype pollution), and documents deeper
 * or larger than `limits`. A number beyond a double's range (1e400) is INVALID_VALUE, as it was.
 */
export function parseStrictJson(text: string, limits: StrictJsonLimits): unknown {
  return new StrictParser(text, limits).parse();
}

/** One parse: state in fields and methods on the prototype, so a call allocates no closures. */
class StrictParser {
  private i = 0;
  private values = 0;
  private readonly n: number;
  private readonly stack: Container[] = [];
  private result: unknown = undefined;
  private done = false;

  constructor(
    private readonly text: string,
    private readonly limits: StrictJsonLimits,
  ) {
    this.n = text.length;
  }

  private fail(code: StrictJsonError['code'], problem: string): never {
    throw new StrictJsonError(code, `${problem} (at character ${this.i})`);
  }

  private syntax(problem: string): never {
    return this.fail('INVALID_JSON', `The body is not valid JSON: ${problem}`);
  }

  private skipWs(): void {
    const { text, n } = this;
    let i = this.i;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c !== C.Space && c !== C.Lf && c !== C.Cr && c !== C.Tab) break;
      i++;
    }
    this.i = i;
  }

  private count(): void {
    if (++this.values > this.limits.maxValues) this.fail('TOO_MANY_VALUES', `A body may hold at most ${this.limits.maxValues} JSON values`);
  }

  private readString(): string {
    const { text, n } = this;
    // text[i] is the opening quote.
    const start = ++this.i;
    let i = start;
    // Fast path: no escapes.
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === C.Quote) {
        this.i = i + 1;
        return text.slice(start, i);
      }
      if (c === C.Backslash) break;
      if (c < 0x20) {
        this.i = i;
        this.syntax('a control character in a string');
      }
      i++;
    }
    let out = text.slice(start, i);
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === C.Quote) {
        this.i = i + 1;
        return out;
      }
      if (c < 0x20) {
        this.i = i;
        this.syntax('a control character in a string');
      }
      if (c !== C.Backslash) {
        const from = i;
        while (i < n) {
          const d = text.charCodeAt(i);
          if (d === C.Quote || d === C.Backslash || d < 0x20) break;
          i++;
        }
        out += text.slice(from, i);
        continue;
      }
      const e = text.charCodeAt(i + 1);
      if (e === 0x75) {
        const hex = text.slice(i + 2, i + 6);
        if (!HEX4.test(hex)) {
          this.i = i;
          this.syntax('a bad \\u escape');
        }
        out += String.fromCharCode(parseInt(hex, 16));
        i += 6;
      } else {
        const ch = ESCAPES[e];
        if (ch === undefined) {
          this.i = i;
          this.syntax('a bad escape');
        }
        out += ch;
        i += 2;
      }
    }
    this.i = i;
    return this.syntax('a string that does not end');
  }

  private digits(): number {
    const { text, n } = this;
    let i = this.i;
    let c: number;
    while (i < n && (c = text.charCodeAt(i)) >= C.Zero && c <= C.Nine) i++;
    const read = i - this.i;
    this.i = i;
    return read;
  }

  private readNumber(): number {
    const text = this.text;
    const start = this.i;
    if (text.charCodeAt(this.i) === C.Minus) this.i++;
    const intStart = this.i;
    const c = text.charCodeAt(this.i);
    if (c === C.Zero) this.i++;
    else if (c > C.Zero && c <= C.Nine) this.digits();
    else this.syntax('a bad number');
    const intEnd = this.i;
    let plain = true;
    if (text.charCodeAt(this.i) === C.Dot) {
      plain = false;
      this.i++;
      if (this.digits() === 0) this.syntax('a bad number');
    }
    const e = text.charCodeAt(this.i);
    if (e === C.LowerE || e === C.UpperE) {
      plain = false;
      this.i++;
      const sign = text.charCodeAt(this.i);
      if (sign === C.Plus || sign === C.Minus) this.i++;
      if (this.digits() === 0) this.syntax('a bad number');
    }
    const token = text.slice(start, this.i);
    const value = Number(token);
    if (!Number.isFinite(value)) this.fail('INVALID_VALUE', 'The body holds a number outside the range JSON numbers can be stored in');
    // Up to 15 digits, an integer is always exact; anything else is checked.
    if (!(plain && intEnd - intStart <= 15) && !sameDecimal(token, value)) {
      this.fail('NUMBER_NOT_EXACT', 'A number in the body cannot be stored exactly (more digits than a 64-bit float holds); send it as a string');
    }
    return value;
  }

  private literal(word: string, value: unknown): unknown {
    if (this.text.startsWith(word, this.i)) {
      this.i += word.length;
      return value;
    }
    return this.syntax('an unexpected character');
  }

  /** Stores a finished value into the innermost container (or as the result). */
  private put(value: unknown): void {
    const top = this.stack[this.stack.length - 1];
    if (top === undefined) {
      this.result = value;
      this.done = true;
      return;
    }
    if (top.key === null) (top.value as unknown[]).push(value);
    else {
      if (top.key === 'constructor' && value !== null && typeof value === 'object' && !Array.isArray(value) && hasOwn.call(value, 'prototype')) {
        this.syntax('a constructor.prototype member');
      }
      (top.value as Record<string, unknown>)[top.key] = value;
    }
  }

  /** Reads a member name, checks it, and leaves `i` after the colon. */
  private readKey(top: Container): void {
    if (this.text.charCodeAt(this.i) !== C.Quote) this.syntax('expected a member name');
    const at = this.i;
    const key = this.readString();
    if (key === '__proto__') {
      this.i = at;
      this.syntax('a __proto__ member');
    }
    if (hasOwn.call(top.value, key)) {
      this.i = at;
      this.fail('DUPLICATE_KEY', 'An object in the body has the same member name twice');
    }
    top.key = key;
    this.skipWs();
    if (this.text.charCodeAt(this.i) !== C.Colon) this.syntax('expected ":"');
    this.i++;
  }

  parse(): unknown {
    const { text, n, stack } = this;
    // Value positions and the punctuation after them, iteratively.
    this.skipWs();
    if (this.i >= n) this.syntax('the body is empty');
    for (;;) {
      // Read one value (or open a container).
      this.skipWs();
      if (this.i >= n) this.syntax('the body ends too early');
      const c = text.charCodeAt(this.i);
      if (c === C.LBrace || c === C.LBracket) {
        this.count();
        if (stack.length + 1 > this.limits.maxDepth) this.fail('JSON_TOO_DEEP', `JSON nesting is limited to ${this.limits.maxDepth} levels`);
        const container: Container = { value: c === C.LBrace ? {} : [], key: null };
        this.i++;
        this.skipWs();
        if (text.charCodeAt(this.i) === (c === C.LBrace ? C.RBrace : C.RBracket)) {
          this.i++;
          this.put(container.value);
        } else {
          stack.push(container);
          if (c === C.LBrace) this.readKey(container);
          continue;
        }
      } else {
        this.count();
        let value: unknown;
        if (c === C.Quote) value = this.readString();
        else if (c === C.Minus || (c >= C.Zero && c <= C.Nine)) value = this.readNumber();
        else if (c === 0x74) value = this.literal('true', true);
        else if (c === 0x66) value = this.literal('false', false);
        else if (c === 0x6e) value = this.literal('null', null);
        else this.syntax('an unexpected character');
        this.put(value);
      }
      // After a value: close containers, or move to the next element / member.
      for (;;) {
        if (this.done) {
          this.skipWs();
          if (this.i < n) this.syntax('content after the end of the document');
          return this.result;
        }
        this.skipWs();
        const top = stack[stack.length - 1];
        const d = text.charCodeAt(this.i);
        const isObject = top.key !== null;
        if (d === C.Comma) {
          this.i++;
          this.skipWs();
          if (isObject) this.readKey(top);
          break;
        }
        if (d === (isObject ? C.RBrace : C.RBracket)) {
          this.i++;
          stack.pop();
          this.put(top.value);
          continue;
        }
        this.syntax(isObject ? 'expected "," or "}"' : 'expected "," or "]"');
      }
    }
  }
}

const HEX4 = /^[0-9a-fA-F]{4}$/;

/**
 * True when `value` (a finite double) is exactly the decimal number `token` writes: the shortest
 * form JavaScript prints for the double denotes the same number as the token. So 0.1, 1.0, 1e2 and
 * 9007199254740992 pass (they read back as the same number, in canonical form), and
 * 12345678901234567890, 0.1000000000000000055511151231257827, 1e400 and 1e-400 do not.
 */
export function sameDecimal(token: string, value: number): boolean {
  if (!Number.isFinite(value)) return false;
  const a = decimalParts(token);
  const b = decimalParts(String(value));
  // Zero is zero, whatever its sign or exponent; -0 is stored as 0 by JSON.
  if (a.digits === '' || b.digits === '') return a.digits === b.digits;
  return a.digits === b.digits && a.exponent === b.exponent && a.negative === b.negative;
}

/** A decimal number as (sign, significant digits without leading or trailing zeros, exponent of the last digit). */
function decimalParts(text: string): { negative: boolean; digits: string; exponent: number } {
  let s = text;
  const negative = s.startsWith('-');
  if (negative) s = s.slice(1);
  let exponent = 0;
  const e = s.search(/[eE]/);
  if (e >= 0) {
    exponent = Number(s.slice(e + 1));
    s = s.slice(0, e);
  }
  const dot = s.indexOf('.');
  if (dot >= 0) {
    exponent -= s.length - dot - 1;
    s = s.slice(0, dot) + s.slice(dot + 1);
  }
  s = s.replace(/^0+/, '');
  const trimmed = s.replace(/0+$/, '');
  exponent += s.length - trimmed.length;
  return { negative, digits: trimmed, exponent };
}
