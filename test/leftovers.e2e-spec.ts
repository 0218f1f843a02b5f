import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import http from 'node:http';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshDatabase, TestDatabase } from './helpers/test-app';
import { waitFor } from './helpers/poll';
import { CLI, exited, MAIN, run } from './helpers/processes';

// The built server and CLI as users run them; `npm test` builds first (pretest).
const KEY = 'leftovers-test-key-'.padEnd(40, 'x');

/** Every file under `dir`, with its size. */
function filesUnder(dir: string): { path: string; bytes: number }[] {
  const out: { path: string; bytes: number }[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) out.push(...filesUnder(path));
    else out.push({ path, bytes: st.size });
  }
  return out;
}

/** The name a live process of this service on this machine gives its temp folder (src/common/temp-dir.ts). */
const liveFolderName = (pid: number) => `bifrost-config-${pid}-${createHash('sha256').update(hostname()).digest('hex').slice(0, 8)}-import-live01`;

describe('files left by kill -9', () => {
  let db: TestDatabase;
  let tmp: string;
  beforeAll(() => {
    if (!existsSync(MAIN) || !existsSync(CLI)) throw new Error('dist/ is missing: run `npm run build` (npm test does it first)');
  });
  beforeEach(async () => {
    db = await freshDatabase();
    // The processes' own os.tmpdir(), so what they leave is seen (and nothing else is).
    tmp = mkdtempSync(join(tmpdir(), 'leftovers-e2e-'));
  });
  afterEach(async () => {
    await db.drop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('an import killed while its body is spooled leaves only an unreadable file, removed at the next start; a live instance keeps its folder', async () => {
    const port = 20000 + (randomBytes(2).readUInt16BE() % 20000);
    const admin = 'bft_' + randomBytes(32).toString('base64url');
    const env = { DATABASE_URL: db.url, PORT: String(port), NODE_ENV: 'test', BIFROST_SECRET_KEY: KEY, BIFROST_BOOTSTRAP_TOKEN: admin, TMPDIR: tmp, LOG_LEVEL: 'info' };
    // Another instance on this machine, alive throughout: its folder is never touched.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)'], { stdio: 'ignore' });
    const live = join(tmp, liveFolderName(other.pid!));
    mkdirSync(live);
    const server = run(MAIN, [], env);
    try {
      await waitFor(() => server.output().includes('Listening on port'), 'the server to listen');
      // A 12 MiB bundle, sent up to 9 MiB (past the 8 MiB kept in memory) and then held.
      const mark = randomBytes(8).toString('hex');
      const row = JSON.stringify({ scope: { org: `leftover-org-${mark}` }, key: `leftover_key_${mark}`, type: 'string', value: `leftover-value-${mark}` });
      const head = '{"format":"bifrost-config-bundle","version":1,"configs":[';
      const sent = Buffer.from(head + Array.from({ length: Math.ceil((9 * 1024 * 1024) / (row.length + 1)) }, () => row).join(','));
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/import?dryRun=true&createOrgs=true', headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json', 'Content-Length': String(12 * 1024 * 1024) } });
      req.on('error', () => undefined);
      req.write(sent);
      const spool = await waitFor(() => filesUnder(tmp).find((f) => f.bytes >= 8 * 1024 * 1024), 'the spool file to pass 8 MiB');
      server.child.kill('SIGKILL');
      expect(await exited(server.child)).toMatchObject({ signal: 'SIGKILL' });
      req.destroy();

      // What the kill left: the spool, unreadable (encrypted under a key that died with the process).
      const left = filesUnder(tmp);
      expect(left.map((f) => f.path)).toContain(spool.path);
      const bytes = readFileSync(spool.path);
      expect(bytes.includes(mark)).toBe(false);
      expect(bytes.includes('bifrost-config-bundle')).toBe(false);
      process.stdout.write(`leftovers: kill -9 during an import spool left ${left.length} file(s), ${left.reduce((n, f) => n + f.bytes, 0)} bytes\n`);

      // The next start removes what dead processes of the service left, and nothing of a live one.
      const again = run(MAIN, [], env);
      try {
        await waitFor(() => again.output().includes('Listening on port'), 'the restart');
        expect(existsSync(spool.path)).toBe(false);
        expect(readdirSync(tmp)).toEqual([liveFolderName(other.pid!)]);
        expect(again.output()).toContain('removed 1 temp folder(s) left by stopped bifrost-config processes');
      } finally {
        again.child.kill('SIGTERM');
        await exited(again.child);
      }
    } finally {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
      other.kill('SIGKILL');
    }
  });

  it('a CLI import killed while checking rows for duplicates leaves no org name or key readable, and the next run removes the files', async () => {
    const env = { DATABASE_URL: db.url, NODE_ENV: 'test', BIFROST_SECRET_KEY: KEY, TMPDIR: tmp };
    // The bundle lives outside the processes' temp folder.
    const bundleDir = mkdtempSync(join(tmpdir(), 'leftovers-bundle-'));
    try {
      const mark = randomBytes(8).toString('hex');
      const file = join(bundleDir, 'bundle.json');
      const out = createWriteStream(file);
      const rows = 300_000;
      out.write('{"format":"bifrost-config-bundle","version":1,"configs":[');
      for (let i = 0; i < rows; i++) {
        const line = `${i ? ',' : ''}{"scope":{"org":"org-${mark}-${i % 50}"},"key":"key_${mark}_${i}","type":"string","value":"v"}`;
        if (!out.write(line)) await once(out, 'drain');
      }
      out.end(']}');
      await once(out, 'finish');
      // Only migrate creates a database: every other command wants one that exists.
      const migrated = run(CLI, ['migrate'], env);
      expect(await exited(migrated.child)).toMatchObject({ code: 0 });
      const cli = run(CLI, ['import', file, '--dry-run', '--create-orgs'], env);
      try {
        // Killed once the duplicate check has spilled pairs to its files (well before its 300,000 rows are checked).
        const buckets = await waitFor(() => {
          const found = filesUnder(tmp).filter((f) => f.bytes > 0);
          return found.length > 0 ? found : null;
        }, 'the duplicate check to spill to files');
        cli.child.kill('SIGKILL');
        expect(await exited(cli.child)).toMatchObject({ signal: 'SIGKILL' });
        expect(cli.output()).not.toMatch(/created|would create/);
        const left = filesUnder(tmp);
        expect(left.length).toBeGreaterThanOrEqual(buckets.length);
        let bytes = 0;
        for (const f of left) {
          const content = readFileSync(f.path);
          bytes += content.length;
          expect(content.includes(mark)).toBe(false);
          expect(content.includes('org-')).toBe(false);
        }
        process.stdout.write(`leftovers: kill -9 during the CLI duplicate check left ${left.length} file(s), ${bytes} bytes, none readable\n`);
      } finally {
        if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
      }
      // Any later command of the CLI (here: migrate) removes them.
      const migrate = run(CLI, ['migrate'], env);
      expect(await exited(migrate.child)).toMatchObject({ code: 0 });
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      rmSync(bundleDir, { recursive: true, force: true });
    }
  });
});
