/** Shared fixtures of the Kafka tests: a customers table, batch builders and a kcat reader. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { RecordBatch } from 'apache-arrow';
import { Kafka, logLevel } from 'kafkajs';
import { PartitionReader, type FetchedRecord } from '../../src/connectors/kafka/fetcher.js';
import { BatchBuilder, formatPosition, type ChangeType, type TableDescriptor } from '../../src/sdk/batch.js';
import { testTableDescriptor } from '../../conformance-tests/targets/test-table-descriptor.js';

const run = promisify(execFile);

export const customers: TableDescriptor = testTableDescriptor('public.customers');

export type Row = [bigint, string, string, string, boolean, string | null];

export function row(id: number, name = `customer ${id}`, amount = `${id}.50`): Row {
  return [BigInt(id), name, amount, '2024-01-02T03:04:05.123456Z', id % 2 === 0, id % 3 === 0 ? null : `note ${id}`];
}

export function snapshotBatch(rows: Row[]): RecordBatch {
  const b = new BatchBuilder(customers, 'snapshot');
  for (const r of rows) b.appendRow(r);
  return b.finish();
}

/** A change: type, row (or id for deletes, nothing for truncates), position counter. */
export type Change = [ChangeType, Row | number | null, number];

export function changeBatch(changes: Change[]): RecordBatch {
  const b = new BatchBuilder(customers, 'changes');
  for (const [type, value, seq] of changes) {
    const values = value === null ? null : typeof value === 'number' ? [BigInt(value), null, null, null, null, null] : value;
    b.appendChange(type, values, formatPosition(seq));
  }
  return b.finish();
}

/** One record as kcat (`-J`) reports it. */
export interface KcatRecord {
  partition: number;
  offset: number;
  key: string | null;
  payload: string | null;
  headers: Record<string, string>;
}

/** Reads a whole topic with kcat, an independent (librdkafka) consumer. */
export async function kcatRead(bootstrap: string, topic: string): Promise<KcatRecord[]> {
  const { stdout } = await run('kcat', ['-C', '-b', bootstrap, '-t', topic, '-e', '-J', '-q', '-Z'], { maxBuffer: 256 << 20 });
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const r = JSON.parse(l) as { partition: number; offset: number; key: string | null; payload: string | null; headers?: string[] };
      const headers: Record<string, string> = {};
      const h = r.headers ?? [];
      for (let i = 0; i + 1 < h.length; i += 2) headers[h[i]!] = h[i + 1]!;
      return { partition: r.partition, offset: r.offset, key: r.key, payload: r.payload, headers };
    })
    .sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/** Folds an upsert topic by key as any KTable consumer would: last value wins, tombstone deletes. */
export function foldUpsert(records: KcatRecord[]): Map<string, string> {
  const state = new Map<string, string>();
  for (const r of records) {
    if (r.headers['refstream-control'] !== undefined) continue;
    if (r.payload === null) state.delete(r.key!);
    else state.set(r.key!, r.payload);
  }
  return state;
}

export const quiet = { logLevel: 'nothing' as const };

/** Every record of a topic with binary keys, values and headers, per partition in offset order. */
export async function readTopic(brokers: string[], topic: string): Promise<FetchedRecord[]> {
  const reader = new PartitionReader(new Kafka({ brokers, logLevel: logLevel.NOTHING }), topic);
  await reader.connect();
  try {
    const partitions = reader.partitions();
    const end = await reader.offsets(partitions, 'end');
    const next = await reader.offsets(partitions, 'start');
    const out: FetchedRecord[] = [];
    for (;;) {
      const due = new Map([...next].filter(([p, o]) => o < end.get(p)!));
      if (due.size === 0) break;
      for (const r of await reader.fetch(due, 100)) {
        if (r.offset < next.get(r.partition)! || r.offset >= end.get(r.partition)!) continue;
        out.push(r);
        next.set(r.partition, r.offset + 1n);
      }
    }
    return out.sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset));
  } finally {
    await reader.close();
  }
}

/**
 * What log compaction leaves of `records` once `delete.retention.ms` has passed: per partition
 * and key, only the latest record, and no tombstones.
 */
export function compact(records: FetchedRecord[]): FetchedRecord[] {
  const latest = new Map<string, FetchedRecord>();
  for (const r of records) latest.set(`${r.partition}\u0000${r.key?.toString('latin1') ?? ''}`, r);
  const kept = new Set(latest.values());
  return records.filter((r) => kept.has(r) && r.value !== null);
}

/** Writes `records` to `topic` as they are (same partition, key, value, headers, order). */
export async function produceRecords(
  brokers: string[],
  topic: string,
  records: Array<Pick<FetchedRecord, 'partition' | 'key' | 'value' | 'headers'>>,
): Promise<void> {
  const producer = new Kafka({ brokers, logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  try {
    const messages = records.map((r) => ({
      partition: r.partition,
      key: r.key,
      value: r.value,
      headers: Object.fromEntries(Object.entries(r.headers).filter((e): e is [string, Buffer] => e[1] !== undefined)),
    }));
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}
