import type { Field, RecordBatch } from 'apache-arrow';
import { CHANGE_TYPE_COLUMN, POSITION_COLUMN, batchInfo } from '../sdk/batch.js';
import type { Sink, SnapshotStartInfo } from '../sdk/sink.js';
import { batchReaders, toJsonValue } from '../sdk/values.js';
import { Output, type OutputTarget } from './output.js';

/** Options of {@link JsonlSink}. */
export interface JsonlSinkOptions {
  /** File path, `-` for stdout, or a Writable. */
  output: OutputTarget;
  /** Append to an existing file instead of replacing it (default false). */
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

/**
 * Writes one JSON object per row: `{"op","key","row","position"}` (DESIGN §5), values
 * rendered losslessly (int64 and decimals as strings, timestamps ISO-8601 with every digit).
 * Each snapshot start writes a `truncate` line with a null position, so a consumer folding
 * the file never keeps rows of an earlier snapshot attempt.
 */
export class JsonlSink implements Sink {
  readonly name: string;
  private readonly output: Output;

  constructor(options: JsonlSinkOptions) {
    this.output = new Output(options.output, options.append ?? false);
    this.name = `jsonl:${this.output.label}`;
  }

  async snapshotStart(_info: SnapshotStartInfo): Promise<void> {
    const marker: JsonlRecord = { op: 'truncate', key: null, row: null, position: null };
    await this.output.write(JSON.stringify(marker) + '\n');
  }

  async write(batch: RecordBatch): Promise<void> {
    const info = batchInfo(batch);
    const fields = batch.schema.fields as Field[];
    const readers = batchReaders(batch);
    const keyIndexes = info.primaryKey.map((k) => fields.findIndex((f) => f.name === k));
    const typeIndex = fields.findIndex((f) => f.name === CHANGE_TYPE_COLUMN);
    const positionIndex = fields.findIndex((f) => f.name === POSITION_COLUMN);
    const n = info.tableColumnCount;
    let text = '';
    for (let i = 0; i < batch.numRows; i++) {
      const op = (typeIndex >= 0 ? readers[typeIndex]!(i) : 'snapshot') as JsonlRecord['op'];
      const position = positionIndex >= 0 ? (readers[positionIndex]!(i) as string) : null;
      let key: Record<string, unknown> | null = null;
      let row: Record<string, unknown> | null = null;
      if (op !== 'truncate') {
        key = {};
        for (const k of keyIndexes) key[fields[k]!.name] = toJsonValue(fields[k]!, readers[k]!(i));
      }
      if (op !== 'truncate' && op !== 'delete') {
        row = {};
        for (let c = 0; c < n; c++) row[fields[c]!.name] = toJsonValue(fields[c]!, readers[c]!(i));
      }
      const record: JsonlRecord = { op, key, row, position };
      text += JSON.stringify(record) + '\n';
      if (text.length > 1 << 20) {
        await this.output.write(text);
        text = '';
      }
    }
    if (text) await this.output.write(text);
  }

  async flush(): Promise<void> {
    await this.output.flush();
  }

  async close(): Promise<void> {
    await this.output.close();
  }
}
