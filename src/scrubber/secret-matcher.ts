import { secretForms } from './secret-forms';

/** What every secret form is replaced with. */
export const redactionMarker = '[REDACTED]';

/**
 * Budget (in Int32 entries) for the dense transition rows of the shallowest states, breadth-first:
 * each gets a full row over the compressed alphabet. 2^21 entries = 8 MiB at most per matcher.
 */
const DENSE_BUDGET = 1 << 21;

/** Every pattern has at least this many UTF-16 code units (secret-forms drops shorter forms). */
const GRAM = 4;
/** Multiplier of the 4-gram hash (Fibonacci hashing). */
const GRAM_HASH = 0x9e3779b1 | 0;

/** Layout of a state's record in `rec`: 4 Int32 per state, so a state is one cache access. */
const REC_CLASS = 0; // class of the character on the edge into the state
const REC_FAIL = 1; // failure link
const REC_OUT = 2; // length of the longest pattern ending at the state (0: none)
const REC_KIDS = 3; // states without a dense row: 0 no child, 1 one child (s + 1), < 0 a list at edges[-kids - 1]

/** The byte a code unit contributes to the rolling 4-gram hash (both bytes folded). */
function gramByte(code: number): number {
  return (code ^ (code >>> 8)) & 0xff;
}

/** Hash of a 4-code-unit key for the prefix table. */
function gramSlot(hi: number, lo: number): number {
  return Math.imul(hi ^ Math.imul(lo, 0x85ebca6b), 0xc2b2ae35) >>> 7;
}

/** The characters of `String(n)` for a number or a bigint n. */
const NUMERIC_TEXT = /^[-+.0-9eINafinty]+$/;

/**
 * Strings (of at least 2 code units each) sorted in UTF-16 code unit order, like `Array#sort()`
 * but faster for many strings: a numeric sort on the first two code units, then string sorts of
 * the (short) runs that share them.
 */
function sortByCodeUnits(strings: string[]): string[] {
  const n = strings.length;
  const indexBits = Math.max(1, Math.ceil(Math.log2(n + 1)));
  if (indexBits > 21) return strings.sort(); // 32 key bits + index bits must fit in 53
  const scale = 2 ** indexBits;
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = strings[i];
    keys[i] = (s.charCodeAt(0) * 0x10000 + s.charCodeAt(1)) * scale + i;
  }
  keys.sort();
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = strings[keys[i] % scale];
  let start = 0;
  for (let i = 1; i <= n; i++) {
    if (i < n && Math.floor(keys[i] / scale) === Math.floor(keys[start] / scale)) continue;
    if (i - start > 1) {
      const run = out.slice(start, i).sort();
      for (let k = 0; k < run.length; k++) out[start + k] = run[k];
    }
    start = i;
  }
  return out;
}

/** Tuning knobs, for tests and benchmarks; the defaults suit production. */
export interface SecretMatcherOptions {
  /** Int32 entries allowed for dense transition rows (default 2^21); a small budget leaves most states sparse. */
  readonly denseBudget?: number;
}

/** What a build produces: the matcher's tables. */
interface MatcherParts {
  classOf: Int32Array;
  alphabet: number;
  denseStates: number;
  dense: Int32Array;
  rec: Int32Array;
  edges: Int32Array;
  shallowStates: number;
  gramFilter: Int32Array;
  gramShift: number;
  gramKeyHi: Int32Array;
  gramKeyLo: Int32Array;
  gramState: Int32Array;
  gramMask: number;
  patterns: number;
  secrets: number;
  states: number;
  numericPatterns: boolean;
  longest: number;
}

/** Work (code units or states) between two points where a build may hand the event loop back. */
const SLICE_WORK = 1 << 16;
const SLICE_MASK = (1 << 16) - 1;
/** An asynchronous build gives the event loop back at least this often (ms). */
const SLICE_MS = 8;

/**
 * The construction of a matcher, as a generator that yields every ~65,000 units of work: run to its
 * end at once (`new SecretMatcher`), or in slices between which other work runs (`SecretMatcher.build`).
 */
function* construct(secrets: Iterable<string>, options: SecretMatcherOptions): Generator<void, MatcherParts, void> {
  const out = {} as MatcherParts;
  let work = 0;
  const denseBudget = options.denseBudget ?? DENSE_BUDGET;
  // All forms of all secrets, sorted in UTF-16 code unit order, deduplicated.
  let all: string[] = [];
  let secretCount = 0;
  for (const secret of secrets) {
    if ((work += secret.length + 64) >= SLICE_WORK) {
      work = 0;
      yield;
    }
    const forms = secretForms(secret);
    if (forms.length === 0) continue;
    secretCount++;
    for (const f of forms) all.push(f);
  }
  out.secrets = secretCount;
  all = sortByCodeUnits(all);
  const patterns: string[] = [];
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[i - 1]) patterns.push(all[i]);
  all = [];
  out.patterns = patterns.length;
  out.numericPatterns = patterns.some((p) => NUMERIC_TEXT.test(p));

  // Character classes, assigned in code unit order so that sorted patterns have sorted classes.
  const classOf = new Int32Array(0x10000);
  for (const p of patterns) {
    for (let i = 0; i < p.length; i++) classOf[p.charCodeAt(i)] = 1;
    if ((work += p.length) >= SLICE_WORK) {
      work = 0;
      yield;
    }
  }
  let alphabet = 1;
  for (let code = 0; code < 0x10000; code++) if (classOf[code] !== 0) classOf[code] = alphabet++;
  out.classOf = classOf;
  out.alphabet = alphabet;

  // Trie size from the common prefixes of consecutive sorted patterns.
  let nodeCount = 1;
  let maxLen = 0;
  const lcp = new Int32Array(patterns.length);
  for (let i = 0; i < patterns.length; i++) {
    const p = patterns[i];
    if ((work += p.length) >= SLICE_WORK) {
      work = 0;
      yield;
    }
    if (i > 0) {
      const q = patterns[i - 1];
      const m = Math.min(p.length, q.length);
      let k = 0;
      while (k < m && p.charCodeAt(k) === q.charCodeAt(k)) k++;
      lcp[i] = k;
    }
    nodeCount += p.length - lcp[i];
    if (p.length > maxLen) maxLen = p.length;
  }
  out.states = nodeCount;

  // The trie in preorder (children in class order), built without lookups thanks to the sort.
  const preParent = new Int32Array(nodeCount);
  const preClass = new Int32Array(nodeCount);
  const preDepth = new Int32Array(nodeCount);
  const preOut = new Int32Array(nodeCount);
  const childCount = new Int32Array(nodeCount);
  const path = new Int32Array(maxLen + 1);
  // Depth-4 nodes (the distinct 4-code-unit prefixes), and a pattern that starts with each.
  const gramNodes: number[] = [];
  const gramPatterns: number[] = [];
  let next = 1;
  for (let i = 0; i < patterns.length; i++) {
    const p = patterns[i];
    if ((work += p.length - lcp[i] + 1) >= SLICE_WORK) {
      work = 0;
      yield;
    }
    for (let d = lcp[i]; d < p.length; d++) {
      const id = next++;
      preParent[id] = path[d];
      childCount[path[d]]++;
      preClass[id] = classOf[p.charCodeAt(d)];
      preDepth[id] = d + 1;
      path[d + 1] = id;
      if (d + 1 === GRAM) {
        gramNodes.push(id);
        gramPatterns.push(i);
      }
    }
    preOut[path[p.length]] = p.length;
  }

  // Layout. The states of depth <= B come first, breadth-first (B >= 3, so the states the filter
  // hands over to are compact); the first `denseStates` of them have a dense row, as many as the
  // budget allows. The deeper states follow in preorder: one secret's chain is consecutive.
  const perDepth = new Int32Array(maxLen + 2); // perDepth[d]: states of depth < d
  for (let v = 0; v < nodeCount; v++) perDepth[preDepth[v] + 1]++;
  for (let d = 1; d < perDepth.length; d++) perDepth[d] += perDepth[d - 1];
  const budgetStates = Math.max(1, Math.floor(denseBudget / alphabet));
  let bfsDepth = Math.min(GRAM - 1, maxLen);
  while (bfsDepth < maxLen && perDepth[bfsDepth + 2] <= budgetStates) bfsDepth++;
  const bfsStates = perDepth[bfsDepth + 1];
  const denseStates = Math.min(bfsStates, budgetStates);
  // Leaving the automaton is allowed at depth <= 3: see findRegions.
  const shallowStates = perDepth[Math.min(GRAM - 1, maxLen) + 1];

  const newId = new Int32Array(nodeCount);
  const levelNext = perDepth.slice(0, bfsDepth + 1);
  let deepNext = bfsStates;
  for (let v = 0; v < nodeCount; v++) {
    const d = preDepth[v];
    newId[v] = d <= bfsDepth ? levelNext[d]++ : deepNext++;
  }

  const rec = new Int32Array(nodeCount * 4);
  const parent = new Int32Array(nodeCount);
  for (let v = 0; v < nodeCount; v++) {
    if ((v & SLICE_MASK) === SLICE_MASK) yield;
    const w = newId[v];
    parent[w] = newId[preParent[v]];
    rec[w * 4 + REC_CLASS] = preClass[v];
    rec[w * 4 + REC_OUT] = preOut[v];
  }
  // Children of the states without a dense row: none (0), one that is the next state in preorder,
  // s + 1 (1), or a list in `edges` at offset -kids - 1 (the count, then (class, state) pairs in
  // class order).
  let edgeLength = 0;
  for (let v = 0; v < nodeCount; v++) {
    if ((v & SLICE_MASK) === SLICE_MASK) yield;
    const w = newId[v];
    if (w < denseStates) continue;
    const count = childCount[v];
    if (count >= 2 || (count === 1 && w < bfsStates)) {
      rec[w * 4 + REC_KIDS] = -(edgeLength + 1);
      edgeLength += 1 + 2 * count;
    } else {
      rec[w * 4 + REC_KIDS] = count;
    }
  }
  const edges = new Int32Array(edgeLength);
  for (let v = 1; v < nodeCount; v++) {
    if ((v & SLICE_MASK) === SLICE_MASK) yield;
    const pw = newId[preParent[v]];
    if (pw < denseStates) continue;
    const kids = rec[pw * 4 + REC_KIDS];
    if (kids >= 0) continue;
    const off = -kids - 1;
    const at = off + 1 + 2 * edges[off]++;
    edges[at] = preClass[v];
    edges[at + 1] = newId[v];
  }

  // Failure links, outputs and dense rows. First the breadth-first states, level by level (they
  // are numbered in that order). Every state's row is its failure state's row plus its own edges.
  const dense = new Int32Array(denseStates * alphabet);
  for (let d = 1; d <= bfsDepth; d++) {
    const from = perDepth[d];
    const to = perDepth[d + 1];
    // The edges into this level complete the rows of their dense parents.
    for (let v = from; v < to; v++) {
      const p = parent[v];
      if (p < denseStates) dense[p * alphabet + rec[v * 4 + REC_CLASS]] = v;
    }
    for (let v = from; v < to; v++) {
      if ((v & SLICE_MASK) === SLICE_MASK) yield;
      const p = parent[v];
      const f = p === 0 ? 0 : step(dense, rec, edges, denseStates, alphabet, rec[p * 4 + REC_FAIL], rec[v * 4 + REC_CLASS]);
      rec[v * 4 + REC_FAIL] = f;
      if (rec[v * 4 + REC_OUT] === 0) rec[v * 4 + REC_OUT] = rec[f * 4 + REC_OUT];
      if (v < denseStates) dense.copyWithin(v * alphabet, f * alphabet, f * alphabet + alphabet);
    }
  }
  // The edges from dense states into the deep states.
  for (let v = bfsStates; v < nodeCount; v++) {
    const p = parent[v];
    if (p < denseStates) dense[p * alphabet + rec[v * 4 + REC_CLASS]] = v;
  }
  // Then the deep states in preorder, which keeps memory access sequential along each chain. A
  // state needs the failure links of shallower states (its parent, the states its failure walk
  // passes, its failure state): when one of them is not known yet (fail = -1), it is resolved
  // first, depth-first, with an explicit stack. Every dependency is strictly shallower, so this ends.
  for (let v = bfsStates; v < nodeCount; v++) rec[v * 4 + REC_FAIL] = -1;
  const pending = new Int32Array(maxLen + 1);
  for (let v = bfsStates; v < nodeCount; v++) {
    if ((v & SLICE_MASK) === SLICE_MASK) yield;
    if (rec[v * 4 + REC_FAIL] >= 0) continue;
    let top = 0;
    pending[top++] = v;
    while (top > 0) {
      const u = pending[top - 1];
      const p = parent[u];
      let x = rec[p * 4 + REC_FAIL];
      if (x < 0) {
        pending[top++] = p;
        continue;
      }
      const c = rec[u * 4 + REC_CLASS];
      let f = -1;
      for (;;) {
        if (x < denseStates) {
          f = dense[x * alphabet + c];
          break;
        }
        const kids = rec[x * 4 + REC_KIDS];
        if (kids === 1) {
          if (rec[(x + 1) * 4 + REC_CLASS] === c) {
            f = x + 1;
            break;
          }
        } else if (kids < 0) {
          const off = -kids - 1;
          const last = off + 2 * edges[off];
          for (let e = off + 1; e < last; e += 2) {
            const ec = edges[e];
            if (ec >= c) {
              if (ec === c) f = edges[e + 1];
              break;
            }
          }
          if (f >= 0) break;
        }
        const next = rec[x * 4 + REC_FAIL];
        if (next < 0) break; // x's own failure link first
        x = next;
      }
      if (f < 0) {
        pending[top++] = x;
        continue;
      }
      if (rec[f * 4 + REC_FAIL] < 0) {
        pending[top++] = f; // its output must be final before u inherits it
        continue;
      }
      rec[u * 4 + REC_FAIL] = f;
      if (rec[u * 4 + REC_OUT] === 0) rec[u * 4 + REC_OUT] = rec[f * 4 + REC_OUT];
      top--;
    }
  }

  // The 4-gram prefilter, a Bloom filter of the 4-code-unit prefixes of the patterns (every
  // pattern has at least 4 code units): two bits per prefix, both in one 32-bit word chosen by the
  // high bits of the hash, the bit positions from its low 10 bits. About 32 bits per pattern,
  // between 2^13 and 2^22 bits (512 KiB).
  let gramBits = 13;
  while (gramBits < 22 && 1 << gramBits < patterns.length * 32) gramBits++;
  const gramFilter = new Int32Array((1 << gramBits) >>> 5);
  const gramShift = 32 - (gramBits - 5); // h >>> gramShift: the word index
  // And the exact map from each 4-code-unit prefix to its depth-4 state (open addressing).
  let tableSize = 8;
  while (tableSize < gramNodes.length * 2) tableSize *= 2;
  const gramKeyHi = new Int32Array(tableSize);
  const gramKeyLo = new Int32Array(tableSize);
  const gramState = new Int32Array(tableSize); // 0: empty slot (the root is never a depth-4 state)
  const gramMask = tableSize - 1;
  for (let k = 0; k < gramNodes.length; k++) {
    if ((k & SLICE_MASK) === SLICE_MASK) yield;
    const p = patterns[gramPatterns[k]];
    const c0 = p.charCodeAt(0);
    const c1 = p.charCodeAt(1);
    const c2 = p.charCodeAt(2);
    const c3 = p.charCodeAt(3);
    const g = (gramByte(c0) << 24) | (gramByte(c1) << 16) | (gramByte(c2) << 8) | gramByte(c3);
    const h = Math.imul(g, GRAM_HASH);
    gramFilter[h >>> gramShift] |= (1 << (h & 31)) | (1 << ((h >>> 5) & 31));
    const hi = (c0 << 16) | c1;
    const lo = (c2 << 16) | c3;
    let slot = gramSlot(hi, lo) & gramMask;
    while (gramState[slot] !== 0) slot = (slot + 1) & gramMask;
    gramKeyHi[slot] = hi;
    gramKeyLo[slot] = lo;
    gramState[slot] = newId[gramNodes[k]];
  }

  out.denseStates = denseStates;
  out.dense = dense;
  out.rec = rec;
  out.edges = edges;
  out.shallowStates = shallowStates;
  out.gramFilter = gramFilter;
  out.gramShift = gramShift;
  out.gramKeyHi = gramKeyHi;
  out.gramKeyLo = gramKeyLo;
  out.gramState = gramState;
  out.gramMask = gramMask;
  out.longest = maxLen;
  return out;
}

/** The automaton's transition from state s on class c (c !== 0), during construction. */
function step(dense: Int32Array, rec: Int32Array, edges: Int32Array, denseStates: number, alphabet: number, s: number, c: number): number {
  for (;;) {
    if (s < denseStates) return dense[s * alphabet + c];
    const kids = rec[s * 4 + REC_KIDS];
    if (kids === 1) {
      if (rec[(s + 1) * 4 + REC_CLASS] === c) return s + 1;
    } else if (kids < 0) {
      const off = -kids - 1;
      const last = off + 2 * edges[off];
      for (let e = off + 1; e < last; e += 2) {
        const ec = edges[e];
        if (ec === c) return edges[e + 1];
        if (ec > c) break;
      }
    }
    s = rec[s * 4 + REC_FAIL];
  }
}

/** What scrubJsonValue needs of a matcher (or of several together). */
export interface TextScrubber {
  scrub(text: string): string;
  containsSecret(text: string): boolean;
  readonly matchesNumbers: boolean;
}

/**
 * A scrubbed copy of a JSON-like value: strings (object keys too) are scrubbed; a number (or
 * bigint) whose decimal text contains a secret becomes the string `[REDACTED]`; booleans, null and
 * undefined are unchanged. An object with `toJSON` is scrubbed as what JSON.stringify would write for
 * it. Never mutates its argument; throws on a cycle.
 */
export function scrubJsonValue(value: unknown, m: TextScrubber): unknown {
  return walk(value, m, new Set<object>(), '');
}

function walk(value: unknown, m: TextScrubber, ancestors: Set<object>, key: string): unknown {
  switch (typeof value) {
    case 'string':
      return m.scrub(value);
    case 'number':
    case 'bigint':
      return m.matchesNumbers && m.containsSecret(String(value)) ? redactionMarker : value;
    case 'object':
      break;
    default:
      return value;
  }
  if (value === null) return null;
  const maybeToJson = (value as { toJSON?: unknown }).toJSON;
  if (typeof maybeToJson === 'function') {
    const json: unknown = maybeToJson.call(value, key);
    if (json !== value) return walk(json, m, ancestors, key);
  }
  if (ancestors.has(value)) throw new TypeError('scrubDeep: cannot scrub a value with a cycle');
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      const out: unknown[] = new Array(value.length);
      for (let i = 0; i < value.length; i++) out[i] = walk(value[i], m, ancestors, String(i));
      return out;
    }
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[k];
      const scrubbedKey = m.scrub(k);
      const scrubbedValue = walk(v, m, ancestors, k);
      if (scrubbedKey === '__proto__') {
        // An own property, as JSON.parse makes it, not the prototype setter.
        Object.defineProperty(out, scrubbedKey, { value: scrubbedValue, enumerable: true, writable: true, configurable: true });
      } else {
        out[scrubbedKey] = scrubbedValue;
      }
    }
    return out;
  } finally {
    ancestors.delete(value);
  }
}

/**
 * Finds every registered form of every secret in one pass over a text and replaces each merged
 * region of matches with `[REDACTED]`.
 *
 * Built once per set of secrets, then reused: scrubbing costs O(text length), independent of the
 * number of secrets. The engine is an Aho-Corasick automaton over UTF-16 code units, in typed arrays:
 * - characters are mapped to class ids (0: a character that occurs in no pattern);
 * - the shallow states come first, breadth-first, the first of them with a complete transition
 *   row in `dense` (as many as a memory budget allows); the deeper states follow in preorder, so
 *   that a chain of one secret's characters is consecutive in memory: a single child is s + 1,
 *   other children are listed in `edges`;
 * - in front of the automaton, a Bloom filter of the patterns' 4-code-unit prefixes and an exact
 *   prefix table let most of a text be skipped with a hash and one bit test per code unit.
 */
export class SecretMatcher {
  private readonly classOf: Int32Array;
  private readonly alphabet: number;
  private readonly denseStates: number;
  private readonly dense: Int32Array;
  private readonly rec: Int32Array;
  private readonly edges: Int32Array;
  private readonly shallowStates: number;
  private readonly gramFilter: Int32Array;
  private readonly gramShift: number;
  private readonly gramKeyHi: Int32Array;
  private readonly gramKeyLo: Int32Array;
  private readonly gramState: Int32Array;
  private readonly gramMask: number;
  private readonly patterns: number;
  private readonly secrets: number;
  private readonly states: number;
  /** Some pattern could occur in the decimal text of a number (all its characters can). */
  private readonly numericPatterns: boolean;

  /** The length of the longest registered form (what a stream must hold back). */
  readonly longest: number;

  constructor(secrets: Iterable<string>, options: SecretMatcherOptions = {}) {
    const parts = (options as { parts?: MatcherParts }).parts ?? SecretMatcher.runToEnd(construct(secrets, options));
    this.classOf = parts.classOf;
    this.alphabet = parts.alphabet;
    this.denseStates = parts.denseStates;
    this.dense = parts.dense;
    this.rec = parts.rec;
    this.edges = parts.edges;
    this.shallowStates = parts.shallowStates;
    this.gramFilter = parts.gramFilter;
    this.gramShift = parts.gramShift;
    this.gramKeyHi = parts.gramKeyHi;
    this.gramKeyLo = parts.gramKeyLo;
    this.gramState = parts.gramState;
    this.gramMask = parts.gramMask;
    this.patterns = parts.patterns;
    this.secrets = parts.secrets;
    this.states = parts.states;
    this.numericPatterns = parts.numericPatterns;
    this.longest = parts.longest;
  }

  private static runToEnd(gen: Generator<void, MatcherParts, void>): MatcherParts {
    for (;;) {
      const r = gen.next();
      if (r.done) return r.value;
    }
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
    return this.patterns === 0;
  }

  /** Number of distinct forms in the automaton. */
  get patternCount(): number {
    return this.patterns;
  }

  /** Number of secrets that were registered (long enough to be scrubbed). */
  get secretCount(): number {
    return this.secrets;
  }

  /** Number of automaton states (a measure of its memory). */
  get stateCount(): number {
    return this.states;
  }

  /** True when `text` contains any registered form. */
  containsSecret(text: string): boolean {
    return text.length >= GRAM && !this.isEmpty && this.findRegions(text, true) !== null;
  }

  /** `text` with every region covered by a registered form replaced with `[REDACTED]`. */
  scrub(text: string): string {
    if (text.length < GRAM || this.isEmpty) return text;
    const regions = this.findRegions(text, false);
    if (regions === null) return text;
    let out = '';
    let last = 0;
    for (let i = 0; i < regions.length; i += 2) {
      out += text.slice(last, regions[i]) + redactionMarker;
      last = regions[i + 1];
    }
    return out + text.slice(last);
  }

  /**
   * A scrubbed copy of a JSON-like value: strings (object keys too) are scrubbed; a number (or
   * bigint) whose decimal text contains a secret becomes the string `[REDACTED]`; booleans, null and
   * undefined are unchanged. An object with `toJSON` (a Date, a Buffer, ...) is scrubbed as what
   * JSON.stringify would write for it. Never mutates its argument; throws on a cycle.
   */
  scrubDeep(value: unknown): unknown {
    if (this.isEmpty) return value;
    return scrubJsonValue(value, this);
  }

  /** Some pattern could occur in the decimal text of a number. */
  get matchesNumbers(): boolean {
    return this.numericPatterns;
  }

  /** The merged regions covered by matches (see findRegions), or null when there is none. */
  regions(text: string): number[] | null {
    if (text.length < GRAM || this.isEmpty) return null;
    return this.findRegions(text, false);
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
  private findRegions(text: string, firstOnly: boolean): number[] | null {
    const classOf = this.classOf;
    const alphabet = this.alphabet;
    const denseStates = this.denseStates;
    const shallowStates = this.shallowStates;
    const dense = this.dense;
    const rec = this.rec;
    const edges = this.edges;
    const gramFilter = this.gramFilter;
    const gramShift = this.gramShift;
    const gramKeyHi = this.gramKeyHi;
    const gramKeyLo = this.gramKeyLo;
    const gramState = this.gramState;
    const gramMask = this.gramMask;
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
        if ((gramFilter[h >>> gramShift] & bits) === bits) break;
      }
      if (i >= n) break;
      // A hit: do text[i-3..i] begin a pattern?
      const hi = (text.charCodeAt(i - 3) << 16) | text.charCodeAt(i - 2);
      const lo = (text.charCodeAt(i - 1) << 16) | text.charCodeAt(i);
      let slot = gramSlot(hi, lo) & gramMask;
      let s = 0;
      for (;;) {
        const state = gramState[slot];
        if (state === 0) break;
        if (gramKeyHi[slot] === hi && gramKeyLo[slot] === lo) {
          s = state;
          break;
        }
        slot = (slot + 1) & gramMask;
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
        for (;;) {
          if (s < denseStates) {
            s = dense[s * alphabet + c];
            break;
          }
          const kids = rec[s * 4 + REC_KIDS];
          if (kids === 1) {
            if (rec[(s + 1) * 4 + REC_CLASS] === c) {
              s++;
              break;
            }
          } else if (kids < 0) {
            const off = -kids - 1;
            const last = off + 2 * edges[off];
            let found = 0;
            for (let e = off + 1; e < last; e += 2) {
              const ec = edges[e];
              if (ec >= c) {
                if (ec === c) found = edges[e + 1];
                break;
              }
            }
            if (found !== 0) {
              s = found;
              break;
            }
          }
          s = rec[s * 4 + REC_FAIL];
        }
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
}
