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
import { RecordBatchStreamWriter, type Data, type RecordBatch, type Schema } from 'apache-arrow';
import { BatchBuilder, batchInfo, descriptorOf, type BatchInfo, type ChangeType, type TableDescriptor } from '../../sdk/batch.js';
import { batchReaders, cellReader, readRow } from '../../sdk/values.js';
import { ByteOut } from '../../sinks/json/byte-out.js';
import { keyAndRowWriters, type ObjectWriter } from '../../sinks/json/cells.js';
import { HEADERS } from './records.js';
import type { OutRecord } from './produce.js';
import type { SenderCall, SizedMessage } from './sender.js';
import { keyPartition, murmur2, writeVarint } from './wire.js';

/** Value formats of {@link KafkaSink}. */
export type KafkaValueFormat = 'json' | 'debezium' | 'arrow';

/** What a row is: a snapshot row or a change. */
export type Op = 'snapshot' | ChangeType;

/**
 * Where encoders put records: the sender (which also takes records rendered into bytes, the
 * fast path), or anything collecting messages, such as an array.
 */
export type MessageSink = Pick<SenderCall, 'push'> & Partial<SenderCall>;

/**
 * Converts the rows of a batch into messages, in row order, handing each to `out` as soon
 * as it is made (so no per-record object outlives its row). It starts at row `from` and stops
 * at the first `truncate` row, whose index it returns (`batch.numRows` when there is none): a
 * truncate is a control record, written by the sink once the rows before it are in the topic.
 */
export interface RowEncoder {
  encode(batch: RecordBatch, out: MessageSink, from: number): number;
}

/** Renders the key and row JSON of a batch's rows into a shared byte buffer. */
class RowRenderer {
  readonly info: BatchInfo;
  private readonly writeKey: ObjectWriter;
  private readonly writeRow: ObjectWriter;

  constructor(
    batch: RecordBatch,
    readonly out: ByteOut,
  ) {
    this.info = batchInfo(batch);
    const writers = keyAndRowWriters(batch, this.info.primaryKey, this.info.tableColumnCount);
    this.writeKey = writers.key;
    this.writeRow = writers.row;
  }

  key(row: number): void {
    this.writeKey(row, this.out);
  }

  rowInto(row: number, out: ByteOut): void {
    this.writeRow(row, out);
  }

  keyText(row: number): string {
    this.out.pos = 0;
    this.writeKey(row, this.out);
    return this.out.toString();
  }

  rowText(row: number): string {
    this.out.pos = 0;
    this.writeRow(row, this.out);
    return this.out.toString();
  }
}

/** The `_position` (ASCII) of change rows, copied without decoding. */
function asciiRange(data: Data): { bytes: Buffer; start(row: number): number; end(row: number): number; text(row: number): string } {
  const offsets = data.valueOffsets as Int32Array;
  const values = data.values as Uint8Array;
  const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  return {
    bytes,
    start: (row) => offsets[row]!,
    end: (row) => offsets[row + 1]!,
    text: (row) => bytes.toString('latin1', offsets[row]!, offsets[row + 1]!),
  };
}

/** The `_change_type` and `_position` columns of a change batch (null for snapshots). */
export function changeColumns(
  batch: RecordBatch,
  info: BatchInfo,
): { op(row: number): ChangeType; position: ReturnType<typeof asciiRange> } | null {
  if (info.kind !== 'changes') return null;
  const n = info.tableColumnCount;
  const readType = cellReader(batch.data.children[n] as Data);
  return { op: (row) => readType(row) as ChangeType, position: asciiRange(batch.data.children[n + 1] as Data) };
}

interface RowView {
  table: string;
  op: Op;
  key: string;
  position: string | null;
  /** The row's JSON (for deletes: key columns set, the rest null). */
  row: () => string;
  /** The row's JSON with only the key columns set (what a Debezium `before` of an update can say). */
  keyRow: () => string;
}

/** A row object of `columns` with the key's values in the key columns and null elsewhere. */
function keyOnlyRow(columns: readonly string[], keyJson: string): string {
  const key = JSON.parse(keyJson) as Record<string, unknown>;
  return `{${columns.map((c) => `${JSON.stringify(c)}:${Object.hasOwn(key, c) ? JSON.stringify(key[c]) : 'null'}`).join(',')}}`;
}

/** Walks a batch's rows in order from `from`, up to the first truncate; returns where it stopped. */
function forEachRow(batch: RecordBatch, from: number, visit: (view: RowView) => void): number {
  const render = new RowRenderer(batch, new ByteOut());
  const changes = changeColumns(batch, render.info);
  const columns = batch.schema.fields.slice(0, render.info.tableColumnCount).map((f) => f.name);
  for (let i = from; i < batch.numRows; i++) {
    const op = changes === null ? 'snapshot' : changes.op(i);
    if (op === 'truncate') return i;
    const position = changes === null ? null : changes.position.text(i);
    const key = render.keyText(i);
    visit({ table: render.info.table, op, key, position, row: () => render.rowText(i), keyRow: () => keyOnlyRow(columns, key) });
  }
  return batch.numRows;
}

/** The `refstream-op` and (change rows) `refstream-position` headers of a row. */
export function headersOf(view: Pick<RowView, 'op' | 'position'>): Record<string, string> {
  return view.position === null ? { [HEADERS.op]: view.op } : { [HEADERS.op]: view.op, [HEADERS.position]: view.position };
}

/** A message with the position it carries (change rows), for the sender. */
export function sized(message: OutRecord, position: string | null): SizedMessage {
  return position === null ? { message } : { message, position };
}

/** A header (name and value) in wire form: varint lengths and UTF-8 bytes. */
function wireHeader(name: string, value: string | null): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const valueBytes = value === null ? Buffer.alloc(0) : Buffer.from(value, 'utf8');
  const buf = Buffer.alloc(10 + nameBytes.length + valueBytes.length);
  let o = writeVarint(buf, 0, nameBytes.length);
  o += nameBytes.copy(buf, o);
  if (value !== null) {
    o = writeVarint(buf, o, valueBytes.length);
    o += valueBytes.copy(buf, o);
  }
  return buf.subarray(0, o);
}

/** The `refstream-op` header of each op, and the name part of `refstream-position`. */
const OP_HEADERS: Record<Exclude<Op, 'truncate'>, Buffer> = {
  snapshot: wireHeader(HEADERS.op, 'snapshot'),
  insert: wireHeader(HEADERS.op, 'insert'),
  update: wireHeader(HEADERS.op, 'update'),
  delete: wireHeader(HEADERS.op, 'delete'),
};
const POSITION_HEADER_NAME = wireHeader(HEADERS.position, null);

/**
 * The upsert format: key → row JSON, delete → tombstone, headers `refstream-op` and (change
 * rows) `refstream-position`. Keys are rendered into a scratch buffer (their hash picks the
 * partition); values and headers straight into the partition's record batch when `out` is
 * a sender, else into strings.
 */
export function jsonEncoder(partitionCount: () => number): RowEncoder {
  const scratch = new ByteOut(4096);
  const text = new ByteOut(4096);
  return {
    encode(batch, out, from) {
      const render = new RowRenderer(batch, scratch);
      const changes = changeColumns(batch, render.info);
      const partitions = partitionCount();
      let i = from;
      for (; i < batch.numRows; i++) {
        const op: Op = changes === null ? 'snapshot' : changes.op(i);
        if (op === 'truncate') break;
        scratch.pos = 0;
        render.key(i);
        const keyLength = scratch.pos;
        const partition = (murmur2(scratch.buf, 0, keyLength) & 0x7fffffff) % partitions;
        const tombstone = op === 'delete';
        if (out.writer === undefined) {
          out.push(messageOf(render, i, op, tombstone, partition, changes?.position.text(i), text));
          continue;
        }
        const writer = out.writer(partition);
        const w = writer.out;
        writer.beginRecord(scratch.buf, keyLength);
        if (!tombstone) render.rowInto(i, w);
        writer.endValue(tombstone);
        // Headers section: count (zigzag varint of 1 or 2), then each header.
        w.ensure(1);
        w.buf[w.pos++] = changes === null ? 2 : 4;
        w.bytes(OP_HEADERS[op]);
        if (changes !== null) {
          const { bytes, start, end } = changes.position;
          const from = start(i);
          const to = end(i);
          w.bytes(POSITION_HEADER_NAME);
          w.ensure(5);
          w.pos = writeVarint(w.buf, w.pos, to - from);
          w.range(bytes, from, to);
        }
        writer.endRecord();
      }
      // Positions ascend within a batch: the last row's is the batch's highest.
      if (changes !== null && i > from && out.notePosition !== undefined) out.notePosition(changes.position.text(i - 1));
      return i;
    },
  };
}

/** One row as a message of strings (for collectors other than the sender). */
function messageOf(
  render: RowRenderer,
  row: number,
  op: Exclude<Op, 'truncate'>,
  tombstone: boolean,
  partition: number,
  position: string | undefined,
  text: ByteOut,
): SizedMessage {
  const key = render.out.toString();
  let value: string | null = null;
  if (!tombstone) {
    text.pos = 0;
    render.rowInto(row, text);
    value = text.toString();
  }
  const headers: Record<string, string> =
    position === undefined ? { [HEADERS.op]: op } : { [HEADERS.op]: op, [HEADERS.position]: position };
  return position === undefined
    ? { message: { key, value, headers, partition } }
    : { message: { key, value, headers, partition }, position };
}

/** Debezium's `op` of each row kind. */
export const DEBEZIUM_OP: Record<Exclude<Op, 'truncate'>, string> = { snapshot: 'r', insert: 'c', update: 'u', delete: 'd' };

/** Debezium's envelope, schemaless (as with `value.converter.schemas.enable=false`). */
export function debeziumEncoder(tombstones: boolean): RowEncoder {
  return {
    encode(batch, out, from) {
      const now = Date.now();
      return forEachRow(batch, from, (view) => {
        const op = DEBEZIUM_OP[view.op as Exclude<Op, 'truncate'>];
        const row = view.row();
        const source =
          `{"connector":"refstream","name":"refstream","table":${JSON.stringify(view.table)},` +
          `"snapshot":"${view.op === 'snapshot'}","position":${view.position === null ? 'null' : JSON.stringify(view.position)},"ts_ms":${now}}`;
        const before = view.op === 'delete' ? row : view.op === 'update' ? view.keyRow() : 'null';
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
export function arrowEncoder(partitionCount: () => number): RowEncoder {
  return {
    encode(batch, out, from) {
      const info = batchInfo(batch);
      const descriptor: TableDescriptor = descriptorOf(batch.schema);
      const builders = new Map<number, BatchBuilder>();
      const lastPosition = new Map<number, string>();
      const readers = batchReaders(batch);
      const n = info.tableColumnCount;
      const render = new RowRenderer(batch, new ByteOut());
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
          out.push(position === undefined ? { message } : { message, position });
        }
        builders.clear();
        lastPosition.clear();
      };
      for (let i = from; i < batch.numRows; i++) {
        const type = info.kind === 'changes' ? (readers[n]!(i) as ChangeType) : null;
        if (type === 'truncate') {
          emit(); // the rows before the truncate
          return i;
        }
        const position = info.kind === 'changes' ? (readers[n + 1]!(i) as string) : null;
        render.out.pos = 0;
        render.key(i);
        const partition = (murmur2(render.out.buf, 0, render.out.pos) & 0x7fffffff) % count;
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
      return batch.numRows;
    },
  };
}
