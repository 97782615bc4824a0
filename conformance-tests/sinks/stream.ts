/**
 * The logical stream a sink check delivers: snapshot starts, snapshot batches, change batches
 * (optionally with an added column) as Arrow batches of the standard test table, and the
 * suite's own model of what the destination must hold afterwards (a plain fold by key,
 * independent of the SDK's ReferenceTable).
 */
import type { RecordBatch } from 'apache-arrow';
import { Utf8 } from 'apache-arrow';
import { BatchBuilder, column, formatPosition, type ChangeType, type TableDescriptor } from '../../src/sdk/batch.js';
import { testTableDescriptor } from '../targets/test-table-descriptor.js';
import { canonicalTestRow, type CanonicalRow } from '../test-table.js';
import type { TestRow } from '../types.js';

/** The column a schema-change step adds (nullable text, at the end of the table). */
export const ADDED_COLUMN = 'extra';

/** A test row, with a value for the added column once the stream has it. */
export type StreamRow = TestRow & { extra?: string | null };

/** One change of a change batch. */
export type StreamChange = { type: 'insert' | 'update'; row: StreamRow } | { type: 'delete'; id: bigint } | { type: 'truncate' };

/** One call the runner makes on a sink. */
export type Step =
  | { kind: 'snapshot-start'; restart: boolean }
  | { kind: 'snapshot'; rows: StreamRow[]; batch: RecordBatch }
  | { kind: 'snapshot-complete' }
  | { kind: 'changes'; changes: Array<StreamChange & { position: string }>; withAddedColumn: boolean; batch: RecordBatch };

/** A canonical row of the test table plus the added column (absent until the stream adds it). */
export type ExpectedRow = CanonicalRow & { extra?: string | null };

const TABLE = 'conformance.sink_test';

function descriptor(withAddedColumn: boolean): TableDescriptor {
  const base = testTableDescriptor(TABLE);
  if (!withAddedColumn) return base;
  return { ...base, fields: [...base.fields, column(ADDED_COLUMN, new Utf8(), true, 'text')] };
}

function values(row: StreamRow, withAddedColumn: boolean): unknown[] {
  const v: unknown[] = [row.id, row.name, row.amount, row.updated_at, row.active, row.note];
  if (withAddedColumn) v.push(row.extra ?? null);
  return v;
}

/**
 * Builds the steps of a stream. Change positions increase across the whole stream (as one
 * source's would), so a replayed batch carries the positions it had the first time.
 */
export class StreamBuilder {
  readonly steps: Step[] = [];
  private position = 0;
  private added = false;

  snapshotStart(restart = false): this {
    this.steps.push({ kind: 'snapshot-start', restart });
    return this;
  }

  snapshot(rows: StreamRow[]): this {
    const builder = new BatchBuilder(descriptor(this.added), 'snapshot');
    for (const row of rows) builder.appendRow(values(row, this.added));
    this.steps.push({ kind: 'snapshot', rows, batch: builder.finish() });
    return this;
  }

  snapshotComplete(): this {
    this.steps.push({ kind: 'snapshot-complete' });
    return this;
  }

  /** A change batch; from the first call with `addColumn` on, batches carry the added column. */
  changes(changes: StreamChange[], addColumn = false): this {
    if (addColumn) this.added = true;
    const builder = new BatchBuilder(descriptor(this.added), 'changes');
    const stamped = changes.map((change) => ({ ...change, position: formatPosition(++this.position) }));
    for (const change of stamped) {
      const type: ChangeType = change.type;
      const rowValues =
        change.type === 'truncate'
          ? null
          : change.type === 'delete'
            ? [change.id, null, null, null, null, null, ...(this.added ? [null] : [])]
            : values(change.row, this.added);
      builder.appendChange(type, rowValues, change.position);
    }
    this.steps.push({ kind: 'changes', changes: stamped, withAddedColumn: this.added, batch: builder.finish() });
    return this;
  }

  /** A snapshot (start, batches of `batchRows`, complete) of `rows`. */
  fullSnapshot(rows: StreamRow[], batchRows = rows.length || 1, restart = false): this {
    this.snapshotStart(restart);
    for (let i = 0; i < rows.length; i += batchRows) this.snapshot(rows.slice(i, i + batchRows));
    return this.snapshotComplete();
  }
}

/** The canonical form of a stream row; `withAddedColumn` adds the `extra` column (null when unset). */
export function expectedRow(row: StreamRow, withAddedColumn: boolean): ExpectedRow {
  const canonical: ExpectedRow = canonicalTestRow(row);
  if (withAddedColumn) canonical.extra = row.extra ?? null;
  return canonical;
}

/** What the destination must hold after `steps`: snapshot starts clear, changes fold by key, truncate clears. */
export class ExpectedTable {
  readonly rows = new Map<string, ExpectedRow>();
  /** True once a batch carried the added column: every row then has it (null when never set). */
  hasAddedColumn = false;

  apply(step: Step): void {
    switch (step.kind) {
      case 'snapshot-start':
        this.rows.clear();
        return;
      case 'snapshot-complete':
        return;
      case 'snapshot':
        for (const row of step.rows) this.rows.set(row.id.toString(), expectedRow(row, this.hasAddedColumn));
        return;
      case 'changes':
        if (step.withAddedColumn && !this.hasAddedColumn) {
          this.hasAddedColumn = true;
          for (const row of this.rows.values()) row.extra = null;
        }
        for (const change of step.changes) {
          if (change.type === 'truncate') this.rows.clear();
          else if (change.type === 'delete') this.rows.delete(change.id.toString());
          else this.rows.set(change.row.id.toString(), expectedRow(change.row, this.hasAddedColumn));
        }
    }
  }

  static of(steps: readonly Step[]): ExpectedTable {
    const table = new ExpectedTable();
    for (const step of steps) table.apply(step);
    return table;
  }
}

/** A short description of a step for failure messages: `change batch 4 (3 rows, positions …)`. */
export function describeStep(steps: readonly Step[], index: number): string {
  const step = steps[index];
  if (!step) return `step ${index}`;
  const n = `step ${index + 1} of ${steps.length}`;
  switch (step.kind) {
    case 'snapshot-start':
      return `${n} (snapshotStart({ restart: ${step.restart} }))`;
    case 'snapshot-complete':
      return `${n} (snapshotComplete())`;
    case 'snapshot':
      return `${n} (snapshot batch of ${step.rows.length} rows)`;
    case 'changes': {
      const first = step.changes[0]?.position;
      const last = step.changes.at(-1)?.position;
      return `${n} (change batch of ${step.changes.length} rows, _position ${first}…${last})`;
    }
  }
}
