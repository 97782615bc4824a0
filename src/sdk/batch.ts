/**
 * Batch conventions (docs/concepts.md#batch-conventions): schema metadata, change columns, and builders that
 * produce snapshot and change batches with them.
 */
import { Field, RecordBatch, Schema, Struct, makeData, type DataType } from 'apache-arrow';
import { builderFor, FixedDictionaryColumnBuilder, Utf8ColumnBuilder, type ColumnBuilder } from './builders.js';

/** Schema and field metadata keys. */
export const METADATA = {
  table: 'refstream.table',
  primaryKey: 'refstream.primary_key',
  kind: 'refstream.kind',
  sourceType: 'refstream.source_type',
  /**
   * A column's stable identity in its table (PostgreSQL: the attnum), so that a rename is told
   * from a drop and an add (see schema-change.ts).
   */
  columnId: 'refstream.column_id',
} as const;

/** Name of the change-type column of change batches. */
export const CHANGE_TYPE_COLUMN = '_change_type';
/** Name of the position column of change batches. */
export const POSITION_COLUMN = '_position';
/** Values of `_change_type`, in dictionary order. */
export const CHANGE_TYPES = ['insert', 'update', 'delete', 'truncate'] as const;
export type ChangeType = (typeof CHANGE_TYPES)[number];
export type BatchKind = 'snapshot' | 'changes';

/** Dictionary id of `_change_type` in IPC streams. */
const CHANGE_TYPE_DICTIONARY_ID = 0;

/** A table's shape: qualified name, key columns, and its columns as Arrow fields. */
export interface TableDescriptor {
  /** Qualified name, e.g. `public.customers`. */
  readonly table: string;
  /** Primary key column names, in key order. */
  readonly primaryKey: readonly string[];
  /** Table columns in table order (metadata `refstream.source_type` recommended). */
  readonly fields: readonly Field[];
}

/** Creates a table column field with its source type and stable identity in the field metadata. */
export function column(name: string, type: DataType, nullable: boolean, sourceType?: string, columnId?: string | number): Field {
  const metadata = new Map<string, string>();
  if (sourceType !== undefined) metadata.set(METADATA.sourceType, sourceType);
  if (columnId !== undefined) metadata.set(METADATA.columnId, String(columnId));
  return new Field(name, type, nullable, metadata);
}

function schemaMetadata(descriptor: TableDescriptor, kind: BatchKind): Map<string, string> {
  return new Map([
    [METADATA.table, descriptor.table],
    [METADATA.primaryKey, JSON.stringify(descriptor.primaryKey)],
    [METADATA.kind, kind],
  ]);
}

/** The schema of snapshot batches: the table's columns. */
export function snapshotSchema(descriptor: TableDescriptor): Schema {
  return new Schema([...descriptor.fields], schemaMetadata(descriptor, 'snapshot'));
}

/**
 * The schema of change batches: the table's columns, `_change_type`, `_position`.
 * Every table column is nullable here: `delete` rows carry only key values and `truncate`
 * rows carry none (the source's nullability stays in the snapshot schema).
 */
export function changeSchema(descriptor: TableDescriptor): Schema {
  const changeType = new FixedDictionaryColumnBuilder(CHANGE_TYPES, CHANGE_TYPE_DICTIONARY_ID).type;
  return new Schema(
    [
      ...descriptor.fields.map((f) => (f.nullable ? f : f.clone({ nullable: true }))),
      new Field(CHANGE_TYPE_COLUMN, changeType, false),
      new Field(POSITION_COLUMN, new Utf8ColumnBuilder().type, false),
    ],
    schemaMetadata(descriptor, 'changes'),
  );
}

/** Checks that a descriptor is usable (key columns exist, no reserved names). */
export function validateDescriptor(descriptor: TableDescriptor): void {
  const names = new Set(descriptor.fields.map((f) => f.name));
  if (descriptor.primaryKey.length === 0) throw new TypeError(`table ${descriptor.table} has no primary key columns`);
  for (const key of descriptor.primaryKey) {
    if (!names.has(key)) throw new TypeError(`primary key column ${key} is not a column of ${descriptor.table}`);
  }
  for (const reserved of [CHANGE_TYPE_COLUMN, POSITION_COLUMN]) {
    if (names.has(reserved)) throw new TypeError(`column name ${reserved} is reserved by refstream (table ${descriptor.table})`);
  }
}

/**
 * Accumulates rows into a batch. Connectors either use `appendRow` (JS values) or write the
 * `columns` builders directly and call `endRow()`.
 */
export class BatchBuilder {
  readonly schema: Schema;
  readonly columns: ColumnBuilder[];
  rows = 0;

  constructor(
    readonly descriptor: TableDescriptor,
    readonly kind: BatchKind,
  ) {
    this.schema = kind === 'snapshot' ? snapshotSchema(descriptor) : changeSchema(descriptor);
    this.columns = descriptor.fields.map((f) => builderFor(f.type));
    if (kind === 'changes') {
      this.columns.push(new FixedDictionaryColumnBuilder(CHANGE_TYPES, CHANGE_TYPE_DICTIONARY_ID), new Utf8ColumnBuilder());
    }
  }

  /** Bytes buffered so far (compare with `batchBytes`). */
  get byteLength(): number {
    let total = 0;
    for (const c of this.columns) total += c.byteLength;
    return total;
  }

  /** Appends one snapshot row given as JS values in table column order. */
  appendRow(values: readonly unknown[]): void {
    const n = this.descriptor.fields.length;
    for (let i = 0; i < n; i++) this.columns[i]!.appendValue(values[i]);
    this.rows++;
  }

  /**
   * Appends one change row. `values` are in table column order; for `delete` rows only key
   * columns need values, for `truncate` rows none.
   */
  appendChange(type: ChangeType, values: readonly unknown[] | null, position: string): void {
    if (this.kind !== 'changes') throw new TypeError('appendChange needs a changes batch builder');
    const n = this.descriptor.fields.length;
    for (let i = 0; i < n; i++) {
      const v = values === null ? null : values[i];
      this.columns[i]!.appendValue(v);
    }
    (this.columns[n] as FixedDictionaryColumnBuilder).appendIndex(CHANGE_TYPES.indexOf(type));
    (this.columns[n + 1] as Utf8ColumnBuilder).appendString(position);
    this.rows++;
  }

  /** Counts a row whose column values were appended to `columns` directly. */
  endRow(): void {
    this.rows++;
  }

  /** Builds the batch and resets the builder. */
  finish(): RecordBatch {
    const children = this.columns.map((c) => c.finish());
    const length = this.rows;
    this.rows = 0;
    const data = makeData({ type: new Struct(this.schema.fields), length, nullCount: 0, children });
    return new RecordBatch(this.schema, data);
  }
}

/**
 * A snapshot batch's rows as `insert` change rows of the same table, at `position(i)`: the
 * table columns are shared, not copied (a table re-seeds itself inside its change stream).
 */
export function insertsFromSnapshot(batch: RecordBatch, position: (row: number) => string): RecordBatch {
  const descriptor = descriptorOf(batch.schema);
  const schema = changeSchema(descriptor);
  const types = new FixedDictionaryColumnBuilder(CHANGE_TYPES, CHANGE_TYPE_DICTIONARY_ID);
  const positions = new Utf8ColumnBuilder();
  const insert = CHANGE_TYPES.indexOf('insert');
  for (let i = 0; i < batch.numRows; i++) {
    types.appendIndex(insert);
    positions.appendString(position(i));
  }
  const children = [...batch.data.children, types.finish(), positions.finish()];
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: batch.numRows, nullCount: 0, children }));
}

/** True for an Arrow RecordBatch from any copy of apache-arrow (duck-typed, no instanceof). */
export function isRecordBatch(value: unknown): value is RecordBatch {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.numRows === 'number' && typeof v.schema === 'object' && v.schema !== null && typeof v.getChildAt === 'function';
}

/** What a batch says about itself through its metadata. */
export interface BatchInfo {
  table: string;
  primaryKey: string[];
  kind: BatchKind;
  /** Number of table columns (change batches have two more). */
  tableColumnCount: number;
}

/** Reads the refstream metadata of a batch; throws a TypeError naming what is missing. */
export function batchInfo(batch: RecordBatch | Schema): BatchInfo {
  const schema = 'fields' in batch ? (batch as Schema) : (batch as RecordBatch).schema;
  const md = schema.metadata;
  const table = md.get(METADATA.table);
  const pkText = md.get(METADATA.primaryKey);
  const kind = md.get(METADATA.kind);
  if (table === undefined || pkText === undefined || (kind !== 'snapshot' && kind !== 'changes')) {
    throw new TypeError(`batch lacks refstream metadata (${METADATA.table}, ${METADATA.primaryKey}, ${METADATA.kind})`);
  }
  let primaryKey: string[];
  try {
    primaryKey = JSON.parse(pkText) as string[];
  } catch {
    throw new TypeError(`batch metadata ${METADATA.primaryKey} is not a JSON array: ${pkText}`);
  }
  const tableColumnCount = kind === 'changes' ? schema.fields.length - 2 : schema.fields.length;
  return { table, primaryKey, kind, tableColumnCount };
}

/** The table columns of a batch schema (without `_change_type` and `_position`). */
export function tableFields(schema: Schema): Field[] {
  return schema.fields.filter((f) => f.name !== CHANGE_TYPE_COLUMN && f.name !== POSITION_COLUMN);
}

/** The descriptor a batch schema describes. */
export function descriptorOf(schema: Schema): TableDescriptor {
  const info = batchInfo(schema);
  return { table: info.table, primaryKey: info.primaryKey, fields: tableFields(schema) };
}

/**
 * Formats a position from two unsigned integers so that string order equals numeric order:
 * 16 hex digits of `major` (e.g. a commit LSN or sequence number), `/`, 8 hex digits of
 * `minor` (e.g. index within the transaction).
 */
export function formatPosition(major: bigint | number, minor: number = 0): string {
  return `${BigInt(major).toString(16).padStart(16, '0')}/${minor.toString(16).padStart(8, '0')}`;
}

/** Inverse of {@link formatPosition}. */
export function parsePositionString(position: string): { major: bigint; minor: number } {
  const m = /^([0-9a-f]{16})\/([0-9a-f]{8})$/.exec(position);
  if (!m) throw new TypeError(`not a refstream position: ${position}`);
  return { major: BigInt(`0x${m[1]}`), minor: parseInt(m[2]!, 16) };
}

/**
 * Structural equality of two table schemas: names, types and source types. Nullability is
 * not compared, because change batches relax it for non-key columns.
 */
export function sameTableSchema(a: readonly Field[], b: readonly Field[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.name !== y.name || String(x.type) !== String(y.type)) return false;
    if (x.metadata.get(METADATA.sourceType) !== y.metadata.get(METADATA.sourceType)) return false;
    if (x.metadata.get(METADATA.columnId) !== y.metadata.get(METADATA.columnId)) return false;
  }
  return true;
}
