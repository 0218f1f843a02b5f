import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshDatabase, onMysql, TestDatabase } from './helpers/test-app';
import { waitFor } from './helpers/poll';
import { exited, MAIN, run } from './helpers/processes';

/** The built server (`node dist/main.js`) with `env`. */
const start = (env: Record<string, string>) => run(MAIN, [], env);


describe('the server process', () => {
  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error('dist/main.js is missing: run `npm run build` (npm test does it first)');
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ BIFROST_SECRET_KEY: 'short' }, 'BIFROST_SECRET_KEY'],
    [{ NODE_ENV: 'production' }, 'BIFROST_SECRET_KEY'],
    [{ DATABASE_URL: 'redis://localhost' }, 'DATABASE_URL'],
  ])('refuses to start on %j with one line naming %s', (env, variable) => {
    const res = spawnSync(process.execPath, [MAIN], { env: { PATH: process.env.PATH ?? '', DATABASE_URL: 'sqlite::memory:', ...env }, encoding: 'utf8', timeout: 20_000 });
    expect(res.status).toBe(1);
    const lines = (res.stdout + res.stderr).trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(variable);
  });

  // Issue 20: errors retrying cannot mend fail the start at once, without a stack; a refused
  // connection (a database still starting) is retried as before.
  // The MySQL cases need the MariaDB the MySQL run has; the SQLite one runs everywhere.
  const permanent = [
    ['wrong MySQL credentials', () => 'mysql://nobody:wrong@127.0.0.1:3306/test', /Access denied/],
    ['a MySQL database that does not exist', () => 'mysql://root@127.0.0.1:3306/no_such_db_' + process.pid, /Unknown database/],
    ['a SQLite file that is not a database', () => {
      const file = join(mkdtempSync(join(tmpdir(), 'bifrost-notadb-')), 'x.db');
      writeFileSync(file, 'this is not a database '.repeat(100));
      return `sqlite:${file}`;
    }, /not a database/],
  ] as const;
  it.each(permanent.filter(([what]) => onMysql || !what.includes('MySQL')))('fails fast on %s: one line, no stack, no retries', (_what, url, message) => {
    const started = Date.now();
    const res = spawnSync(process.execPath, [MAIN], {
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', BIFROST_SECRET_KEY: 'k'.repeat(40), DATABASE_URL: url(), LOG_LEVEL: 'warn' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(res.status).toBe(1);
    expect(Date.now() - started).toBeLessThan(20_000); // not the ~30 s of ten retries
    const output = res.stdout + res.stderr;
    expect(output).not.toMatch(/Retrying/);
    expect(output).not.toMatch(/\n\s+at /); // no stack frames
    expect(output.trim().split('\n').pop()).toMatch(message);
  });

  it('says at once that it retries a database that may come up (a refused connection), not after the last retry', async () => {
    const p = start({ NODE_ENV: 'production', BIFROST_SECRET_KEY: 'k'.repeat(40), DATABASE_URL: 'mysql://root@127.0.0.1:1/test', LOG_LEVEL: 'warn' });
    try {
      await waitFor(() => /Retrying \(1\)/.test(p.output()), 'the first retry reported', 10_000, 100);
      expect(p.child.exitCode).toBeNull();
    } finally {
      p.child.kill('SIGKILL');
      await exited(p.child);
    }
  }, 30_000);

  describe('started', () => {
    let db: TestDatabase;
    beforeEach(async () => {
      db = await freshDatabase();
    });
    afterEach(async () => db.drop());

    it('prints one admin token on a first development start (never in production), and finishes in-flight requests on SIGTERM', async () => {
      const port = 20000 + (randomBytes(2).readUInt16BE() % 20000);
      const env = { DATABASE_URL: db.url, PORT: String(port), NODE_ENV: 'development', BIFROST_SECRET_KEY: 'process-test-key-'.padEnd(40, 'x'), LOG_LEVEL: 'info' };
      const server = start(env);
      await waitFor(() => server.output().includes('Listening on port'), 'the server to listen');
      const token = /bft_[A-Za-z0-9_-]{43}/.exec(server.output())?.[0];
      expect(token).toBeDefined();
      expect(server.output().match(/bft_[A-Za-z0-9_-]{43}/g)).toHaveLength(1);

      // A keep-alive connection with a request in flight when SIGTERM arrives still gets its answer.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const get = (path: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = http.get({ host: '127.0.0.1', port, path, agent, headers: { Authorization: `Bearer ${token}` } }, (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          });
          req.on('error', reject);
        });
      expect((await get('/api/me')).status).toBe(200);
      const inFlight = get('/api/me');
      const exit = exited(server.child);
      setImmediate(() => server.child.kill('SIGTERM'));
      expect((await inFlight).status).toBe(200);
      expect(await exit).toEqual({ code: 0, signal: null });
      agent.destroy();

      // The same database, restarted: no new token is printed (it is not empty any more).
      const again = start(env);
      await waitFor(() => again.output().includes('Listening on port'), 'the restart');
      expect(again.output()).not.toMatch(/bft_[A-Za-z0-9_-]{43}/);
      again.child.kill('SIGTERM');
      await exited(again.child);
    });

    it('never creates a token in production', async () => {
      if (onMysql) return; // the production path is the same on both; one database suffices
      const port = 20000 + (randomBytes(2).readUInt16BE() % 20000);
      const server = start({ DATABASE_URL: db.url, PORT: String(port), NODE_ENV: 'production', BIFROST_SECRET_KEY: 'process-test-key-'.padEnd(40, 'x') });
      await waitFor(() => server.output().includes('Listening on port'), 'the server to listen');
      expect(server.output()).not.toMatch(/bft_/);
      server.child.kill('SIGTERM');
      await exited(server.child);
    });
  });
});
