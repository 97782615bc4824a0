/** `refstream sync` of the built CLI as a child process, with its JSON log lines counted. */
import { spawn, type ChildProcess } from 'node:child_process';
import { builtCli } from './built-cli.js';

/** A running sync: its process, the commits it logged so far and everything on stderr. */
export interface CliSync {
  child: ChildProcess;
  commits: () => number;
  stderr: () => string;
}

/** Starts `refstream sync <args> --log-format json`; stdout is discarded. */
export function startCliSync(args: string[]): CliSync {
  const child = spawn(process.execPath, [builtCli, 'sync', ...args, '--log-format', 'json'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const commits = () => err.split('\n').filter((l) => l.includes('"event":"commit"')).length;
  return { child, commits, stderr: () => err };
}
