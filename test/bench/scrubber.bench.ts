/**
 * Scrubber benchmark: `npm run bench:scrubber` (tsx test/bench/scrubber.bench.ts).
 *
 * Builds ~1 MiB of mixed JSON text (objects, arrays, log-like strings, base64 blobs, embedded
 * secrets), then for 10, 1,000 and 10,000 registered random secrets (16-40 characters) measures
 * the matcher build time and the median time of scrubbing the text (`scrub` on the serialized text,
 * `scrubDeep` on the parsed object). Prints a table; writes the figures as JSON to `BENCH_OUT` when
 * that variable is set. Not a test: nothing here fails on timing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SecretMatcher, redactionMarker } from '../../src/scrubber/secret-matcher';

const TARGET_BYTES = 1 << 20;
const SECRET_COUNTS = [10, 1_000, 10_000] as const;
const RUNS = 15;
const WARMUP_RUNS = 5;

// A small deterministic PRNG (mulberry32) so runs are comparable.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = rng(0x5eed);
const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];

const SECRET_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~!@#%^&*+=/';

function randomSecret(): string {
  const len = int(16, 40);
  let s = '';
  for (let i = 0; i < len; i++) s += SECRET_ALPHABET[Math.floor(random() * SECRET_ALPHABET.length)];
  return s;
}

function randomBytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
  return b;
}

const WORDS = [
  'request', 'started', 'finished', 'user', 'workflow', 'step', 'retry', 'connection', 'timeout',
  'token', 'config', 'loaded', 'value', 'cache', 'miss', 'hit', 'database', 'query', 'took', 'ms',
  'error', 'warning', 'info', 'debug', 'upstream', 'response', 'status', 'payload', 'sent', 'queue',
];

function logLine(secrets: readonly string[]): string {
  const words: string[] = [];
  const n = int(6, 20);
  for (let i = 0; i < n; i++) words.push(pick(WORDS));
  if (random() < 0.05) words.splice(int(0, words.length), 0, `Authorization: Bearer ${pick(secrets)}`);
  if (random() < 0.02) words.push(`password=${encodeURIComponent(pick(secrets))}`);
  return `${new Date(1_700_000_000_000 + int(0, 1e9)).toISOString()} ${pick(['INFO', 'WARN', 'DEBUG'])} ${words.join(' ')}`;
}

function record(id: number, secrets: readonly string[]): unknown {
  const kind = id % 4;
  if (kind === 0) {
    return {
      id,
      workflow: `wf-${int(1, 500)}`,
      status: pick(['running', 'success', 'failed']),
      logs: Array.from({ length: int(3, 12) }, () => ({ level: pick(['info', 'warn']), message: logLine(secrets) })),
      durationMs: int(1, 100_000),
      ok: random() < 0.9,
    };
  }
  if (kind === 1) {
    const blob = randomBytes(int(100, 1500));
    // Sometimes a secret inside a base64-encoded payload, at a random byte offset.
    const payload = random() < 0.2 ? Buffer.concat([blob, Buffer.from(pick(secrets)), randomBytes(int(0, 40))]) : blob;
    return { id, attachment: { contentType: 'application/octet-stream', data: payload.toString('base64') } };
  }
  if (kind === 2) {
    return {
      id,
      config: Object.fromEntries(
        Array.from({ length: int(3, 10) }, (_, i) => [`KEY_${id}_${i}`, random() < 0.1 ? pick(secrets) : pick(WORDS)]),
      ),
      tags: Array.from({ length: int(0, 6) }, () => pick(WORDS)),
    };
  }
  return { id, metrics: Array.from({ length: int(5, 40) }, () => random() * 1000), note: logLine(secrets), nested: { a: { b: { c: [null, true, id] } } } };
}

function buildDocument(embedded: readonly string[]): { text: string; value: unknown } {
  const items: unknown[] = [];
  let size = 0;
  for (let id = 0; size < TARGET_BYTES; id++) {
    const r = record(id, embedded);
    items.push(r);
    size += JSON.stringify(r).length + 1;
  }
  const text = JSON.stringify({ items });
  return { text, value: JSON.parse(text) as unknown };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

interface Result {
  secrets: number;
  patterns: number;
  states: number;
  buildMs: number;
  /** CPU time of the build (user + system), less sensitive than wall time to a busy machine. */
  buildCpuMs: number;
  scrubMs: number;
  scrubDeepMs: number;
  redactions: number;
}

function main(): void {
  const allSecrets = Array.from({ length: SECRET_COUNTS[SECRET_COUNTS.length - 1] }, randomSecret);
  // Embed only secrets of the smallest set, so every scenario scrubs the same text with the same matches.
  const { text, value } = buildDocument(allSecrets.slice(0, SECRET_COUNTS[0]));

  // Build each matcher (median of 3 builds), then time the scenarios round-robin, so that JIT
  // warm-up and the noise of a shared machine fall on all of them alike.
  const matchers = SECRET_COUNTS.map((count) => {
    const secrets = allSecrets.slice(0, count);
    let matcher = new SecretMatcher(secrets);
    const builds: number[] = [];
    const buildCpu: number[] = [];
    for (let i = 0; i < 3; i++) {
      const cpu = process.cpuUsage();
      builds.push(time(() => (matcher = new SecretMatcher(secrets))));
      const used = process.cpuUsage(cpu);
      buildCpu.push((used.user + used.system) / 1000);
    }
    return { count, matcher, buildMs: median(builds), buildCpuMs: median(buildCpu) };
  });
  const scrubTimes: number[][] = matchers.map(() => []);
  const deepTimes: number[][] = matchers.map(() => []);
  const scrubbed: string[] = matchers.map(() => '');
  for (let run = 0; run < WARMUP_RUNS + RUNS; run++) {
    matchers.forEach(({ matcher }, k) => {
      const t1 = time(() => (scrubbed[k] = matcher.scrub(text)));
      const t2 = time(() => matcher.scrubDeep(value));
      if (run >= WARMUP_RUNS) {
        scrubTimes[k].push(t1);
        deepTimes[k].push(t2);
      }
    });
  }

  const results: Result[] = matchers.map(({ count, matcher, buildMs, buildCpuMs }, k) => {
    for (const s of allSecrets.slice(0, SECRET_COUNTS[0])) {
      if (scrubbed[k].includes(s)) throw new Error('bench sanity check: a secret survived scrubbing');
    }
    return {
      secrets: count,
      patterns: matcher.patternCount,
      states: matcher.stateCount,
      buildMs: round(buildMs),
      buildCpuMs: round(buildCpuMs),
      scrubMs: round(median(scrubTimes[k])),
      scrubDeepMs: round(median(deepTimes[k])),
      redactions: scrubbed[k].split(redactionMarker).length - 1,
    };
  });

  const first = results[0];
  const last = results[results.length - 1];
  const scrubRatio = round(last.scrubMs / first.scrubMs);
  const deepRatio = round(last.scrubDeepMs / first.scrubDeepMs);
  const within2x = scrubRatio <= 2 && deepRatio <= 2;

  const textMiB = text.length / (1 << 20);
  const load = loadavg()[0].toFixed(2);
  console.log(
    `scrubber benchmark: ${text.length} chars (${textMiB.toFixed(2)} MiB) of JSON, median of ${RUNS} runs, ` +
      `node ${process.version}, ${cpus().length} CPUs, load average ${load}`,
  );
  console.log('');
  const header = ['secrets', 'forms', 'states', 'build ms', 'build cpu ms', 'scrub ms', 'scrubDeep ms', 'redactions'];
  const rows = results.map((r) => [r.secrets, r.patterns, r.states, r.buildMs, r.buildCpuMs, r.scrubMs, r.scrubDeepMs, r.redactions].map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  console.log('');
  console.log(
    `${last.secrets} vs ${first.secrets} secrets: scrub ${scrubRatio}x, scrubDeep ${deepRatio}x -> ` +
      (within2x ? 'within 2x: yes' : 'within 2x: NO'),
  );

  const out = process.env.BENCH_OUT;
  if (out) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(
      out,
      JSON.stringify(
        {
          benchmark: 'scrubber',
          node: process.version,
          textChars: text.length,
          cpus: cpus().length,
          loadAverage: loadavg()[0],
          runs: RUNS,
          unit: 'ms',
          results,
          ratio10kTo10: { scrub: scrubRatio, scrubDeep: deepRatio },
          within2x,
        },
        null,
        2,
      ) + '\n',
    );
    console.log(`figures written to ${out}`);
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

main();
