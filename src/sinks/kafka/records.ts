/**
 * The record format of refstream topics: keys, values, headers and control records.
 *
 * Keys are the primary key as a JSON object with the key columns in key order (stable bytes,
 * so compaction and partitioning see one key per row). Values are the row as a JSON object
 * in table column order, rendered losslessly by `toJsonValue` (the JSON Lines sink uses the
 * same rendering).
 */
import { TimeUnit, type Data, type DataType, type Field, type RecordBatch } from 'apache-arrow';
import { cellReader, toJsonValue, validityReader, type Cell } from '../../sdk/values.js';

/** Header names written by the sink. */
export const HEADERS = {
  /** `_position` of a change row (absent on snapshot rows). */
  position: 'refstream-position',
  /** `snapshot`, `insert`, `update` or `delete`. */
  op: 'refstream-op',
  /** Present (and only present) on control records: its kind. */
  control: 'refstream-control',
  /** Identifier of a clearing control record (snapshot-start, truncate). */
  marker: 'refstream-marker',
  /** Arrow IPC stream (schema only) describing the table, on `schema` control records. */
  schema: 'refstream-schema',
  /** Qualified table name, on control records. */
  table: 'refstream-table',
  /** `true` on a snapshot-start that repeats an interrupted snapshot. */
  restart: 'refstream-snapshot-restart',
  /** `kind` of an Arrow IPC value (`snapshot` or `changes`). */
  kind: 'refstream-kind',
} as const;

/** Kinds of control records. */
export type ControlKind = 'schema' | 'snapshot-start' | 'snapshot-complete' | 'truncate' | 'watermark';

/** The JSON property that marks a control record's key. */
export const CONTROL_KEY_PROPERTY = '__refstream_control';

/** Key of a control record of `kind`: no primary-key column, so it never collides with a row. */
export function controlKey(kind: ControlKind): string {
  return `{"${CONTROL_KEY_PROPERTY}":"${kind}"}`;
}

/** Renders one cell as JSON text, exactly as `JSON.stringify(toJsonValue(field, cell))`. */
export type CellRenderer = (cell: Cell) => string;

/**
 * A renderer specialised for the field's type. The common types of reference tables get a
 * direct path (these run for every cell of every record); everything else goes through
 * `toJsonValue`. Tests check both agree.
 */
export function cellRenderer(field: Field): CellRenderer {
  const type = field.type as DataType & { bitWidth?: number; unit?: TimeUnit; timezone?: string | null };
  const generic: CellRenderer = (cell) => (cell === null ? 'null' : JSON.stringify(toJsonValue(field, cell)));
  switch (type.typeId) {
    case 2: // Int
      if ((type.bitWidth ?? 32) !== 64) return (cell) => (cell === null ? 'null' : String(cell));
      return (cell) => {
        if (cell === null) return 'null';
        const n = Number(cell as bigint); // number → text is cheaper than bigint → text
        return Number.isSafeInteger(n) ? `"${n}"` : `"${cell as bigint}"`;
      };
    case 5: // Utf8
      return (cell) => (cell === null ? 'null' : JSON.stringify(cell));
    case 6: // Bool
      return (cell) => (cell === null ? 'null' : cell ? 'true' : 'false');
    case 7: // Decimal: the cell is already its exact text
      return (cell) => (cell === null ? 'null' : typeof cell === 'string' ? `"${cell}"` : generic(cell));
    case 10:
      return timestampRenderer(type.unit!, type.timezone != null, generic);
    default:
      return generic;
  }
}

const UNIT_PER_SECOND: Record<number, number> = { [TimeUnit.SECOND]: 1, [TimeUnit.MILLISECOND]: 1e3, [TimeUnit.MICROSECOND]: 1e6, [TimeUnit.NANOSECOND]: 1e9 };
const UNIT_DIGITS: Record<number, number> = { [TimeUnit.SECOND]: 0, [TimeUnit.MILLISECOND]: 3, [TimeUnit.MICROSECOND]: 6, [TimeUnit.NANOSECOND]: 9 };

/** ISO-8601 with every digit of the unit; the date-time part is cached per second. */
function timestampRenderer(unit: TimeUnit, zoned: boolean, generic: CellRenderer): CellRenderer {
  const perSecond = UNIT_PER_SECOND[unit]!;
  const digits = UNIT_DIGITS[unit]!;
  const suffix = zoned ? 'Z"' : '"';
  let cachedSecond = Number.NaN;
  let cachedPrefix = '';
  return (cell) => {
    if (cell === null) return 'null';
    const v = Number(cell as bigint);
    if (!Number.isSafeInteger(v)) return generic(cell);
    const second = Math.floor(v / perSecond);
    if (second !== cachedSecond) {
      const ms = second * 1000;
      if (!(ms >= -62135596800000 && ms <= 253402300799000)) return generic(cell); // outside years 1..9999
      cachedSecond = second;
      cachedPrefix = `"${new Date(ms).toISOString().slice(0, 19)}`;
    }
    if (digits === 0) return cachedPrefix + suffix;
    const fraction = v - second * perSecond;
    return `${cachedPrefix}.${String(fraction).padStart(digits, '0')}${suffix}`;
  };
}

/** Renders one column's cell of a given row as JSON text. */
export type ColumnJson = (row: number) => string;


/**
 * Utf8 straight from the Arrow buffers: text that needs no JSON escaping (printable ASCII
 * without quote or backslash, the common case) is sliced as Latin-1, the fastest decode;
 * anything else is decoded as UTF-8 and escaped by JSON.stringify.
 */
function utf8Json(data: Data): ColumnJson {
  const valid = validityReader(data);
  const offsets = data.valueOffsets as Int32Array;
  const values = data.values as Uint8Array;
  const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  const off = data.offset;
  return (i) => {
    if (!valid(i)) return 'null';
    const start = offsets[i + off]!;
    const end = offsets[i + off + 1]!;
    for (let k = start; k < end; k++) {
      const c = bytes[k]!;
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return JSON.stringify(bytes.toString('utf8', start, end));
    }
    return `"${bytes.toString('latin1', start, end)}"`;
  };
}

/** JSON renderers for the first `count` columns of a batch. */
export function batchJsonColumns(batch: RecordBatch, count: number): ColumnJson[] {
  const out: ColumnJson[] = [];
  for (let c = 0; c < count; c++) {
    const data = batch.data.children[c] as Data;
    const field = batch.schema.fields[c]!;
    if (data.typeId === 5) out.push(utf8Json(data));
    else {
      const read = cellReader(data);
      const render = cellRenderer(field);
      out.push((i) => render(read(i)));
    }
  }
  return out;
}

/** A Utf8 column known to hold ASCII (such as `_position`), read without a UTF-8 decoder. */
export function asciiColumn(data: Data): (row: number) => string {
  const offsets = data.valueOffsets as Int32Array;
  const values = data.values as Uint8Array;
  const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  const off = data.offset;
  return (i) => bytes.toString('latin1', offsets[i + off]!, offsets[i + off + 1]!);
}

/** Renders the JSON text of one row's key: `{"id":"42"}`, key columns in key order. */
export function keyRenderer(fields: readonly Field[], keyIndexes: readonly number[], columns: readonly ColumnJson[]): (row: number) => string {
  const parts = keyIndexes.map((i) => ({ render: columns[i]!, prefix: `${JSON.stringify(fields[i]!.name)}:` }));
  if (parts.length === 1) {
    const { render, prefix } = parts[0]!;
    const open = `{${prefix}`;
    return (row) => `${open}${render(row)}}`;
  }
  return (row) => {
    let text = '{';
    for (let k = 0; k < parts.length; k++) {
      const p = parts[k]!;
      if (k > 0) text += ',';
      text += p.prefix + p.render(row);
    }
    return text + '}';
  };
}

/** Renders a row as a JSON object of its table columns (`count` first columns). */
export function rowRenderer(fields: readonly Field[], count: number, columns: readonly ColumnJson[]): (row: number) => string {
  const prefixes = fields.slice(0, count).map((f, i) => `${i > 0 ? ',' : '{'}${JSON.stringify(f.name)}:`);
  if (count === 0) return () => '{}';
  return (row) => {
    let text = '';
    for (let c = 0; c < count; c++) text += prefixes[c]! + columns[c]!(row);
    return text + '}';
  };
}
