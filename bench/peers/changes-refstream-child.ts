/**
 * refstream's PostgresSource streaming one table's changes to an in-process consumer, for
 * bench/peers/changes.ts; the counterpart of debezium/…/DebeziumStreamPeer.java, with the same
 * modes, markers and output:
 *
 *   changes-refstream-child.ts url schema.table name prepare checkpointFile
 *   changes-refstream-child.ts url schema.table name throughput checkpointFile
 *   changes-refstream-child.ts url schema.table name latency
 *
 * prepare creates slot and publication `name`, takes the snapshot, prints "ready" at the first
 * marker row and stores its checkpoint; throughput resumes from it. The consumer confirms its
 * position once a second (Debezium's offsets are flushed as often here).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { RecordBatch } from 'apache-arrow';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import { CHANGE_TYPE_COLUMN } from '../../src/sdk/batch.js';

const MARKER = 'refstream-bench:';
const [url, table, name, mode, checkpointFile] = process.argv.slice(2) as [string, string, string, string, string | undefined];
const timed = mode === 'latency';

const source = new PostgresSource({ connectionString: url, table, slot: name, publication: name });
if (mode === 'throughput') await source.restore(JSON.parse(readFileSync(checkpointFile!, 'utf8')));
else while ((await source.pollSnapshot()) !== null);

let ready = false;
let counting = false;
let ended = false;
let changes = 0;
let fromMs = 0;
let fromCpu = 0;
let endMs = 0;
let endCpu = 0;
let latencies = new Float64Array(1 << 16);
let latencyCount = 0;

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Counts a batch's changes between the markers (and their latencies); ids are read as int64 words, no BigInt per row. */
function consume(batch: RecordBatch, handedAtUs: number): void {
  const ids = batch.getChild('id')!.data[0]!.values as BigInt64Array;
  const idWords = new Int32Array(ids.buffer, ids.byteOffset, batch.numRows * 2);
  const names = batch.getChild('name')!;
  const types = batch.getChild(CHANGE_TYPE_COLUMN)!;
  const stamps = timed ? batch.getChild('updated_at')!.data[0]!.values : null;
  for (let i = 0; i < batch.numRows; i++) {
    if (idWords[2 * i + 1]! < 0) {
      const marker = names.get(i) as string | null;
      if (marker === null || !marker.startsWith(MARKER)) continue;
      ready = true;
      if (marker === `${MARKER}from`) {
        counting = true;
        fromMs = performance.now();
        fromCpu = cpuMs();
      } else if (marker === `${MARKER}end` && counting) {
        counting = false;
        ended = true;
        endMs = performance.now();
        endCpu = cpuMs();
      }
    } else if (counting) {
      changes++;
      if (stamps !== null && types.get(i) !== 'delete') {
        if (latencyCount === latencies.length) {
          const grown = new Float64Array(latencies.length * 2);
          grown.set(latencies);
          latencies = grown;
        }
        latencies[latencyCount++] = handedAtUs - Number((stamps as BigInt64Array)[i]!);
      }
    }
  }
}

let announced = false;
let committedAt = performance.now();
while (!(mode === 'prepare' ? ready : ended)) {
  const batch = await source.pollChanges();
  if (batch === null) continue;
  consume(batch, timed ? (performance.timeOrigin + performance.now()) * 1000 : 0);
  // the position is confirmed once a second, as Debezium's offsets are here (offset.flush.interval.ms=1000)
  if (performance.now() - committedAt >= 1000) {
    await source.commit(source.checkpoint());
    committedAt = performance.now();
  }
  if (ready && !announced && mode !== 'prepare') {
    announced = true;
    console.log('ready');
  }
}

if (mode === 'prepare') {
  writeFileSync(checkpointFile!, JSON.stringify(source.checkpoint()));
  console.log('ready');
  await source.close();
  process.exit(0);
}
const sorted = latencies.subarray(0, latencyCount).sort();
const pick = (p: number) => (sorted.length === 0 ? -1 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! / 1000);
console.log(
  JSON.stringify({
    changes,
    ms: endMs - fromMs,
    cpuMs: endCpu - fromCpu,
    ...(timed ? { latencyMs: { count: latencyCount, p50: pick(50), p99: pick(99), max: pick(100) } } : {}),
  }),
);
await new Promise<void>((resolve) => createInterface({ input: process.stdin }).once('line', () => resolve()));
await source.close({ dropSlot: true });
process.exit(0);
