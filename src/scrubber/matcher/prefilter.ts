/**
 * The 4-gram prefilter in front of the automaton: a Bloom filter of the patterns' 4-code-unit
 * prefixes and an exact table from each prefix to its depth-4 state. Every pattern has at least
 * `GRAM` code units (secret-forms drops shorter forms), so a filter miss proves no pattern starts
 * there.
 */

export const GRAM = 4;
/** Multiplier of the 4-gram hash (Fibonacci hashing). */
export const GRAM_HASH = 0x9e3779b1 | 0;

/** The byte a code unit contributes to the rolling 4-gram hash (both bytes folded). */
export function gramByte(code: number): number {
  return (code ^ (code >>> 8)) & 0xff;
}

/** Hash of a 4-code-unit key for the prefix table. */
export function gramSlot(hi: number, lo: number): number {
  return Math.imul(hi ^ Math.imul(lo, 0x85ebca6b), 0xc2b2ae35) >>> 7;
}

export interface Prefilter {
  /** Two bits per prefix, both in the 32-bit word `h >>> shift`. */
  readonly filter: Int32Array;
  readonly shift: number;
  /** Open addressing: code units 0-1 and 2-3 of the prefix, and its state (0: empty slot). */
  readonly keyHi: Int32Array;
  readonly keyLo: Int32Array;
  readonly state: Int32Array;
  readonly mask: number;
}

/** An empty filter and table sized for `patterns` patterns and `prefixes` distinct prefixes. */
export function emptyPrefilter(patterns: number, prefixes: number): Prefilter {
  // About 32 bits per pattern, between 2^13 and 2^22 bits (512 KiB).
  let bits = 13;
  while (bits < 22 && 1 << bits < patterns * 32) bits++;
  let tableSize = 8;
  while (tableSize < prefixes * 2) tableSize *= 2;
  return {
    filter: new Int32Array((1 << bits) >>> 5),
    shift: 32 - (bits - 5),
    keyHi: new Int32Array(tableSize),
    keyLo: new Int32Array(tableSize),
    state: new Int32Array(tableSize),
    mask: tableSize - 1,
  };
}

/** Registers the first 4 code units of `p` as the prefix of depth-4 state `state`. */
export function addPrefix(pf: Prefilter, p: string, state: number): void {
  const c0 = p.charCodeAt(0);
  const c1 = p.charCodeAt(1);
  const c2 = p.charCodeAt(2);
  const c3 = p.charCodeAt(3);
  const g = (gramByte(c0) << 24) | (gramByte(c1) << 16) | (gramByte(c2) << 8) | gramByte(c3);
  const h = Math.imul(g, GRAM_HASH);
  pf.filter[h >>> pf.shift] |= (1 << (h & 31)) | (1 << ((h >>> 5) & 31));
  const hi = (c0 << 16) | c1;
  const lo = (c2 << 16) | c3;
  let slot = gramSlot(hi, lo) & pf.mask;
  while (pf.state[slot] !== 0) slot = (slot + 1) & pf.mask;
  pf.keyHi[slot] = hi;
  pf.keyLo[slot] = lo;
  pf.state[slot] = state;
}
