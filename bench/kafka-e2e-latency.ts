/**
 * End-to-end latency, Postgres commit → record readable in Kafka, at a steady change rate.
 *
 *   node --import tsx bench/kafka-e2e-latency.ts [changesPerSecond=1000] [seconds=10] [idempotent|transactions]
 *
 * A writer commits single-row updates at the given rate (one transaction each) and notes the
 * time each COMMIT returned; `sync` runs PostgresSource → KafkaSink in this process; a reader
 * fetches the topic directly (no consumer group) and notes when each version of a row
 * appears. Latency = appearance − commit acknowledgement. Postgres and the Kafka broker are
 * the test harnesses (embedded Postgres, a real Apache Kafka node) on this machine.
 *
 * The reader is `read_committed`. In the default `idempotent` mode a record is readable once
 * the broker acknowledged it; with `transactions` (records and checkpoint in one Kafka
 * transaction per commit, checkpoint in Kafka) only once the sync's commit ended its
 * transaction, so the commit interval (`commitEvery`, 500 ms / 5000 rows here) bounds it.
 */
import pg from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import { sync } from '../src/sdk/sync.js';
import { PostgresSource } from '../src/connectors/postgres/index.js';
import { KafkaCheckpointStore, KafkaSink } from '../src/connectors/kafka/index.js';
import { PartitionReader } from '../src/connectors/kafka/fetcher.js';
import { startKafkaTestBroker, startPostgres } from '../src/testing/index.js';

const RATE = Number(process.argv[2] ?? 1000);
const SECONDS = Number(process.argv[3] ?? 10);
const MODE = (process.argv[4] ?? 'idempotent') as 'idempotent' | 'transactions';
if (MODE !== 'idempotent' && MODE !== 'transactions') throw new Error('mode: idempotent or transactions');
const ROWS = 1000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const [db, broker] = await Promise.all([
    startPostgres(),
    startKafkaTestBroker({ topics: ['latency:4', { name: 'latency-checkpoints', config: { 'cleanup.policy': 'compact' } }] }),
  ]);
  const client = new pg.Client({ connectionString: db.connectionString });
  await client.connect();
  await client.query('create table public.items (id bigint primary key, version bigint not null, payload text not null)');
  await client.query(`insert into public.items select i, 0, repeat('x', 100) from generate_series(1, ${ROWS}) i`);

  const transactional = MODE === 'transactions';
  const sink = new KafkaSink({
    brokers: broker.brokers,
    topic: 'latency',
    logLevel: 'error',
    ...(transactional ? { transactions: true, transactionalId: 'bench-latency' } : {}),
  });
  const store = transactional
    ? new KafkaCheckpointStore({
        brokers: broker.brokers,
        topic: 'latency-checkpoints',
        key: 'latency',
        logLevel: 'error',
        transactionsOf: sink,
      })
    : undefined;
  const run = sync({
    source: () =>
      new PostgresSource({
        connectionString: db.connectionString,
        table: 'public.items',
        slot: 'latency_slot',
        publication: 'latency_pub',
        maxWaitMs: 20,
      }),
    sinks: [sink],
    ...(store ? { checkpoints: store } : {}),
    commitEvery: { rows: 5000, ms: 500 },
  });
  await new Promise<void>((resolve) => run.once('snapshot-complete', () => resolve()));

  // Reader: when does each (id, version) become readable?
  const committedAt = new Map<string, number>();
  const latencies: number[] = [];
  const reader = new PartitionReader(new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }), 'latency');
  await reader.connect();
  const offsets = await reader.offsets(reader.partitions(), 'end');
  let reading = true;
  const readLoop = (async () => {
    while (reading) {
      const records = await reader.fetch(offsets, 20);
      const now = performance.now();
      for (const r of records) {
        offsets.set(r.partition, r.offset + 1n);
        if (r.value === null || r.headers['refstream-control'] !== undefined) continue;
        const row = JSON.parse(r.value.toString('utf8')) as { id: string; version: string };
        if (row.version === '0') continue; // a snapshot row (its transaction may end after the reader started)
        const t = committedAt.get(`${row.id}/${row.version}`);
        // A record can be read before its writer saw the COMMIT acknowledgement: count that as 0.
        latencies.push(t === undefined ? 0 : Math.max(0, now - t));
      }
    }
  })();

  // Writer: RATE single-row transactions per second, paced in 10 ms ticks, on a small pool
  // (one connection cannot commit 1k transactions/s when each commit waits for the WAL flush).
  const pool = new pg.Pool({ connectionString: db.connectionString, max: 8 });
  pool.on('error', () => undefined); // idle connections closed by the server at shutdown
  const total = RATE * SECONDS;
  const start = performance.now();
  let version = 0;
  const inFlight = new Set<Promise<void>>();
  for (let n = 0; n < total;) {
    const due = Math.floor(((performance.now() - start) / 1000) * RATE);
    while (n < Math.min(due, total)) {
      const id = (n % ROWS) + 1;
      const v = ++version;
      const p: Promise<void> = pool.query('update public.items set version = $1 where id = $2', [v, id]).then(() => {
        committedAt.set(`${id}/${v}`, performance.now());
        inFlight.delete(p);
      });
      inFlight.add(p);
      n++;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all(inFlight);
  const achieved = total / ((performance.now() - start) / 1000);
  const deadline = performance.now() + 10_000;
  while (latencies.length < total && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  reading = false;
  await readLoop;

  latencies.sort((a, b) => a - b);
  console.log(`mode ${MODE}, reader read_committed`);
  console.log(`changes ${total} at ${achieved.toFixed(0)}/s (target ${RATE}/s); seen in Kafka ${latencies.length}`);
  console.log(
    `commit → readable in Kafka: p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`,
  );

  run.stop();
  await run.done;
  await reader.close();
  await client.end();
  await pool.end();
  await Promise.all([db.stop(), broker.stop()]);
}

await main();
