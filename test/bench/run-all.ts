/**
 * `npm run bench`: the HTTP load benchmarks of the service beside hand-written baselines, then the
 * scrubber and export benchmarks; one JSON file in test/bench/results/ and a short table.
 *
 * - The service is the compiled build (`npm run build` first, then `node dist/main.js`, NODE_ENV
 *   production), on a fresh MariaDB/MySQL database made (and dropped) here on BENCH_MYSQL_URL
 *   (default mysql://root@127.0.0.1:3306).
 * - Baselines (test/bench/baseline-server.ts, node:http + mysql2, no framework) run on the same
 *   database and tables: a no-database hello route, the naive audited SDK read (one audit INSERT
 *   per request) and the same with group-committed audit inserts.
 * - autocannon runs in this process: 64 connections, a warm-up (BENCH_WARMUP s, default 3), then
 *   the measured run (BENCH_DURATION s, default 10). Each server runs in its own process, one at a
 *   time under load, on the same 2 cores as MariaDB and the load generator.
 *
 * Environment: BENCH_MYSQL_URL, BENCH_DURATION, BENCH_WARMUP, BENCH_CONNECTIONS, BENCH_SKIP_BUILD=1,
 * BENCH_ONLY=comma-separated scenario names, BENCH_PUT_KEYS (default 100), BENCH_SKIP_SUITES=1 (no scrubber/export benches),
 * BENCH_NODE_FLAGS (extra node flags for the service, e.g. --max-semi-space-size=64),
 * BENCH_RESULTS_FILE (default test/bench/results/bench-<date>.json), BENCH_PROFILE=<dir> (the service
 * and each baseline write a V8 CPU profile of each of their runs there).
 */
import autocannon from 'autocannon';
import { ChildProcess, execSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { AddressInfo, createServer } from 'node:net';
import mysql from 'mysql2/promise';

const ROOT = resolve(__dirname, '..', '..');
const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : null;
const SECRET_KEY = 'bench-secret-key-' + randomBytes(16).toString('hex');
const ADMIN_TOKEN = 'bft_' + randomBytes(32).toString('base64url');
const SECRET_VALUE = 'sk_live_' + randomBytes(24).toString('hex');
const DB_NAME = `bifrost_bench_${randomBytes(4).toString('hex')}`;
/**
 * Keys the PUT run cycles through. Each secret write moves the org's secret version, so the next
 * response of that org rebuilds its scrubber from every secret of the org: the cost grows with
 * this number (BENCH_PUT_KEYS; 1,000 costs ~30 ms of CPU per write on the development machine).
 */
const PUT_KEYS = Number(process.env.BENCH_PUT_KEYS ?? 100);
/** Free ports, found at start (other test runs on this machine start servers on ports of their own). */
const PORTS = { service: 0, naive: 0, batched: 0, hello: 0 };

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Measured {
  name: string;
  server: 'service' | 'baseline';
  /** CPU time of the server process per answered request (user + system): steadier than req/s on a busy machine. */
  serverCpuMsPerRequest?: number;
  /** CPU time of mariadbd per request; it counts whatever else used MariaDB meanwhile. */
  dbCpuMsPerRequest?: number;
  /** CPU time of the load generator (autocannon, in this process) per request. */
  loadCpuMsPerRequest?: number;
  /** Share of the machine's CPU time left idle during the run (from /proc/stat): near 0 means CPU-bound. */
  idlePct?: number;
  what: string;
  requestsPerSec: number;
  p50ms: number;
  p99ms: number;
  p999ms?: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

// ---- processes ------------------------------------------------------------------------------

const children = new Set<ChildProcess>();

function cleanup(): void {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    cleanup();
    void dropDatabase().finally(() => process.exit(130));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  children.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(10_000)]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

async function waitForHttp(url: string, child: ChildProcess, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before it was ready`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      /* not listening yet */
    }
    await sleep(200);
  }
  throw new Error(`${what} did not answer ${url} within ${timeoutMs} ms`);
}

function databaseUrl(): string {
  const url = new URL(MYSQL_URL);
  url.pathname = `/${DB_NAME}`;
  return url.toString();
}

let loggedBytes = 0;

async function startService(extraEnv: Record<string, string> = {}, drainStdout = false): Promise<ChildProcess> {
  // BENCH_PROFILE=<dir>: the service writes a V8 CPU profile there when it stops (for `--cpu-prof` analysis).
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${resolve(process.env.BENCH_PROFILE)}`] : [];
  const child = spawn(process.execPath, [...profile, ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean), join(ROOT, 'dist', 'main.js')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      PORT: String(PORTS.service),
      DATABASE_URL: databaseUrl(),
      BIFROST_SECRET_KEY: SECRET_KEY,
      BIFROST_BOOTSTRAP_TOKEN: ADMIN_TOKEN,
      LOG_LEVEL: 'warn',
      ...extraEnv,
    },
    // A drained pipe, as a container's log driver reads it, when the run measures what logging costs.
    stdio: ['ignore', drainStdout ? 'pipe' : 'ignore', 'pipe'],
  });
  children.add(child);
  if (drainStdout) child.stdout!.on('data', (d: Buffer) => (loggedBytes += d.length));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + String(d)).slice(-4000)));
  child.once('exit', (code, signal) => {
    if (children.has(child)) log(`the service exited (${code ?? signal}) while in use:\n${stderr}`);
  });
  try {
    await waitForHttp(`http://127.0.0.1:${PORTS.service}/health`, child, 'the service');
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${stderr}`, { cause: err });
  }
  return child;
}

async function startBaseline(mode: 'naive' | 'batched' | 'hello'): Promise<ChildProcess> {
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${resolve(process.env.BENCH_PROFILE)}`, `--cpu-prof-name=baseline-${mode}.cpuprofile`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', join(__dirname, 'baseline-server.ts'), mode, String(PORTS[mode]), databaseUrl(), SECRET_KEY], {
    cwd: ROOT,
    env: { ...process.env, TSX_TSCONFIG_PATH: join(ROOT, 'test', 'tsconfig.json') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  await new Promise<void>((resolveReady, reject) => {
    child.stdout!.on('data', (d) => String(d).includes('ready') && resolveReady());
    child.once('exit', (code) => reject(new Error(`baseline ${mode} exited with ${code}`)));
  });
  return child;
}

// ---- database and seed ------------------------------------------------------------------------

async function adminConnection() {
  const url = new URL(MYSQL_URL);
  return mysql.createConnection({ host: url.hostname, port: Number(url.port || 3306), user: decodeURIComponent(url.username || 'root'), password: decodeURIComponent(url.password) });
}

async function createDatabase(): Promise<void> {
  const conn = await adminConnection();
  await conn.query(`CREATE DATABASE \`${DB_NAME}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await conn.end();
}

let dropped = false;
async function dropDatabase(): Promise<void> {
  if (dropped) return;
  dropped = true;
  try {
    const conn = await adminConnection();
    await conn.query(`DROP DATABASE IF EXISTS \`${DB_NAME}\``);
    await conn.end();
  } catch (err) {
    log(`could not drop ${DB_NAME}: ${(err as Error).message}`);
  }
}

const base = () => `http://127.0.0.1:${PORTS.service}`;

async function call(method: string, path: string, token: string, body?: unknown, expected = [200, 201, 204]): Promise<Record<string, unknown>> {
  const res = await fetch(base() + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!expected.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 200)}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

interface Seed {
  orgId: string;
  service: string;
  orgAdmin: string;
  writeOrgId: string;
  writeOrgAdmin: string;
  /** A running execution of the org whose secret is registered already (the read a workflow makes). */
  executionId: string;
  /** That execution's execution token (issue 17): bound to it, no header needed. */
  executionToken: string;
}

async function seed(): Promise<Seed> {
  const org = await call('POST', '/api/orgs', ADMIN_TOKEN, { name: 'bench' });
  const orgId = org.id as string;
  const token = async (role: string, name: string, forOrg: string) => (await call('POST', '/api/tokens', ADMIN_TOKEN, { name, role, orgId: forOrg })).token as string;
  const service = await token('service', 'bench-service', orgId);
  const orgAdmin = await token('org_admin', 'bench-org-admin', orgId);
  await call('PUT', `/api/scopes/${orgId}/configs/stripe_api_key`, ADMIN_TOKEN, { type: 'secret', value: SECRET_VALUE, description: 'the benchmarked secret' });
  // 100 configs of every type (a fifth of them secrets), and a few global ones for the cascade.
  const types = ['string', 'int', 'bool', 'json', 'secret'] as const;
  const sample = (type: (typeof types)[number], i: number): unknown =>
    type === 'string' ? `value number ${i}` : type === 'int' ? i * 1000 : type === 'bool' ? i % 2 === 0 : type === 'json' ? { retries: i, hosts: ['a.example', 'b.example'], nested: { on: true } } : `secret-${i}-${randomBytes(12).toString('hex')}`;
  for (let i = 0; i < 100; i++) {
    const type = types[i % types.length];
    await call('PUT', `/api/scopes/${orgId}/configs/cfg_${String(i).padStart(3, '0')}`, orgAdmin, { type, value: sample(type, i), description: `config ${i}` });
  }
  for (let i = 0; i < 5; i++) await call('PUT', `/api/scopes/global/configs/global_${i}`, ADMIN_TOKEN, { type: 'string', value: `global ${i}` });
  const writeOrg = await call('POST', '/api/orgs', ADMIN_TOKEN, { name: 'bench-writes' });
  const writeOrgAdmin = await token('org_admin', 'bench-writer', writeOrg.id as string);
  // A 24 h execution token, so it outlives any run of the benchmark.
  const execution = await call('POST', '/api/executions', service, { workflow: 'bench', tokenTtlSeconds: 86400 });
  const executionId = execution.id as string;
  const executionToken = execution.token as string;
  // Its first read registers the secret with the execution; the measured reads find it registered.
  const first = await fetch(`${base()}/api/sdk/configs/stripe_api_key`, { headers: { Authorization: `Bearer ${service}`, 'X-Bifrost-Execution': executionId } });
  if (first.status !== 200) throw new Error(`the read in an execution answered ${first.status}`);
  const withToken = await fetch(`${base()}/api/sdk/configs/stripe_api_key`, { headers: { Authorization: `Bearer ${executionToken}` } });
  if (withToken.status !== 200) throw new Error(`the read with the execution token answered ${withToken.status}`);
  return { orgId, service, orgAdmin, writeOrgId: writeOrg.id as string, writeOrgAdmin, executionId, executionToken };
}

// ---- load ---------------------------------------------------------------------------------

type CannonOptions = Parameters<typeof autocannon>[0];

async function cannon(opts: CannonOptions): Promise<autocannon.Result> {
  return new Promise((resolveRun, reject) => {
    autocannon(opts, (err, result) => (err ? reject(err) : resolveRun(result)));
  });
}

/** utime + stime of a process in ms, from /proc (Linux); null elsewhere. */
function cpuMs(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // fields 14 and 15, in clock ticks of 1/100 s
  } catch {
    return null;
  }
}

/** Idle and total CPU ticks of the whole machine, from /proc/stat (Linux); null elsewhere. */
function idleTicks(): { idle: number; total: number } | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    return { idle: fields[3] + (fields[4] ?? 0), total: fields.reduce((a, b) => a + b, 0) };
  } catch {
    return null;
  }
}

function mariadbPid(): number | undefined {
  try {
    return Number(execSync('pidof mariadbd || pidof mysqld', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split(/\s+/)[0]) || undefined;
  } catch {
    return undefined;
  }
}

async function load(name: string, server: Measured['server'], what: string, opts: CannonOptions, pid?: number): Promise<Measured | null> {
  if (ONLY && !ONLY.has(name)) return null;
  log(`${name}: warm-up ${WARMUP} s, then ${DURATION} s at ${CONNECTIONS} connections`);
  await cannon({ ...opts, connections: CONNECTIONS, duration: WARMUP });
  await sleep(500);
  const dbPid = mariadbPid();
  const cpuBefore = [cpuMs(pid), cpuMs(dbPid)];
  const loadBefore = process.cpuUsage();
  const idleBefore = idleTicks();
  const r = await cannon({ ...opts, connections: CONNECTIONS, duration: DURATION });
  const cpuAfter = [cpuMs(pid), cpuMs(dbPid)];
  const loadCpu = process.cpuUsage(loadBefore);
  const idleAfter = idleTicks();
  const perRequest = (i: number) => (cpuBefore[i] !== null && cpuAfter[i] !== null && r.requests.total > 0 ? Math.round(((cpuAfter[i]! - cpuBefore[i]!) / r.requests.total) * 1000) / 1000 : undefined);
  const m: Measured = {
    name,
    server,
    what,
    requestsPerSec: Math.round(r.requests.average),
    p50ms: r.latency.p50,
    p99ms: r.latency.p99,
    p999ms: (r.latency as unknown as Record<string, number>).p99_9,
    requests: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    serverCpuMsPerRequest: perRequest(0),
    dbCpuMsPerRequest: perRequest(1),
    loadCpuMsPerRequest: r.requests.total > 0 ? Math.round(((loadCpu.user + loadCpu.system) / 1000 / r.requests.total) * 1000) / 1000 : undefined,
    idlePct: idleBefore && idleAfter ? Math.round(((idleAfter.idle - idleBefore.idle) / (idleAfter.total - idleBefore.total)) * 1000) / 10 : undefined,
  };
  log(`${name}: ${m.requestsPerSec} req/s, p50 ${m.p50ms} ms, p99 ${m.p99ms} ms, server CPU ${m.serverCpuMsPerRequest} ms/req, MariaDB CPU ${m.dbCpuMsPerRequest} ms/req, load generator CPU ${m.loadCpuMsPerRequest} ms/req, ${m.idlePct}% idle${m.non2xx || m.errors ? `, ${m.non2xx} non-2xx, ${m.errors} errors` : ''}`);
  await sleep(1000);
  return m;
}

/** One request first: every server must give the same answer before it is measured. */
async function checkRead(url: string, token: string): Promise<void> {
  const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200 || body.value !== SECRET_VALUE || body.type !== 'secret') throw new Error(`${url} answered ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
}

/** The configs a workflow run reads: three secrets and two plain ones of the seeded org (cfg_i is a secret when i % 5 == 4). */
const RUN_READS = ['cfg_004', 'cfg_009', 'cfg_014', 'cfg_000', 'cfg_001'];
/** Workflow runs going on at once in the workflow scenario. */
const RUN_CONCURRENCY = Number(process.env.BENCH_RUN_CONCURRENCY ?? 16);

/**
 * The "workflow run" scenario: what the engine does for one run, as the client does it. Start an
 * execution, read three secrets and two plain configs naming it, post one log batch, finish.
 * RUN_CONCURRENCY runs at a time for DURATION s (after WARMUP s); runs/s and server CPU per run.
 */
async function workflowRuns(name: string, token: string, pid?: number): Promise<Measured | null> {
  if (ONLY && !ONLY.has(name)) return null;
  const headers = { Authorization: `Bearer ${token}` };
  const json = { ...headers, 'Content-Type': 'application/json' };
  let failed = 0;
  const expect = async (res: Response, status: number) => {
    if (res.status !== status) failed++;
    return res.status === 204 ? null : ((await res.json()) as Record<string, unknown>);
  };
  const oneRun = async (): Promise<number> => {
    const started = performance.now();
    const created = await expect(await fetch(`${base()}/api/executions`, { method: 'POST', headers: json, body: JSON.stringify({ workflow: 'charge_card' }) }), 201);
    const id = String(created?.id);
    const inRun = { ...headers, 'X-Bifrost-Execution': id };
    for (const key of RUN_READS) await expect(await fetch(`${base()}/api/sdk/configs/${key}`, { headers: inRun }), 200);
    await expect(await fetch(`${base()}/api/executions/${id}/logs`, { method: 'POST', headers: json, body: JSON.stringify({ lines: [{ level: 'info', message: 'charged customer 42' }, { level: 'info', message: 'receipt sent' }] }) }), 204);
    await expect(await fetch(`${base()}/api/executions/${id}/finish`, { method: 'POST', headers: json, body: JSON.stringify({ status: 'success', result: { charged: true } }) }), 200);
    return performance.now() - started;
  };
  const drive = async (seconds: number) => {
    const until = Date.now() + seconds * 1000;
    const times: number[] = [];
    await Promise.all(
      Array.from({ length: RUN_CONCURRENCY }, async () => {
        while (Date.now() < until) times.push(await oneRun());
      }),
    );
    return times;
  };
  log(`${name}: warm-up ${WARMUP} s, then ${DURATION} s with ${RUN_CONCURRENCY} runs at a time`);
  await drive(WARMUP);
  failed = 0;
  await sleep(500);
  const dbPid = mariadbPid();
  const cpuBefore = [cpuMs(pid), cpuMs(dbPid)];
  const startedAt = performance.now();
  const times = (await drive(DURATION)).sort((a, b) => a - b);
  const seconds = (performance.now() - startedAt) / 1000;
  const cpuAfter = [cpuMs(pid), cpuMs(dbPid)];
  const perRun = (i: number) => (cpuBefore[i] !== null && cpuAfter[i] !== null && times.length > 0 ? Math.round(((cpuAfter[i]! - cpuBefore[i]!) / times.length) * 1000) / 1000 : undefined);
  const at = (q: number) => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))] * 10) / 10;
  const m: Measured = {
    name,
    server: 'service',
    what: `a workflow run (start an execution, read 3 secrets and 2 plain configs in it, post 1 log batch, finish): ${RUN_CONCURRENCY} at a time; "req/s" is runs/s, CPU and latency per run`,
    requestsPerSec: Math.round((times.length / seconds) * 10) / 10,
    p50ms: at(0.5),
    p99ms: at(0.99),
    requests: times.length,
    non2xx: failed,
    errors: 0,
    timeouts: 0,
    serverCpuMsPerRequest: perRun(0),
    dbCpuMsPerRequest: perRun(1),
  };
  log(`${name}: ${m.requestsPerSec} runs/s, p50 ${m.p50ms} ms, p99 ${m.p99ms} ms, server CPU ${m.serverCpuMsPerRequest} ms/run, MariaDB CPU ${m.dbCpuMsPerRequest} ms/run${failed ? `, ${failed} unexpected answers` : ''}`);
  await sleep(1000);
  return m;
}

// ---- the other suites -------------------------------------------------------------------------

interface SuiteResult {
  script: string;
  file: string;
  status: 'ok' | 'missing' | 'failed';
  exitCode?: number | null;
  seconds?: number;
  results?: unknown;
  note?: string;
  outputTail?: string;
}

function runSuite(script: string, file: string): SuiteResult {
  if (!existsSync(join(ROOT, file))) {
    log(`${script}: ${file} does not exist yet; recorded as missing`);
    return { script, file, status: 'missing', note: `${file} was not in the tree when this benchmark ran` };
  }
  const out = join(mkdtempSync(join(tmpdir(), 'bench-suite-')), 'out.json');
  log(`${script}: running (BENCH_OUT=${out})`);
  const started = Date.now();
  const run = spawnSync('npm', ['run', '--silent', script], {
    cwd: ROOT,
    env: { ...process.env, BENCH_OUT: out, TSX_TSCONFIG_PATH: join(ROOT, 'test', 'tsconfig.json') },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 30 * 60_000,
  });
  const seconds = Math.round((Date.now() - started) / 1000);
  const outputTail = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
  process.stderr.write(outputTail + '\n');
  let results: unknown;
  try {
    results = JSON.parse(readFileSync(out, 'utf8'));
  } catch {
    results = undefined;
  }
  rmSync(dirname(out), { recursive: true, force: true });
  if (run.status !== 0 || results === undefined) {
    return { script, file, status: 'failed', exitCode: run.status, seconds, results, note: results === undefined ? 'no JSON written to BENCH_OUT' : undefined, outputTail };
  }
  return { script, file, status: 'ok', exitCode: 0, seconds, results };
}

// ---- machine state ------------------------------------------------------------------------

function busyProcesses(): string[] {
  try {
    const lines = execSync('ps -eo pcpu=,etimes=,args= --sort=-pcpu', { encoding: 'utf8' }).trim().split('\n');
    return lines
      .map((l) => l.trim())
      .filter((l) => Number(l.split(/\s+/, 1)[0]) >= 5 && !/ps -eo|run-all\.ts|npm run bench/.test(l))
      .slice(0, 8)
      .map((l) => l.replace(/\s+/g, ' ').slice(0, 160));
  } catch {
    return [];
  }
}

function machine() {
  let mariadb = 'unknown';
  try {
    mariadb = execSync(`mysql -N -h ${new URL(MYSQL_URL).hostname} -u root -e "SELECT VERSION()"`, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    /* no mysql client */
  }
  return { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), database: mariadb };
}

// ---- main ---------------------------------------------------------------------------------

const ratio = (a?: Measured | null, b?: Measured | null) => (a && b && b.requestsPerSec > 0 ? Math.round((a.requestsPerSec / b.requestsPerSec) * 100) / 100 : null);

async function main(): Promise<void> {
  const startedAt = new Date();
  for (const name of Object.keys(PORTS) as (keyof typeof PORTS)[]) PORTS[name] = await freePort();
  const before = { loadavg: loadavg().map((l) => Math.round(l * 100) / 100), busy: busyProcesses() };
  log(`load average ${before.loadavg.join(' ')}; busy: ${before.busy.length ? '\n  ' + before.busy.join('\n  ') : 'nothing'}`);
  if (!process.env.BENCH_SKIP_BUILD) {
    log('npm run build');
    execSync('npm run build', { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  await createDatabase();
  log(`database ${DB_NAME}`);
  const measured: Measured[] = [];
  const keep = (m: Measured | null) => m && measured.push(m);
  const suites: SuiteResult[] = [];
  try {
    let service = await startService();
    const s = await seed();
    const sdkPath = '/api/sdk/configs/stripe_api_key';
    const readOpts = (port: number): CannonOptions => ({ url: `http://127.0.0.1:${port}${sdkPath}`, headers: { authorization: `Bearer ${s.service}` } });

    // Baselines first, while the service idles.
    for (const mode of ['hello', 'naive', 'batched'] as const) {
      if (ONLY && !ONLY.has(`baseline_${mode === 'hello' ? 'hello' : `sdk_read_${mode}`}`)) continue;
      const child = await startBaseline(mode);
      if (mode === 'hello') {
        keep(await load('baseline_hello', 'baseline', 'node:http hello route, no database', { url: `http://127.0.0.1:${PORTS.hello}/hello` }, child.pid));
      } else {
        await checkRead(`http://127.0.0.1:${PORTS[mode]}${sdkPath}`, s.service);
        const what = mode === 'naive' ? 'node:http + mysql2: token by hash, one SELECT, Fernet decrypt, one audit INSERT per request' : 'the same with group-committed audit INSERTs';
        keep(await load(`baseline_sdk_read_${mode}`, 'baseline', what, readOpts(PORTS[mode]), child.pid));
      }
      await stopChild(child);
    }

    await checkRead(base() + sdkPath, s.service);
    keep(await load('service_sdk_read', 'service', 'GET /api/sdk/configs/{key}: audited secret read, audit batching on', readOpts(PORTS.service), service.pid));
    // The read a workflow makes: the same, naming the running execution its secret is registered with.
    const inExecution = readOpts(PORTS.service);
    keep(
      await load('service_sdk_read_in_execution', 'service', 'the same read with X-Bifrost-Execution naming a running execution (its secret registered already), as the client sends it inside a run', {
        ...inExecution,
        headers: { ...(inExecution.headers as Record<string, string>), 'x-bifrost-execution': s.executionId },
      }, service.pid),
    );
    // Issue 17: the same read with the execution's own token (what the client sends inside a run now):
    // the token's row and its execution's status in the read's statement, no header.
    keep(
      await load('execution_token_sdk_read', 'service', 'the same read with the running execution’s execution token (no header; the token row and the execution’s status read in the same statement)', {
        url: `http://127.0.0.1:${PORTS.service}${sdkPath}`,
        headers: { authorization: `Bearer ${s.executionToken}` },
      }, service.pid),
    );
    keep(await workflowRuns('service_workflow_run', s.service, service.pid));
    keep(
      await load('service_list_100', 'service', 'GET /api/scopes/{org}/configs?limit=100: 100 configs, secrets masked (org_admin)', {
        url: `${base()}/api/scopes/${s.orgId}/configs?limit=100`,
        headers: { authorization: `Bearer ${s.orgAdmin}` },
      }, service.pid),
    );
    let n = 0;
    keep(
      await load('service_put_secret', 'service', 'PUT /api/scopes/{org}/configs/{key}: a secret, 100 keys of a second org in turn (encrypt, row lock, audit in one transaction)', {
        url: base(),
        method: 'PUT',
        headers: { authorization: `Bearer ${s.writeOrgAdmin}`, 'content-type': 'application/json' },
        requests: [
          {
            setupRequest: (req: Record<string, unknown>) => {
              const i = n++;
              return { ...req, method: 'PUT', path: `/api/scopes/${s.writeOrgId}/configs/put_secret_${i % PUT_KEYS}`, body: JSON.stringify({ type: 'secret', value: `sk_test_${i}_${SECRET_VALUE}` }) };
            },
          },
        ],
      } as CannonOptions, service.pid),
    );
    await stopChild(service);

    if (!ONLY || ONLY.has('service_sdk_read_unbatched')) {
      service = await startService({ BIFROST_AUDIT_BATCHING: 'off' });
      await checkRead(base() + sdkPath, s.service);
      keep(await load('service_sdk_read_unbatched', 'service', 'the same audited read with BIFROST_AUDIT_BATCHING=off (one audit INSERT per read)', readOpts(PORTS.service), service.pid));
      await stopChild(service);
    }

    // Issue 20: the same read with one log line per request at info, written to a drained pipe.
    if (!ONLY || ONLY.has('service_sdk_read_log_info')) {
      service = await startService({ LOG_LEVEL: 'info' }, true);
      await checkRead(base() + sdkPath, s.service);
      loggedBytes = 0;
      const m = await load('service_sdk_read_log_info', 'service', 'the same audited read with LOG_LEVEL=info (one JSON line per request to a drained stdout pipe)', readOpts(PORTS.service), service.pid);
      if (m) keep({ ...m, what: `${m.what}; ${loggedBytes} bytes logged` });
      await stopChild(service);
    }
  } finally {
    cleanup();
    await dropDatabase();
  }

  if (!process.env.BENCH_SKIP_SUITES) {
    suites.push(runSuite('bench:scrubber', 'test/bench/scrubber.bench.ts'));
    suites.push(runSuite('bench:export', 'test/bench/export.bench.ts'));
    suites.push(runSuite('bench:matcher', 'test/bench/matcher-stall.bench.ts'));
  }

  const by = (name: string) => measured.find((m) => m.name === name);
  const ratios = {
    'service_sdk_read / baseline_sdk_read_naive': ratio(by('service_sdk_read'), by('baseline_sdk_read_naive')),
    'service_sdk_read_in_execution / service_sdk_read': ratio(by('service_sdk_read_in_execution'), by('service_sdk_read')),
    'execution_token_sdk_read / service_sdk_read_in_execution': ratio(by('execution_token_sdk_read'), by('service_sdk_read_in_execution')),
    'execution_token_sdk_read / service_sdk_read': ratio(by('execution_token_sdk_read'), by('service_sdk_read')),
    'service_sdk_read_in_execution / baseline_sdk_read_naive': ratio(by('service_sdk_read_in_execution'), by('baseline_sdk_read_naive')),
    'service_sdk_read / baseline_sdk_read_batched': ratio(by('service_sdk_read'), by('baseline_sdk_read_batched')),
    'service_sdk_read_unbatched / baseline_sdk_read_naive': ratio(by('service_sdk_read_unbatched'), by('baseline_sdk_read_naive')),
    'service_sdk_read_log_info / service_sdk_read': ratio(by('service_sdk_read_log_info'), by('service_sdk_read')),
    'service_sdk_read / baseline_hello': ratio(by('service_sdk_read'), by('baseline_hello')),
  };
  const after = { loadavg: loadavg().map((l) => Math.round(l * 100) / 100), busy: busyProcesses() };
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { cwd: ROOT, encoding: 'utf8' }).trim() + (execSync('git status --porcelain -- src', { cwd: ROOT, encoding: 'utf8' }).trim() ? ' (+ uncommitted changes in src/)' : '');
  } catch {
    /* not a git checkout */
  }
  const report = {
    benchmark: 'bifrost-config npm run bench',
    date: startedAt.toISOString(),
    commit,
    machine: machine(),
    settings: { connections: CONNECTIONS, warmupSec: WARMUP, durationSec: DURATION, putKeys: PUT_KEYS, database: 'fresh MariaDB database, dropped afterwards', service: 'node dist/main.js, NODE_ENV=production, LOG_LEVEL=warn' },
    load: { before, after },
    http: measured,
    ratios,
    suites,
  };
  const date = startedAt.toISOString().slice(0, 10);
  const file = process.env.BENCH_RESULTS_FILE ?? join(ROOT, 'test', 'bench', 'results', `bench-${date}.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');

  // The short table.
  const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
  const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
  const lines = [
    `${pad('scenario', 30)} ${lpad('req/s', 8)} ${lpad('p50 ms', 7)} ${lpad('p99 ms', 7)} ${lpad('cpu ms/req', 11)} ${lpad('non-2xx', 8)}`,
    ...measured.map(
      (m) =>
        `${pad(m.name, 30)} ${lpad(String(m.requestsPerSec), 8)} ${lpad(String(m.p50ms), 7)} ${lpad(String(m.p99ms), 7)} ${lpad(String(m.serverCpuMsPerRequest ?? ''), 11)} ${lpad(String(m.non2xx + m.errors), 8)}`,
    ),
    '',
    ...Object.entries(ratios).map(([k, v]) => `${pad(k, 54)} ${v ?? 'n/a'}`),
    '',
    ...suites.map((su) => `${pad(su.script, 16)} ${su.status}${su.seconds !== undefined ? ` (${su.seconds} s)` : ''}${su.note ? `: ${su.note}` : ''}`),
    '',
    `load average before ${before.loadavg.join(' ')}, after ${after.loadavg.join(' ')}`,
    `written to ${file.replace(ROOT + '/', '')}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch(async (err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  cleanup();
  await dropDatabase();
  process.exit(1);
});
