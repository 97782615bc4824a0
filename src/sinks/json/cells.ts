/**
 * Renders batch cells as JSON straight into bytes, for the Kafka and JSON Lines sinks.
 *
 * The output is exactly `JSON.stringify(toJsonValue(field, cell))` encoded as UTF-8 (tests
 * check this for every type). The common types of reference tables — integers, text,
 * booleans, decimals and timestamps — are written from the Arrow buffers without creating a
 * JS string or BigInt per cell; every other type goes through `toJsonValue`. This is the
 * per-cell work of those sinks, so it decides their throughput.
 *
 * Row indexes address value and offset buffers directly (apache-arrow slices those along
 * with the Data); only validity and boolean bits take the slice offset.
 */
import { isUtf8 } from 'node:buffer';
import { TimeUnit, type Data, type DataType, type Field, type RecordBatch } from 'apache-arrow';
import { cellReader, formatDate, toJsonValue } from '../../sdk/values.js';
import { ByteOut } from './byte-out.js';

/** Writes the JSON of one cell (the row of a column) to `out`. */
export type ColumnWriter = (row: number, out: ByteOut) => void;

const NULL = Buffer.from('null');
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const QUOTE = 0x22;

const enum Kind {
  Generic,
  SmallInt,
  Int64,
  Utf8,
  Bool,
  Decimal,
  Timestamp,
}

const UNIT_PER_SECOND: Record<number, number> = {
  [TimeUnit.SECOND]: 1,
  [TimeUnit.MILLISECOND]: 1e3,
  [TimeUnit.MICROSECOND]: 1e6,
  [TimeUnit.NANOSECOND]: 1e9,
};
const UNIT_DIGITS: Record<number, number> = {
  [TimeUnit.SECOND]: 0,
  [TimeUnit.MILLISECOND]: 3,
  [TimeUnit.MICROSECOND]: 6,
  [TimeUnit.NANOSECOND]: 9,
};

/**
 * One column prepared for rendering. Every column has the same shape (unused fields stay
 * empty) and `writeCell` dispatches on `kind`, so the per-cell calls stay monomorphic and
 * V8 can inline them — this is the inner loop of the sink.
 */
class Column {
  readonly kind: Kind;
  /** Validity bitmap (null: no nulls) and the slice offset it is indexed with. */
  readonly bitmap: Uint8Array | null;
  readonly offset: number;
  /** Int8/16/32 values, or boolean bits. */
  readonly numbers: ArrayLike<number>;
  /** Int64 and timestamp values as 32-bit halves; Decimal128 as 32-bit words. */
  readonly words: Int32Array;
  /** Utf8 bytes and offsets. */
  readonly bytes: Buffer;
  readonly offsets: Int32Array;
  readonly scale: number;
  readonly perSecond: number;
  readonly digits: number;
  readonly zoned: boolean;
  /** Timestamps: the day whose `"YYYY-MM-DDT` text is in `date`. */
  cachedDay = Number.NaN;
  readonly date = Buffer.alloc(12);
  readonly read: CellReader;

  constructor(
    readonly field: Field,
    readonly data: Data,
  ) {
    const type = data.type as DataType & {
      bitWidth?: number;
      isSigned?: boolean;
      unit?: TimeUnit;
      timezone?: string | null;
      scale?: number;
    };
    const values = data.values as Uint8Array;
    this.bitmap = data.nullCount > 0 && data.nullBitmap && data.nullBitmap.length > 0 ? data.nullBitmap : null;
    this.offset = data.offset;
    this.kind = kindOf(data.typeId, type);
    this.numbers = this.kind === Kind.SmallInt || this.kind === Kind.Bool ? (data.values as ArrayLike<number>) : EMPTY_NUMBERS;
    this.words =
      this.kind === Kind.Int64 || this.kind === Kind.Timestamp || this.kind === Kind.Decimal
        ? new Int32Array(values.buffer, values.byteOffset, values.byteLength >>> 2)
        : EMPTY_WORDS;
    this.bytes = this.kind === Kind.Utf8 ? Buffer.from(values.buffer, values.byteOffset, values.byteLength) : EMPTY_BYTES;
    this.offsets = this.kind === Kind.Utf8 ? (data.valueOffsets as Int32Array) : EMPTY_WORDS;
    this.scale = type.scale ?? 0;
    this.perSecond = this.kind === Kind.Timestamp ? UNIT_PER_SECOND[type.unit!]! : 1;
    this.digits = this.kind === Kind.Timestamp ? UNIT_DIGITS[type.unit!]! : 0;
    this.zoned = type.timezone != null;
    this.read = cellReader(data);
  }

  isNull(row: number): boolean {
    const bitmap = this.bitmap;
    if (bitmap === null) return false;
    const j = row + this.offset;
    return (bitmap[j >> 3]! & (1 << (j & 7))) === 0;
  }
}

type CellReader = ReturnType<typeof cellReader>;
const EMPTY_NUMBERS: ArrayLike<number> = new Uint8Array(0);
const EMPTY_WORDS = new Int32Array(0);
const EMPTY_BYTES = Buffer.alloc(0);

function kindOf(typeId: number, type: { bitWidth?: number; isSigned?: boolean }): Kind {
  switch (typeId) {
    case 2:
      if (type.bitWidth === 64 && type.isSigned) return Kind.Int64;
      if ((type.bitWidth ?? 64) <= 32) return Kind.SmallInt;
      return Kind.Generic;
    case 5:
      return Kind.Utf8;
    case 6:
      return Kind.Bool;
    case 7:
      return type.bitWidth === 128 ? Kind.Decimal : Kind.Generic;
    case 10:
      return Kind.Timestamp;
    default:
      return Kind.Generic;
  }
}

/** Writes one cell of `column`. */
function writeCell(column: Column, row: number, out: ByteOut): void {
  if (column.isNull(row)) return out.bytes(NULL);
  switch (column.kind) {
    case Kind.SmallInt:
      return out.integer(column.numbers[row]!);
    case Kind.Int64:
      return writeInt64(column, row, out);
    case Kind.Utf8:
      return writeUtf8(column, row, out);
    case Kind.Bool: {
      const j = row + column.offset;
      return out.bytes((column.numbers[j >> 3]! & (1 << (j & 7))) !== 0 ? TRUE : FALSE);
    }
    case Kind.Decimal:
      return writeDecimal(column, row, out);
    case Kind.Timestamp:
      return writeTimestamp(column, row, out);
    default:
      return writeGeneric(column, row, out);
  }
}

function writeGeneric(column: Column, row: number, out: ByteOut): void {
  const cell = column.read(row);
  if (cell === null) out.bytes(NULL);
  else out.text(JSON.stringify(toJsonValue(column.field, cell)));
}

/** Int64 as a JSON string (lossless for every consumer): `"42"`. */
function writeInt64(column: Column, row: number, out: ByteOut): void {
  const hi = column.words[row * 2 + 1]!;
  out.ensure(1);
  out.buf[out.pos++] = QUOTE;
  // Within ±2^53 the value is an exact double: no BigInt needed.
  if (hi >= -0x200000 && hi < 0x200000) out.integer(hi * 4294967296 + (column.words[row * 2]! >>> 0));
  else out.text(String(column.read(row)));
  out.ensure(1);
  out.buf[out.pos++] = QUOTE;
}

/**
 * Text copied byte for byte when it needs no JSON escape (no control character, quote or
 * backslash) and is valid UTF-8; anything else is decoded and escaped by JSON.stringify.
 */
function writeUtf8(column: Column, row: number, out: ByteOut): void {
  const bytes = column.bytes;
  const start = column.offsets[row]!;
  const end = column.offsets[row + 1]!;
  let ascii = true;
  for (let k = start; k < end; k++) {
    const c = bytes[k]!;
    if (c < 0x20 || c === 0x22 || c === 0x5c) return out.text(JSON.stringify(bytes.toString('utf8', start, end)));
    if (c > 0x7f) ascii = false;
  }
  if (!ascii && !isUtf8(bytes.subarray(start, end))) return out.text(JSON.stringify(bytes.toString('utf8', start, end)));
  out.ensure(end - start + 2);
  out.buf[out.pos++] = QUOTE;
  out.range(bytes, start, end);
  out.buf[out.pos++] = QUOTE;
}

/** Decimal128 as its exact text in a JSON string: `"-12.50"`. */
function writeDecimal(column: Column, row: number, out: ByteOut): void {
  const words = column.words;
  const o = row * 4;
  const w1 = words[o + 1]!;
  const w2 = words[o + 2]!;
  const hi = words[o + 3]!;
  out.ensure(1);
  out.buf[out.pos++] = QUOTE;
  // Within ±2^53: exact as a double (w1 is the signed high half of the low 64 bits).
  const small = (hi === 0 && w2 === 0 && w1 >= 0 && w1 < 0x200000) || (hi === -1 && w2 === -1 && w1 < 0 && w1 >= -0x200000);
  if (!small) out.text(column.read(row) as string);
  else writeScaled(out, w1 * 4294967296 + (words[o]! >>> 0), column.scale);
  out.ensure(1);
  out.buf[out.pos++] = QUOTE;
}

/** Writes `unscaled / 10^scale` exactly: digits with a decimal point `scale` places from the right. */
function writeScaled(out: ByteOut, unscaled: number, scale: number): void {
  out.ensure(scale + 24);
  const buf = out.buf;
  let o = out.pos;
  let v = unscaled;
  if (v < 0) {
    buf[o++] = 0x2d;
    v = -v;
  }
  let n = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) n++;
  // At least one digit before the point.
  const width = Math.max(n, scale + 1) + (scale > 0 ? 1 : 0);
  let k = o + width;
  for (let d = 0; d < Math.max(n, scale + 1); d++) {
    if (scale > 0 && d === scale) buf[--k] = 0x2e;
    const q = Math.floor(v / 10);
    buf[--k] = 0x30 + (v - q * 10);
    v = q;
  }
  out.pos = o + width;
}

/** ISO-8601 with every digit of the unit: the date text is cached per day, the time computed. */
function writeTimestamp(column: Column, row: number, out: ByteOut): void {
  const words = column.words;
  const hi = words[row * 2 + 1]!;
  if (hi < -0x200000 || hi >= 0x200000) return writeGeneric(column, row, out);
  const v = hi * 4294967296 + (words[row * 2]! >>> 0);
  const perSecond = column.perSecond;
  let second = Math.floor(v / perSecond);
  let fraction = v - second * perSecond;
  // The quotient is rounded: near a whole second it can land one off.
  if (fraction < 0) {
    second -= 1;
    fraction += perSecond;
  } else if (fraction >= perSecond) {
    second += 1;
    fraction -= perSecond;
  }
  const day = Math.floor(second / 86400);
  const date = column.date;
  if (day !== column.cachedDay) {
    if (!(day >= -719162 && day <= 2932896)) return writeGeneric(column, row, out); // outside years 1..9999
    column.cachedDay = day;
    date.write(`"${formatDate(day)}T`, 0, 12, 'latin1');
  }
  const time = second - day * 86400;
  const h = Math.floor(time / 3600);
  const m = Math.floor((time - h * 3600) / 60);
  const sec = time - h * 3600 - m * 60;
  out.ensure(36);
  const buf = out.buf;
  let o = out.pos;
  for (let k = 0; k < 12; k++) buf[o++] = date[k]!;
  o = twoDigits(buf, o, h);
  buf[o++] = 0x3a;
  o = twoDigits(buf, o, m);
  buf[o++] = 0x3a;
  o = twoDigits(buf, o, sec);
  const digits = column.digits;
  if (digits > 0) {
    buf[o++] = 0x2e;
    for (let k = o + digits - 1; k >= o; k--) {
      const q = Math.floor(fraction / 10);
      buf[k] = 0x30 + (fraction - q * 10);
      fraction = q;
    }
    o += digits;
  }
  if (column.zoned) buf[o++] = 0x5a; // 'Z'
  buf[o++] = QUOTE;
  out.pos = o;
}

function twoDigits(buf: Buffer, o: number, value: number): number {
  const tens = Math.floor(value / 10);
  buf[o] = 0x30 + tens;
  buf[o + 1] = 0x30 + (value - tens * 10);
  return o + 2;
}

/** The columns of a batch prepared for rendering (the first `count`). */
function batchColumns(batch: RecordBatch, count: number): Column[] {
  const out: Column[] = [];
  for (let c = 0; c < count; c++) out.push(new Column(batch.schema.fields[c]!, batch.data.children[c] as Data));
  return out;
}

/** The writer of one column's cells (a direct path for common types, `toJsonValue` for the rest). */
export function columnWriter(field: Field, data: Data): ColumnWriter {
  const column = new Column(field, data);
  return (row, out) => writeCell(column, row, out);
}

/** Writes one row's JSON object. */
export type ObjectWriter = (row: number, out: ByteOut) => void;

/** Writes a JSON object of the given columns: `{"id":"42","name":"x"}`, in `indexes` order. */
function objectWriter(indexes: readonly number[], columns: readonly Column[]): ObjectWriter {
  const prefixes = indexes.map((c, k) => Buffer.from(`${k > 0 ? ',' : '{'}${JSON.stringify(columns[c]!.field.name)}:`));
  const selected = indexes.map((c) => columns[c]!);
  if (selected.length === 0) return (_row, out) => out.text('{}');
  const close = Buffer.from('}');
  return (row, out) => {
    for (let k = 0; k < selected.length; k++) {
      out.bytes(prefixes[k]!);
      writeCell(selected[k]!, row, out);
    }
    out.bytes(close);
  };
}

/** Writers of a batch's key object (primary-key columns, in key order) and row object (table columns). */
export function keyAndRowWriters(
  batch: RecordBatch,
  primaryKey: readonly string[],
  tableColumnCount: number,
): { key: ObjectWriter; row: ObjectWriter } {
  const fields = batch.schema.fields;
  const columns = batchColumns(batch, tableColumnCount);
  return {
    key: objectWriter(
      primaryKey.map((k) => fields.findIndex((f) => f.name === k)),
      columns,
    ),
    row: objectWriter(
      Array.from({ length: tableColumnCount }, (_, c) => c),
      columns,
    ),
  };
}
