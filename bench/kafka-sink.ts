/**
 * KafkaSink throughput against kcat (librdkafka) producing the same keyed payloads to the
 * same broker in the same run.
 *
 *   node --import tsx bench/kafka-sink.ts [rows=200000] [batchRows=10000] [runs=3] [compression=none|gzip]
 *
 * Both write to a 4-partition topic on the Kafka test broker (a real Apache Kafka node) with
 * acks=all and murmur2 partitioning. The sink's time covers JSON encoding, partitioning,
 * producing and the final flush (all acknowledged); building the Arrow batches (the source's
 * work) is excluded. kcat's time covers its whole run reading the pre-rendered key/value
 * lines from a file, with the same two headers per record as the sink (constant values of
 * the same size, as kcat's line mode cannot vary them). Runs alternate; medians are reported.
 * With `gzip`, both compress their record batches (kcat: `-z gzip`).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { RecordBatch } from 'apache-arrow';
import { KafkaSink } from '../src/connectors/kafka/index.js';
import { jsonEncoder } from '../src/connectors/kafka/encode.js';
import type { SizedMessage } from '../src/connectors/kafka/sender.js';
import { startKafkaTestBroker } from '../src/testing/index.js';
import { customerBatches } from './lib/customer-batches.js';

const run = promisify(execFile);
const ROWS = Number(process.argv[2] ?? 200_000);
const BATCH_ROWS = Number(process.argv[3] ?? 10_000);
const RUNS = Number(process.argv[4] ?? 3);
const COMPRESSION = (process.argv[5] ?? 'none') as 'none' | 'gzip';

const batches = (): RecordBatch[] => customerBatches(ROWS, BATCH_ROWS);

function fmt(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 1 });
}

async function main(): Promise<void> {
  const broker = await startKafkaTestBroker({ brokers: 1, topics: ['bench-sink:4', 'bench-kcat:4', 'warmup:4'] });
  const dir = mkdtempSync(join(tmpdir(), 'refstream-bench-'));
  try {
    const input = batches();

    // The same keyed payloads for kcat, rendered by the sink's own encoder.
    let payloadBytes = 0;
    const lines: string[] = [];
    for (const b of input) {
      const messages: SizedMessage[] = [];
      jsonEncoder(() => 4).encode(b, messages, 0);
      for (const m of messages) {
        const key = m.message.key as string;
        const value = m.message.value as string;
        payloadBytes += Buffer.byteLength(key) + Buffer.byteLength(value);
        lines.push(`${key}\t${value}`);
      }
    }
    const file = join(dir, 'payloads.tsv');
    writeFileSync(file, lines.join('\n') + '\n');

    // Warm up the JIT and the connections' code paths on a separate topic.
    const warm = new KafkaSink({ brokers: broker.brokers, topic: 'warmup', logLevel: 'error' });
    await warm.write(input[0]!);
    await warm.close();

    // Alternate the two producers and keep the median of each, as the machine may be shared.
    const sinkRuns: number[] = [];
    const kcatRuns: number[] = [];
    for (let round = 0; round < RUNS; round++) {
      const sink = new KafkaSink({ brokers: broker.brokers, topic: 'bench-sink', logLevel: 'error', compression: COMPRESSION });
      await sink.write(input[0]!.slice(0, 1)); // connect outside the timed part
      await sink.flush();
      const t0 = process.hrtime.bigint();
      for (const b of input) await sink.write(b);
      await sink.flush();
      sinkRuns.push(Number(process.hrtime.bigint() - t0) / 1e9);
      await sink.close();

      const t1 = process.hrtime.bigint();
      // The same two headers per record as the sink writes (constant values of the same size).
      await run(
        'kcat',
        [
          '-P',
          '-b',
          broker.bootstrapServers,
          '-t',
          'bench-kcat',
          '-K',
          '\t',
          '-X',
          'topic.partitioner=murmur2_random',
          '-X',
          'acks=all',
          '-z',
          COMPRESSION === 'gzip' ? 'gzip' : 'none',
          '-H',
          'refstream-op=update',
          '-H',
          'refstream-position=0000000000000001/00000000',
          '-l',
          file,
        ],
        { maxBuffer: 1 << 20 },
      );
      kcatRuns.push(Number(process.hrtime.bigint() - t1) / 1e9);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const sinkSeconds = median(sinkRuns);
    const kcatSeconds = median(kcatRuns);

    const mb = payloadBytes / 1e6;
    const sinkRate = ROWS / sinkSeconds;
    const kcatRate = ROWS / kcatSeconds;
    console.log(
      `compression ${COMPRESSION}; rows ${fmt(ROWS)} in batches of ${fmt(BATCH_ROWS)}, keyed JSON payload ${fmt(mb)} MB (avg ${fmt(payloadBytes / ROWS)} B/record)`,
    );
    console.log(
      `runs: KafkaSink ${sinkRuns.map((x) => x.toFixed(2)).join(', ')} s; kcat ${kcatRuns.map((x) => x.toFixed(2)).join(', ')} s`,
    );
    console.log(`KafkaSink  ${sinkSeconds.toFixed(2)} s  ${fmt(sinkRate)} rows/s  ${fmt(mb / sinkSeconds)} MB/s`);
    console.log(`kcat -P    ${kcatSeconds.toFixed(2)} s  ${fmt(kcatRate)} rows/s  ${fmt(mb / kcatSeconds)} MB/s`);
    console.log(`ratio (KafkaSink / kcat): ${(sinkRate / kcatRate).toFixed(2)}x`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await broker.stop();
  }
}

await main();
