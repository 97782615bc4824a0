/**
 * The built `refstream` binary (dist/cli.js) run as a separate process, as a user runs it.
 * The build is refreshed first when a source file is newer than it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const root = resolve(import.meta.dirname, '../..');
export const cliPath = join(root, 'dist/cli.js');
/** The same path under the name the file-sink tests use. */
export const builtCli = cliPath;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    newest = Math.max(newest, st.isDirectory() ? newestMtime(path) : st.mtimeMs);
  }
  return newest;
}

/** Builds dist/ unless dist/cli.js is newer than every file under src/ and conformance-tests/. */
export function ensureBuiltCli(): void {
  const sources = Math.max(
    newestMtime(join(root, 'src')),
    newestMtime(join(root, 'conformance-tests')),
    statSync(join(root, 'tsup.config.ts')).mtimeMs,
  );
  if (existsSync(cliPath) && statSync(cliPath).mtimeMs > sources) return;
  execFileSync(process.execPath, [join(root, 'node_modules/tsup/dist/cli-default.js'), '--silent'], { cwd: root, stdio: 'pipe' });
}

export interface BuiltCliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/** Starts `node dist/cli.js …args` (stdin is not a terminal). */
export function spawnCli(args: string[], options: { env?: NodeJS.ProcessEnv; nodeArgs?: string[]; cwd?: string } = {}): ChildProcess {
  return spawn(process.execPath, [...(options.nodeArgs ?? []), cliPath, ...args], {
    cwd: options.cwd ?? root,
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs the built CLI to completion and collects its output. */
export function runBuiltCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; nodeArgs?: string[]; cwd?: string; input?: string } = {},
): Promise<BuiltCliResult> {
  const child = spawnCli(args, options);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  child.stdin!.end(options.input ?? '');
  return new Promise((resolveRun, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolveRun({ code, signal, out, err }));
  });
}
