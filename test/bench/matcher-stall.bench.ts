/**
 * Matcher-build benchmark (issue 12, item 5): `npm run bench:matcher` (tsx test/bench/matcher-stall.bench.ts).
 *
 * Runs the compiled service (`node dist/main.js`, NODE_ENV=production, SQLite in a temp dir; run
 * `npm run build` first, or set BENCH_ROOT to another built tree, e.g. the code before a change) in
 * its own process and measures, while /health is polled every 50 ms from this process:
 *
 * - `writes-100` / `writes-10000`: secret writes (REST PUT, org_admin) by 16 concurrent writers for
 *   BENCH_DURATION seconds (default 6), cycling over 100 keys, in an org that holds 100 or 10,000
 *   secrets (seeded through one import). Each write moves the org's secret version, so the answer
 *   of the next request of that org needs a matcher with the new value. Writes/s, p50/p99, and
 *   the /health latencies during the run.
 * - `execution-secrets`: one execution registers BENCH_EXEC_VALUES (default 16) dynamic secrets of
 *   64 KiB, one request each (what the 60 x 64 KiB did, shorter); then reads the execution.
 *   Accepted and refused (413) registrations, the time of each step, /health during.
 *
 * Prints a table; writes the figures as JSON to BENCH_OUT when set. Not a test: nothing here fails on timing.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { AddressInfo, createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Fernet } from '../../src/crypto/fernet';
import { deriveFernetKey } from '../../src/crypto/key-derivation';

const ROOT = resolve(process.env.BENCH_ROOT ?? join(__dirname, '..', '..'));
const DURATION = Number(process.env.BENCH_DURATION ?? 6);
const WRITERS = 16;
const EXEC_VALUES = Number(process.env.BENCH_EXEC_VALUES ?? 16);
const SECRET_KEY = 'bench-secret-key-' + randomBytes(16).toString('hex');
const SOURCE_KEY = 'bench-source-key-' + randomBytes(16).toString('hex');
const ADMIN = 'bft_' + randomBytes(32).toString('base64url');

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number) => Math.round(x * 10) / 10;

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

// A JSON answer as the bench reads it: any member, to any depth.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

let base = '';
async function call(method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; json: Json; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(base + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, json, ms };
}

/** Polls /health every 50 ms until stopped: every latency, and the longest. */
function watchHealth(): { stop(): Promise<{ n: number; p50: number; p99: number; max: number; failures: number }> } {
  const times: number[] = [];
  let failures = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const r = await call('GET', '/health', null);
        times.push(r.ms);
        if (r.status !== 200) failures++;
      } catch {
        failures++;
      }
      await sleep(50);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { n: times.length, p50: round(pct(times, 50)), p99: round(pct(times, 99)), max: round(Math.max(0, ...times)), failures };
    },
  };
}

async function startService(dir: string, port: number): Promise<ChildProcess> {
  const flags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...flags, join(ROOT, 'dist', 'main.js')], {
    cwd: dir,
    env: { PATH: process.env.PATH, NODE_ENV: 'production', PORT: String(port), DATABASE_URL: `sqlite:${join(dir, 'bench.sqlite')}`, BIFROST_SECRET_KEY: SECRET_KEY, BIFROST_BOOTSTRAP_TOKEN: ADMIN, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + String(d)).slice(-4000)));
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`the service exited: ${stderr}`);
    try {
      if ((await call('GET', '/health', null)).status === 200) return child;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  throw new Error(`the service did not start: ${stderr}`);
}

async function org(name: string): Promise<{ id: string; admin: string; service: string }> {
  const o = await call('POST', '/api/orgs', ADMIN, { name });
  const token = async (role: string) => (await call('POST', '/api/tokens', ADMIN, { name: `${name}-${role}`, role, orgId: o.json.id })).json.token as string;
  return { id: o.json.id, admin: await token('org_admin'), service: await token('service') };
}

/** `count` secrets in the org, in one import (a Bifrost export wrapped with its key). */
async function seed(orgName: string, count: number): Promise<number> {
  const fernet = new Fernet(deriveFernetKey(SOURCE_KEY));
  const items = Array.from({ length: count }, (_, i) => ({
    key: `seed_${i}`,
    value: fernet.encrypt(`sk_seed_${i}_${randomBytes(12).toString('base64url')}`),
    config_type: 'secret',
    organization_name: orgName,
  }));
  const t0 = performance.now();
  const r = await call('POST', '/api/import', ADMIN, { bundle: { bifrost_export_version: '1.0', entity_type: 'configs', items }, sourceSecretKey: SOURCE_KEY });
  if (r.status !== 200) throw new Error(`seeding failed: ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
  return performance.now() - t0;
}

async function writes(o: { id: string; admin: string }, label: string) {
  // Warm up: the first answer of the org builds its matcher.
  await call('GET', `/api/scopes/${o.id}/configs?limit=1`, o.admin);
  const health = watchHealth();
  const latencies: number[] = [];
  let errors = 0;
  let n = 0;
  const until = performance.now() + DURATION * 1000;
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      while (performance.now() < until) {
        const key = `w_${n++ % 100}`;
        const r = await call('PUT', `/api/scopes/${o.id}/configs/${key}`, o.admin, { type: 'secret', value: `sk_w_${randomBytes(16).toString('hex')}` });
        if (r.status === 200 || r.status === 201) latencies.push(r.ms);
        else errors++;
      }
    }),
  );
  const h = await health.stop();
  return { scenario: label, writesPerSec: round(latencies.length / DURATION), p50ms: round(pct(latencies, 50)), p99ms: round(pct(latencies, 99)), errors, health: h };
}

async function executionSecrets(o: { id: string; service: string }) {
  const ex = await call('POST', '/api/executions', o.service, { workflow: 'bench' });
  const health = watchHealth();
  const steps: number[] = [];
  let accepted = 0;
  let refused = 0;
  const t0 = performance.now();
  for (let i = 0; i < EXEC_VALUES; i++) {
    const value = randomBytes(48 * 1024).toString('base64').slice(0, 64 * 1024);
    const r = await call('POST', `/api/executions/${ex.json.id}/secrets`, o.service, { values: [value] });
    steps.push(r.ms);
    if (r.status === 204) accepted++;
    else if (r.status === 413) refused++;
  }
  const registerMs = performance.now() - t0;
  const read = await call('GET', `/api/executions/${ex.json.id}`, o.service);
  const logs = await call('POST', `/api/executions/${ex.json.id}/logs`, o.service, { lines: [{ level: 'info', message: 'after' }] });
  const h = await health.stop();
  return {
    scenario: 'execution-secrets',
    values: EXEC_VALUES,
    accepted,
    refused,
    registerTotalMs: round(registerMs),
    registerMaxMs: round(Math.max(...steps)),
    readMs: round(read.ms),
    logMs: round(logs.ms),
    health: h,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bifrost-matcher-bench-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const child = await startService(dir, port);
  try {
    const small = await org('bench-small');
    const large = await org('bench-large');
    const execOrg = await org('bench-exec');
    const seedSmallMs = await seed('bench-small', 100);
    const seedLargeMs = await seed('bench-large', 10_000);
    log(`seeded 100 secrets in ${round(seedSmallMs)} ms, 10,000 in ${round(seedLargeMs)} ms`);
    const only = process.env.BENCH_ONLY;
    const w100 = only === 'writes-10000' ? { scenario: 'writes-100', writesPerSec: 0, p50ms: 0, p99ms: 0, errors: 0, health: { n: 0, p50: 0, p99: 0, max: 0, failures: 0 } } : await writes(small, 'writes-100');
    log(JSON.stringify(w100));
    const w10k = await writes(large, 'writes-10000');
    log(JSON.stringify(w10k));
    const ex = await executionSecrets(execOrg);
    log(JSON.stringify(ex));

    const ratio = Math.round((w10k.writesPerSec / Math.max(w100.writesPerSec, 0.1)) * 100) / 100;
    console.log(`matcher-stall benchmark: ${ROOT}, node ${process.version}, ${cpus().length} CPUs, load average ${loadavg()[0].toFixed(2)}, ${DURATION} s per write run, ${WRITERS} writers`);
    console.log('');
    console.log('scenario        writes/s   p50 ms   p99 ms   errors   /health p50   p99     max ms');
    for (const w of [w100, w10k]) {
      console.log(
        `${w.scenario.padEnd(14)} ${String(w.writesPerSec).padStart(9)} ${String(w.p50ms).padStart(8)} ${String(w.p99ms).padStart(8)} ${String(w.errors).padStart(8)} ${String(w.health.p50).padStart(13)} ${String(w.health.p99).padStart(7)} ${String(w.health.max).padStart(8)}`,
      );
    }
    console.log(`10,000 vs 100 secrets: ${ratio}x the write rate`);
    console.log(
      `execution: ${ex.values} x 64 KiB, ${ex.accepted} accepted, ${ex.refused} refused (413); registering took ${ex.registerTotalMs} ms (slowest ${ex.registerMaxMs} ms), ` +
        `then reading it ${ex.readMs} ms, a log batch ${ex.logMs} ms; /health p99 ${ex.health.p99} ms, max ${ex.health.max} ms`,
    );
    const out = process.env.BENCH_OUT;
    if (out) {
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(
        out,
        JSON.stringify({ benchmark: 'matcher-stall', root: ROOT, node: process.version, cpus: cpus().length, loadAverage: loadavg()[0], durationSec: DURATION, writers: WRITERS, seedMs: { small: round(seedSmallMs), large: round(seedLargeMs) }, results: [w100, w10k, ex], writeRatio10kTo100: ratio }, null, 2) + '\n',
      );
      console.log(`figures written to ${out}`);
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
