import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

/** The built server and CLI as users run them; `npm test` builds first (pretest). */
export const MAIN = join(__dirname, '..', '..', 'dist', 'main.js');
export const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');

export interface Spawned {
  child: ChildProcess;
  /** stdout and stderr together, as they came. */
  output: () => string;
  stdout: () => string;
  stderr: () => string;
}

/** Runs a built script of the project with only PATH and `env` in its environment. */
export function run(script: string, args: string[], env: Record<string, string>): Spawned {
  let out = '';
  let stdout = '';
  let stderr = '';
  const child = spawn(process.execPath, [script, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => {
    out += d;
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
    stderr += d;
  });
  return { child, output: () => out, stdout: () => stdout, stderr: () => stderr };
}

/** How the process ended (at once if it has). */
export const exited = (child: ChildProcess): Promise<{ code: number | null; signal: string | null }> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve({ code: child.exitCode, signal: child.signalCode })
    : new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));

/**
 * A command run to its end without blocking this process's event loop (the service under test
 * answers from it): its exit code and what it printed.
 */
export const finished = (command: string, args: string[], options: { cwd: string; env: Record<string, string> }) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c) => (stdout += c));
    child.stderr!.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
