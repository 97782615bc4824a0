/**
 * Rewriting delivered batches row by row, so faults can corrupt values, keys and change
 * types while keeping valid Arrow batches.
 */
import type { RecordBatch } from 'apache-arrow';
import { BatchBuilder, batchInfo, CHANGE_TYPE_COLUMN, descriptorOf, POSITION_COLUMN, type ChangeType } from '../../src/sdk/batch.js';
import { batchReaders, type Cell } from '../../src/sdk/values.js';

/** One row of a batch: table values in column order, plus change columns for change batches. */
export interface RowParts {
  values: Cell[];
  changeType?: ChangeType;
  position?: string;
}

/** Reads every row of a batch. */
export function rowsOf(batch: RecordBatch): RowParts[] {
  const readers = batchReaders(batch);
  const names = batch.schema.fields.map((f) => f.name);
  const typeIdx = names.indexOf(CHANGE_TYPE_COLUMN);
  const posIdx = names.indexOf(POSITION_COLUMN);
  const tableCount = batchInfo(batch).tableColumnCount;
  const rows: RowParts[] = [];
  for (let r = 0; r < batch.numRows; r++) {
    const values = Array.from({ length: tableCount }, (_, c) => readers[c]!(r));
    rows.push(
      typeIdx < 0 ? { values } : { values, changeType: readers[typeIdx]!(r) as ChangeType, position: readers[posIdx]!(r) as string },
    );
  }
  return rows;
}

/** Builds a batch of the same table and kind from rows. */
export function buildLike(batch: RecordBatch, rows: RowParts[]): RecordBatch {
  const kind = batchInfo(batch).kind;
  const builder = new BatchBuilder(descriptorOf(batch.schema), kind);
  for (const row of rows) {
    if (kind === 'snapshot') builder.appendRow(row.values);
    else builder.appendChange(row.changeType!, row.values, row.position!);
  }
  return builder.finish();
}

/** Rewrites the rows of a batch. */
export function rewrite(batch: RecordBatch, transform: (rows: RowParts[]) => RowParts[]): RecordBatch {
  return buildLike(batch, transform(rowsOf(batch)));
}
