import { spawnSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive, makeTempDir, sweepTempDirs, TEMP_PREFIX } from './temp-dir';

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const res = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(res.stdout);
}

describe('the service temp folders', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'temp-dir-spec-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('names its folders with the owning pid and removes, at a sweep, only those of dead processes on this machine', async () => {
    const mine = await makeTempDir('spec');
    try {
      expect(mine.slice(tmpdir().length + 1)).toMatch(new RegExp(`^${TEMP_PREFIX}${process.pid}-[0-9a-f]{8}-spec-`));
      const host = mine.slice(tmpdir().length + 1).split('-')[3];
      const dead = deadPid();
      expect(isAlive(dead)).toBe(false);
      // A second instance on the same machine: alive for the whole sweep.
      const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
      try {
        const names = {
          dead: `${TEMP_PREFIX}${dead}-${host}-import-aaaaaa`,
          live: `${TEMP_PREFIX}${other.pid}-${host}-import-bbbbbb`,
          self: `${TEMP_PREFIX}${process.pid}-${host}-dups-cccccc`,
          otherHost: `${TEMP_PREFIX}${dead}-00000000-import-dddddd`,
          unrelated: 'bifrost-e2e-eeeeee',
        };
        for (const n of Object.values(names)) mkdirSync(join(root, n));
        writeFileSync(join(root, names.dead, 'body.json'), Buffer.alloc(1024));
        const result = await sweepTempDirs(root);
        expect(result.removed).toEqual([names.dead]);
        expect(readdirSync(root).sort()).toEqual([names.live, names.self, names.otherHost, names.unrelated].sort());
      } finally {
        other.kill('SIGKILL');
      }
    } finally {
      rmSync(mine, { recursive: true, force: true });
    }
  });

  it('a missing temp folder is nothing to sweep', async () => {
    expect(await sweepTempDirs(join(root, 'missing'))).toEqual({ removed: [], kept: 0 });
    expect(existsSync(root)).toBe(true);
  });
});
