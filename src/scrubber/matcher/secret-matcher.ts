import { construct, MatcherParts, SecretMatcherOptions } from './build';
import * as hex from './hex';
import * as jsonValue from './json-value';
import * as prefilter from './prefilter';
import * as regions from './regions';
import * as scan from './scan';
import * as viewsModule from './views';
import type { View } from './views';
import * as wrapped from './wrapped';

// Module constants, not imported bindings (each use of those is a property read): see scan.ts.
const { scrubJsonValue } = jsonValue;
const { GRAM } = prefilter;
const { findRegions } = scan;
const { mergeRegions, splice } = regions;
const { joinedBlocks, wrappedSpan } = wrapped;
const { hexViews } = hex;
const { originalRegions } = viewsModule;

/** The views of a text that every matcher scans besides the text: its wrapped base64 blocks joined, its hex decoded. */
export function decodedViews(text: string): View[] {
  if (text.length < 2 * GRAM) return [];
  const out = joinedBlocks(text);
  for (const v of hexViews(text)) out.push(v);
  return out;
}

/** An asynchronous build gives the event loop back at least this often (ms). */
const SLICE_MS = 8;

function runToEnd<T>(gen: Generator<void, T, void>): T {
  for (;;) {
    const r = gen.next();
    if (r.done) return r.value;
  }
}

/**
 * Finds every registered form of every secret in one pass over a text (and one over each of its
 * views: wrapped base64 joined, hex decoded) and replaces each merged region of matches with
 * `[REDACTED]`.
 *
 * Built once per set of secrets, then reused: scrubbing costs O(text length), independent of the
 * number of secrets (an Aho-Corasick automaton behind a 4-gram prefilter: see automaton.ts,
 * prefilter.ts, scan.ts). A matcher of one secret is as valid as one of thousands.
 */
export class SecretMatcher {
  readonly #t: MatcherParts;

  /** The length of the longest registered form (what a stream must hold back). */
  readonly longest: number;

  constructor(secrets: Iterable<string>, options: SecretMatcherOptions = {}) {
    this.#t = (options as { parts?: MatcherParts }).parts ?? runToEnd(construct(secrets, options));
    this.longest = this.#t.longest;
  }

  /**
   * The same matcher, built without holding the event loop: the build hands it back every
   * 8 ms or so (setImmediate), so other requests and /health are served meanwhile.
   */
  static async build(secrets: Iterable<string>, options: SecretMatcherOptions = {}): Promise<SecretMatcher> {
    const gen = construct(secrets, options);
    let sliceStart = performance.now();
    for (;;) {
      const r = gen.next();
      if (r.done) return new SecretMatcher([], { ...options, parts: r.value } as SecretMatcherOptions);
      const now = performance.now();
      if (now - sliceStart >= SLICE_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
    }
  }

  /** True when no secret is registered (every secret was shorter than 4 characters, or none given). */
  get isEmpty(): boolean {
    return this.#t.patterns === 0;
  }

  /** Number of distinct forms in the automaton. */
  get patternCount(): number {
    return this.#t.patterns;
  }

  /** Number of secrets that were registered (long enough to be scrubbed). */
  get secretCount(): number {
    return this.#t.secrets;
  }

  /** Number of automaton states (a measure of its memory). */
  get stateCount(): number {
    return this.#t.states;
  }

  /** Some pattern could occur in the decimal text of a number (all its characters can). */
  get matchesNumbers(): boolean {
    return this.#t.numericPatterns;
  }

  /**
   * The longest text one match can cover, a form wrapped as base64 lines included, plus the line
   * its block is recognised by: what a stream must hold back. (A decoded hex run is shorter: the
   * per-byte percent form, three code units a byte, is among the forms that `longest` measures.)
   */
  get span(): number {
    return wrappedSpan(this.longest);
  }

  /** True when `text` contains any registered form, also in its decoded views (see decodedViews). */
  containsSecret(text: string, views?: readonly View[]): boolean {
    if (text.length < GRAM || this.isEmpty) return false;
    if (findRegions(this.#t, text, true) !== null) return true;
    for (const view of views ?? decodedViews(text)) if (view.text.length >= GRAM && findRegions(this.#t, view.text, true) !== null) return true;
    return false;
  }

  /** `text` with every region covered by a registered form replaced with `[REDACTED]`. */
  scrub(text: string): string {
    const regions = this.regions(text);
    return regions === null ? text : splice(text, regions);
  }

  /** A scrubbed copy of a JSON-like value (see scrubJsonValue). */
  scrubDeep(value: unknown): unknown {
    if (this.isEmpty) return value;
    return scrubJsonValue(value, this);
  }

  /**
   * The merged regions `[start0, end0, ...]` covered by matches (see findRegions), in the text or
   * in its decoded views (computed here unless given: several matchers share them), or null.
   */
  regions(text: string, views?: readonly View[]): number[] | null {
    if (text.length < GRAM || this.isEmpty) return null;
    const direct = findRegions(this.#t, text, false);
    const decodedViewsOfText = views ?? decodedViews(text);
    if (decodedViewsOfText.length === 0) return direct;
    const lists = direct === null ? [] : [direct];
    for (const view of decodedViewsOfText) {
      if (view.text.length < GRAM) continue;
      const found = findRegions(this.#t, view.text, false);
      if (found !== null) lists.push(originalRegions(view, found));
    }
    if (lists.length === 0) return null;
    return lists.length === 1 ? lists[0] : mergeRegions(lists);
  }
}
