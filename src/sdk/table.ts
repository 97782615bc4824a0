/**
 * ReferenceTable: keyed in-memory state folded from snapshot and change batches — what an
 * in-process stream processor joins against.
 */
import type { DataType, Field, RecordBatch } from 'apache-arrow';
import {
  BatchBuilder,
  CHANGE_TYPE_COLUMN,
  POSITION_COLUMN,
  batchInfo,
  descriptorOf,
  sameTableSchema,
  type TableDescriptor,
} from './batch.js';
import { dateToUnit } from './builders.js';
import { batchReaders, cellKey, toJsonValue, toUserValue, type Cell } from './values.js';
import { diffColumns, widenCell } from './schema-change.js';

/** One change to the table's state, as seen by `on('change', …)` listeners. */
export interface TableChange {
  /** `snapshot` for rows loaded by a snapshot batch. */
  type: 'snapshot' | 'insert' | 'update' | 'delete' | 'truncate';
  /** The key as `get` accepts it (scalar for one key column, object for composite keys); absent for truncate. */
  key?: unknown;
  /** The row after the change (absent for delete and truncate). */
  row?: Record<string, unknown>;
  /** The row before the change, when there was one. */
  previous?: Record<string, unknown>;
  /** `_position` of the change (absent for snapshot rows). */
  position?: string;
}

/** What `apply` did with a batch. */
export interface ApplyResult {
  /** Rows that changed the state. */
  applied: number;
  /** Rows ignored as replays (position not newer than the key's last applied position). */
  ignored: number;
}

/** Options of {@link ReferenceTable}. */
export interface ReferenceTableOptions {
  /** Only accept batches of this qualified table name. */
  table?: string;
}

type Listener = (change: TableChange) => void;

const KEY_SEPARATOR = '\u0000';

/**
 * Keyed state built from batches: snapshot rows upsert, change rows insert/update/delete,
 * truncate clears. Each key remembers the position of its last change (deletes included),
 * so replayed or out-of-order older changes are ignored and a state folded from
 * at-least-once delivery is exactly the source's state.
 */
export class ReferenceTable {
  private descriptor: TableDescriptor | null = null;
  private keyIndexes: number[] = [];
  private readonly rowsByKey = new Map<string, Cell[]>();
  private readonly positions = new Map<string, string>();
  private truncatedAt: string | null = null;
  private readonly listeners = new Set<Listener>();
  private highestPosition: string | null = null;

  constructor(private readonly options: ReferenceTableOptions = {}) {}

  /** Number of rows. */
  get size(): number {
    return this.rowsByKey.size;
  }

  /** Qualified table name, once a batch was applied. */
  get table(): string | undefined {
    return this.descriptor?.table ?? this.options.table;
  }

  /** Primary key column names, once a batch was applied. */
  get primaryKey(): readonly string[] {
    return this.descriptor?.primaryKey ?? [];
  }

  /** Table columns, once a batch was applied. */
  get fields(): readonly Field[] {
    return this.descriptor?.fields ?? [];
  }

  /** The highest `_position` applied so far. */
  get lastPosition(): string | null {
    return this.highestPosition;
  }

  /** Subscribes to changes. */
  on(event: 'change', listener: Listener): this {
    if (event !== 'change') throw new TypeError(`unknown event ${String(event)}`);
    this.listeners.add(listener);
    return this;
  }

  /** Unsubscribes a listener added with `on`. */
  off(event: 'change', listener: Listener): this {
    if (event === 'change') this.listeners.delete(listener);
    return this;
  }

  /** Folds one snapshot or change batch into the state. */
  apply(batch: RecordBatch): ApplyResult {
    const info = batchInfo(batch);
    if (this.options.table !== undefined && info.table !== this.options.table) {
      throw new TypeError(`batch of table ${info.table} applied to the ReferenceTable of ${this.options.table}`);
    }
    const readers = batchReaders(batch);
    const columnCount = info.tableColumnCount;
    const typeReader = info.kind === 'changes' ? readers[batch.schema.fields.findIndex((f) => f.name === CHANGE_TYPE_COLUMN)]! : null;
    // a re-seed (truncate, then rows of a schema the old rows cannot take) starts from nothing
    this.adoptSchema(descriptorOf(batch.schema), batch.numRows > 0 && typeReader?.(0) === 'truncate');
    const positionReader = info.kind === 'changes' ? readers[batch.schema.fields.findIndex((f) => f.name === POSITION_COLUMN)]! : null;
    const notify = this.listeners.size > 0;
    let applied = 0;
    let ignored = 0;
    for (let i = 0; i < batch.numRows; i++) {
      const row = new Array<Cell>(columnCount);
      for (let c = 0; c < columnCount; c++) row[c] = readers[c]!(i);
      if (typeReader === null) {
        if (this.applySnapshotRow(row, notify)) applied++;
        else ignored++;
        continue;
      }
      const type = typeReader(i) as TableChange['type'];
      const position = positionReader!(i) as string;
      if (this.applyChange(type, row, position, notify)) applied++;
      else ignored++;
    }
    return { applied, ignored };
  }

  /** The row with this key (scalar for a single key column, `{ col: value }` for composite keys). */
  get(key: unknown): Record<string, unknown> | undefined {
    const cells = this.rowsByKey.get(this.lookupKey(key));
    return cells === undefined ? undefined : this.toUserRow(cells);
  }

  /** True when a row with this key exists. */
  has(key: unknown): boolean {
    return this.rowsByKey.has(this.lookupKey(key));
  }

  /** Every row, as user values. */
  *rows(): IterableIterator<Record<string, unknown>> {
    for (const cells of this.rowsByKey.values()) yield this.toUserRow(cells);
  }

  /** Every row as lossless JSON values (int64/decimals as strings, timestamps ISO-8601), sorted by key. */
  toJSON(): Record<string, unknown>[] {
    const fields = this.fields;
    return [...this.rowsByKey.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, cells]) => Object.fromEntries(fields.map((f, i) => [f.name, toJsonValue(f, cells[i]!)])));
  }

  /** The state as one snapshot batch (exact values, table column order). */
  toArrow(): RecordBatch {
    if (this.descriptor === null) throw new TypeError('ReferenceTable.toArrow(): no batch applied yet, so the schema is unknown');
    const builder = new BatchBuilder(this.descriptor, 'snapshot');
    for (const cells of this.rowsByKey.values()) builder.appendRow(cells);
    return builder.finish();
  }

  /** Removes every row and every remembered position. */
  clear(): void {
    this.rowsByKey.clear();
    this.positions.clear();
    this.truncatedAt = null;
  }

  private applySnapshotRow(row: Cell[], notify: boolean): boolean {
    const key = this.keyOf(row);
    // A key already changed by the stream is newer than any snapshot row.
    if (this.positions.has(key)) return false;
    const previous = this.rowsByKey.get(key);
    this.rowsByKey.set(key, row);
    if (notify)
      this.emit({
        type: 'snapshot',
        key: this.userKey(row),
        row: this.toUserRow(row),
        ...(previous ? { previous: this.toUserRow(previous) } : {}),
      });
    return true;
  }

  private applyChange(type: TableChange['type'], row: Cell[], position: string, notify: boolean): boolean {
    if (this.truncatedAt !== null && position <= this.truncatedAt) return false;
    if (type === 'truncate') {
      this.rowsByKey.clear();
      this.positions.clear();
      this.truncatedAt = position;
      this.notePosition(position);
      if (notify) this.emit({ type: 'truncate', position });
      return true;
    }
    const key = this.keyOf(row);
    const last = this.positions.get(key);
    if (last !== undefined && position <= last) return false;
    this.positions.set(key, position);
    this.notePosition(position);
    const previous = this.rowsByKey.get(key);
    if (type === 'delete') {
      if (previous === undefined) return true;
      this.rowsByKey.delete(key);
      if (notify) this.emit({ type, key: this.userKey(previous), previous: this.toUserRow(previous), position });
      return true;
    }
    this.rowsByKey.set(key, row);
    if (notify) {
      this.emit({
        type: previous === undefined ? 'insert' : 'update',
        key: this.userKey(row),
        row: this.toUserRow(row),
        ...(previous ? { previous: this.toUserRow(previous) } : {}),
        position,
      });
    }
    return true;
  }

  private notePosition(position: string): void {
    if (this.highestPosition === null || position > this.highestPosition) this.highestPosition = position;
  }

  private adoptSchema(next: TableDescriptor, truncating: boolean): void {
    const current = this.descriptor;
    if (current !== null && sameTableSchema(current.fields, next.fields) && sameKey(current.primaryKey, next.primaryKey)) return;
    if (current !== null && this.rowsByKey.size > 0 && !truncating) {
      // Schema evolution: kept columns (by identity, else name) keep their values in place,
      // renamed or widened; added columns start as null; dropped ones go.
      const changes = diffColumns(current.fields, next.fields);
      const incompatible = changes.find((c) => c.kind === 'kept' && c.type === 'incompatible');
      if (incompatible || !sameKey(current.primaryKey, next.primaryKey)) {
        throw new TypeError(
          `${next.table} changed ${incompatible ? `the type of column ${incompatible.kind === 'kept' ? incompatible.from.name : ''}` : 'its primary key'} while it holds rows: a source delivers such a change only after a truncate (re-snapshot)`,
        );
      }
      const sources = next.fields.map(() => -1);
      for (const c of changes) if (c.kind === 'kept') sources[c.toIndex] = c.fromIndex;
      for (const [key, cells] of this.rowsByKey)
        this.rowsByKey.set(
          key,
          sources.map((m, i) => (m < 0 ? null : widenCell(cells[m]!, current.fields[m]!.type, next.fields[i]!.type))),
        );
    }
    this.descriptor = next;
    this.keyIndexes = next.primaryKey.map((name) => next.fields.findIndex((f) => f.name === name));
    if (this.keyIndexes.some((i) => i < 0))
      throw new TypeError(`primary key ${next.primaryKey.join(', ')} not among the columns of ${next.table}`);
  }

  private keyOf(row: Cell[]): string {
    const idx = this.keyIndexes;
    if (idx.length === 1) return cellKey(row[idx[0]!]!);
    let key = '';
    for (let k = 0; k < idx.length; k++) key += (k ? KEY_SEPARATOR : '') + cellKey(row[idx[k]!]!);
    return key;
  }

  private userKey(row: Cell[]): unknown {
    const fields = this.fields;
    if (this.keyIndexes.length === 1) return toUserValue(fields[this.keyIndexes[0]!]!, row[this.keyIndexes[0]!]!);
    return Object.fromEntries(this.keyIndexes.map((i) => [fields[i]!.name, toUserValue(fields[i]!, row[i]!)]));
  }

  private lookupKey(key: unknown): string {
    if (this.descriptor === null) return '';
    const fields = this.fields;
    if (this.keyIndexes.length === 1) return cellKey(keyCell(fields[this.keyIndexes[0]!]!, key));
    if (typeof key !== 'object' || key === null) {
      throw new TypeError(`table ${this.table} has a composite key (${this.primaryKey.join(', ')}): pass an object with those properties`);
    }
    return this.keyIndexes.map((i) => cellKey(keyCell(fields[i]!, (key as Record<string, unknown>)[fields[i]!.name]))).join(KEY_SEPARATOR);
  }

  private toUserRow(cells: Cell[]): Record<string, unknown> {
    const fields = this.fields;
    const row: Record<string, unknown> = {};
    for (let i = 0; i < fields.length; i++) row[fields[i]!.name] = toUserValue(fields[i]!, cells[i]!);
    return row;
  }

  private emit(change: TableChange): void {
    for (const listener of this.listeners) listener(change);
  }
}

function sameKey(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

/** Converts a user-supplied key value into the cell representation of `field`. */
function keyCell(field: Field, value: unknown): Cell {
  if (value === null || value === undefined) return null;
  const type = field.type as DataType & Record<string, unknown>;
  switch (type.typeId) {
    case 2:
      return typeof value === 'bigint' || typeof value === 'number' ? value : BigInt(String(value));
    case 10:
      if (value instanceof Date) return dateToUnit(value, type.unit as never);
      return BigInt(value as bigint);
    case 8:
      return value instanceof Date ? Math.floor(value.getTime() / 86_400_000) : (value as number);
    case 15:
      return value instanceof Uint8Array ? value : Uint8Array.from(Buffer.from(String(value).replace(/-/g, ''), 'hex'));
    default:
      return value as Cell;
  }
}
