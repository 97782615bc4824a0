import type { Data, Field, RecordBatch } from 'apache-arrow';
import { CHANGE_TYPE_COLUMN, POSITION_COLUMN, batchInfo } from '../sdk/batch.js';
import type { JsonValue } from '../sdk/checkpoint.js';
import type { Sink, SnapshotStartInfo } from '../sdk/sink.js';
import { cellReader } from '../sdk/values.js';
import { ByteOut } from './json/byte-out.js';
import { columnWriter, keyAndRowWriters } from './json/cells.js';
import { Output, committedBytes, type OutputTarget } from './output.js';

/** Options of {@link JsonlSink}. */
export interface JsonlSinkOptions {
  /** File path, `-` for stdout, or a Writable. */
  output: OutputTarget;
  /**
   * On a fresh start (no checkpoint), append to an existing file instead of replacing it
   * (default false). A resumed run always continues the file at its committed length; with
   * `append` it may also continue a file the checkpoint holds no state for (at-least-once).
   */
  append?: boolean;
}

/** One line of the JSON Lines format. */
export interface JsonlRecord {
  op: 'snapshot' | 'insert' | 'update' | 'delete' | 'truncate';
  /** Primary key columns (null for truncate). */
  key: Record<string, unknown> | null;
  /** The row (null for delete and truncate). */
  row: Record<string, unknown> | null;
  /** `_position` of a change (null for snapshot rows and snapshot-start markers). */
  position: string | null;
}

const OP_PREFIX: Record<JsonlRecord['op'], Buffer> = {
  snapshot: Buffer.from('{"op":"snapshot","key":'),
  insert: Buffer.from('{"op":"insert","key":'),
  update: Buffer.from('{"op":"update","key":'),
  delete: Buffer.from('{"op":"delete","key":'),
  truncate: Buffer.from('{"op":"truncate","key":'),
};
const ROW_PREFIX = Buffer.from(',"row":');
const POSITION_PREFIX = Buffer.from(',"position":');
const LINE_END = Buffer.from('}\n');
const NULL = Buffer.from('null');

/**
 * Writes one JSON object per row: `{"op","key","row","position"}` (docs/sinks), values
 * rendered losslessly (int64 and decimals as strings, timestamps ISO-8601 with every digit).
 * Each snapshot start writes a `truncate` line with a null position, so a consumer folding
 * the file never keeps rows of an earlier snapshot attempt.
 *
 * Exactly-once on a regular file: its durable length is the sink's checkpoint state
 * (`{ bytes }`); a resumed run truncates the file to it and appends, so every line is
 * complete and appears once. Stdout, pipes and devices have no state (replays may repeat).
 */
export class JsonlSink implements Sink {
  readonly name: string;
  private readonly output: Output;
  /** Lines are rendered here as bytes, straight from the Arrow buffers (see json/cells.ts). */
  private readonly buffer = new ByteOut(64 * 1024);

  constructor(options: JsonlSinkOptions) {
    this.output = new Output(options.output, options.append ?? false);
    this.name = `jsonl:${this.output.label}`;
  }

  /** `{ bytes }`: the file's durable length, or `null` for outputs that are not regular files. */
  checkpointState(): JsonValue | null {
    const bytes = this.output.durableLength;
    return bytes === null ? null : { bytes };
  }

  async restore(state: JsonValue | null): Promise<void> {
    await this.output.resume(state === null ? null : committedBytes(this.name, state));
  }

  async snapshotStart(_info: SnapshotStartInfo): Promise<void> {
    const marker: JsonlRecord = { op: 'truncate', key: null, row: null, position: null };
    await this.output.write(JSON.stringify(marker) + '\n');
  }

  async write(batch: RecordBatch): Promise<void> {
    const info = batchInfo(batch);
    const fields = batch.schema.fields as Field[];
    const { key: writeKey, row: writeRow } = keyAndRowWriters(batch, info.primaryKey, info.tableColumnCount);
    const typeIndex = fields.findIndex((f) => f.name === CHANGE_TYPE_COLUMN);
    const readType = typeIndex >= 0 ? cellReader(batch.data.children[typeIndex] as Data) : null;
    const positionIndex = fields.findIndex((f) => f.name === POSITION_COLUMN);
    // `_position` is a Utf8 column: its JSON string comes from the same cell writers.
    const writePosition = positionIndex >= 0 ? columnWriter(fields[positionIndex]!, batch.data.children[positionIndex] as Data) : null;
    const out = this.buffer;
    out.pos = 0;
    for (let i = 0; i < batch.numRows; i++) {
      const op = (readType === null ? 'snapshot' : readType(i)) as JsonlRecord['op'];
      out.bytes(OP_PREFIX[op]);
      if (op === 'truncate') out.bytes(NULL);
      else writeKey(i, out);
      out.bytes(ROW_PREFIX);
      if (op === 'truncate' || op === 'delete') out.bytes(NULL);
      else writeRow(i, out);
      out.bytes(POSITION_PREFIX);
      if (writePosition === null) out.bytes(NULL);
      else writePosition(i, out);
      out.bytes(LINE_END);
      if (out.pos > 1 << 20) {
        await this.output.write(Buffer.from(out.buf.subarray(0, out.pos)));
        out.pos = 0;
      }
    }
    if (out.pos > 0) await this.output.write(Buffer.from(out.buf.subarray(0, out.pos)));
    out.pos = 0;
  }

  async flush(): Promise<void> {
    await this.output.flush();
  }

  async close(): Promise<void> {
    await this.output.close();
  }
}
