/**
 * The automaton's tables and its one transition step, shared by the build (failure links) and the
 * scan. An Aho-Corasick automaton over UTF-16 code units, in typed arrays:
 * - characters are mapped to class ids (0: a character that occurs in no pattern);
 * - the first `denseStates` states have a complete transition row in `dense`;
 * - every state has a 4-Int32 record in `rec` (class of its incoming edge, failure link, output,
 *   children), so a state is one cache access.
 */

/** Layout of a state's record in `rec`. */
export const REC_CLASS = 0; // class of the character on the edge into the state
export const REC_FAIL = 1; // failure link (-1 while the build has not resolved it)
export const REC_OUT = 2; // length of the longest pattern ending at the state (0: none)
export const REC_KIDS = 3; // states without a dense row: 0 no child, 1 one child (s + 1), < 0 a list at edges[-kids - 1]

/** The goto tables. A class, so that the build and the scan call `transition` with one shape. */
export class Automaton {
  constructor(
    readonly alphabet: number,
    readonly denseStates: number,
    readonly dense: Int32Array,
    readonly rec: Int32Array,
    readonly edges: Int32Array,
  ) {}
}

/**
 * The transition from state `s` on class `c` (c !== 0): the state's own edge if it has one, else
 * the same question of its failure state. Returns `-1 - x` when the walk reaches a state x whose
 * failure link is not resolved yet, which only happens during the build.
 */
export function transition(a: Automaton, s: number, c: number): number {
  const { alphabet, denseStates, dense, rec, edges } = a;
  for (;;) {
    if (s < denseStates) return dense[s * alphabet + c];
    const kids = rec[s * 4 + REC_KIDS];
    if (kids === 1) {
      if (rec[(s + 1) * 4 + REC_CLASS] === c) return s + 1;
    } else if (kids < 0) {
      // (class, state) pairs in class order after the count
      const off = -kids - 1;
      const last = off + 2 * edges[off];
      for (let e = off + 1; e < last; e += 2) {
        const ec = edges[e];
        if (ec >= c) {
          if (ec === c) return edges[e + 1];
          break;
        }
      }
    }
    const f = rec[s * 4 + REC_FAIL];
    if (f < 0) return -1 - s;
    s = f;
  }
}
