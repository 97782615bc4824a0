/**
 * Exasol column types: parsing `EXA_ALL_COLUMNS.COLUMN_TYPE`, the Arrow type of each, and
 * the value codecs that append a value (JSON from `fetch`, or raw CSV bytes from EXPORT)
 * straight into an Arrow column builder.
 */
import {
  Bool,
  DateDay,
  Decimal,
  Field,
  FixedSizeBinary,
  Float64,
  Int64,
  Interval,
  IntervalUnit,
  TimeUnit,
  Timestamp,
  Utf8,
  type DataType,
} from 'apache-arrow';
import { METADATA } from '../../sdk/batch.js';
import type {
  BoolColumnBuilder,
  ColumnBuilder,
  Date32ColumnBuilder,
  Decimal128ColumnBuilder,
  FixedSizeBinaryColumnBuilder,
  Float64ColumnBuilder,
  Int64ColumnBuilder,
  IntervalMonthDayNanoColumnBuilder,
  TimestampColumnBuilder,
  Utf8ColumnBuilder,
} from '../../sdk/builders.js';
import { parseIsoToUnit } from '../../sdk/builders.js';
import { definite } from '../../sdk/errors.js';

/** An Exasol column type, parsed. */
export type ExasolType =
  | { kind: 'DECIMAL'; precision: number; scale: number }
  | { kind: 'DOUBLE' }
  | { kind: 'BOOLEAN' }
  | { kind: 'CHAR' | 'VARCHAR'; size: number }
  | { kind: 'DATE' }
  | { kind: 'TIMESTAMP'; precision: number; localTimeZone: boolean }
  | { kind: 'INTERVAL YEAR TO MONTH'; precision: number }
  | { kind: 'INTERVAL DAY TO SECOND'; precision: number; fraction: number }
  | { kind: 'HASHTYPE'; bytes: number }
  | { kind: 'GEOMETRY'; srid: number };

/** Field metadata key of a GEOMETRY column's SRID. */
export const SRID_METADATA = 'refstream.srid';

/** Parses a `COLUMN_TYPE` text such as `DECIMAL(18,0)`, `VARCHAR(50) UTF8`, `TIMESTAMP(9) WITH LOCAL TIME ZONE`. Returns undefined for unknown types. */
export function parseExasolType(text: string): ExasolType | undefined {
  const t = text.trim().toUpperCase().replace(/\s+/g, ' ');
  let m: RegExpExecArray | null;
  if ((m = /^DECIMAL\((\d+),(\d+)\)$/.exec(t.replace(/ /g, '')))) return { kind: 'DECIMAL', precision: Number(m[1]), scale: Number(m[2]) };
  if (/^(DECIMAL|INTEGER|INT|BIGINT|SMALLINT|TINYINT)$/.test(t)) {
    const precision = { DECIMAL: 18, INTEGER: 18, INT: 18, BIGINT: 36, SMALLINT: 9, TINYINT: 3 }[t]!;
    return { kind: 'DECIMAL', precision, scale: 0 };
  }
  if (/^(DOUBLE( PRECISION)?|FLOAT|REAL)$/.test(t)) return { kind: 'DOUBLE' };
  if (/^BOOL(EAN)?$/.test(t)) return { kind: 'BOOLEAN' };
  if ((m = /^(CHAR|VARCHAR)\((\d+)(?: CHAR)?\)(?: (UTF8|ASCII))?$/.exec(t)))
    return { kind: m[1] as 'CHAR' | 'VARCHAR', size: Number(m[2]) };
  if (t === 'DATE') return { kind: 'DATE' };
  if ((m = /^TIMESTAMP(?:\((\d)\))?( WITH LOCAL TIME ZONE)?$/.exec(t))) {
    return { kind: 'TIMESTAMP', precision: m[1] === undefined ? 3 : Number(m[1]), localTimeZone: m[2] !== undefined };
  }
  if ((m = /^INTERVAL YEAR(?:\((\d+)\))? TO MONTH$/.exec(t))) return { kind: 'INTERVAL YEAR TO MONTH', precision: Number(m[1] ?? 2) };
  if ((m = /^INTERVAL DAY(?:\((\d+)\))? TO SECOND(?:\((\d+)\))?$/.exec(t))) {
    return { kind: 'INTERVAL DAY TO SECOND', precision: Number(m[1] ?? 2), fraction: Number(m[2] ?? 3) };
  }
  if ((m = /^HASHTYPE(?:\((\d+) (BYTE|BIT)\))?$/.exec(t))) {
    const n = Number(m[1] ?? 16);
    return { kind: 'HASHTYPE', bytes: m[2] === 'BIT' ? n / 8 : n };
  }
  if ((m = /^GEOMETRY(?:\((\d+)\))?$/.exec(t))) return { kind: 'GEOMETRY', srid: Number(m[1] ?? 0) };
  return undefined;
}

/** Per-column choice of Arrow representation where there is one. */
export type ColumnTypeOverride = 'int64' | 'decimal';

/** The Arrow type of an Exasol type. */
export function arrowTypeOf(type: ExasolType, override?: ColumnTypeOverride): DataType {
  switch (type.kind) {
    case 'DECIMAL':
      return override === 'int64' ? new Int64() : new Decimal(type.scale, type.precision, 128);
    case 'DOUBLE':
      return new Float64();
    case 'BOOLEAN':
      return new Bool();
    case 'CHAR':
    case 'VARCHAR':
    case 'GEOMETRY':
      return new Utf8();
    case 'DATE':
      return new DateDay();
    case 'TIMESTAMP':
      return new Timestamp(unitOfPrecision(type.precision), type.localTimeZone ? 'UTC' : null);
    case 'INTERVAL YEAR TO MONTH':
    case 'INTERVAL DAY TO SECOND':
      return new Interval(IntervalUnit.MONTH_DAY_NANO);
    case 'HASHTYPE':
      return new FixedSizeBinary(type.bytes);
  }
}

/** ms for TIMESTAMP(0–3), µs for (4–6), ns for (7–9). */
export function unitOfPrecision(precision: number): TimeUnit {
  return precision <= 3 ? TimeUnit.MILLISECOND : precision <= 6 ? TimeUnit.MICROSECOND : TimeUnit.NANOSECOND;
}

/** One table column: name, Exasol type text, parsed type, nullability. */
export interface ExasolColumn {
  name: string;
  typeText: string;
  type: ExasolType;
  nullable: boolean;
  override?: ColumnTypeOverride | undefined;
}

/**
 * Parses a column's type or throws definite `UNSUPPORTED_TYPE` naming table, column and type.
 * Validates an `int64` override (only DECIMAL(p, 0) with p ≤ 19 fits).
 */
export function resolveColumn(
  table: string,
  name: string,
  typeText: string,
  nullable: boolean,
  override?: ColumnTypeOverride,
): ExasolColumn {
  const type = parseExasolType(typeText);
  if (type === undefined || (type.kind === 'DECIMAL' && type.precision > 36)) {
    throw definite('UNSUPPORTED_TYPE', `column ${name} of ${table} has type ${typeText}, which refstream cannot represent`, {
      table,
      hint: `exclude the column with the "columns" option or cast it in a view`,
    });
  }
  if (override === 'int64' && !(type.kind === 'DECIMAL' && type.scale === 0 && type.precision <= 19)) {
    throw definite('CONFIG_INVALID', `columnTypes.${name}: int64 needs a DECIMAL(p ≤ 19, 0) column, ${name} of ${table} is ${typeText}`, {
      table,
    });
  }
  return { name, typeText, type, nullable, override };
}

/** The Arrow field of a column, with its Exasol type (and GEOMETRY SRID) in the metadata. */
export function fieldOf(column: ExasolColumn): Field {
  const metadata = new Map<string, string>([[METADATA.sourceType, column.typeText]]);
  if (column.type.kind === 'GEOMETRY') metadata.set(SRID_METADATA, String(column.type.srid));
  return new Field(column.name, arrowTypeOf(column.type, column.override), column.nullable, metadata);
}

/**
 * Appends one value to a builder: from a `fetch` JSON value (`appendJson`) or from the raw
 * bytes of a CSV field (`appendCsv`, never an empty field: that is NULL and handled by the
 * reader).
 */
export interface ValueCodec {
  appendJson(builder: ColumnBuilder, value: unknown): void;
  appendCsv(builder: ColumnBuilder, buf: Uint8Array, start: number, end: number): void;
}

const latin1 = (buf: Uint8Array, start: number, end: number) =>
  Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1');
const utf8 = (buf: Uint8Array, start: number, end: number) => Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('utf8');

/**
 * How the snapshot's CSV reader appends a column's fields: the common types inline (no
 * closure call per value), the rest through their codec's `appendCsv`.
 */
export const CSV_KIND = { codec: 0, bytes: 1, decimal: 2, timestamp: 3, bool: 4, date: 5 } as const;

/** The {@link CSV_KIND} of a column. */
export function csvKindOf(column: ExasolColumn): number {
  switch (column.type.kind) {
    case 'CHAR':
    case 'VARCHAR':
    case 'GEOMETRY':
      return CSV_KIND.bytes;
    case 'DECIMAL':
      return column.override === 'int64' ? CSV_KIND.codec : CSV_KIND.decimal;
    case 'TIMESTAMP':
      return CSV_KIND.timestamp;
    case 'BOOLEAN':
      return CSV_KIND.bool;
    case 'DATE':
      return CSV_KIND.date;
    default:
      return CSV_KIND.codec;
  }
}

/** The codec of a column. */
export function codecOf(column: ExasolColumn, table: string): ValueCodec {
  const type = column.type;
  const outOfRange = (text: string) =>
    definite(
      'VALUE_OUT_OF_RANGE',
      `value ${text} of column ${column.name} of ${table} does not fit ${column.override === 'int64' ? 'int64' : column.typeText}`,
      { table },
    );
  switch (type.kind) {
    case 'DECIMAL': {
      if (column.override === 'int64') {
        return {
          appendJson(b, v) {
            if (v === null) return b.appendNull();
            if (typeof v === 'number') return (b as Int64ColumnBuilder).appendSafeInteger(v);
            appendInt64Text(b as Int64ColumnBuilder, String(v), outOfRange);
          },
          appendCsv(b, buf, s, e) {
            if (e - s <= 15) return (b as Int64ColumnBuilder).appendSafeInteger(parseSmallInteger(buf, s, e));
            appendInt64Text(b as Int64ColumnBuilder, latin1(buf, s, e), outOfRange);
          },
        };
      }
      const scale = type.scale;
      return {
        appendJson(b, v) {
          if (v === null) return b.appendNull();
          if (typeof v === 'number' && scale === 0 && Number.isSafeInteger(v)) return (b as Decimal128ColumnBuilder).appendUnscaledSafe(v);
          const n = asciiScratch(String(v));
          appendDecimalBytes(b as Decimal128ColumnBuilder, scratch, 0, n, scale);
        },
        appendCsv(b, buf, s, e) {
          appendDecimalBytes(b as Decimal128ColumnBuilder, buf, s, e, scale);
        },
      };
    }
    case 'DOUBLE':
      return {
        appendJson(b, v) {
          if (v === null) return b.appendNull();
          (b as Float64ColumnBuilder).append(Number(v));
        },
        appendCsv(b, buf, s, e) {
          (b as Float64ColumnBuilder).append(Number(latin1(buf, s, e)));
        },
      };
    case 'BOOLEAN':
      return {
        appendJson(b, v) {
          if (v === null) return b.appendNull();
          (b as BoolColumnBuilder).append(v === true || v === 'true' || v === 'TRUE' || v === 1);
        },
        appendCsv(b, buf, s) {
          appendBoolByte(b as BoolColumnBuilder, buf, s);
        },
      };
    case 'CHAR':
    case 'VARCHAR':
    case 'GEOMETRY':
      return {
        appendJson(b, v) {
          if (v === null) return b.appendNull();
          (b as Utf8ColumnBuilder).appendString(String(v));
        },
        appendCsv(b, buf, s, e) {
          (b as Utf8ColumnBuilder).appendBytes(buf, s, e);
        },
      };
    case 'DATE':
      return {
        appendJson(b, v) {
          if (v === null) return b.appendNull();
          const t = String(v);
          (b as Date32ColumnBuilder).append(daysFromCivil(Number(t.slice(0, t.length - 6)), Number(t.slice(-5, -3)), Number(t.slice(-2))));
        },
        appendCsv(b, buf, s, e) {
          appendDateBytes(b as Date32ColumnBuilder, buf, s, e);
        },
      };
    case 'TIMESTAMP': {
      const unit = unitOfPrecision(type.precision);
      return {
        appendJson(b, v) {
          if (v === null) return b.appendNull();
          appendTimestampBytes(b as TimestampColumnBuilder, scratch, 0, asciiScratch(String(v)), unit);
        },
        appendCsv(b, buf, s, e) {
          appendTimestampBytes(b as TimestampColumnBuilder, buf, s, e, unit);
        },
      };
    }
    case 'INTERVAL YEAR TO MONTH':
    case 'INTERVAL DAY TO SECOND': {
      const append = (b: ColumnBuilder, text: string) => {
        const iv = parseInterval(type.kind, text);
        (b as IntervalMonthDayNanoColumnBuilder).append(iv.months, iv.days, iv.nanoseconds);
      };
      return {
        appendJson(b, v) {
          if (v === null) return b.appendNull();
          append(b, String(v));
        },
        appendCsv(b, buf, s, e) {
          append(b, latin1(buf, s, e));
        },
      };
    }
    case 'HASHTYPE':
      return {
        appendJson(b, v) {
          if (v === null) return b.appendNull();
          (b as FixedSizeBinaryColumnBuilder).appendValue(String(v));
        },
        appendCsv(b, buf, s, e) {
          (b as FixedSizeBinaryColumnBuilder).appendValue(latin1(buf, s, e));
        },
      };
  }
}

export { utf8 as utf8Slice };

/** Reused buffer for parsing short ASCII value texts (numbers, dates) without allocating. */
let scratch = new Uint8Array(64);

/** Copies an ASCII text into `scratch`; returns its length. */
function asciiScratch(text: string): number {
  const n = text.length;
  if (n > scratch.length) scratch = new Uint8Array(n * 2);
  for (let i = 0; i < n; i++) scratch[i] = text.charCodeAt(i);
  return n;
}

function parseSmallInteger(buf: Uint8Array, s: number, e: number): number {
  let negative = false;
  if (buf[s] === 0x2d) {
    negative = true;
    s++;
  } else if (buf[s] === 0x2b) s++;
  let n = 0;
  for (let i = s; i < e; i++) n = n * 10 + (buf[i]! - 0x30);
  return negative ? -n : n;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function appendInt64Text(b: Int64ColumnBuilder, text: string, outOfRange: (t: string) => Error): void {
  const v = BigInt(text.trim());
  if (v < INT64_MIN || v > INT64_MAX) throw outOfRange(text);
  b.appendBigInt(v);
}

/** `TRUE`/`true`/`1` bytes → true, anything else false. */
export function appendBoolByte(b: BoolColumnBuilder, buf: Uint8Array, s: number): void {
  const c = buf[s]!;
  b.append(c === 0x54 || c === 0x74 || c === 0x31); // T t 1
}

/** `YYYY-MM-DD` bytes (the year may have other lengths) → days since the epoch. */
export function appendDateBytes(b: Date32ColumnBuilder, buf: Uint8Array, s: number, e: number): void {
  b.append(daysFromCivil(digits(buf, s, e - 6), digits(buf, e - 5, e - 3), digits(buf, e - 2, e)));
}

/** Parses decimal text bytes (`-123.45`) into the unscaled value at `scale`, exactly. */
export function appendDecimalBytes(b: Decimal128ColumnBuilder, buf: Uint8Array, s: number, e: number, scale: number): void {
  let negative = false;
  if (buf[s] === 0x2d) {
    negative = true;
    s++;
  } else if (buf[s] === 0x2b) s++;
  let intDigits = 0;
  let fracDigits = 0;
  let seenDot = false;
  for (let i = s; i < e; i++) {
    const c = buf[i]!;
    if (c === 0x2e) seenDot = true;
    else if (c < 0x30 || c > 0x39) {
      // exponent or anything unusual: take the exact text path
      b.appendValue((negative ? '-' : '') + latin1(buf, s, e));
      return;
    } else if (seenDot) fracDigits++;
    else intDigits++;
  }
  if (fracDigits > scale) {
    b.appendValue((negative ? '-' : '') + latin1(buf, s, e));
    return;
  }
  if (intDigits + scale <= 15) {
    let n = 0;
    for (let i = s; i < e; i++) {
      const c = buf[i]!;
      if (c !== 0x2e) n = n * 10 + (c - 0x30);
    }
    for (let k = fracDigits; k < scale; k++) n *= 10;
    b.appendUnscaledSafe(negative ? -n : n);
    return;
  }
  let text = '';
  for (let i = s; i < e; i++) if (buf[i] !== 0x2e) text += String.fromCharCode(buf[i]!);
  const unscaled = BigInt(text + '0'.repeat(scale - fracDigits));
  b.appendUnscaled(negative ? -unscaled : unscaled);
}

function digits(buf: Uint8Array, s: number, e: number): number {
  let n = 0;
  for (let i = s; i < e; i++) n = n * 10 + (buf[i]! - 0x30);
  return n;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm, no Date objects). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

const UNIT_PER_SECOND: Record<number, number> = { [TimeUnit.MILLISECOND]: 1e3, [TimeUnit.MICROSECOND]: 1e6, [TimeUnit.NANOSECOND]: 1e9 };
const UNIT_DIGITS: Record<number, number> = { [TimeUnit.MILLISECOND]: 3, [TimeUnit.MICROSECOND]: 6, [TimeUnit.NANOSECOND]: 9 };

/** `YYYY-MM-DD HH:MI:SS[.f…]` bytes → count of `unit` since the epoch (UTC), exactly. */
export function appendTimestampBytes(b: TimestampColumnBuilder, buf: Uint8Array, s: number, e: number, unit: TimeUnit): void {
  // the year may have more or fewer than 4 digits only in exotic data: use the text path
  if (buf[s + 4] !== 0x2d || e - s < 19) {
    b.appendBigInt(parseIsoToUnit(latin1(buf, s, e), unit));
    return;
  }
  const days = daysFromCivil(digits(buf, s, s + 4), digits(buf, s + 5, s + 7), digits(buf, s + 8, s + 10));
  const seconds = days * 86400 + digits(buf, s + 11, s + 13) * 3600 + digits(buf, s + 14, s + 16) * 60 + digits(buf, s + 17, s + 19);
  const want = UNIT_DIGITS[unit]!;
  let fraction = 0;
  let n = 0;
  for (let i = s + 20; i < e && n < want; i++, n++) fraction = fraction * 10 + (buf[i]! - 0x30);
  for (; n < want; n++) fraction *= 10;
  const value = seconds * UNIT_PER_SECOND[unit]! + fraction;
  if (Number.isSafeInteger(value) && Math.abs(value) < 2 ** 53) b.appendSafeInteger(value);
  else b.appendBigInt(BigInt(seconds) * BigInt(UNIT_PER_SECOND[unit]!) + BigInt(fraction));
}

/** Exasol interval text → months, days, nanoseconds. */
export function parseInterval(
  kind: 'INTERVAL YEAR TO MONTH' | 'INTERVAL DAY TO SECOND',
  text: string,
): { months: number; days: number; nanoseconds: bigint } {
  const t = text.trim();
  const negative = t.startsWith('-');
  const body = t.replace(/^[+-]/, '');
  if (kind === 'INTERVAL YEAR TO MONTH') {
    const m = /^(\d+)-(\d+)$/.exec(body);
    if (!m) throw new RangeError(`not an INTERVAL YEAR TO MONTH: ${text}`);
    const months = Number(m[1]) * 12 + Number(m[2]);
    return { months: negative ? -months : months, days: 0, nanoseconds: 0n };
  }
  const m = /^(\d+) (\d+):(\d+):(\d+)(?:\.(\d{1,9}))?$/.exec(body);
  if (!m) throw new RangeError(`not an INTERVAL DAY TO SECOND: ${text}`);
  const days = Number(m[1]);
  const ns = (BigInt(m[2]!) * 3600n + BigInt(m[3]!) * 60n + BigInt(m[4]!)) * 1_000_000_000n + BigInt((m[5] ?? '').padEnd(9, '0'));
  return negative ? { months: 0, days: -days, nanoseconds: -ns } : { months: 0, days, nanoseconds: ns };
}
