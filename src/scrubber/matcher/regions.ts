import { redactionMarker } from './json-value';

/** Merges region lists `[start, end, ...]` (each sorted, disjoint) into one: overlapping or touching regions join. */
export function mergeRegions(lists: number[][]): number[] {
  const pairs: [number, number][] = [];
  for (const list of lists) for (let i = 0; i < list.length; i += 2) pairs.push([list[i], list[i + 1]]);
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: number[] = [];
  for (const [start, end] of pairs) {
    if (out.length > 0 && out[out.length - 1] >= start) {
      if (end > out[out.length - 1]) out[out.length - 1] = end;
    } else out.push(start, end);
  }
  return out;
}

/** `text` with each region `[start, end, ...]` replaced with `[REDACTED]`. */
export function splice(text: string, regions: readonly number[]): string {
  let out = '';
  let last = 0;
  for (let i = 0; i < regions.length; i += 2) {
    out += text.slice(last, regions[i]) + redactionMarker;
    last = regions[i + 1];
  }
  return out + text.slice(last);
}
