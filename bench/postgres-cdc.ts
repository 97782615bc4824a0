/**
 * Change-stream benchmarks.
 *
 * 1. Decode throughput: the same committed workload (inserts, updates, deletes on the standard
 *    test table) read from two slots — PostgresSource (pgoutput binary → Arrow batches) and
 *    `pg_recvlogical` writing the raw pgoutput stream to /dev/null.
 * 2. Commit-to-batch latency at about 1k and 10k single-row transactions per second
 *    (pgbench -R), measured from the row's clock_timestamp() to the batch's arrival.
 *
 *   node --import tsx bench/postgres-cdc.ts [changes=600000]
 */
import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresSource } from '../src/connectors/postgres/index.js';
import { batchReaders } from '../src/sdk/values.js';
import { PG_RECVLOGICAL, PGBENCH, createBenchTable, percentile, runToNull, startBenchServer } from './lib/postgres-bench.js';

const changes = Number(process.argv[2] ?? 600_000);
const pg = await startBenchServer();
const dir = mkdtempSync(join(tmpdir(), 'refstream-cdc-bench-'));

async function drainChanges(source: PostgresSource, expected: number): Promise<number> {
  let rows = 0;
  while (rows < expected) {
    const b = await source.pollChanges();
    if (b) rows += b.numRows;
  }
  return rows;
}

try {
  console.log(
    `PostgreSQL ${pg.version}; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} on ${cpus().length} cores`,
  );
  // ---- throughput -----------------------------------------------------------------------
  await createBenchTable(pg, 't', 0);
  await pg.query(`CREATE PUBLICATION bench_pub FOR TABLE t`);
  // two slots each, read in the order recv, ours, ours, recv so that neither side profits from a warmer cache
  const ours = [1, 2].map(
    (i) => new PostgresSource({ connectionString: pg.connectionString, table: 't', slot: `bench_ours_${i}`, publication: 'bench_pub' }),
  );
  for (const source of ours) while ((await source.pollSnapshot()) !== null);
  await pg.query(
    `SELECT pg_create_logical_replication_slot('bench_recv_1', 'pgoutput'), pg_create_logical_replication_slot('bench_recv_2', 'pgoutput')`,
  );
  const inserts = Math.floor(changes / 2);
  const updates = Math.floor(changes / 3);
  const deletes = changes - inserts - updates;
  const started = performance.now();
  for (let i = 0; i < 4; i++) {
    const lo = 1 + Math.floor((i * inserts) / 4);
    const hi = Math.floor(((i + 1) * inserts) / 4);
    await pg.query(
      `INSERT INTO t SELECT g, 'customer ' || g, (g % 100000) / 100.0, now(), g % 2 = 0, CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END FROM generate_series(${lo}::int8, ${hi}::int8) g`,
    );
  }
  await pg.query(`UPDATE t SET amount = amount + 1, updated_at = now() WHERE id <= ${updates}`);
  await pg.query(`DELETE FROM t WHERE id > ${inserts - deletes}`);
  const [{ lsn }] = await pg.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  console.log(
    `workload: ${inserts} inserts, ${updates} updates, ${deletes} deletes committed in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );

  const recv = (slot: string) =>
    runToNull(PG_RECVLOGICAL, [
      '-d',
      pg.connectionString,
      '--slot',
      slot,
      '--start',
      '--no-loop',
      '-o',
      'proto_version=2',
      '-o',
      'publication_names=bench_pub',
      '-o',
      'binary=true',
      '--endpos',
      lsn,
      '-f',
      '/dev/null',
    ]);
  const read = async (source: PostgresSource) => {
    const t0 = performance.now();
    const got = await drainChanges(source, changes);
    const ms = performance.now() - t0;
    await source.close({ dropSlot: true });
    if (got !== changes) throw new Error(`read ${got} changes, expected ${changes}`);
    return ms;
  };
  const recvMs = [await recv('bench_recv_1')];
  const oursMs = [await read(ours[0]!), await read(ours[1]!)];
  recvMs.push(await recv('bench_recv_2'));
  const rate = (ms: number) => `${(((changes / ms) * 1000) / 1000).toFixed(0)} k changes/s`;
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(`\nthroughput (${changes} changes; slots read in the order recv, ours, ours, recv)`);
  console.log(
    `  pg_recvlogical pgoutput > /dev/null  ${recvMs.map((m) => m.toFixed(0)).join(' / ')} ms  ${rate(avg(recvMs))} (process start included)`,
  );
  console.log(
    `  PostgresSource → Arrow batches      ${oursMs.map((m) => m.toFixed(0)).join(' / ')} ms  ${rate(avg(oursMs))} (connection and START_REPLICATION included)`,
  );
  console.log(`  ratio ours/pg_recvlogical            ${(avg(recvMs) / avg(oursMs)).toFixed(2)}x (target >= 0.7)`);

  // ---- latency --------------------------------------------------------------------------
  await pg.query(`CREATE TABLE lat (id bigserial PRIMARY KEY, ts timestamptz NOT NULL DEFAULT clock_timestamp(), pad text)`);
  const script = join(dir, 'insert.sql');
  writeFileSync(script, `INSERT INTO lat (pad) VALUES ('x');\n`);
  console.log('\ncommit-to-batch latency (single-row transactions, maxWaitMs 100)');
  for (const target of [1000, 10000]) {
    const source = new PostgresSource({ connectionString: pg.connectionString, table: 'lat', slot: `lat_${target}`, maxWaitMs: 100 });
    while ((await source.pollSnapshot()) !== null);
    await source.pollChanges();
    const latencies: number[] = [];
    let done = false;
    const reader = (async () => {
      while (!done) {
        const b = await source.pollChanges();
        if (!b) continue;
        const nowUs = (performance.timeOrigin + performance.now()) * 1000;
        const ts = batchReaders(b)[1]!;
        for (let i = 0; i < b.numRows; i++) latencies.push((nowUs - Number(ts(i) as bigint)) / 1000);
      }
    })();
    const seconds = 5;
    const cpuBefore = process.cpuUsage();
    const bench = spawn(
      PGBENCH,
      ['-n', '-c', '4', '-j', '2', '-R', String(target), '-T', String(seconds), '-f', script, pg.connectionString],
      { stdio: 'ignore' },
    );
    await new Promise((r) => bench.once('exit', r));
    await new Promise((r) => setTimeout(r, 500));
    done = true;
    await reader;
    await source.close({ dropSlot: true });
    const cpu = process.cpuUsage(cpuBefore);
    console.log(`  (reader CPU ${(((cpu.user + cpu.system) / 1000 / (seconds * 1000 + 500)) * 100).toFixed(0)}% of one core)`);
    console.log(
      `  target ${target}/s: achieved ${(latencies.length / seconds).toFixed(0)}/s, p50 ${percentile(latencies, 50).toFixed(1)} ms, p90 ${percentile(latencies, 90).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms (${latencies.length} changes)`,
    );
  }
} finally {
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
