/**
 * Many tables from one slot (`PostgresCapture`) against one slot per table.
 *
 * 1. Decoding cost over the same WAL: a committed workload spread over 10 tables, read by
 *    (a) one capture of the 10 tables, (b) 10 single-table sources (10 slots, 10 walsenders,
 *    each decoding the whole WAL), (c) `pg_recvlogical` on a slot publishing the 10 tables
 *    (pgoutput bytes to /dev/null, no decoding into rows). CPU = the reader process plus the
 *    server's walsender processes (from /proc), wall time until every change arrived.
 * 2. Commit-to-batch latency at 10k single-row transactions per second spread over the 10
 *    tables (pgbench -R with one script per table), read by one capture.
 *
 *   node --import tsx bench/postgres-capture.ts [changes=400000]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresCapture, PostgresSource } from '../src/connectors/postgres/index.js';
import type { ReferenceTableSource } from '../src/sdk/source.js';
import { batchReaders } from '../src/sdk/values.js';
import { PG_RECVLOGICAL, PGBENCH, createBenchTable, percentile, startBenchServer } from './lib/postgres-bench.js';

const changes = Number(process.argv[2] ?? 400_000);
const TABLES = 10;
const tables = Array.from({ length: TABLES }, (_, i) => `t${i}`);
const pg = await startBenchServer();
const dir = mkdtempSync(join(tmpdir(), 'refstream-capture-bench-'));
const TICK_MS = 1000 / 100; // clock ticks of /proc/<pid>/stat on Linux

/** CPU milliseconds a process used so far (user + system), from /proc. */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** The walsender processes holding `slots`. */
async function walsenders(slots: string[]): Promise<number[]> {
  const rows = await pg.query<{ pid: number }>('SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = ANY($1) AND active', [
    slots,
  ]);
  return rows.map((r) => r.pid);
}

/** Reads change rows from every source at once until each has `expected[i]` (counting `already`); resolves once all arrived. */
async function drainAll(sources: ReferenceTableSource[], expected: number[], already: number[]): Promise<void> {
  await Promise.all(
    sources.map(async (source, i) => {
      let rows = already[i]!;
      while (rows < expected[i]!) {
        const b = await source.pollChanges();
        if (b) rows += b.numRows;
      }
    }),
  );
}

interface Cost {
  wallMs: number;
  readerCpuMs: number;
  serverCpuMs: number;
}

async function measure(sources: ReferenceTableSource[], slots: string[], expected: number[]): Promise<Cost> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // the first poll opens the streams (connection and START_REPLICATION are part of the time)
  // every walsender's CPU, sampled until it exits (a capture may restart its stream)
  const serverCpu = new Map<number, number>();
  const sample = async () => {
    for (const pid of await walsenders(slots)) serverCpu.set(pid, Math.max(serverCpu.get(pid) ?? 0, processCpuMs(pid)));
  };
  const sampler = setInterval(() => void sample().catch(() => {}), 20);
  const first = await Promise.all(sources.map((s) => s.pollChanges()));
  await drainAll(
    sources,
    expected,
    first.map((b) => b?.numRows ?? 0),
  );
  const wallMs = performance.now() - t0;
  clearInterval(sampler);
  await sample();
  const cpu = process.cpuUsage(cpu0);
  const serverCpuMs = [...serverCpu.values()].reduce((a, b) => a + b, 0);
  return { wallMs, readerCpuMs: (cpu.user + cpu.system) / 1000, serverCpuMs };
}

/** pg_recvlogical to /dev/null up to `endLsn`, with its own and its walsender's CPU. */
function recvlogical(slot: string, publication: string, endLsn: string): Promise<Cost> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(
      '/usr/bin/time',
      [
        '-f',
        '%U %S',
        PG_RECVLOGICAL,
        '-d',
        pg.connectionString,
        '--slot',
        slot,
        '--start',
        '--no-loop',
        '-o',
        'proto_version=2',
        '-o',
        `publication_names=${publication}`,
        '-o',
        'binary=true',
        '--endpos',
        endLsn,
        '-f',
        '/dev/null',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    let serverMs = 0;
    const sampler = setInterval(() => {
      void walsenders([slot]).then((pids) => {
        for (const pid of pids) serverMs = Math.max(serverMs, processCpuMs(pid));
      });
    }, 20);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(sampler);
      if (code !== 0) return reject(new Error(`pg_recvlogical exited with ${code}: ${err}`));
      const [user, system] = err.trim().split('\n').pop()!.split(' ').map(Number);
      resolve({ wallMs: performance.now() - t0, readerCpuMs: (user! + system!) * 1000, serverCpuMs: serverMs });
    });
  });
}

try {
  console.log(
    `PostgreSQL ${pg.version}; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} on ${cpus().length} cores`,
  );
  for (const t of tables) await createBenchTable(pg, t, 0);
  // every slot exists before the workload, so all read the same WAL
  const capture = new PostgresCapture({ connectionString: pg.connectionString, slot: 'bench_capture', tables });
  const members = tables.map((t) => capture.source(t));
  await Promise.all(
    members.map(async (m) => {
      while ((await m.pollSnapshot()) !== null);
    }),
  );
  const singles = tables.map(
    (t) =>
      new PostgresSource({ connectionString: pg.connectionString, table: t, slot: `bench_single_${t}`, publication: `bench_single_${t}` }),
  );
  for (const s of singles) while ((await s.pollSnapshot()) !== null);
  await pg.query(`CREATE PUBLICATION bench_all FOR TABLE ${tables.join(', ')}`);
  await pg.query(`SELECT pg_create_logical_replication_slot('bench_recv', 'pgoutput')`);

  // the workload: per table inserts, then updates of a third, then deletes of a sixth
  const perTable = Math.floor(changes / TABLES);
  const inserts = Math.floor(perTable * 0.6);
  const updates = Math.floor(perTable * 0.25);
  const deletes = perTable - inserts - updates;
  const t0 = performance.now();
  for (const t of tables) {
    await pg.query(
      `INSERT INTO ${t} SELECT g, 'customer ' || g, (g % 100000) / 100.0, now(), g % 2 = 0, CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END FROM generate_series(1, ${inserts}) g`,
    );
    await pg.query(`UPDATE ${t} SET amount = amount + 1 WHERE id <= ${updates}`);
    await pg.query(`DELETE FROM ${t} WHERE id > ${inserts - deletes}`);
  }
  const [{ lsn }] = await pg.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  const expected = tables.map(() => perTable);
  console.log(
    `workload: ${perTable * TABLES} changes over ${TABLES} tables committed in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  // order: recv, capture, singles (each reads its own slots once)
  const recv = await recvlogical('bench_recv', 'bench_all', lsn);
  const one = await measure(members, ['bench_capture'], expected);
  console.log(`capture: ${capture.counters.streamRestarts} stream starts, ${capture.counters.exports} exported snapshots`);
  const many = await measure(
    singles,
    singles.map((s) => s.config.slotName),
    expected,
  );
  await capture.close({ dropSlot: true });
  for (const s of singles) await s.close({ dropSlot: true });
  const total = (c: Cost) => c.readerCpuMs + c.serverCpuMs;
  const line = (label: string, c: Cost) =>
    console.log(
      `  ${label.padEnd(40)} ${c.wallMs.toFixed(0).padStart(6)} ms  ${((perTable * TABLES) / (c.wallMs / 1000) / 1000).toFixed(0).padStart(5)} k changes/s  CPU reader ${c.readerCpuMs.toFixed(0).padStart(6)} ms + walsenders ${c.serverCpuMs.toFixed(0).padStart(6)} ms = ${total(c).toFixed(0).padStart(6)} ms`,
    );
  console.log(`\ndecoding ${perTable * TABLES} changes of ${TABLES} tables`);
  line('pg_recvlogical (1 slot, bytes only)', recv);
  line('PostgresCapture (1 slot, 10 tables)', one);
  line('10 × PostgresSource (10 slots)', many);
  console.log(`  CPU in total: 10 single sources / capture = ${(total(many) / total(one)).toFixed(2)}x (target >= 5)`);
  console.log(
    `  throughput: capture / pg_recvlogical = ${(recv.wallMs / one.wallMs).toFixed(2)}x; capture / 10 sources = ${(many.wallMs / one.wallMs).toFixed(2)}x`,
  );

  // ---- latency --------------------------------------------------------------------------
  const lat = tables.map((_, i) => `lat${i}`);
  for (const t of lat)
    await pg.query(`CREATE TABLE ${t} (id bigserial PRIMARY KEY, ts timestamptz NOT NULL DEFAULT clock_timestamp(), pad text)`);
  const scripts = lat.map((t) => {
    const path = join(dir, `${t}.sql`);
    writeFileSync(path, `INSERT INTO ${t} (pad) VALUES ('x');\n`);
    return path;
  });
  for (const target of [1000, 10000]) {
    const latCapture = new PostgresCapture({
      connectionString: pg.connectionString,
      slot: `bench_lat_${target}`,
      tables: lat,
      maxWaitMs: 100,
    });
    const readers = lat.map((t) => latCapture.source(t));
    await Promise.all(
      readers.map(async (r) => {
        while ((await r.pollSnapshot()) !== null);
        await r.pollChanges();
      }),
    );
    const latencies: number[] = [];
    let done = false;
    const loops = readers.map(async (r) => {
      while (!done) {
        const b = await r.pollChanges();
        if (!b) continue;
        const nowUs = (performance.timeOrigin + performance.now()) * 1000;
        const ts = batchReaders(b)[1]!;
        for (let i = 0; i < b.numRows; i++) latencies.push((nowUs - Number(ts(i) as bigint)) / 1000);
      }
    });
    const seconds = 5;
    const bench = spawn(
      PGBENCH,
      ['-n', '-c', '4', '-j', '2', '-R', String(target), '-T', String(seconds), ...scripts.flatMap((s) => ['-f', s]), pg.connectionString],
      {
        stdio: 'ignore',
      },
    );
    await new Promise((r) => bench.once('exit', r));
    await new Promise((r) => setTimeout(r, 500));
    done = true;
    await Promise.all(loops);
    const counters = latCapture.counters;
    await latCapture.close({ dropSlot: true });
    console.log(`(${counters.streamRestarts} stream starts)`);
    console.log(
      `\ncommit-to-batch latency, ${target}/s over ${TABLES} tables of one capture: achieved ${(latencies.length / seconds).toFixed(0)}/s, p50 ${percentile(latencies, 50).toFixed(1)} ms, p90 ${percentile(latencies, 90).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms`,
    );
  }
} finally {
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
