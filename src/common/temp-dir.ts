import { createHash } from 'node:crypto';
import { lstat, mkdtemp, readdir, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every temp folder this service (server or CLI) makes is named
 * `bifrost-config-<pid>-<host>-XXXXXX` in os.tmpdir(): `<pid>` the process that owns it, `<host>`
 * a short hash of the machine's host name (containers sharing a /tmp each have their own pid
 * numbers). A process killed with SIGKILL never removes its folders; the next process to start on
 * the same machine does (sweepTempDirs), but only those whose owner is dead, so two instances on
 * one machine never remove each other's.
 */
export const TEMP_PREFIX = 'bifrost-config-';

const hostTag = (): string => createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

const NAME = /^bifrost-config-(\d+)-([0-9a-f]{8})-/;

/** A new private folder (mode 0700) of this process; `purpose` only helps a reader of /tmp. */
export function makeTempDir(purpose: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `${TEMP_PREFIX}${process.pid}-${hostTag()}-${purpose}-`));
}

/** Whether a process with this pid exists (EPERM: it exists, owned by someone else). */
export function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface SweepResult {
  removed: string[];
  kept: number;
}

/**
 * Removes the temp folders left by dead processes of this service on this machine (folders of
 * this user only). A folder whose pid is alive (this process, another instance, or an unrelated
 * process that got the pid since) is kept: it is removed by a later start once that pid is gone.
 */
export async function sweepTempDirs(dir = tmpdir()): Promise<SweepResult> {
  const result: SweepResult = { removed: [], kept: 0 };
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return result;
  }
  const host = hostTag();
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  for (const name of names) {
    const m = NAME.exec(name);
    if (!m || m[2] !== host) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isAlive(pid)) {
      result.kept++;
      continue;
    }
    const path = join(dir, name);
    try {
      const st = await lstat(path);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      await rm(path, { recursive: true, force: true });
      result.removed.push(name);
    } catch {
      // Gone meanwhile (another instance swept it), or not ours to remove.
    }
  }
  return result;
}
