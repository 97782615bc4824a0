import type { Data, Field, RecordBatch } from 'apache-arrow';
import { CHANGE_TYPE_COLUMN, METADATA, POSITION_COLUMN, batchInfo } from '../sdk/batch.js';
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
  op: 'snapshot' | 'insert' | 'update' | 'delete' | 'truncate' | 'schema';
  /** Primary key columns (null for truncate). */
  key: Record<string, unknown> | null;
  /** The row (null for delete and truncate). */
  row: Record<string, unknown> | null;
  /** `_position` of a change (null for snapshot rows and snapshot-start markers). */
  position: string | null;
  /**
   * `schema` lines only, written where the table's columns change (before the first row with the
   * new columns): every column with its stable identity (`id`, e.g. PostgreSQL's attnum, when
   * the source has one) and source type, so a reader can rename or drop the fields of the rows
   * it already folded.
   */
  columns?: Array<{ name: string; id: string | null; type: string | null }>;
  /** `schema` lines only: the columns of the rows before it (`null` when this process did not know them). */
  previous?: Array<{ name: string; id: string | null; type: string | null }> | null;
  /** `schema` lines only: the key columns. */
  primaryKey?: string[];
}

const OP_PREFIX: Record<Exclude<JsonlRecord['op'], 'schema'>, Buffer> = {
  snapshot: Buffer.from('{"op":"snapshot","key":'),
  insert: Buffer.from('{"op":"insert","key":'),
  update: Buffer.from('{"op":"update","key":'),
  delete: Buffer.from('{"op":"delete","key":'),
  truncate: Buffer.from('{"op":"truncate","key":'),
};
const ROW_PREFIX = Buffer.from(',"row":');
const POSITION_PREFIX = Buffer.from(',"position":');
const LINE_END = Buffer.from('}\n');

/** The table columns of a batch as `schema` lines list them. */
function columnsOf(fields: Field[]): NonNullable<JsonlRecord['columns']> {
  return fields
    .filter((f) => f.name !== CHANGE_TYPE_COLUMN && f.name !== POSITION_COLUMN)
    .map((f) => ({ name: f.name, id: f.metadata.get(METADATA.columnId) ?? null, type: f.metadata.get(METADATA.sourceType) ?? null }));
}
const NULL = Buffer.from('null');

/**
 * Writes one JSON object per row: `{"op","key","row","position"}` (docs/sinks), values
 * rendered losslessly (int64 and decimals as strings, timestamps ISO-8601 with every digit).
 * Each snapshot start writes a `truncate` line with a null position, so a consumer folding
 * the file never keeps rows of an earlier snapshot attempt. Where the table's columns change
 * (schema evolution), a `schema` line lists the new and the previous columns with their
 * identities.
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
  /**
   * The columns of the last rows in the file (JSON of {@link columnsOf}), to tell where they
   * change; `null` while unknown (a new file, or a checkpoint of an older version).
   */
  private columns: string | null = null;

  constructor(options: JsonlSinkOptions) {
    this.output = new Output(options.output, options.append ?? false);
    this.name = `jsonl:${this.output.label}`;
  }

  /**
   * `{ bytes, columns }`: the file's durable length and the columns of its last rows, or `null`
   * for outputs that are not regular files.
   */
  checkpointState(): JsonValue | null {
    const bytes = this.output.durableLength;
    if (bytes === null) return null;
    return this.columns === null ? { bytes } : { bytes, columns: this.columns };
  }

  async restore(state: JsonValue | null): Promise<void> {
    await this.output.resume(state === null ? null : committedBytes(this.name, state));
    const columns = state !== null && typeof state === 'object' && !Array.isArray(state) ? state.columns : undefined;
    this.columns = typeof columns === 'string' ? columns : null;
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
    const columns = columnsOf(fields);
    const columnsText = JSON.stringify(columns);
    if (this.columns !== null && this.columns !== columnsText) {
      const previous = JSON.parse(this.columns) as JsonlRecord['columns'];
      const line: JsonlRecord = { op: 'schema', key: null, row: null, position: null, columns, previous, primaryKey: info.primaryKey };
      out.bytes(Buffer.from(JSON.stringify(line) + '\n'));
    }
    this.columns = columnsText;
    for (let i = 0; i < batch.numRows; i++) {
      const op = (readType === null ? 'snapshot' : readType(i)) as keyof typeof OP_PREFIX;
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
