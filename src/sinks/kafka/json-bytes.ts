/**
 * Renders batch cells as JSON straight into bytes, for the records of refstream topics.
 *
 * The output is exactly `JSON.stringify(toJsonValue(field, cell))` encoded as UTF-8 (tests
 * check this for every type). The common types of reference tables — integers, text,
 * booleans, decimals and timestamps — are written from the Arrow buffers without creating a
 * JS string or BigInt per cell; every other type goes through `toJsonValue`. This is the
 * per-cell work of the Kafka sink, so it decides the sink's throughput.
 *
 * Row indexes address value and offset buffers directly (apache-arrow slices those along
 * with the Data); only validity and boolean bits take the slice offset.
 */
import { isUtf8 } from 'node:buffer';
import { TimeUnit, type Data, type DataType, type Field, type RecordBatch } from 'apache-arrow';
import { cellReader, formatDate, toJsonValue, validityReader } from '../../sdk/values.js';
import { ByteOut } from './byte-out.js';

/** Writes the JSON of one cell (the row of a column) to `out`. */
export type ColumnWriter = (row: number, out: ByteOut) => void;

const NULL = Buffer.from('null');
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const QUOTE = 0x22;

function writeLiteral(out: ByteOut, literal: Uint8Array): void {
  out.bytes(literal);
}

/** JSON writers for the first `count` columns of a batch. */
export function columnWriters(batch: RecordBatch, count: number): ColumnWriter[] {
  const out: ColumnWriter[] = [];
  for (let c = 0; c < count; c++) out.push(columnWriter(batch.schema.fields[c]!, batch.data.children[c] as Data));
  return out;
}

/** The writer of one column: a direct path for common types, `toJsonValue` for the rest. */
export function columnWriter(field: Field, data: Data): ColumnWriter {
  const type = data.type as DataType & { bitWidth?: number; isSigned?: boolean; unit?: TimeUnit; timezone?: string | null };
  switch (data.typeId) {
    case 2: // Int
      if (type.bitWidth === 64 && type.isSigned) return int64Writer(data);
      if ((type.bitWidth ?? 64) <= 32) return smallIntWriter(data);
      break;
    case 5:
      return utf8Writer(data);
    case 6:
      return boolWriter(data);
    case 7:
      if (type.bitWidth === 128) return decimalWriter(data, (type as unknown as { scale: number }).scale);
      break;
    case 10:
      return timestampWriter(field, data, type.unit!, type.timezone != null);
  }
  return genericWriter(field, data);
}

function genericWriter(field: Field, data: Data): ColumnWriter {
  const read = cellReader(data);
  return (row, out) => {
    const cell = read(row);
    if (cell === null) writeLiteral(out, NULL);
    else out.text(JSON.stringify(toJsonValue(field, cell)));
  };
}

function smallIntWriter(data: Data): ColumnWriter {
  const valid = validityReader(data);
  const values = data.values as ArrayLike<number>;
  return (row, out) => {
    if (!valid(row)) writeLiteral(out, NULL);
    else out.integer(values[row]!);
  };
}

/** Int64 as a JSON string (lossless for every consumer): `"42"`. */
function int64Writer(data: Data): ColumnWriter {
  const valid = validityReader(data);
  const values = data.values as BigInt64Array;
  const words = new Int32Array(values.buffer, values.byteOffset, values.length * 2);
  return (row, out) => {
    if (!valid(row)) return writeLiteral(out, NULL);
    const j = row * 2;
    const hi = words[j + 1]!;
    out.ensure(1);
    out.buf[out.pos++] = QUOTE;
    // Within ±2^53 the value is an exact double: no BigInt needed.
    if (hi >= -0x200000 && hi < 0x200000) out.integer(hi * 4294967296 + (words[j]! >>> 0));
    else out.text(String(values[row]!));
    out.ensure(1);
    out.buf[out.pos++] = QUOTE;
  };
}

function boolWriter(data: Data): ColumnWriter {
  const valid = validityReader(data);
  const bits = data.values as Uint8Array;
  const off = data.offset;
  return (row, out) => {
    if (!valid(row)) return writeLiteral(out, NULL);
    const j = row + off;
    writeLiteral(out, (bits[j >> 3]! & (1 << (j & 7))) !== 0 ? TRUE : FALSE);
  };
}

/**
 * Text copied byte for byte when it needs no JSON escape (no control character, quote or
 * backslash) and is valid UTF-8; anything else is decoded and escaped by JSON.stringify.
 */
function utf8Writer(data: Data): ColumnWriter {
  const valid = validityReader(data);
  const offsets = data.valueOffsets as Int32Array;
  const values = data.values as Uint8Array;
  const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  return (row, out) => {
    if (!valid(row)) return writeLiteral(out, NULL);
    const start = offsets[row]!;
    const end = offsets[row + 1]!;
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
  };
}

/** Decimal128 as its exact text in a JSON string: `"-12.50"`. */
function decimalWriter(data: Data, scale: number): ColumnWriter {
  const generic = cellReader(data);
  const valid = validityReader(data);
  const words = data.values as Uint32Array;
  const scratch = new ByteOut(64);
  return (row, out) => {
    if (!valid(row)) return writeLiteral(out, NULL);
    const o = row * 4;
    const w1 = words[o + 1]!;
    const w2 = words[o + 2]!;
    const hi = words[o + 3]!;
    out.ensure(1);
    out.buf[out.pos++] = QUOTE;
    const small = (hi === 0 && w2 === 0 && w1 < 0x200000) || (hi === 0xffffffff && w2 === 0xffffffff && w1 >= 0xffe00000);
    if (!small) out.text(generic(row) as string);
    else {
      const unscaled = (w1 | 0) * 4294967296 + words[o]!;
      const negative = unscaled < 0;
      scratch.pos = 0;
      scratch.integer(negative ? -unscaled : unscaled);
      writeScaled(out, scratch, scale, negative);
    }
    out.ensure(1);
    out.buf[out.pos++] = QUOTE;
  };
}

/** Writes the unsigned digits in `digits` with a decimal point `scale` places from the right. */
function writeScaled(out: ByteOut, digits: ByteOut, scale: number, negative: boolean): void {
  const n = digits.pos;
  out.ensure(n + scale + 3);
  const buf = out.buf;
  let o = out.pos;
  if (negative) buf[o++] = 0x2d;
  if (scale === 0) {
    for (let k = 0; k < n; k++) buf[o++] = digits.buf[k]!;
  } else if (n > scale) {
    for (let k = 0; k < n - scale; k++) buf[o++] = digits.buf[k]!;
    buf[o++] = 0x2e;
    for (let k = n - scale; k < n; k++) buf[o++] = digits.buf[k]!;
  } else {
    buf[o++] = 0x30;
    buf[o++] = 0x2e;
    for (let k = n; k < scale; k++) buf[o++] = 0x30;
    for (let k = 0; k < n; k++) buf[o++] = digits.buf[k]!;
  }
  out.pos = o;
}

const UNIT_PER_SECOND: Record<number, number> = { [TimeUnit.SECOND]: 1, [TimeUnit.MILLISECOND]: 1e3, [TimeUnit.MICROSECOND]: 1e6, [TimeUnit.NANOSECOND]: 1e9 };
const UNIT_DIGITS: Record<number, number> = { [TimeUnit.SECOND]: 0, [TimeUnit.MILLISECOND]: 3, [TimeUnit.MICROSECOND]: 6, [TimeUnit.NANOSECOND]: 9 };

/** ISO-8601 with every digit of the unit: the date text is cached per day, the time computed. */
function timestampWriter(field: Field, data: Data, unit: TimeUnit, zoned: boolean): ColumnWriter {
  const generic = genericWriter(field, data);
  const valid = validityReader(data);
  const values = data.values as BigInt64Array;
  const words = new Int32Array(values.buffer, values.byteOffset, values.length * 2);
  const perSecond = UNIT_PER_SECOND[unit]!;
  const digits = UNIT_DIGITS[unit]!;
  let cachedDay = Number.NaN;
  const date = Buffer.alloc(12); // "YYYY-MM-DDT
  return (row, out) => {
    if (!valid(row)) return writeLiteral(out, NULL);
    const j = row * 2;
    const hi = words[j + 1]!;
    if (hi < -0x200000 || hi >= 0x200000) return generic(row, out);
    const v = hi * 4294967296 + (words[j]! >>> 0);
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
    if (day !== cachedDay) {
      if (!(day >= -719162 && day <= 2932896)) return generic(row, out); // outside years 1..9999
      cachedDay = day;
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
    if (digits > 0) {
      buf[o++] = 0x2e;
      for (let k = o + digits - 1; k >= o; k--) {
        const q = Math.floor(fraction / 10);
        buf[k] = 0x30 + (fraction - q * 10);
        fraction = q;
      }
      o += digits;
    }
    if (zoned) buf[o++] = 0x5a; // 'Z'
    buf[o++] = QUOTE;
    out.pos = o;
  };
}

function twoDigits(buf: Buffer, o: number, value: number): number {
  const tens = Math.floor(value / 10);
  buf[o] = 0x30 + tens;
  buf[o + 1] = 0x30 + (value - tens * 10);
  return o + 2;
}

/** Writes a JSON object of the given columns: `{"id":"42","name":"x"}`, in `indexes` order. */
export function objectWriter(fields: readonly Field[], indexes: readonly number[], columns: readonly ColumnWriter[]): (row: number, out: ByteOut) => void {
  const parts = indexes.map((c, k) => ({ prefix: Buffer.from(`${k > 0 ? ',' : '{'}${JSON.stringify(fields[c]!.name)}:`), write: columns[c]! }));
  if (parts.length === 0) return (_row, out) => out.text('{}');
  const close = Buffer.from('}');
  return (row, out) => {
    for (let k = 0; k < parts.length; k++) {
      const part = parts[k]!;
      out.bytes(part.prefix);
      part.write(row, out);
    }
    out.bytes(close);
  };
}

/** The `_position` (ASCII) of change rows, copied without decoding. */
export function asciiRange(data: Data): { bytes: Buffer; start(row: number): number; end(row: number): number; text(row: number): string } {
  const offsets = data.valueOffsets as Int32Array;
  const values = data.values as Uint8Array;
  const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  return {
    bytes,
    start: (row) => offsets[row]!,
    end: (row) => offsets[row + 1]!,
    text: (row) => bytes.toString('latin1', offsets[row]!, offsets[row + 1]!),
  };
}
