// Express or Fastify? Both adapters serve the same authenticated read (token hash lookup in SQLite,
// principal returned) to autocannon from this process: 64 connections, 3 s warm-up, 10 s measured.
// Usage: npx tsx test/bench/adapters.bench.ts
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dbFile = join(mkdtempSync(join(tmpdir(), 'adapters-')), 'bench.sqlite');
const token = 'bft_' + randomBytes(32).toString('base64url');
const db = new Database(dbFile);
db.exec('CREATE TABLE tokens (id TEXT PRIMARY KEY, name TEXT, role TEXT, org_id TEXT, token_hash TEXT UNIQUE)');
const insert = db.prepare('INSERT INTO tokens VALUES (?, ?, ?, ?, ?)');
for (let i = 0; i < 1000; i++) insert.run(`id-${i}`, `token-${i}`, 'service', null, createHash('sha256').update(`bft_other_${i}`).digest('hex'));
insert.run('id-bench', 'bench', 'service', 'org-1', createHash('sha256').update(token).digest('hex'));
db.close();

async function run(adapter: string, port: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'adapter-server.ts'), adapter, String(port), dbFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout!.on('data', (d) => String(d).includes('ready') && resolve()));
  const opts = { url: `http://127.0.0.1:${port}/api/me`, connections: 64, headers: { authorization: `Bearer ${token}` } };
  await autocannon({ ...opts, duration: 3 });
  const r = await autocannon({ ...opts, duration: 10 });
  child.kill('SIGTERM');
  return { adapter, requestsPerSec: Math.round(r.requests.average), p50ms: r.latency.p50, p99ms: r.latency.p99, non2xx: r.non2xx, errors: r.errors };
}

(async () => {
  const results = [await run('express', 39101), await run('fastify', 39102)];
  console.table(results);
  console.log(JSON.stringify(results));
})();
