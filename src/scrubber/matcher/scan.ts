import * as automaton from './automaton';
import type { Automaton } from './automaton';
import * as prefilter from './prefilter';
import type { Prefilter } from './prefilter';

// An imported binding compiles to a property read of the other module's exports (a getter under
// tsx) on every use: the scan reads these module constants instead, or it is several times slower.
const { REC_OUT, transition } = automaton;
const { GRAM, GRAM_HASH, gramByte, gramSlot } = prefilter;

/** What a scan needs of a matcher's tables. */
export interface ScanTables {
  readonly classOf: Int32Array;
  readonly automaton: Automaton;
  readonly shallowStates: number;
  readonly prefilter: Prefilter;
}

/**
 * The merged regions `[start0, end0, start1, end1, ...]` (sorted, disjoint, not touching) covered by
 * matches, or null when there is none. With `firstOnly`, stops at the first match.
 *
 * Two modes. Filtering: a rolling hash of the last 4 code units is tested against the prefilter;
 * a miss proves that no pattern starts 3 code units back, so most of a text costs a hash and one
 * bit test per code unit, however many secrets there are. On a hit, the exact prefix table says
 * whether those 4 code units begin a pattern; if they do, the automaton runs from that depth-4
 * state (no earlier start is pending, so it is the automaton's state there) until its state has
 * depth <= 3 again: then no pattern started earlier is still pending, and every later start is
 * tested by the filter. In the worst case every position is a hit and this is plain Aho-Corasick,
 * still linear in the text.
 */
export function findRegions(t: ScanTables, text: string, firstOnly: boolean): number[] | null {
  const { classOf, automaton, shallowStates } = t;
  const rec = automaton.rec;
  const { filter, shift, keyHi, keyLo, state: prefixState, mask } = t.prefilter;
  const n = text.length;
  let regions: number[] | null = null;
  let top = 0;
  let g = 0;
  for (let i = 0; i < GRAM - 1 && i < n; i++) g = (g << 8) | gramByte(text.charCodeAt(i));
  let i = GRAM - 1;
  while (i < n) {
    // Filtering mode.
    for (; i < n; i++) {
      const code = text.charCodeAt(i);
      g = (g << 8) | ((code ^ (code >>> 8)) & 0xff);
      const h = Math.imul(g, GRAM_HASH);
      const bits = (1 << (h & 31)) | (1 << ((h >>> 5) & 31));
      if ((filter[h >>> shift] & bits) === bits) break;
    }
    if (i >= n) break;
    // A hit: do text[i-3..i] begin a pattern?
    const hi = (text.charCodeAt(i - 3) << 16) | text.charCodeAt(i - 2);
    const lo = (text.charCodeAt(i - 1) << 16) | text.charCodeAt(i);
    let slot = gramSlot(hi, lo) & mask;
    let s = 0;
    for (;;) {
      const st = prefixState[slot];
      if (st === 0) break;
      if (keyHi[slot] === hi && keyLo[slot] === lo) {
        s = st;
        break;
      }
      slot = (slot + 1) & mask;
    }
    if (s === 0) {
      i++;
      continue;
    }
    // Automaton mode, from that depth-4 state at position i.
    let j = i;
    for (;;) {
      const len = rec[s * 4 + REC_OUT];
      if (len !== 0) {
        // The longest match ending here covers every shorter one ending here.
        let start = j + 1 - len;
        const end = j + 1;
        if (regions === null) regions = [];
        if (firstOnly) return regions;
        // Merge with earlier regions that overlap or touch (a longer match may start before them).
        while (top > 0 && regions[top - 1] >= start) {
          if (regions[top - 2] < start) start = regions[top - 2];
          top -= 2;
        }
        regions[top++] = start;
        regions[top++] = end;
      }
      if (++j >= n) break;
      const c = classOf[text.charCodeAt(j)];
      if (c === 0) break; // the state is the root
      s = transition(automaton, s, c);
      if (s < shallowStates) break; // depth <= 3: no output, no earlier start pending
    }
    // Back to filtering after position j: the rolling hash must hold the 4 code units up to j.
    g = 0;
    for (let k = j - (GRAM - 1); k <= j && k < n; k++) g = (g << 8) | gramByte(text.charCodeAt(k));
    i = j + 1;
  }
  if (regions !== null) regions.length = top;
  return regions;
}
