/**
 * The whole `refstream snapshot` process against `psql COPY binary`: both write the table to
 * /dev/null, both include process start and connection set-up, both run alternately on the same
 * server and table (so both see the same machine load).
 *
 *   node --import tsx bench/cli-snapshot.ts [rows=2000000] [repeat=5]
 *
 * Needs the built CLI (`npm run build`).
 */
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createBenchTable, median, PSQL, runToNull, startBenchServer } from './lib/postgres-bench.js';

const rows = Number(process.argv[2] ?? 2_000_000);
const repeat = Number(process.argv[3] ?? 5);
const cli = join(import.meta.dirname, '..', 'dist', 'cli.js');
if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);

const mrows = (ms: number) => `${(rows / ms / 1000).toFixed(2)} M rows/s`;

const pg = await startBenchServer();
try {
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} on ${cpus().length} cores; PostgreSQL ${pg.version}`,
  );
  await createBenchTable(pg, 'public.t', rows);
  const psqlArgs = [pg.connectionString, '-c', 'COPY public.t TO STDOUT (FORMAT binary)'];
  const cliArgs = (sink: string) => [
    cli,
    'snapshot',
    '--source',
    pg.connectionString,
    '--table',
    'public.t',
    '--sink',
    sink,
    '--log-format',
    'json',
  ];
  await runToNull(PSQL, psqlArgs); // warm the server cache
  await runToNull(process.execPath, cliArgs('arrow:-'));
  const psql: number[] = [];
  const toStdout: number[] = [];
  const toDevNull: number[] = [];
  for (let i = 0; i < repeat; i++) {
    psql.push(await runToNull(PSQL, psqlArgs));
    toStdout.push(await runToNull(process.execPath, cliArgs('arrow:-')));
    toDevNull.push(await runToNull(process.execPath, cliArgs('arrow:/dev/null')));
  }
  const base = median(psql);
  const line = (label: string, ms: number) =>
    console.log(`  ${label.padEnd(46)} ${ms.toFixed(0).padStart(6)} ms  ${mrows(ms)}  ratio ${(base / ms).toFixed(2)}x`);
  console.log(`\n${rows} rows (id int8 pk, text, numeric(12,2), timestamptz, bool, nullable text), medians of ${repeat}, whole processes`);
  console.log(`  ${'psql -c "COPY t TO STDOUT (FORMAT binary)"'.padEnd(46)} ${base.toFixed(0).padStart(6)} ms  ${mrows(base)}  (baseline)`);
  line('refstream snapshot --sink arrow:- > /dev/null', median(toStdout));
  line('refstream snapshot --sink arrow:/dev/null', median(toDevNull));
  console.log('  target: arrow:- ratio >= 0.8');
} finally {
  await pg.stop();
}
