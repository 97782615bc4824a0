/**
 * Reads delivered batches back into canonical rows, with the exact cell readers of the SDK,
 * so comparisons never go through a lossy conversion.
 */
import { TimeUnit, type DataType, type Field, type RecordBatch } from 'apache-arrow';
import { CHANGE_TYPE_COLUMN, METADATA, POSITION_COLUMN, isRecordBatch, type BatchKind } from '../src/sdk/batch.js';
import { batchReaders, cellKey, toJsonValue, type Cell } from '../src/sdk/values.js';
import { CheckFailure, describe } from './assert.js';
import type { ExtraColumn } from './types.js';
import { canonicalDecimal, TEST_COLUMNS, type CanonicalRow } from './test-table.js';

/** One row of a delivered batch. */
export interface DecodedRow {
  /** Canonical primary key text (`cellKey` of the key columns, joined by `|`). */
  key: string;
  row: CanonicalRow;
  /** `_change_type` of change rows. */
  changeType?: string;
  /** `_position` of change rows. */
  position?: string;
}

/** A delivered batch read back. */
export interface DecodedBatch {
  kind: BatchKind;
  table: string;
  primaryKey: string[];
  rows: DecodedRow[];
  batch: RecordBatch;
}

const MICROS_PER: Record<number, bigint> = { [TimeUnit.SECOND]: 1_000_000n, [TimeUnit.MILLISECOND]: 1_000n, [TimeUnit.MICROSECOND]: 1n };

/** The canonical value of one cell (see {@link CanonicalRow}). */
export function canonicalCell(field: Field, cell: Cell): string | boolean | null {
  if (cell === null) return null;
  const type = field.type as DataType & { unit?: number; scale?: number };
  switch (type.typeId) {
    case 10: {
      // timestamps → microseconds, whatever the unit, so µs and ns sources compare equal
      const value = cell as bigint;
      if (type.unit === TimeUnit.NANOSECOND) return (value / 1000n).toString();
      return (value * (MICROS_PER[type.unit as number] ?? 1n)).toString();
    }
    case 7:
      return canonicalDecimal(String(cell));
    case 6:
      return cell as boolean;
    case 5:
      return cell as string;
  }
  const json = toJsonValue(field, cell);
  if (typeof json === 'boolean') return json;
  return typeof json === 'string' ? canonicalDecimalIfAmount(field, json) : JSON.stringify(json);
}

function canonicalDecimalIfAmount(field: Field, text: string): string {
  return field.name === 'amount' ? canonicalDecimal(text) : text;
}

/**
 * Reads a batch. Throws a {@link CheckFailure} when it is not a RecordBatch or lacks the
 * refstream metadata, since nothing else can be checked then.
 */
export function decodeBatch(value: unknown, where: string): DecodedBatch {
  if (!isRecordBatch(value)) throw new CheckFailure(`${where} returned ${describe(value)}, not an Arrow RecordBatch or null`);
  const batch = value;
  const md = batch.schema.metadata;
  const table = md.get(METADATA.table);
  const pkText = md.get(METADATA.primaryKey);
  const kind = md.get(METADATA.kind);
  if (table === undefined || pkText === undefined || (kind !== 'snapshot' && kind !== 'changes')) {
    throw new CheckFailure(
      `${where}: batch schema lacks refstream metadata (${METADATA.table}, ${METADATA.primaryKey}, ${METADATA.kind} = snapshot|changes)`,
    );
  }
  let primaryKey: string[];
  try {
    primaryKey = JSON.parse(pkText) as string[];
    if (!Array.isArray(primaryKey)) throw new Error('not an array');
  } catch {
    throw new CheckFailure(`${where}: ${METADATA.primaryKey} is not a JSON array of column names: ${pkText}`);
  }
  const fields = batch.schema.fields;
  const readers = batchReaders(batch);
  const index = new Map(fields.map((f, i) => [f.name, i]));
  const keyIdx = primaryKey.map((k) => {
    const i = index.get(k);
    if (i === undefined) throw new CheckFailure(`${where}: primary key column ${k} is not in the batch`);
    return i;
  });
  const changeIdx = index.get(CHANGE_TYPE_COLUMN);
  const positionIdx = index.get(POSITION_COLUMN);
  const rows: DecodedRow[] = [];
  for (let r = 0; r < batch.numRows; r++) {
    const row = {} as Record<string, string | boolean | null>;
    for (const column of TEST_COLUMNS) {
      const i = index.get(column);
      row[column] = i === undefined ? null : canonicalCell(fields[i]!, readers[i]!(r));
    }
    const decoded: DecodedRow = { key: keyIdx.map((i) => cellKey(readers[i]!(r))).join('|'), row: row as CanonicalRow };
    if (changeIdx !== undefined) decoded.changeType = readers[changeIdx]!(r) as string;
    if (positionIdx !== undefined) decoded.position = readers[positionIdx]!(r) as string;
    rows.push(decoded);
  }
  return { kind, table, primaryKey, rows, batch };
}

/**
 * Fails unless every row of `decoded` that carries values (snapshot, insert, update) holds the
 * target's value in each extra column: a wrong, missing or placeholder value there is a source bug.
 */
export function checkExtraColumns(decoded: DecodedBatch, extras: readonly ExtraColumn[], where: string): void {
  if (extras.length === 0) return;
  const fields = decoded.batch.schema.fields;
  const readers = batchReaders(decoded.batch);
  for (const extra of extras) {
    const i = fields.findIndex((f) => f.name === extra.name);
    if (i < 0) throw new CheckFailure(`${where}: the target's column ${extra.name} is not in the batch`);
    decoded.rows.forEach((row, r) => {
      if (row.changeType === 'delete' || row.changeType === 'truncate') return;
      const value = readers[i]!(r);
      const expected = extra.valueOf(row.key);
      if (value !== expected) {
        const shown =
          typeof value === 'string' && value.length > 40 ? `${value.slice(0, 40)}…(${value.length} chars)` : JSON.stringify(value);
        throw new CheckFailure(
          `${where}: row ${row.key} (${row.changeType ?? 'snapshot'}) has ${extra.name} = ${shown}, expected ${expected.length} chars`,
        );
      }
    });
  }
}
