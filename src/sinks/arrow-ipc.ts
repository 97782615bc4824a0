import { RecordBatchStreamWriter, type RecordBatch, type Schema } from 'apache-arrow';
import type { Sink } from '../sdk/sink.js';
import { Output, type OutputTarget } from './output.js';

/** Options of {@link ArrowIpcSink}. */
export interface ArrowIpcSinkOptions {
  /** File path, `-` for stdout, or a Writable. */
  output: OutputTarget;
  /** Append to an existing file instead of replacing it (default false). */
  append?: boolean;
}

/**
 * Writes batches as Arrow IPC streams. An IPC stream has one schema, so whenever the schema
 * changes (snapshot → changes, or an added column) the current stream is ended and a new one
 * begins: the output is a sequence of concatenated IPC streams, each batch keeping its exact
 * schema and `refstream.*` metadata. `RecordBatchReader.readAll()` reads them all.
 */
export class ArrowIpcSink implements Sink {
  readonly name: string;
  private readonly output: Output;
  private writer: RecordBatchStreamWriter | null = null;
  private schema: Schema | null = null;

  constructor(options: ArrowIpcSinkOptions) {
    this.output = new Output(options.output, options.append ?? false);
    this.name = `arrow:${this.output.label}`;
  }

  async write(batch: RecordBatch): Promise<void> {
    if (this.writer === null || this.schema === null || !sameSchema(this.schema, batch.schema)) {
      this.endStream();
      this.writer = new RecordBatchStreamWriter({ autoDestroy: false });
      this.schema = batch.schema;
    }
    this.writer.write(batch);
    await this.drainWriter();
  }

  async flush(): Promise<void> {
    await this.drainWriter();
    await this.output.flush();
  }

  async close(): Promise<void> {
    this.endStream();
    await this.output.close();
  }

  private endStream(): void {
    if (this.writer === null) return;
    this.writer.finish();
    const bytes = this.writer.toUint8Array(true);
    if (bytes.length > 0) this.output.stream.write(bytes);
    this.writer = null;
    this.schema = null;
  }

  /** Moves the bytes the writer has produced so far to the output. */
  private async drainWriter(): Promise<void> {
    if (this.writer === null) return;
    // The writer buffers encoded messages in its byte queue; take them without ending the
    // stream so that memory stays bounded by one batch (apache-arrow has no public drain).
    const queue = (this.writer as unknown as { _sink?: { _values?: Uint8Array[] } })._sink;
    if (!queue || !Array.isArray(queue._values)) {
      throw new TypeError('unsupported apache-arrow version: RecordBatchStreamWriter internals changed (ArrowIpcSink needs apache-arrow 21.x)');
    }
    const chunks = queue._values.splice(0);
    for (const chunk of chunks) await this.output.write(chunk);
  }
}

function sameSchema(a: Schema, b: Schema): boolean {
  if (a === b) return true;
  if (a.fields.length !== b.fields.length) return false;
  for (let i = 0; i < a.fields.length; i++) {
    const x = a.fields[i]!;
    const y = b.fields[i]!;
    if (x.name !== y.name || String(x.type) !== String(y.type) || x.nullable !== y.nullable) return false;
  }
  const ma = [...a.metadata.entries()].sort().join();
  const mb = [...b.metadata.entries()].sort().join();
  return ma === mb;
}
