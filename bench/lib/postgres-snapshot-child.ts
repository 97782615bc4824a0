/**
 * Child process of bench/postgres-snapshot.ts: reads a table's snapshot with PostgresSource,
 * drops the batches, and prints rows, wall time and peak RSS as JSON.
 *
 * argv: connectionString table parallelism batchRows batchBytes runs
 * (the first run is cold: connections, slots and JIT warm-up included)
 */
import { PostgresSource } from '../../src/connectors/postgres/index.js';

const [connectionString, table, parallelism, batchRows, batchBytes, runsText] = process.argv.slice(2) as string[];
const runs: { rows: number; batches: number; ms: number; firstBatchMs: number; cpuMs: number }[] = [];
const baselineRssMB = process.memoryUsage().rss / (1 << 20);
for (let run = 0; run < Number(runsText ?? 1); run++) {
  const source = new PostgresSource({
    connectionString: connectionString!,
    table: table!,
    slot: `bench_${process.pid}_${run}`,
    snapshotParallelism: Number(parallelism),
    batchRows: Number(batchRows),
    batchBytes: Number(batchBytes),
  });
  const started = performance.now();
  const cpu = process.cpuUsage();
  let rows = 0;
  let batches = 0;
  let firstBatchMs = 0;
  for (let b = await source.pollSnapshot(); b !== null; b = await source.pollSnapshot()) {
    if (batches === 0) firstBatchMs = performance.now() - started;
    rows += b.numRows;
    batches++;
  }
  const used = process.cpuUsage(cpu);
  runs.push({ rows, batches, ms: performance.now() - started, firstBatchMs, cpuMs: (used.user + used.system) / 1000 });
  await source.close({ dropSlot: true });
}
process.stdout.write(JSON.stringify({ runs, baselineRssMB, maxRssMB: process.resourceUsage().maxRSS / 1024 }) + '\n');
