import type { View } from './views';

/**
 * Base64 wrapped at a fixed width (PEM at 64 columns, MIME at 76), where a line break may fall
 * anywhere inside a secret's base64 run. Registering every break position would multiply the
 * forms by the width; instead each wrapped block is joined (breaks removed) and scanned again, so
 * the cost is one more pass over wrapped text only, whatever the number of secrets.
 *
 * A block is one or more full lines (exactly 64 or 76 base64 characters, all of one width, each
 * ended by a break; the first may follow other text on its line), plus the base64 run that ends
 * just before its first line (a first line cut short) and the one that starts after its last break. Breaks are `\n` or `\r\n`, raw or
 * JSON-escaped (as in a serialized log line); `-` and `_` count as base64 (base64url).
 */

const WIDTHS = [64, 76];

function isBase64(code: number): boolean {
  return (
    (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) ||
    code === 0x2b || code === 0x2f || code === 0x3d || code === 0x2d || code === 0x5f
  );
}

/**
 * The longest text a match of a form of `longest` code units covers once wrapped (a break of up
 * to 4 code units every 64), plus a full line and its break on each side.
 */
export function wrappedSpan(longest: number): number {
  return longest + 4 * Math.ceil(longest / WIDTHS[0]) + 2 * (WIDTHS[WIDTHS.length - 1] + 4);
}


/**
 * The line breaks of a text in order, as [position, length]. Each kind's next occurrence is
 * searched once and kept, so a text with many breaks of one kind costs one pass per kind.
 */
class Breaks {
  #raw = -2;
  #escaped = -2;
  constructor(private readonly text: string) {}

  next(from: number): [number, number] | null {
    const text = this.text;
    if (this.#raw !== -1 && this.#raw < from) this.#raw = text.indexOf('\n', from);
    if (this.#escaped !== -1 && this.#escaped < from) this.#escaped = this.escapedFrom(from);
    const raw = this.#raw;
    const escaped = this.#escaped;
    if (raw >= 0 && (escaped < 0 || raw < escaped)) {
      return raw > from && text.charCodeAt(raw - 1) === 0x0d ? [raw - 1, 2] : [raw, 1];
    }
    if (escaped < 0) return null;
    if (escaped >= from + 2 && text.startsWith('\\r', escaped - 2)) return [escaped - 2, 4];
    return [escaped, 2];
  }

  /** The next `\n` escape; an escaped backslash before an n (`\\\\n`) is none. */
  private escapedFrom(from: number): number {
    const text = this.text;
    for (let at = text.indexOf('\\n', from); at >= 0; at = text.indexOf('\\n', at + 1)) {
      let k = at;
      while (k > 0 && text.charCodeAt(k - 1) === 0x5c) k--;
      if ((at - k) % 2 === 0) return at;
    }
    return -1;
  }
}

/** The wrapped base64 blocks of `text`, joined. Empty for a text without a line break. */
export function joinedBlocks(text: string): View[] {
  const blocks: View[] = [];
  if (text.length <= WIDTHS[0] + 1) return blocks; // a full line, a break, and more
  let lineStart = 0;
  // width 0: the block's first line is a base64 run of at least 64 after other text, and the next
  // line decides the width.
  let block: { width: number; firstRun: number; parts: number[] } | null = null;
  const breaks = new Breaks(text);
  for (let br = breaks.next(0); br !== null; br = breaks.next(br[0] + br[1])) {
    const [at, len] = br;
    const width = at - lineStart;
    const full = WIDTHS.includes(width) && allBase64(text, lineStart, at);
    if (block !== null && full && (block.width === width || (block.width === 0 && width <= block.firstRun))) {
      block.width = width;
      block.parts.push(lineStart, at);
    } else {
      if (block !== null) blocks.push(finish(text, block.parts, lineStart));
      block = null;
      if (full) {
        // The first full line; the base64 just before the previous break may belong to it.
        const parts: number[] = [];
        if (lineStart > 0) {
          let k = previousBreakStart(text, lineStart);
          const end = k;
          while (k > 0 && end - k < width && isBase64(text.charCodeAt(k - 1))) k--;
          if (k < end) parts.push(k, end);
        }
        parts.push(lineStart, at);
        block = { width, firstRun: width, parts };
      } else {
        let k = at;
        while (k > lineStart && isBase64(text.charCodeAt(k - 1))) k--;
        if (at - k >= WIDTHS[0]) block = { width: 0, firstRun: at - k, parts: [k, at] };
      }
    }
    lineStart = at + len;
  }
  if (block !== null) blocks.push(finish(text, block.parts, lineStart));
  return blocks;
}

function allBase64(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isBase64(text.charCodeAt(i))) return false;
  return true;
}

/** Where the break that ends just before `lineStart` begins. */
function previousBreakStart(text: string, lineStart: number): number {
  if (text.charCodeAt(lineStart - 1) === 0x0a) return lineStart >= 2 && text.charCodeAt(lineStart - 2) === 0x0d ? lineStart - 2 : lineStart - 1;
  return lineStart >= 4 && text.startsWith('\\r\\n', lineStart - 4) ? lineStart - 4 : lineStart - 2;
}

/** The block's parts, plus the base64 run after its last break, joined. */
function finish(text: string, parts: number[], lastLineStart: number): View {
  let k = lastLineStart;
  while (k < text.length && isBase64(text.charCodeAt(k))) k++;
  if (k > lastLineStart) parts.push(lastLineStart, k);
  let size = 0;
  for (let i = 0; i < parts.length; i += 2) size += parts[i + 1] - parts[i];
  const from = new Int32Array(size);
  const to = new Int32Array(size);
  let joined = '';
  let n = 0;
  for (let i = 0; i < parts.length; i += 2) {
    joined += text.slice(parts[i], parts[i + 1]);
    for (let p = parts[i]; p < parts[i + 1]; p++, n++) {
      from[n] = p;
      to[n] = p + 1;
    }
  }
  return { text: joined, from, to };
}
