/**
 * The snapshot: rows of the table as Arrow batches, by parallel EXPORT (default) or paged
 * `fetch`. Hidden columns are read along: the row hash in diff mode (building the first diff
 * state) and the watermark in watermark mode (the highest value seen becomes the start of
 * the change stream).
 */
import { BatchBuilder } from '../../sdk/batch.js';
import type { ColumnBuilder } from '../../sdk/builders.js';
import { BatchQueue } from './batch-queue.js';
import type { ExasolConnection } from './connection.js';
import { CsvRowReader, type FieldHandler } from './csv-reader.js';
import { runParallelExport, type RunningExport } from './export.js';
import { compareWatermarks, keyText, keyValueText, rowHashExpression, selectList, type TableShape } from './table-shape.js';
import { quoteIdent } from './sql.js';

/** What a snapshot run found besides the batches. */
export interface SnapshotFindings {
  /** Diff mode: key text → row hash of every row. */
  state?: Map<string, string>;
  /** Watermark mode: the highest watermark among the rows (null for an empty table). */
  maxWatermark?: string | null;
}

/** Settings of one snapshot run. */
export interface SnapshotOptions {
  shape: TableShape;
  mode: 'watermark' | 'diff';
  batchRows: number;
  batchBytes: number;
  method: 'export' | 'fetch';
  fetchBytes: number;
  /** Nodes for EXPORT tunnels and whether they use TLS. */
  nodes: readonly { host: string; port: number }[];
  tunnelTls: boolean;
}

/** A running snapshot: take batches from `queue`; `findings` is complete once it is drained. */
export class SnapshotRun {
  readonly queue: BatchQueue;
  readonly findings: SnapshotFindings = {};
  private running: RunningExport | undefined;
  private cancelled = false;

  constructor(
    private readonly connection: ExasolConnection,
    private readonly options: SnapshotOptions,
  ) {
    this.queue = new BatchQueue(4, () => this.running?.resume());
    if (options.mode === 'diff') this.findings.state = new Map();
    if (options.mode === 'watermark') this.findings.maxWatermark = null;
  }

  /** The query: delivered columns, then the hidden one (hash or watermark). */
  query(): string {
    const { shape, mode } = this.options;
    const extra = mode === 'diff' ? rowHashExpression(shape) : quoteIdent(shape.watermark!.column.name);
    return `SELECT ${selectList(shape)}, ${extra} AS "RS__EXTRA" FROM ${shape.sqlName}`;
  }

  /** Starts producing; errors surface through the queue. */
  start(): void {
    const run = this.options.method === 'export' ? this.runExport() : this.runFetch();
    run.then(
      () => this.queue.finish(),
      (error: unknown) => this.queue.fail(error),
    );
  }

  cancel(): void {
    this.cancelled = true;
    this.running?.cancel();
    // wakes a fetch producer waiting for room; nobody takes from a cancelled run
    this.queue.fail(new Error('snapshot cancelled'));
  }

  private async runExport(): Promise<void> {
    this.running = await runParallelExport(this.connection, {
      query: this.query(),
      nodes: this.options.nodes,
      tls: this.options.tunnelTls,
      table: this.options.shape.name,
      consumer: () => {
        const sink = new RowSink(this.options, this.queue, this.findings);
        const reader = new CsvRowReader(sink.csvHandlers(), () => sink.endRow());
        return {
          push: (chunk) => {
            reader.push(chunk);
            return this.queue.hasRoom;
          },
          end: () => {
            reader.end();
            sink.flush();
          },
        };
      },
    });
    if (this.cancelled) this.running.cancel();
    await this.running.done;
  }

  private async runFetch(): Promise<void> {
    const sink = new RowSink(this.options, this.queue, this.findings);
    for await (const page of this.connection.query(this.query(), { fetchBytes: this.options.fetchBytes, table: this.options.shape.name })) {
      if (this.cancelled) return;
      for (let r = 0; r < page.numRows; r++) sink.appendJsonRow(page.data, r);
      await this.queue.waitForRoom();
    }
    sink.flush();
  }
}

/** Turns rows (CSV fields or JSON values) into snapshot batches and findings. */
class RowSink {
  private readonly builder: BatchBuilder;
  private readonly keyParts: string[];

  constructor(
    private readonly options: SnapshotOptions,
    private readonly queue: BatchQueue,
    private readonly findings: SnapshotFindings,
  ) {
    this.builder = new BatchBuilder(options.shape.descriptor, 'snapshot');
    this.keyParts = options.shape.keyIndexes.map(() => '');
  }

  csvHandlers(): FieldHandler[] {
    const { shape, mode } = this.options;
    const handlers: FieldHandler[] = shape.columns.map((column, i) => {
      const builder: ColumnBuilder = this.builder.columns[i]!;
      const codec = shape.codecs[i]!;
      const keyPosition = mode === 'diff' ? shape.keyIndexes.indexOf(i) : -1;
      if (keyPosition >= 0) {
        return (buf, s, e, isNull) => {
          if (isNull) builder.appendNull();
          else codec.appendCsv(builder, buf, s, e);
          this.keyParts[keyPosition] = isNull
            ? ''
            : keyValueText(column.type, Buffer.from(buf.buffer, buf.byteOffset + s, e - s).toString('utf8'));
        };
      }
      return (buf, s, e, isNull) => (isNull ? builder.appendNull() : codec.appendCsv(builder, buf, s, e));
    });
    handlers.push((buf, s, e, isNull) => this.extra(isNull ? null : Buffer.from(buf.buffer, buf.byteOffset + s, e - s).toString('latin1')));
    return handlers;
  }

  appendJsonRow(data: unknown[][], r: number): void {
    const { shape, mode } = this.options;
    const n = shape.columns.length;
    for (let i = 0; i < n; i++) shape.codecs[i]!.appendJson(this.builder.columns[i]!, data[i]![r] ?? null);
    if (mode === 'diff') shape.keyIndexes.forEach((ci, k) => (this.keyParts[k] = keyValueText(shape.columns[ci]!.type, data[ci]![r])));
    const extra = data[n]![r];
    this.extra(extra === null || extra === undefined ? null : String(extra));
    this.endRow();
  }

  private extra(text: string | null): void {
    if (this.options.mode === 'diff') {
      this.findings.state!.set(keyText(this.keyParts), text ?? '');
    } else if (text !== null) {
      const type = this.options.shape.watermark!.column.type;
      const max = this.findings.maxWatermark;
      if (max === null || max === undefined || compareWatermarks(type, text, max) > 0)
        this.findings.maxWatermark = keyValueText(type, text);
    }
  }

  endRow(): void {
    this.builder.endRow();
    if (this.builder.rows >= this.options.batchRows || this.builder.byteLength >= this.options.batchBytes)
      this.queue.push(this.builder.finish());
  }

  flush(): void {
    if (this.builder.rows > 0) this.queue.push(this.builder.finish());
  }
}
