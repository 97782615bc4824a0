/**
 * Snapshot benchmark: PostgresSource (COPY binary → Arrow) against
 * `psql -c "COPY t TO STDOUT (FORMAT binary)" > /dev/null` on the same server and table,
 * plus peak RSS of the reading process at 1M and 4M rows.
 *
 *   node --import tsx bench/postgres-snapshot.ts [rows=1000000] [bigRows=4000000]
 */
import { join, dirname } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createBenchTable, median, PSQL, run, runToNull, startBenchServer } from './lib/postgres-bench.js';

const rows = Number(process.argv[2] ?? 1_000_000);
const bigRows = Number(process.argv[3] ?? 4_000_000);
const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'lib', 'postgres-snapshot-child.ts');
const REPEAT = 3;

interface ChildResult {
  runs: { rows: number; batches: number; ms: number; firstBatchMs: number; cpuMs: number }[];
  baselineRssMB: number;
  maxRssMB: number;
}

async function ours(
  connectionString: string,
  table: string,
  parallelism: number,
  runs: number,
  batchRows = 65_536,
  batchBytes = 8 << 20,
): Promise<ChildResult> {
  const out = await run(process.execPath, [
    '--import',
    'tsx',
    CHILD,
    connectionString,
    table,
    String(parallelism),
    String(batchRows),
    String(batchBytes),
    String(runs),
  ]);
  if (out.code !== 0) throw new Error(`snapshot child failed (${out.code})`);
  return JSON.parse(out.stdout.trim().split('\n').pop()!) as ChildResult;
}

const mrows = (n: number, ms: number) => `${(n / ms / 1000).toFixed(2)} M rows/s`;

const pg = await startBenchServer();
try {
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} on ${cpus().length} cores`,
  );
  console.log(
    `PostgreSQL ${pg.version}; standard test-table shape (id int8 pk, name text, amount numeric(12,2), updated_at timestamptz, active bool, note text null)`,
  );
  await createBenchTable(pg, 't', rows);
  const psqlArgs = [pg.connectionString, '-c', 'COPY t TO STDOUT (FORMAT binary)'];
  await runToNull(PSQL, psqlArgs); // warm the server cache
  // psql runs before and after the reading process, so that both see the same machine load
  const psqlMs: number[] = [];
  for (let i = 0; i < REPEAT; i++) psqlMs.push(await runToNull(PSQL, psqlArgs));
  const one = await ours(pg.connectionString, 't', 1, REPEAT + 1);
  for (let i = 0; i < REPEAT; i++) psqlMs.push(await runToNull(PSQL, psqlArgs));
  const psql = median(psqlMs);
  for (const r of one.runs) if (r.rows !== rows) throw new Error(`read ${r.rows} rows, expected ${rows}`);
  const cold = one.runs[0]!;
  const warm = median(one.runs.slice(1).map((r) => r.ms));
  console.log(`\n${rows} rows, one connection`);
  console.log(
    `  psql COPY binary > /dev/null     ${psql.toFixed(0)} ms  ${mrows(rows, psql)} (median of ${2 * REPEAT}, process start included)`,
  );
  console.log(
    `  PostgresSource cold (1st run)    ${cold.ms.toFixed(0)} ms  ${mrows(rows, cold.ms)}  ratio ${(psql / cold.ms).toFixed(2)}x  (slots, snapshot export and JIT warm-up included; first batch after ${cold.firstBatchMs.toFixed(0)} ms)`,
  );
  console.log(
    `  PostgresSource warm (median ${REPEAT})  ${warm.toFixed(0)} ms  ${mrows(rows, warm)}  ratio ${(psql / warm).toFixed(2)}x  (target >= 0.8; ${cold.batches} batches of <= 65536 rows / 8 MiB)`,
  );
  const par = await ours(pg.connectionString, 't', 2, 2);
  const cpu = median(one.runs.slice(1).map((r) => r.cpuMs));
  console.log(`  PostgresSource client CPU        ${cpu.toFixed(0)} ms (${((cpu * 1e6) / rows).toFixed(0)} ns/row, warm)`);
  console.log(
    `  PostgresSource parallelism 2     ${par.runs[1]!.ms.toFixed(0)} ms  ${mrows(rows, par.runs[1]!.ms)}  ratio ${(psql / par.runs[1]!.ms).toFixed(2)}x (warm; 2 cores shared with the server)`,
  );
  console.log(`  peak RSS ${one.maxRssMB.toFixed(0)} MB (process baseline after imports ${one.baselineRssMB.toFixed(0)} MB)`);

  await createBenchTable(pg, 't', bigRows);
  await runToNull(PSQL, psqlArgs);
  const bigPsql = await runToNull(PSQL, psqlArgs);
  const big = await ours(pg.connectionString, 't', 1, 1);
  console.log(`\n${bigRows} rows, one connection (cold, single run)`);
  console.log(
    `  psql ${bigPsql.toFixed(0)} ms ${mrows(bigRows, bigPsql)}; PostgresSource ${big.runs[0]!.ms.toFixed(0)} ms ${mrows(bigRows, big.runs[0]!.ms)}  ratio ${(bigPsql / big.runs[0]!.ms).toFixed(2)}x`,
  );
  console.log(`  peak RSS ${big.maxRssMB.toFixed(0)} MB (baseline ${big.baselineRssMB.toFixed(0)} MB)`);
  const par4 = await ours(pg.connectionString, 't', 4, 1);
  console.log(`  parallelism 4: peak RSS ${par4.maxRssMB.toFixed(0)} MB, ${mrows(bigRows, par4.runs[0]!.ms)}`);
} finally {
  await pg.stop();
}
