/** Appending change rows (`_change_type`, `_position`) to a change batch builder. */
import { CHANGE_TYPES, type BatchBuilder, type ChangeType } from '../../sdk/batch.js';
import type { FixedDictionaryColumnBuilder, Utf8ColumnBuilder } from '../../sdk/builders.js';

/** Limits of one batch. */
export interface BatchLimits {
  batchRows: number;
  batchBytes: number;
}

/** Completes a row whose table columns were appended: adds its change type and position. */
export function endChangeRow(builder: BatchBuilder, tableColumns: number, type: ChangeType, position: string): void {
  (builder.columns[tableColumns] as FixedDictionaryColumnBuilder).appendIndex(CHANGE_TYPES.indexOf(type));
  (builder.columns[tableColumns + 1] as Utf8ColumnBuilder).appendString(position);
  builder.endRow();
}
