import { open } from 'node:fs/promises';
import { RecordBatchReader, RecordBatchStreamWriter, Schema, type RecordBatch } from 'apache-arrow';
import { BatchBuilder, descriptorOf } from '../sdk/batch.js';
import type { JsonValue } from '../sdk/checkpoint.js';
import type { Sink, SnapshotStartInfo } from '../sdk/sink.js';
import { Output, committedBytes, type OutputTarget } from './output.js';

/** Options of {@link ArrowIpcSink}. */
export interface ArrowIpcSinkOptions {
  /** File path, `-` for stdout, or a Writable. */
  output: OutputTarget;
  /**
   * On a fresh start (no checkpoint), append to an existing file instead of replacing it
   * (default false). A resumed run always continues the file at its committed length.
   */
  append?: boolean;
}

/** Schema metadata of the first stream after a snapshot start: its value is unique per snapshot start. */
export const SNAPSHOT_START_METADATA = 'refstream.snapshot_start';
/** Schema metadata beside {@link SNAPSHOT_START_METADATA}: `true` when the snapshot replaces an earlier attempt's rows. */
export const SNAPSHOT_RESTART_METADATA = 'refstream.snapshot_restart';

/** The end-of-stream marker of the IPC stream format (continuation token, zero length). */
const END_OF_STREAM = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0);

/**
 * Writes batches as Arrow IPC streams. An IPC stream has one schema, so whenever the schema
 * changes (snapshot → changes, or an added column) the current stream is ended and a new one
 * begins: the output is a sequence of concatenated IPC streams, each batch keeping its exact
 * schema and `refstream.*` metadata. `RecordBatchReader.readAll()` reads them all; pyarrow
 * reads them by opening a new stream reader where the previous one ended.
 *
 * A snapshot start ends the current stream; the next stream's schema carries
 * `refstream.snapshot_start` (unique per start) and `refstream.snapshot_restart`. A reader
 * drops everything before the last such stream.
 *
 * Exactly-once on a regular file: the checkpoint state is the durable length, which always
 * ends at a complete IPC message, and whether a stream is open there. A resumed run cuts the
 * file back to that length, ends the open stream with an end-of-stream marker, and continues
 * with a new stream, so the file reads as before plus each replayed batch once.
 */
export class ArrowIpcSink implements Sink {
  readonly name: string;
  private readonly output: Output;
  private writer: RecordBatchStreamWriter | null = null;
  /** Schema of the batches of the current stream (compared to decide when a new stream begins). */
  private schema: Schema | null = null;
  /** Set by `snapshotStart`: the metadata the next stream's schema carries. */
  private pendingStart: Record<string, string> | null = null;
  /** State of the last flush. */
  private flushedStreamOpen = false;
  private flushedPendingStart: Record<string, string> | null = null;
  private starts = 0;
  /** Schema of the last batch written by this instance (types the empty batch of an empty snapshot). */
  private lastSchema: Schema | null = null;

  constructor(options: ArrowIpcSinkOptions) {
    this.output = new Output(options.output, options.append ?? false);
    this.name = `arrow:${this.output.label}`;
  }

  async snapshotStart(info: SnapshotStartInfo): Promise<void> {
    await this.endStream();
    this.pendingStart = {
      [SNAPSHOT_START_METADATA]: `${new Date().toISOString()}#${process.pid}.${++this.starts}`,
      [SNAPSHOT_RESTART_METADATA]: String(info.restart),
    };
  }

  async write(batch: RecordBatch): Promise<void> {
    if (this.writer === null || this.schema === null || this.pendingStart !== null || !sameSchema(this.schema, batch.schema)) {
      await this.endStream();
      this.writer = new RecordBatchStreamWriter({ autoDestroy: false });
      this.schema = batch.schema;
      if (this.pendingStart !== null) {
        // The writer keeps this schema (metadata included) for the stream; batches match by fields.
        const metadata = new Map([...batch.schema.metadata, ...Object.entries(this.pendingStart)]);
        this.writer.reset(undefined, new Schema(batch.schema.fields, metadata));
        this.pendingStart = null;
      }
    }
    this.writer.write(batch);
    this.lastSchema = batch.schema;
    await this.drainWriter();
  }

  /**
   * An empty snapshot still replaces what the file held: its start is marked by a snapshot
   * stream with no rows (readers see the marker on that empty batch).
   */
  async snapshotComplete(): Promise<void> {
    if (this.pendingStart === null) return;
    // A resumed file written by an earlier process: its first stream's schema types the marker.
    const schema = this.lastSchema ?? (await this.firstSchemaOfFile());
    if (schema === null) return; // nothing was ever written here, so nothing to replace
    await this.write(new BatchBuilder(descriptorOf(schema), 'snapshot').finish());
  }

  /** The schema at the start of the output file, or `null` when there is none to read. */
  private async firstSchemaOfFile(): Promise<Schema | null> {
    const path = this.output.filePath;
    if (path === null) return null;
    const handle = await open(path, 'r').catch(() => null);
    if (handle === null) return null;
    try {
      // A schema message is small; the first MiB holds it (a partial batch after it is never read).
      const buffer = Buffer.alloc(1 << 20);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      if (bytesRead === 0) return null;
      const reader = RecordBatchReader.from(buffer.subarray(0, bytesRead));
      return reader.open().schema ?? null;
    } catch {
      return null;
    } finally {
      await handle.close();
    }
  }

  async flush(): Promise<void> {
    await this.drainWriter();
    await this.output.flush();
    this.flushedStreamOpen = this.writer !== null;
    this.flushedPendingStart = this.pendingStart;
  }

  /**
   * `{ bytes, streamOpen, pendingStart }` of the last flush, or `null` for outputs that are not
   * regular files.
   */
  checkpointState(): JsonValue | null {
    const bytes = this.output.durableLength;
    if (bytes === null) return null;
    return { bytes, streamOpen: this.flushedStreamOpen, pendingStart: this.flushedPendingStart };
  }

  async restore(state: JsonValue | null): Promise<void> {
    if (state === null) {
      const wasResumable = this.output.resumable;
      await this.output.resume(null);
      // A stream this process left open at the cut is continued by a new one.
      if (wasResumable || this.output.resumable) this.dropWriter();
      return;
    }
    await this.output.resume(committedBytes(this.name, state));
    if (!this.output.resumable) return;
    this.dropWriter();
    const fields = state as { streamOpen?: unknown; pendingStart?: unknown };
    // The committed bytes end inside a stream: close it, so the next batch starts a new one.
    if (fields.streamOpen === true) await this.output.write(END_OF_STREAM);
    this.pendingStart = isStringRecord(fields.pendingStart) ? fields.pendingStart : null;
  }

  async close(): Promise<void> {
    await this.endStream();
    await this.output.close();
  }

  private dropWriter(): void {
    this.writer = null;
    this.schema = null;
    this.pendingStart = null;
  }

  private async endStream(): Promise<void> {
    if (this.writer === null) return;
    this.writer.finish();
    const bytes = this.writer.toUint8Array(true);
    this.writer = null;
    this.schema = null;
    if (bytes.length > 0) await this.output.write(bytes);
  }

  /** Moves the bytes the writer has produced so far to the output. */
  private async drainWriter(): Promise<void> {
    if (this.writer === null) return;
    // The writer buffers encoded messages in its byte queue; take them without ending the
    // stream so that memory stays bounded by one batch (apache-arrow has no public drain).
    const queue = (this.writer as unknown as { _sink?: { _values?: Uint8Array[] } })._sink;
    if (!queue || !Array.isArray(queue._values)) {
      throw new TypeError(
        'unsupported apache-arrow version: RecordBatchStreamWriter internals changed (ArrowIpcSink needs apache-arrow 21.x)',
      );
    }
    const chunks = queue._values.splice(0);
    for (const chunk of chunks) await this.output.write(chunk);
  }
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

function sameSchema(a: Schema, b: Schema): boolean {
  if (a === b) return true;
  if (a.fields.length !== b.fields.length) return false;
  for (let i = 0; i < a.fields.length; i++) {
    const x = a.fields[i]!;
    const y = b.fields[i]!;
    if (x.name !== y.name || String(x.type) !== String(y.type) || x.nullable !== y.nullable) return false;
    // a changed source type or column identity (varchar(20) → text) is a new schema too
    if ([...x.metadata.entries()].sort().join() !== [...y.metadata.entries()].sort().join()) return false;
  }
  const ma = [...a.metadata.entries()].sort().join();
  const mb = [...b.metadata.entries()].sort().join();
  return ma === mb;
}
