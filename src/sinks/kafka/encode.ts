/**
 * Turns batches into Kafka messages, one encoder per value format:
 *
 * - `json`: the upsert format of Flink `upsert-kafka`, Kafka Streams KTables and ksqlDB
 *   tables — value = row as JSON, delete = tombstone (null value);
 * - `debezium`: Debezium's change-event envelope (`before`, `after`, `op`, `source`,
 *   `ts_ms`), a delete followed by a tombstone as Debezium does by default;
 * - `arrow`: one Arrow IPC stream per batch and partition (rows grouped by key partition,
 *   so each key keeps its order), for consumers that read Arrow directly.
 */
import { RecordBatchStreamWriter, type RecordBatch, type Schema } from 'apache-arrow';
import { BatchBuilder, batchInfo, descriptorOf, type ChangeType, type TableDescriptor } from '../../sdk/batch.js';
import type { Data } from 'apache-arrow';
import { batchReaders, cellReader, readRow } from '../../sdk/values.js';
import { HEADERS, asciiColumn, batchJsonColumns, keyRenderer, rowRenderer } from './records.js';
import type { OutRecord } from './produce.js';
import type { SizedMessage } from './sender.js';
import { keyPartition } from './wire.js';

/** Value formats of {@link KafkaSink}. */
export type KafkaValueFormat = 'json' | 'debezium' | 'arrow';

/** Fixed per-record overhead counted towards buffered bytes (headers, framing). */
const RECORD_OVERHEAD = 64;

type Op = 'snapshot' | ChangeType;

/** Where encoders put messages: an array, or the sender appending them to its batches at once. */
export interface MessageSink {
  push(message: SizedMessage): void;
}

/**
 * Converts the rows of a batch into messages, in row order, handing each to `out` as soon
 * as it is made (so no per-record object outlives its row). Truncate rows become whatever
 * `truncate(position)` returns (control records), placed where the truncate was.
 */
export interface RowEncoder {
  encode(batch: RecordBatch, truncate: (position: string) => SizedMessage[], out: MessageSink): void;
}

interface RowView {
  table: string;
  op: Op;
  key: string;
  position: string | null;
  /** The row's JSON (for deletes: key columns set, the rest null). */
  row: () => string;
}

/** Walks a batch's rows in order, handing truncates to `onTruncate`. */
function forEachRow(batch: RecordBatch, onTruncate: (position: string) => void, visit: (view: RowView) => void): void {
  const info = batchInfo(batch);
  const fields = batch.schema.fields;
  const n = info.tableColumnCount;
  const keyIndexes = info.primaryKey.map((k) => fields.findIndex((f) => f.name === k));
  const columns = batchJsonColumns(batch, n);
  const renderKey = keyRenderer(fields, keyIndexes, columns);
  const renderRow = rowRenderer(fields, n, columns);
  const readers = batchReaders(batch);
  const changes = info.kind === 'changes';
  for (let i = 0; i < batch.numRows; i++) {
    const op = changes ? (readers[n]!(i) as ChangeType) : 'snapshot';
    const position = changes ? (readers[n + 1]!(i) as string) : null;
    if (op === 'truncate') {
      onTruncate(position!);
      continue;
    }
    visit({ table: info.table, op, key: renderKey(i), position, row: () => renderRow(i) });
  }
}

function headersOf(view: RowView): Record<string, string> {
  return view.position === null ? { [HEADERS.op]: view.op } : { [HEADERS.op]: view.op, [HEADERS.position]: view.position };
}

function sized(message: OutRecord, position: string | null): SizedMessage {
  const key = message.key as string;
  const value = message.value as string | Buffer | null;
  const bytes = key.length + (value === null ? 0 : value.length) + RECORD_OVERHEAD;
  return position === null ? { message, bytes } : { message, bytes, position };
}

/** The upsert format: key → row JSON, delete → tombstone. (A direct loop: it runs for every record.) */
export const jsonEncoder: RowEncoder = {
  encode(batch, truncate, out) {
    const info = batchInfo(batch);
    const fields = batch.schema.fields;
    const n = info.tableColumnCount;
    const columns = batchJsonColumns(batch, n);
    const renderKey = keyRenderer(
      fields,
      info.primaryKey.map((k) => fields.findIndex((f) => f.name === k)),
      columns,
    );
    const renderRow = rowRenderer(fields, n, columns);
    if (info.kind === 'snapshot') {
      const headers = { [HEADERS.op]: 'snapshot' };
      for (let i = 0; i < batch.numRows; i++) {
        const key = renderKey(i);
        const value = renderRow(i);
        out.push({ message: { key, value, headers }, bytes: key.length + value.length + RECORD_OVERHEAD });
      }
      return;
    }
    const readType = cellReader(batch.data.children[n] as Data);
    const readPosition = asciiColumn(batch.data.children[n + 1] as Data);
    for (let i = 0; i < batch.numRows; i++) {
      const op = readType(i) as ChangeType;
      const position = readPosition(i) as string;
      if (op === 'truncate') {
        for (const m of truncate(position)) out.push(m);
        continue;
      }
      const key = renderKey(i);
      const value = op === 'delete' ? null : renderRow(i);
      // Literal keys (HEADERS.op, HEADERS.position): V8 builds this shape fastest.
      const headers = { 'refstream-op': op, 'refstream-position': position };
      out.push({ message: { key, value, headers }, bytes: key.length + (value === null ? 0 : value.length) + RECORD_OVERHEAD, position });
    }
  },
};

const DEBEZIUM_OP: Record<Exclude<Op, 'truncate'>, string> = { snapshot: 'r', insert: 'c', update: 'u', delete: 'd' };

/** Debezium's envelope, schemaless (as with `value.converter.schemas.enable=false`). */
export function debeziumEncoder(tombstones: boolean): RowEncoder {
  return {
    encode(batch, truncate, out) {
      const now = Date.now();
      forEachRow(batch, (p) => truncate(p).forEach((m) => out.push(m)), (view) => {
        const op = DEBEZIUM_OP[view.op as Exclude<Op, 'truncate'>];
        const row = view.row();
        const source =
          `{"connector":"refstream","name":"refstream","table":${JSON.stringify(view.table)},` +
          `"snapshot":"${view.op === 'snapshot'}","position":${view.position === null ? 'null' : JSON.stringify(view.position)},"ts_ms":${now}}`;
        const before = view.op === 'delete' ? row : 'null';
        const after = view.op === 'delete' ? 'null' : row;
        const value = `{"before":${before},"after":${after},"source":${source},"op":"${op}","ts_ms":${now}}`;
        out.push(sized({ key: view.key, value, headers: headersOf(view) }, view.position));
        if (view.op === 'delete' && tombstones) out.push(sized({ key: view.key, value: null, headers: headersOf(view) }, view.position));
      });
    },
  };
}

/** Serialises a batch (or just a schema) as an Arrow IPC stream. */
export function toIpc(batches: RecordBatch[], schema: Schema): Buffer {
  const writer = new RecordBatchStreamWriter();
  writer.reset(undefined, schema);
  for (const b of batches) writer.write(b);
  writer.finish();
  return Buffer.from(writer.toUint8Array(true));
}

/**
 * The partition of `key` (its JSON text) in a topic of `partitionCount` partitions: murmur2 of
 * the key bytes, as the Java client's and kafkajs's default partitioners compute it.
 */
export function partitionFor(_topic: string, key: string, partitionCount: number): number {
  return keyPartition(key, partitionCount);
}

/** Arrow IPC values: rows grouped per key partition, one message per partition and batch. */
export function arrowEncoder(topic: string, partitionCount: () => number): RowEncoder {
  return {
    encode(batch, truncate, out) {
      const info = batchInfo(batch);
      const descriptor: TableDescriptor = descriptorOf(batch.schema);
      const builders = new Map<number, BatchBuilder>();
      const lastPosition = new Map<number, string>();
      const readers = batchReaders(batch);
      const n = info.tableColumnCount;
      const keyIndexes = info.primaryKey.map((k) => batch.schema.fields.findIndex((f) => f.name === k));
      const renderKey = keyRenderer(batch.schema.fields, keyIndexes, batchJsonColumns(batch, n));
      const count = partitionCount();
      const emit = (): void => {
        for (const [partition, builder] of builders) {
          const sub = builder.finish();
          const value = toIpc([sub], sub.schema);
          const headers: Record<string, string> = { [HEADERS.kind]: info.kind };
          const position = lastPosition.get(partition);
          if (position !== undefined) headers[HEADERS.position] = position;
          // Keyed by the table so the record is never taken for a row of an upsert topic.
          const message = { key: JSON.stringify({ __refstream_batch: info.table }), value, partition, headers };
          out.push(position === undefined ? { message, bytes: value.length + RECORD_OVERHEAD } : { message, bytes: value.length + RECORD_OVERHEAD, position });
        }
        builders.clear();
        lastPosition.clear();
      };
      for (let i = 0; i < batch.numRows; i++) {
        const type = info.kind === 'changes' ? (readers[n]!(i) as ChangeType) : null;
        const position = info.kind === 'changes' ? (readers[n + 1]!(i) as string) : null;
        if (type === 'truncate') {
          emit(); // rows before the truncate go first
          for (const m of truncate(position!)) out.push(m);
          continue;
        }
        const partition = partitionFor(topic, renderKey(i), count);
        let builder = builders.get(partition);
        if (builder === undefined) {
          builder = new BatchBuilder(descriptor, info.kind);
          builders.set(partition, builder);
        }
        const row = readRow(readers, i, n);
        if (type === null) builder.appendRow(row);
        else {
          builder.appendChange(type, row, position!);
          lastPosition.set(partition, position!);
        }
      }
      emit();
    },
  };
}
