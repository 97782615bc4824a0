/** Waiting helpers of the end-to-end tests that drive child processes and live servers. */
import { spawn, type ChildProcess } from 'node:child_process';

/** Polls `condition` until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves when `child` has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

/** Starts a sync fixture under tsx and counts the `commit …` lines it prints on stdout. */
export function startSyncFixture(fixture: string, args: string[]): { child: ChildProcess; commits: () => number } {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let commits = 0;
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    commits += chunk.split('\n').filter((l) => l.startsWith('commit ')).length;
  });
  return { child, commits: () => commits };
}
