/**
 * Shared helpers of the Postgres connector benchmarks: a server, the standard test table,
 * timing and child-process runs.
 */
import { spawn } from 'node:child_process';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';

/** Starts a benchmark server (synchronous_commit stays on, as in tests). */
export function startBenchServer(): Promise<TestPostgres> {
  return startPostgres({ settings: { shared_buffers: '512MB', max_wal_size: '4GB', checkpoint_timeout: '30min' } });
}

/** Creates `name` with the standard test-table shape and `rows` rows (note null for every third row). */
export async function createBenchTable(pg: TestPostgres, name: string, rows: number): Promise<void> {
  await pg.query(`DROP TABLE IF EXISTS ${name}`);
  await pg.query(
    `CREATE TABLE ${name} (id int8 PRIMARY KEY, name text NOT NULL, amount numeric(12,2) NOT NULL, updated_at timestamptz NOT NULL, active bool NOT NULL, note text NULL)`,
  );
  const step = 1_000_000;
  for (let start = 1; start <= rows; start += step) {
    const end = Math.min(rows, start + step - 1);
    await pg.query(
      `INSERT INTO ${name} SELECT g, 'customer ' || g, (g % 100000) / 100.0, timestamptz '2024-01-01' + g * interval '1 second', g % 2 = 0,
              CASE WHEN g % 3 = 0 THEN NULL ELSE 'note for row ' || g END FROM generate_series(${start}::int8, ${end}::int8) g`,
    );
  }
  await pg.query(`VACUUM ANALYZE ${name}`);
}

/** Runs a command, resolving with its wall time in ms and its stdout. */
export function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ ms: number; stdout: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ ms: performance.now() - started, stdout, code }));
  });
}

/** Runs a command with stdout discarded, resolving with its wall time in ms. */
export function runToNull(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`${cmd} exited with ${code}`))));
  });
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export const PSQL = '/usr/bin/psql';
export const PG_RECVLOGICAL = '/usr/lib/postgresql/15/bin/pg_recvlogical';
export const PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';
