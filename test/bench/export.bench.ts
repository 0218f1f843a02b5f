/**
 * Export/import benchmark: `npm run bench:export` (tsx test/bench/export.bench.ts; `npm run build` first).
 *
 * For 10,000 and 100,000 configs (mixed types: string, int, bool, json, ~10% secrets; half global,
 * half spread over 20 orgs) it seeds a temporary database — SQLite, or a fresh MySQL/MariaDB
 * database beside DATABASE_URL when that names one — then runs, each in its own child process so
 * each peak RSS is that step's alone:
 *   export-portable  the portable bundle to a file (ExportService, as `bifrost export` runs it)
 *   export-backup    the backup bundle (secrets as Fernet tokens) to a file
 *   import-backup    that backup into a fresh, empty database (ImportService: header pass, check
 *                    pass, one-transaction write pass with per-config audit entries)
 * and prints time and peak RSS (process.resourceUsage().maxRSS) with the RSS before the step's work
 * began, so growth with the count shows. Peak RSS alone can be fooled by lazy garbage collection
 * (V8 collects when it likes), so each step child also runs with --expose-gc and, about 20 times
 * per pass (from the export's page and the import's batch progress callbacks), forces a full GC
 * and records heapUsed + external: the live memory. Its growth over the idle process is what must
 * not depend on the count. Times leave out those forced collections. BENCH_TRACE=1 prints every
 * sample to stderr. Writes the figures as JSON to BENCH_OUT when set. Not a test: nothing here
 * fails on timing.
 *
 * Measured (SQLite, 2 CPUs, load ~3; README "Memory" has the table): live memory grows by 0.7-2.6
 * MiB in every step, the same for 10,000 and 100,000 configs. Peak RSS still rises 15-18 MiB from
 * 10,000 to 100,000 (import 175 -> 191 MiB, export 164-167 -> 181-185 MiB) with live memory flat:
 * V8's young generation grows and more garbage waits between collections in a longer run, and
 * malloc keeps memory SQLite/better-sqlite3 freed; not data held per config. Before the import
 * fixes (in-memory duplicate Map, ~150 bytes a config; one prepared statement per batch of varying
 * length, up to TypeORM's cache of 100, ~17 MiB native) import went 181 -> 245 MiB and its live
 * memory grew by 15 MiB at 100,000. Export's 163 -> 203 MiB then was garbage: its live memory grew
 * by 2 MiB. The forced collections also lower the peak RSS somewhat compared with an unprobed run.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CLI_PRINCIPAL } from '../../src/auth/roles';
import { loadEnv } from '../../src/common/env';
import { CryptoService } from '../../src/crypto/crypto.service';
import { EXPORT_PAGE } from '../../src/export/export.service';
import { IMPORT_BATCH } from '../../src/export/import.service';

const SIZES = [10_000, 100_000] as const;
const ORGS = 20;
const SECRET_KEY = 'bench-export-secret-key-0123456789abcdefghij';
const ROOT = resolve(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const BASE_URL = process.env.DATABASE_URL ?? '';
const onMysql = BASE_URL.startsWith('mysql://');

interface StepResult {
  step: string;
  configs: number;
  ms: number;
  peakRssMiB: number;
  startRssMiB: number;
  fileMiB?: number;
  /** Live memory (heapUsed + external) after a forced full GC, before the work began. */
  baseLiveMiB?: number;
  /** The most live memory seen after a forced full GC during the work (sampled every few batches). */
  peakLiveMiB?: number;
  liveSamples?: number;
  detail?: Record<string, unknown>;
}

const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
/** Peak resident set size of this process so far (resourceUsage reports kilobytes). */
const peakRss = () => mib(process.resourceUsage().maxRSS * 1024);

async function open(url: string) {
  // The compiled CLI (`npm run build` first): its Nest graph needs the decorator metadata that tsc
  // emits and tsx does not.
  const { migrate, openCli } = require(join(__dirname, '..', '..', 'dist', 'cli', 'cli-context.js')) as typeof import('../../src/cli/cli-context');
  const env = loadEnv({ NODE_ENV: 'test', LOG_LEVEL: 'warn', DATABASE_URL: url, BIFROST_SECRET_KEY: SECRET_KEY });
  // The CLI opens only a database that exists (a fresh SQLite file is created by migrating it).
  await migrate(env);
  return openCli(env, { checkKeys: false });
}

/** Child: fills the database with `n` configs, straight SQL in batches. */
async function seed(url: string, n: number): Promise<void> {
  const ctx = await open(url);
  const crypto = new CryptoService({ secretKey: SECRET_KEY, previousSecretKeys: [] });
  const orgIds: string[] = [];
  for (let i = 0; i < ORGS; i++) orgIds.push((await ctx.orgs.create(`bench-org-${String(i).padStart(2, '0')}`)).id);
  const now = new Date();
  const stamp = onMysql ? now : now.toISOString().replace('T', ' ').replace('Z', '');
  const BATCH = 500;
  for (let start = 0; start < n; start += BATCH) {
    const values: unknown[] = [];
    const rows: string[] = [];
    for (let i = start; i < Math.min(n, start + BATCH); i++) {
      const scope = i % 2 === 0 ? 'global' : orgIds[i % ORGS];
      const kind = i % 10;
      let type: string;
      let value: string | null = null;
      let ciphertext: string | null = null;
      if (kind === 0) {
        type = 'secret';
        // As the service writes it: bound to its scope and key.
        ciphertext = crypto.encryptBound({ scope, key: `config_${String(i).padStart(6, '0')}` }, `sk_live_${randomBytes(18).toString('base64url')}`);
      } else if (kind <= 3) {
        type = 'string';
        value = JSON.stringify(`https://service-${i}.example.com/api/v2/endpoint?region=eu-west-${i % 3}`);
      } else if (kind <= 5) {
        type = 'int';
        value = String(i * 7);
      } else if (kind === 6) {
        type = 'bool';
        value = i % 4 === 0 ? 'true' : 'false';
      } else {
        type = 'json';
        value = JSON.stringify({ retries: i % 5, hosts: [`a${i}`, `b${i}`], limits: { rps: i % 1000, burst: 2 } });
      }
      rows.push('(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
      values.push(scope, `config_${String(i).padStart(6, '0')}`, type, value, ciphertext, 1, i % 2 === 0 ? `Setting number ${i}` : null, 'bench', stamp, stamp);
    }
    await ctx.dataSource.query(
      'INSERT INTO configs (scope, `key`, type, value, ciphertext, has_value, description, updated_by, created_at, updated_at) VALUES ' + rows.join(', '),
      values,
    );
  }
  await ctx.close();
}

/**
 * Live memory, not fooled by lazy GC: heapUsed + external right after a forced full collection
 * (the step child runs with --expose-gc). Sampled about 20 times per phase of a step.
 */
class LiveMemory {
  peak = 0;
  samples = 0;
  gcMs = 0;
  private calls = 0;
  constructor(private readonly every: number) {}
  static now(): number {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) throw new Error('the step child needs --expose-gc');
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.external;
  }
  tick(label = ''): void {
    if (++this.calls % this.every !== 0) return;
    const t0 = performance.now();
    const now = LiveMemory.now();
    if (process.env.BENCH_TRACE) process.stderr.write(`${label} ${this.calls} live ${mib(now)} heap ${mib(process.memoryUsage().heapUsed)} rss ${mib(process.memoryUsage().rss)}\n`);
    this.peak = Math.max(this.peak, now);
    this.gcMs += performance.now() - t0;
    this.samples++;
  }
}

/** Child: one measured step. */
async function step(name: string, url: string, file: string, n: number): Promise<StepResult> {
  const ctx = await open(url);
  const startRssMiB = mib(process.memoryUsage().rss);
  const baseLive = LiveMemory.now();
  const exporting = name === 'export-portable' || name === 'export-backup';
  // About 20 samples per pass: export reports each page, import each batch of each pass.
  const live = new LiveMemory(Math.max(1, Math.round(n / (exporting ? EXPORT_PAGE : IMPORT_BATCH) / 20)));
  const t0 = performance.now();
  let configs = 0;
  let detail: Record<string, unknown> | undefined;
  if (exporting) {
    const out = createWriteStream(file);
    await once(out, 'open');
    const result = await ctx.exports.export(
      CLI_PRINCIPAL,
      { portable: name === 'export-portable' },
      async (chunk) => {
        if (!out.write(chunk)) await once(out, 'drain');
      },
      { onProgress: () => live.tick() },
    );
    out.end();
    await once(out, 'finish');
    configs = result.configs;
  } else {
    const result = await ctx.imports.import(
      CLI_PRINCIPAL,
      () => createReadStream(file, { highWaterMark: 64 * 1024 }),
      { dryRun: false, onConflict: 'skip', createOrgs: true },
      (p) => live.tick(`${p.phase} ${p.rows}`),
    );
    configs = result.created + result.updated + result.skipped;
    detail = { created: result.created, secretsNeedingValue: result.secretsNeedingValue.length };
  }
  // The forced collections are the probe's cost, not the step's.
  const ms = Math.round(performance.now() - t0 - live.gcMs);
  await ctx.close();
  if (configs !== n) throw new Error(`${name}: expected ${n} configs, handled ${configs}`);
  return {
    step: name,
    configs,
    ms,
    peakRssMiB: peakRss(),
    startRssMiB,
    fileMiB: mib(statSync(file).size),
    baseLiveMiB: mib(baseLive),
    peakLiveMiB: mib(Math.max(live.peak, baseLive)),
    liveSamples: live.samples,
    detail,
  };
}

async function freshDatabase(label: string): Promise<{ url: string; drop(): Promise<void> }> {
  if (!onMysql) {
    const dir = mkdtempSync(join(tmpdir(), `bifrost-bench-${label}-`));
    return { url: `sqlite:${join(dir, 'bench.sqlite')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const mysql = await import('mysql2/promise');
  const admin = new URL(BASE_URL);
  const connect = () => mysql.createConnection({ host: admin.hostname, port: Number(admin.port || 3306), user: decodeURIComponent(admin.username), password: decodeURIComponent(admin.password) });
  const name = `bifrost_bench_${label}_${randomBytes(4).toString('hex')}`;
  const conn = await connect();
  await conn.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await conn.end();
  const url = new URL(BASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = await connect();
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
    },
  };
}

/** Runs this file again in a child process and returns the JSON line it prints. */
function child(args: string[]): StepResult | null {
  const res = spawnSync(TSX, [...(args[0] === 'step' ? ['--expose-gc'] : []), __filename, ...args], { cwd: ROOT, env: { ...process.env, NODE_ENV: 'test' }, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (res.status !== 0) throw new Error(`child ${args[0]} failed (${res.status}): ${res.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const last = res.stdout.trim().split('\n').pop() ?? '';
  return last.startsWith('{') ? (JSON.parse(last) as StepResult) : null;
}

async function parent(): Promise<void> {
  const results: (StepResult & { size: number; seedMs: number })[] = [];
  const work = mkdtempSync(join(tmpdir(), 'bifrost-bench-files-'));
  console.log(`export/import benchmark on ${onMysql ? 'MySQL/MariaDB' : 'SQLite'}; ${cpus().length} CPUs; Node ${process.version}`);
  try {
    for (const n of SIZES) {
      const source = await freshDatabase(`src${n}`);
      const target = await freshDatabase(`dst${n}`);
      try {
        const t0 = performance.now();
        child(['seed', source.url, String(n)]);
        const seedMs = Math.round(performance.now() - t0);
        const portable = join(work, `portable-${n}.json`);
        const backup = join(work, `backup-${n}.json`);
        for (const [name, url, file] of [
          ['export-portable', source.url, portable],
          ['export-backup', source.url, backup],
          ['import-backup', target.url, backup],
        ] as const) {
          const r = child(['step', name, url, file, String(n)])!;
          results.push({ ...r, size: n, seedMs });
          console.log(
            `${String(n).padStart(7)} configs  ${name.padEnd(15)} ${String(r.ms).padStart(7)} ms  peak RSS ${String(r.peakRssMiB).padStart(6)} MiB` +
              `  (at start ${r.startRssMiB} MiB)  live after GC ${r.baseLiveMiB} -> max ${r.peakLiveMiB} MiB (${r.liveSamples} samples)  file ${r.fileMiB} MiB`,
          );
        }
      } finally {
        await source.drop();
        await target.drop();
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  for (const name of ['export-portable', 'export-backup', 'import-backup']) {
    const [small, large] = SIZES.map((n) => results.find((r) => r.size === n && r.step === name)!);
    const growth = (r: StepResult) => Math.round(((r.peakLiveMiB ?? 0) - (r.baseLiveMiB ?? 0)) * 10) / 10;
    console.log(
      `${name}: peak RSS ${small.peakRssMiB} MiB for ${SIZES[0]} configs, ${large.peakRssMiB} MiB for ${SIZES[1]} (x${(large.peakRssMiB / small.peakRssMiB).toFixed(2)} for x${SIZES[1] / SIZES[0]} the configs);` +
        ` live memory after GC grew by ${growth(small)} MiB for ${SIZES[0]}, ${growth(large)} MiB for ${SIZES[1]}`,
    );
  }
  const outPath = process.env.BENCH_OUT;
  if (outPath) {
    mkdirSync(dirname(resolve(outPath)), { recursive: true });
    writeFileSync(outPath, JSON.stringify({ benchmark: 'export', database: onMysql ? 'mysql' : 'sqlite', node: process.version, cpus: cpus().length, results }, null, 2) + '\n');
    console.log(`wrote ${outPath}`);
  }
}

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'seed') {
    await seed(args[0], Number(args[1]));
    return;
  }
  if (mode === 'step') {
    const result = await step(args[0], args[1], args[2], Number(args[3]));
    process.stdout.write(JSON.stringify(result) + '\n');
    return;
  }
  await parent();
}

main().catch((err) => {
  process.stderr.write(`bench:export failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
