/**
 * Hex in a text, decoded byte for byte (each byte one code unit, as latin1) so the automaton finds
 * a secret in it, in either case or mixed, at either nibble alignment, inside a longer hex text.
 * Registered hex forms would make runs of decimal digits (numbers, timestamps) prefix hits once
 * there are thousands of secrets, since the hex of most characters is two decimal digits: the
 * scan would slow down with the number of secrets. Decoding costs the same whatever that number.
 * Runs of decimal digits alone are not decoded (they are most of the hex-looking text of a JSON
 * document); the few secrets whose hex has no letter register it as a form instead (secret-forms).
 */
import type { View } from './views';

/** The shortest hex run decoded: two hex digits per byte of a 4-character secret. */
const MIN_HEX = 8;

/** 1: a decimal digit, 2: a hex letter (either case), 0: anything else; by code unit below 128. */
const HEX_KIND = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) HEX_KIND[c] = 1;
for (let c = 0x41; c <= 0x46; c++) HEX_KIND[c] = HEX_KIND[c + 0x20] = 2;

function kindAt(text: string, i: number): number {
  const code = text.charCodeAt(i);
  return code < 128 ? HEX_KIND[code] : 0;
}

function hexValue(code: number): number {
  return code <= 0x39 ? code - 0x30 : (code | 0x20) - 0x57;
}

/** Each hex run of at least 8 digits that holds a letter, decoded from its first and from its second digit. */
export function hexViews(text: string): View[] {
  const views: View[] = [];
  const n = text.length;
  let done = 0; // every run that starts before this has been looked at
  // A run of 8 or more that holds position i also holds i - 4 or i + 4, and one of every four
  // positions: probing every fourth code unit finds every run, and skips most text four at a time.
  for (let i = 3; i < n; i += 4) {
    if (i < done || kindAt(text, i) === 0) continue;
    if ((i + 4 >= n || kindAt(text, i + 4) === 0) && (i - 4 < done || kindAt(text, i - 4) === 0)) continue;
    let start = i;
    while (start > done && kindAt(text, start - 1) !== 0) start--;
    let end = i + 1;
    let letter = false;
    for (let k = start; k < end; k++) if (kindAt(text, k) === 2) letter = true;
    for (let kind = end < n ? kindAt(text, end) : 0; kind !== 0; kind = ++end < n ? kindAt(text, end) : 0) if (kind === 2) letter = true;
    done = end + 1;
    if (letter && end - start >= MIN_HEX) for (let a = start; a <= start + 1 && end - a >= MIN_HEX; a++) views.push(decode(text, a, end));
  }
  return views;
}

function decode(text: string, a: number, end: number): View {
  const bytes = (end - a) >> 1;
  const from = new Int32Array(bytes);
  const to = new Int32Array(bytes);
  let decoded = '';
  for (let i = 0; i < bytes; i++) {
    const p = a + 2 * i;
    decoded += String.fromCharCode((hexValue(text.charCodeAt(p)) << 4) | hexValue(text.charCodeAt(p + 1)));
    from[i] = p;
    to[i] = p + 2;
  }
  return { text: decoded, from, to };
}
