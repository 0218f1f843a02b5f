/**
 * A view of part of a text: what a stretch says once transformed back (a wrapped base64 block
 * joined, a hex run decoded), scanned by the same automaton as the text itself. Code unit i of the view
 * comes from the original's code units [from[i], to[i]).
 */
export interface View {
  readonly text: string;
  readonly from: Int32Array;
  readonly to: Int32Array;
}

/** Regions found in a view, as regions of the original text. */
export function originalRegions(view: View, regions: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < regions.length; i += 2) out.push(view.from[regions[i]], view.to[regions[i + 1] - 1]);
  return out;
}
