/**
 * Building a matcher's tables from a set of secrets, as generators that yield every ~65,000 units
 * of work: run to the end at once (`new SecretMatcher`) or in slices between which other work runs
 * (`SecretMatcher.build`). The phases, in order: the patterns (all forms, sorted, deduplicated);
 * the character classes; the trie in preorder; the layout of states; the failure links of the
 * breadth-first states, then of the deep ones; the prefilter.
 */
import { secretForms } from '../secret-forms';
import * as automaton from './automaton';
import { Automaton } from './automaton';
import { addPrefix, emptyPrefilter, GRAM, Prefilter } from './prefilter';
import { sortByCodeUnits } from './sort';

// An imported binding compiles to a property read of the other module's exports (a getter under
// tsx): the loops below read these module constants instead.
const { REC_CLASS, REC_FAIL, REC_KIDS, REC_OUT, transition } = automaton;

/**
 * Budget (in Int32 entries) for the dense transition rows of the shallowest states, breadth-first:
 * each gets a full row over the compressed alphabet. 2^21 entries = 8 MiB at most per matcher.
 */
const DENSE_BUDGET = 1 << 21;

/** The characters of `String(n)` for a number or a bigint n. */
const NUMERIC_TEXT = /^[-+.0-9eINafinty]+$/;

/** Work (code units or states) between two points where a build may hand the event loop back. */
const SLICE_WORK = 1 << 16;
const SLICE_MASK = (1 << 16) - 1;

/** Tuning knobs, for tests and benchmarks; the defaults suit production. */
export interface SecretMatcherOptions {
  /** Int32 entries allowed for dense transition rows (default 2^21); a small budget leaves most states sparse. */
  readonly denseBudget?: number;
}

/** What a build produces: the matcher's tables. */
export interface MatcherParts {
  readonly classOf: Int32Array;
  readonly automaton: Automaton;
  /** States of depth <= 3 are numbered below this. */
  readonly shallowStates: number;
  readonly prefilter: Prefilter;
  readonly patterns: number;
  readonly secrets: number;
  readonly states: number;
  readonly numericPatterns: boolean;
  readonly longest: number;
}

type Phase<T> = Generator<void, T, void>;

export function* construct(secrets: Iterable<string>, options: SecretMatcherOptions): Phase<MatcherParts> {
  const { patterns, secretCount } = yield* collectPatterns(secrets);
  const { classOf, alphabet } = yield* assignClasses(patterns);
  const trie = yield* buildTrie(patterns, classOf);
  const layout = yield* layOut(trie, alphabet, options.denseBudget ?? DENSE_BUDGET);
  const automaton = new Automaton(alphabet, layout.denseStates, new Int32Array(layout.denseStates * alphabet), layout.rec, layout.edges);
  yield* linkBreadthFirst(automaton, layout);
  yield* linkDeep(automaton, layout, trie.maxLen);
  const prefilter = emptyPrefilter(patterns.length, trie.gramNodes.length);
  for (let k = 0; k < trie.gramNodes.length; k++) {
    if ((k & SLICE_MASK) === SLICE_MASK) yield;
    addPrefix(prefilter, patterns[trie.gramPatterns[k]], layout.newId[trie.gramNodes[k]]);
  }
  return {
    classOf,
    automaton,
    shallowStates: layout.shallowStates,
    prefilter,
    patterns: patterns.length,
    secrets: secretCount,
    states: trie.nodeCount,
    numericPatterns: patterns.some((p) => NUMERIC_TEXT.test(p)),
    longest: trie.maxLen,
  };
}

/** All forms of all secrets, sorted in UTF-16 code unit order, deduplicated. */
function* collectPatterns(secrets: Iterable<string>): Phase<{ patterns: string[]; secretCount: number }> {
  let work = 0;
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
  all = sortByCodeUnits(all);
  const patterns: string[] = [];
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[i - 1]) patterns.push(all[i]);
  return { patterns, secretCount };
}

/** Character classes, assigned in code unit order so that sorted patterns have sorted classes. */
function* assignClasses(patterns: readonly string[]): Phase<{ classOf: Int32Array; alphabet: number }> {
  let work = 0;
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
  return { classOf, alphabet };
}

/** The trie in preorder (children in class order), node 0 the root. */
interface Trie {
  nodeCount: number;
  maxLen: number;
  parent: Int32Array;
  cls: Int32Array;
  depth: Int32Array;
  out: Int32Array;
  childCount: Int32Array;
  /** Depth-4 nodes (the distinct 4-code-unit prefixes), and a pattern that starts with each. */
  gramNodes: number[];
  gramPatterns: number[];
}

/** The trie, built without lookups thanks to the sort: each pattern adds the nodes past its common prefix with the previous one. */
function* buildTrie(patterns: readonly string[], classOf: Int32Array): Phase<Trie> {
  let work = 0;
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
  const t: Trie = {
    nodeCount,
    maxLen,
    parent: new Int32Array(nodeCount),
    cls: new Int32Array(nodeCount),
    depth: new Int32Array(nodeCount),
    out: new Int32Array(nodeCount),
    childCount: new Int32Array(nodeCount),
    gramNodes: [],
    gramPatterns: [],
  };
  const path = new Int32Array(maxLen + 1);
  let next = 1;
  for (let i = 0; i < patterns.length; i++) {
    const p = patterns[i];
    if ((work += p.length - lcp[i] + 1) >= SLICE_WORK) {
      work = 0;
      yield;
    }
    for (let d = lcp[i]; d < p.length; d++) {
      const id = next++;
      t.parent[id] = path[d];
      t.childCount[path[d]]++;
      t.cls[id] = classOf[p.charCodeAt(d)];
      t.depth[id] = d + 1;
      path[d + 1] = id;
      if (d + 1 === GRAM) {
        t.gramNodes.push(id);
        t.gramPatterns.push(i);
      }
    }
    t.out[path[p.length]] = p.length;
  }
  return t;
}

/** Where each trie node lives in the automaton, and the state records without failure links. */
interface Layout {
  /** perDepth[d]: number of states of depth < d. */
  perDepth: Int32Array;
  bfsDepth: number;
  bfsStates: number;
  denseStates: number;
  shallowStates: number;
  nodeCount: number;
  newId: Int32Array;
  /** By state id. */
  parent: Int32Array;
  rec: Int32Array;
  edges: Int32Array;
}

/**
 * The states of depth <= B come first, breadth-first (B >= 3, so the states the filter hands over
 * to are compact); the first `denseStates` of them have a dense row, as many as the budget allows.
 * The deeper states follow in preorder: one secret's chain is consecutive. Children of the states
 * without a dense row: none (0), one that is the next state in preorder, s + 1 (1), or a list in
 * `edges` at offset -kids - 1 (the count, then (class, state) pairs in class order).
 */
function* layOut(t: Trie, alphabet: number, denseBudget: number): Phase<Layout> {
  const { nodeCount, maxLen } = t;
  const perDepth = new Int32Array(maxLen + 2);
  for (let v = 0; v < nodeCount; v++) perDepth[t.depth[v] + 1]++;
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
    const d = t.depth[v];
    newId[v] = d <= bfsDepth ? levelNext[d]++ : deepNext++;
  }

  const rec = new Int32Array(nodeCount * 4);
  const parent = new Int32Array(nodeCount);
  for (let v = 0; v < nodeCount; v++) {
    if ((v & SLICE_MASK) === SLICE_MASK) yield;
    const w = newId[v];
    parent[w] = newId[t.parent[v]];
    rec[w * 4 + REC_CLASS] = t.cls[v];
    rec[w * 4 + REC_OUT] = t.out[v];
  }
  let edgeLength = 0;
  for (let v = 0; v < nodeCount; v++) {
    if ((v & SLICE_MASK) === SLICE_MASK) yield;
    const w = newId[v];
    if (w < denseStates) continue;
    const count = t.childCount[v];
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
    const pw = newId[t.parent[v]];
    if (pw < denseStates) continue;
    const kids = rec[pw * 4 + REC_KIDS];
    if (kids >= 0) continue;
    const off = -kids - 1;
    const at = off + 1 + 2 * edges[off]++;
    edges[at] = t.cls[v];
    edges[at + 1] = newId[v];
  }
  return { perDepth, bfsDepth, bfsStates, denseStates, shallowStates, nodeCount, newId, parent, rec, edges };
}

/**
 * Failure links, outputs and dense rows of the breadth-first states, level by level (they are
 * numbered in that order): every state's row is its failure state's row plus its own edges. Ends
 * with the edges from dense states into the deep states.
 */
function* linkBreadthFirst(a: Automaton, l: Layout): Phase<void> {
  const { alphabet, denseStates, dense, rec } = a;
  const { perDepth, parent } = l;
  for (let d = 1; d <= l.bfsDepth; d++) {
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
      const f = p === 0 ? 0 : transition(a, rec[p * 4 + REC_FAIL], rec[v * 4 + REC_CLASS]);
      rec[v * 4 + REC_FAIL] = f;
      if (rec[v * 4 + REC_OUT] === 0) rec[v * 4 + REC_OUT] = rec[f * 4 + REC_OUT];
      if (v < denseStates) dense.copyWithin(v * alphabet, f * alphabet, f * alphabet + alphabet);
    }
  }
  for (let v = l.bfsStates; v < l.nodeCount; v++) {
    const p = parent[v];
    if (p < denseStates) dense[p * alphabet + rec[v * 4 + REC_CLASS]] = v;
  }
}

/**
 * Failure links and outputs of the deep states, in preorder, which keeps memory access sequential
 * along each chain. A state needs the failure links of shallower states (its parent, the states
 * its failure walk passes, its failure state): one not known yet (-1) is resolved first,
 * depth-first, with an explicit stack. Every dependency is strictly shallower, so this ends.
 */
function* linkDeep(a: Automaton, l: Layout, maxLen: number): Phase<void> {
  const { rec } = a;
  const { parent, bfsStates, nodeCount } = l;
  for (let v = bfsStates; v < nodeCount; v++) rec[v * 4 + REC_FAIL] = -1;
  const pending = new Int32Array(maxLen + 1);
  for (let v = bfsStates; v < nodeCount; v++) {
    if ((v & SLICE_MASK) === SLICE_MASK) yield;
    if (rec[v * 4 + REC_FAIL] >= 0) continue;
    let top = 0;
    pending[top++] = v;
    while (top > 0) {
      const u = pending[top - 1];
      const x = rec[parent[u] * 4 + REC_FAIL];
      if (x < 0) {
        pending[top++] = parent[u];
        continue;
      }
      const f = transition(a, x, rec[u * 4 + REC_CLASS]);
      if (f < 0) {
        pending[top++] = -1 - f; // a state on the walk, its own failure link first
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
}
