/**
 * The throughput cost of exactly-once into Kafka: the Kafka sink in transactional mode (each
 * commit writes the records and the checkpoint in one Kafka transaction) against its default
 * idempotent mode (records flushed, then the checkpoint saved to the same Kafka checkpoint
 * store without a transaction), in the same run against the same broker.
 *
 *   node --import tsx bench/kafka-transactions.ts [rows=200000] [batchRows=5000] [runs=3] [commitRows=5000,50000]
 *
 * Both do what the runner does at every commit: `flush()` the sink, then `save()` the
 * checkpoint. The time covers JSON encoding, producing, the commits and the final flush (all
 * acknowledged by a 4-partition topic, acks=all); building the Arrow batches is excluded.
 * Runs alternate between the modes; medians are reported, with the ratio per commit size.
 */
import type { RecordBatch } from 'apache-arrow';
import { CHECKPOINT_VERSION } from '../src/sdk/checkpoint.js';
import { KafkaCheckpointStore, KafkaSink } from '../src/connectors/kafka/index.js';
import { startKafkaTestBroker } from '../src/testing/index.js';
import { customerBatches, customersTable } from './lib/customer-batches.js';

const ROWS = Number(process.argv[2] ?? 200_000);
const BATCH_ROWS = Number(process.argv[3] ?? 5_000);
const RUNS = Number(process.argv[4] ?? 3);
const COMMIT_ROWS = (process.argv[5] ?? '5000,50000').split(',').map(Number);

const table = customersTable;
const batches = (): RecordBatch[] => customerBatches(ROWS, BATCH_ROWS);

const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 1 });
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

let topicCounter = 0;

/** One timed run: write every batch, committing (flush + save) every `commitRows` rows. */
async function timedRun(brokers: string[], transactional: boolean, input: RecordBatch[], commitRows: number): Promise<number> {
  const topic = `bench-tx-${topicCounter++}`;
  const sink = new KafkaSink({
    brokers,
    topic,
    logLevel: 'error',
    createTopic: { partitions: 4 },
    ...(transactional ? { transactions: true, transactionalId: `bench-${topic}` } : {}),
  });
  const store = new KafkaCheckpointStore({
    brokers,
    topic: 'bench-tx-checkpoints',
    key: topic,
    logLevel: 'error',
    ...(transactional ? { transactionsOf: sink } : {}),
  });
  await store.load(); // connects (and starts the transactional session) outside the timed part
  await sink.write(input[0]!.slice(0, 1));
  await sink.flush();
  let commits = 0;
  const commit = async () => {
    await sink.flush();
    await store.save({
      checkpoint: { version: CHECKPOINT_VERSION, connector: 'bench', table: table.table, phase: 'changes', position: String(commits++) },
      sinks: {},
    });
  };
  const t0 = process.hrtime.bigint();
  let sinceCommit = 0;
  for (const b of input) {
    await sink.write(b);
    sinceCommit += b.numRows;
    if (sinceCommit >= commitRows) {
      await commit();
      sinceCommit = 0;
    }
  }
  await commit();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await sink.close();
  await store.close();
  return seconds;
}

async function main(): Promise<void> {
  const broker = await startKafkaTestBroker({
    brokers: 1,
    topics: [{ name: 'bench-tx-checkpoints', config: { 'cleanup.policy': 'compact' } }],
  });
  try {
    const input = batches();
    await timedRun(broker.brokers, true, input.slice(0, 2), BATCH_ROWS); // warm up both code paths
    await timedRun(broker.brokers, false, input.slice(0, 2), BATCH_ROWS);
    console.log(`rows ${fmt(ROWS)} in batches of ${fmt(BATCH_ROWS)}, 4 partitions, acks=all, ${RUNS} runs per mode (median)`);
    for (const commitRows of COMMIT_ROWS) {
      const idempotent: number[] = [];
      const transactional: number[] = [];
      for (let round = 0; round < RUNS; round++) {
        idempotent.push(await timedRun(broker.brokers, false, input, commitRows));
        transactional.push(await timedRun(broker.brokers, true, input, commitRows));
      }
      const i = median(idempotent);
      const t = median(transactional);
      console.log(`commit every ${fmt(commitRows)} rows (${fmt(Math.ceil(ROWS / commitRows))} commits):`);
      console.log(`  idempotent     ${i.toFixed(2)} s  ${fmt(ROWS / i)} rows/s  (runs ${idempotent.map((x) => x.toFixed(2)).join(', ')})`);
      console.log(
        `  transactional  ${t.toFixed(2)} s  ${fmt(ROWS / t)} rows/s  (runs ${transactional.map((x) => x.toFixed(2)).join(', ')})`,
      );
      console.log(`  ratio (transactional / idempotent throughput): ${(i / t).toFixed(2)}x`);
    }
  } finally {
    await broker.stop();
  }
}

await main();
