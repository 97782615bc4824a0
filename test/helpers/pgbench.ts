/**
 * A pgbench load (the `pgbench` of the PostgreSQL client packages) with a custom script against
 * a test server, at a fixed rate, until stopped.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { TestPostgres } from '../../src/testing/index.js';

export interface Pgbench {
  /** Stops the load (SIGINT) and resolves with what pgbench printed. */
  stop(): Promise<string>;
}

/** Why pgbench cannot run here, or `false` when it can. */
export function pgbenchMissing(): string | false {
  const probe = spawnSync('pgbench', ['--version'], { encoding: 'utf8' });
  return probe.error ? 'pgbench is not installed (Debian: postgresql-client)' : false;
}

/** Runs `script` with `clients` connections at `rate` transactions per second in all. */
export function startPgbench(server: TestPostgres, script: string, o: { clients: number; rate: number }): Pgbench {
  const child = spawn(
    'pgbench',
    [
      '-n',
      '-f',
      script,
      '-c',
      String(o.clients),
      '-j',
      '1',
      '-R',
      String(o.rate),
      '-T',
      '3600',
      '-h',
      server.host,
      '-p',
      String(server.port),
      '-U',
      server.user,
      server.database,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(server.password ? { PGPASSWORD: server.password } : {}) } },
  );
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  let stopped: Promise<string> | null = null;
  return {
    stop: () =>
      (stopped ??= new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(out);
        child.once('exit', () => resolve(out));
        child.kill('SIGINT');
      })),
  };
}
