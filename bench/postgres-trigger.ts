/**
 * Trigger capture beside logical replication, on one server and the same loads.
 *
 * 1. Write overhead on the source: pgbench TPS (simple-update transactions on
 *    pgbench_accounts, 4 clients) with no capture, with the capture triggers alone, with trigger
 *    capture and its reader running and committing, and with logical capture (a slot and its
 *    reader running).
 * 2. Reader throughput: one committed workload (inserts, updates, deletes) read by a trigger
 *    capture consumer and by a logical replication slot, in changes per second.
 * 3. Commit-to-batch latency at about 1,000 single-row transactions per second (pgbench -R),
 *    from the row's clock_timestamp() to the batch's arrival: trigger capture (LISTEN/NOTIFY,
 *    epochs paced at the default 10 ms and not paced), trigger capture polling every 100 ms
 *    without notifications, logical replication.
 *
 *   node --import tsx bench/postgres-trigger.ts [changes=300000] [seconds=15]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresSource, dropTriggerCapture, installTriggers, uninstallTriggers } from '../src/connectors/postgres/index.js';
import { batchReaders } from '../src/sdk/values.js';
import { PGBENCH, createBenchTable, median, percentile, startBenchServer } from './lib/postgres-bench.js';

const changes = Number(process.argv[2] ?? 300_000);
const seconds = Number(process.argv[3] ?? 15);
const server = await startBenchServer();
const dir = mkdtempSync(join(tmpdir(), 'refstream-trigger-bench-'));

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: server.connectionString });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

function runPgbench(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PGBENCH, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`pgbench exited with ${code}: ${out.slice(-500)}`))));
  });
}

/** A reader that drains and commits every 500 ms until stopped (the load a capture puts on the server). */
function backgroundReader(source: PostgresSource): { stop: () => Promise<number> } {
  let running = true;
  let rows = 0;
  const done = (async () => {
    while ((await source.pollSnapshot()) !== null);
    let last = Date.now();
    while (running) {
      const b = await source.pollChanges();
      if (b) rows += b.numRows;
      if (Date.now() - last >= 500) {
        await source.commit(source.checkpoint());
        last = Date.now();
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return rows;
    },
  };
}

try {
  console.log(
    `PostgreSQL ${server.version}; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} on ${cpus().length} cores`,
  );

  // ---- 1. write overhead ------------------------------------------------------------------
  await runPgbench(['-i', '-q', '-s', '10', server.connectionString]);
  const tps = async (): Promise<number> => {
    const out = await runPgbench(['-n', '-N', '-c', '4', '-j', '2', '-T', String(seconds), server.connectionString]);
    const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
    if (!m) throw new Error(`no tps in pgbench output: ${out}`);
    return Number(m[1]);
  };
  const results: Record<string, number[]> = { none: [], 'trigger, no reader': [], 'trigger + reader': [], 'logical + reader': [] };
  const accounts = { schema: 'public', name: 'pgbench_accounts' };
  for (let round = 0; round < 3; round++) {
    results.none!.push(await tps());
    // the triggers alone (the change table grows: nobody reads it)
    await admin((c) => installTriggers(c, accounts));
    results['trigger, no reader']!.push(await tps());
    await admin((c) => uninstallTriggers(c, accounts));
    // trigger capture with its reader
    await admin((c) => installTriggers(c, accounts));
    const trigger = new PostgresSource({
      connectionString: server.connectionString,
      table: 'pgbench_accounts',
      capture: 'trigger',
      batchRows: 10_000,
    });
    const tr = backgroundReader(trigger);
    results['trigger + reader']!.push(await tps());
    await tr.stop();
    await trigger.close();
    await admin((c) => uninstallTriggers(c, accounts));
    // logical capture with its reader
    const logical = new PostgresSource({
      connectionString: server.connectionString,
      table: 'pgbench_accounts',
      slot: 'bench_tps',
      batchRows: 10_000,
    });
    const lr = backgroundReader(logical);
    results['logical + reader']!.push(await tps());
    await lr.stop();
    await logical.close({ dropSlot: true });
    await admin((c) => c.query('DROP PUBLICATION IF EXISTS refstream_public_pgbench_accounts'));
  }
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(`\nwrite overhead: pgbench -N (simple update), 4 clients, ${seconds} s per run, the variants in turn (x3)`);
  for (const [name, xs] of Object.entries(results)) {
    console.log(
      `  ${name.padEnd(20)} ${xs.map((x) => x.toFixed(0)).join(' / ')} tps  ratio to none: means ${(avg(xs) / avg(results.none!)).toFixed(2)}x, medians ${(median(xs) / median(results.none!)).toFixed(2)}x`,
    );
  }

  // ---- 2. reader throughput ---------------------------------------------------------------
  await createBenchTable(server, 't', 0);
  const logical = new PostgresSource({ connectionString: server.connectionString, table: 't', slot: 'bench_thr', batchRows: 65_536 });
  while ((await logical.pollSnapshot()) !== null);
  await admin((c) => installTriggers(c, { schema: 'public', name: 't' }));
  const trigger = new PostgresSource({ connectionString: server.connectionString, table: 't', capture: 'trigger', batchRows: 65_536 });
  while ((await trigger.pollSnapshot()) !== null);
  const inserts = Math.floor(changes / 2);
  const updates = Math.floor(changes / 3);
  const deletes = changes - inserts - updates;
  const written = performance.now();
  for (let i = 0; i < 4; i++) {
    const lo = 1 + Math.floor((i * inserts) / 4);
    const hi = Math.floor(((i + 1) * inserts) / 4);
    await server.query(
      `INSERT INTO t SELECT g, 'customer ' || g, (g % 100000) / 100.0, now(), g % 2 = 0, CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END FROM generate_series(${lo}::int8, ${hi}::int8) g`,
    );
  }
  await server.query(`UPDATE t SET amount = amount + 1, updated_at = now() WHERE id <= ${updates}`);
  await server.query(`DELETE FROM t WHERE id > ${inserts - deletes}`);
  console.log(
    `\nreader throughput: ${inserts} inserts, ${updates} updates, ${deletes} deletes committed in ${((performance.now() - written) / 1000).toFixed(1)} s (both captures on)`,
  );
  const drain = async (source: PostgresSource) => {
    const t0 = performance.now();
    let rows = 0;
    while (rows < changes) {
      const b = await source.pollChanges();
      if (b) rows += b.numRows;
    }
    const ms = performance.now() - t0;
    return ms;
  };
  const triggerMs = await drain(trigger);
  const logicalMs = await drain(logical);
  const rate = (ms: number) => `${((changes / ms) * 1000).toFixed(0)} changes/s`;
  console.log(`  trigger capture  ${triggerMs.toFixed(0)} ms  ${rate(triggerMs)}`);
  console.log(`  logical          ${logicalMs.toFixed(0)} ms  ${rate(logicalMs)}`);
  console.log(`  ratio trigger/logical  ${(logicalMs / triggerMs).toFixed(2)}x`);
  await trigger.close();
  await logical.close({ dropSlot: true });

  // ---- 3. latency -------------------------------------------------------------------------
  await server.query(`CREATE TABLE lat (id bigserial PRIMARY KEY, ts timestamptz NOT NULL DEFAULT clock_timestamp(), pad text)`);
  await admin((c) => installTriggers(c, { schema: 'public', name: 'lat' }));
  const script = join(dir, 'insert.sql');
  writeFileSync(script, `INSERT INTO lat (pad) VALUES ('x');\n`);
  const rateTarget = 1000;
  console.log(`\ncommit-to-batch latency (single-row transactions, pgbench -R ${rateTarget}, ${seconds} s, maxWaitMs 100)`);
  const variants: [string, () => PostgresSource][] = [
    [
      'trigger (NOTIFY)',
      () =>
        new PostgresSource({
          connectionString: server.connectionString,
          table: 'lat',
          capture: 'trigger',
          consumer: 'notify',
          maxWaitMs: 100,
        }),
    ],
    [
      'trigger (NOTIFY, epochs at once)',
      () =>
        new PostgresSource({
          connectionString: server.connectionString,
          table: 'lat',
          capture: 'trigger',
          consumer: 'eager',
          epochIntervalMs: 0,
          maxWaitMs: 100,
        }),
    ],
    [
      'trigger (polling 100 ms)',
      () =>
        new PostgresSource({
          connectionString: server.connectionString,
          table: 'lat',
          capture: 'trigger',
          consumer: 'poll',
          notify: false,
          pollIntervalMs: 100,
          maxWaitMs: 100,
        }),
    ],
    ['logical', () => new PostgresSource({ connectionString: server.connectionString, table: 'lat', slot: 'bench_lat', maxWaitMs: 100 })],
  ];
  for (const [name, make] of variants) {
    const source = make();
    while ((await source.pollSnapshot()) !== null);
    while ((await source.pollChanges()) !== null);
    const latencies: number[] = [];
    let done = false;
    let lastCommit = Date.now();
    const reader = (async () => {
      while (!done) {
        const b = await source.pollChanges();
        if (b) {
          const nowUs = (performance.timeOrigin + performance.now()) * 1000;
          const ts = batchReaders(b)[1]!;
          for (let i = 0; i < b.numRows; i++) latencies.push((nowUs - Number(ts(i) as bigint)) / 1000);
        }
        if (Date.now() - lastCommit >= 1000) {
          await source.commit(source.checkpoint());
          lastCommit = Date.now();
        }
      }
    })();
    const cpuBefore = process.cpuUsage();
    await runPgbench(['-n', '-c', '4', '-j', '2', '-R', String(rateTarget), '-T', String(seconds), '-f', script, server.connectionString]);
    await new Promise((r) => setTimeout(r, 500));
    done = true;
    await reader;
    const cpu = process.cpuUsage(cpuBefore);
    if (name === 'logical') await source.close({ dropSlot: true });
    else {
      await source.close();
      // a consumer that is done must not keep change rows for the next one
      await admin((c) => dropTriggerCapture(c, { schema: 'public', name: 'lat' }, { consumer: source.config.consumerName }));
      await admin((c) => installTriggers(c, { schema: 'public', name: 'lat' }));
    }
    console.log(
      `  ${name.padEnd(34)} ${(latencies.length / seconds).toFixed(0)}/s  p50 ${percentile(latencies, 50).toFixed(1)} ms  p99 ${percentile(latencies, 99).toFixed(1)} ms  max ${Math.max(...latencies).toFixed(1)} ms  (reader CPU ${(((cpu.user + cpu.system) / 1000 / (seconds * 1000 + 500)) * 100).toFixed(0)}% of a core)`,
    );
  }
  console.log(
    `\nload average at the end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
