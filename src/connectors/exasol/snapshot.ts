/**
 * The snapshot: rows of the table as Arrow batches, by parallel EXPORT (default) or paged
 * `fetch`. Hidden columns are read along: the row hash in diff mode (building the first diff
 * state) and the watermark in watermark mode (the highest value seen becomes the start of
 * the change stream).
 */
import { BatchBuilder } from '../../sdk/batch.js';
import type {
  BoolColumnBuilder,
  Date32ColumnBuilder,
  Decimal128ColumnBuilder,
  TimestampColumnBuilder,
  Utf8ColumnBuilder,
} from '../../sdk/builders.js';
import { BatchQueue } from './batch-queue.js';
import type { ExasolConnection } from './connection.js';
import { CsvRowReader, type RowHandler } from './csv-reader.js';
import { runParallelExport, type RunningExport } from './export.js';
import { compareWatermarks, keyText, keyValueText, rowHashExpression, selectList, type TableShape } from './table-shape.js';
import { quoteIdent } from './sql.js';
import {
  appendBoolByte,
  appendDateBytes,
  appendDecimalBytes,
  appendTimestampBytes,
  CSV_KIND,
  csvKindOf,
  unitOfPrecision,
} from './types.js';
import { DecimalWatermarkMax, WatermarkMax } from './watermark-max.js';

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

  /**
   * The query: delivered columns, then the hidden one (hash, or a watermark column that is
   * not delivered). A delivered watermark column is not read twice.
   */
  query(): string {
    const { shape, mode } = this.options;
    if (mode === 'watermark' && deliveredWatermark(shape) >= 0) return `SELECT ${selectList(shape)} FROM ${shape.sqlName}`;
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
        const reader = new CsvRowReader(sink.csvFields(), sink.csvRow());
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

/** The index of the watermark column among the delivered columns, -1 when it is not delivered. */
function deliveredWatermark(shape: TableShape): number {
  const name = shape.watermark?.column.name;
  return name === undefined ? -1 : shape.columns.findIndex((c) => c.name === name);
}

/** Turns rows (CSV fields or JSON values) into snapshot batches and findings. */
class RowSink {
  private readonly builder: BatchBuilder;
  private readonly keyParts: string[];
  /** Watermark mode, CSV: the highest watermark of this sink's rows. */
  private readonly watermarkMax: WatermarkMax | undefined;
  /** Watermark mode, CSV, a delivered DECIMAL watermark: its maximum, from the finished batches' column `decimalMaxAt`. */
  private decimalMax: DecimalWatermarkMax | undefined;
  private decimalMaxAt = -1;

  constructor(
    private readonly options: SnapshotOptions,
    private readonly queue: BatchQueue,
    private readonly findings: SnapshotFindings,
  ) {
    this.builder = new BatchBuilder(options.shape.descriptor, 'snapshot');
    this.keyParts = options.shape.keyIndexes.map(() => '');
    this.watermarkMax = options.mode === 'watermark' ? new WatermarkMax(options.shape.watermark!.column.type) : undefined;
  }

  /** The handler of the EXPORT's CSV rows: delivered columns, then the hidden one if any. */
  csvRow(): RowHandler {
    const { shape, mode } = this.options;
    const n = shape.columns.length;
    const columns = this.builder.columns.slice(0, n);
    const codecs = shape.codecs;
    const kinds = Uint8Array.from(shape.columns, csvKindOf);
    const scales = Int32Array.from(shape.columns, (c) => (c.type.kind === 'DECIMAL' ? c.type.scale : 0));
    const units = Int32Array.from(shape.columns, (c) => (c.type.kind === 'TIMESTAMP' ? unitOfPrecision(c.type.precision) : 0));
    const max = this.watermarkMax;
    const watermarkAt = max ? deliveredWatermark(shape) : -1;
    if (watermarkAt >= 0 && kinds[watermarkAt] === CSV_KIND.decimal) {
      // a delivered DECIMAL watermark: its maximum is taken from each finished batch instead
      this.decimalMax = new DecimalWatermarkMax(shape.columns[watermarkAt]!.type, scales[watermarkAt]!);
      this.decimalMaxAt = watermarkAt;
    }
    /** The field the watermark is read from per row: a delivered column, or the hidden one after them. */
    const watermarkField = max && !this.decimalMax ? (watermarkAt >= 0 ? watermarkAt : n) : -1;
    const diff = mode === 'diff';
    const last = this.csvFields() - 1;
    return (buf, view, starts, ends, nulls) => {
      for (let f = 0; f < n; f++) {
        const col = columns[f]!;
        if (nulls[f] === 1) {
          col.appendNull();
          continue;
        }
        const s = starts[f]!;
        const e = ends[f]!;
        // literal labels make a jump table; `satisfies` keeps them equal to CSV_KIND
        switch (kinds[f]!) {
          case 1 satisfies typeof CSV_KIND.bytes:
            (col as Utf8ColumnBuilder).appendBytesFrom(view, s, e);
            break;
          case 2 satisfies typeof CSV_KIND.decimal:
            appendDecimalBytes(col as Decimal128ColumnBuilder, buf, s, e, scales[f]!);
            break;
          case 3 satisfies typeof CSV_KIND.timestamp:
            appendTimestampBytes(col as TimestampColumnBuilder, buf, s, e, units[f]!);
            break;
          case 4 satisfies typeof CSV_KIND.bool:
            appendBoolByte(col as BoolColumnBuilder, buf, s);
            break;
          case 5 satisfies typeof CSV_KIND.date:
            appendDateBytes(col as Date32ColumnBuilder, buf, s, e);
            break;
          default:
            codecs[f]!.appendCsv(col, buf, s, e);
        }
      }
      if (watermarkField >= 0 && nulls[watermarkField] === 0) max!.offer(buf, starts[watermarkField]!, ends[watermarkField]!);
      if (diff) {
        const text = (f: number) => (nulls[f] === 1 ? null : Buffer.from(buf.buffer, buf.byteOffset + starts[f]!, ends[f]! - starts[f]!));
        shape.keyIndexes.forEach((ci, k) => {
          const bytes = text(ci);
          this.keyParts[k] = bytes === null ? '' : keyValueText(shape.columns[ci]!.type, bytes.toString('utf8'));
        });
        this.extra(text(n)?.toString('latin1') ?? null);
      }
      this.endRow(ends[last]! - starts[0]! + 2);
    };
  }

  /** Fields per CSV row: the delivered columns and the hidden one, if the query reads one. */
  csvFields(): number {
    const { shape, mode } = this.options;
    return shape.columns.length + (mode === 'watermark' && deliveredWatermark(shape) >= 0 ? 0 : 1);
  }

  appendJsonRow(data: unknown[][], r: number): void {
    const { shape, mode } = this.options;
    const n = shape.columns.length;
    for (let i = 0; i < n; i++) shape.codecs[i]!.appendJson(this.builder.columns[i]!, data[i]![r] ?? null);
    if (mode === 'diff') shape.keyIndexes.forEach((ci, k) => (this.keyParts[k] = keyValueText(shape.columns[ci]!.type, data[ci]![r])));
    const watermarkAt = mode === 'watermark' ? deliveredWatermark(shape) : -1;
    const extra = data[watermarkAt >= 0 ? watermarkAt : n]![r];
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

  /**
   * Ends a row of `size` input bytes. Summing the builders' sizes costs more than a row, so it
   * is read only once the input since the last reading may have filled the batch: a value
   * takes at most 17 bytes in Arrow for its 1 CSV byte (a NULL decimal: the separator), so
   * after 1/32 of the remaining bytes the batch has grown by at most about half of what remained.
   */
  endRow(size = Infinity): void {
    this.builder.endRow();
    this.inputSinceCheck += size;
    if (this.builder.rows >= this.options.batchRows || (this.inputSinceCheck >= this.inputBudget && this.reachedBytes()))
      this.finishBatch();
  }

  private inputSinceCheck = 0;
  private inputBudget = 0;

  private reachedBytes(): boolean {
    const bytes = this.builder.byteLength;
    this.inputSinceCheck = 0;
    this.inputBudget = Math.max(4096, (this.options.batchBytes - bytes) / 32);
    return bytes >= this.options.batchBytes;
  }

  private finishBatch(): void {
    const batch = this.builder.finish();
    if (this.decimalMax) this.decimalMax.scan(batch.getChildAt(this.decimalMaxAt)!.data[0] as never);
    this.queue.push(batch);
  }

  flush(): void {
    if (this.builder.rows > 0) this.finishBatch();
    for (const max of [this.watermarkMax?.result(), this.decimalMax?.result()]) if (max !== null && max !== undefined) this.extra(max);
  }
}
