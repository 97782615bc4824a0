/**
 * PostgreSQL type → Arrow field mapping, and decoders of PostgreSQL's binary send format
 * straight into column builders. Shared by the COPY snapshot reader and the pgoutput stream.
 */
import {
  Binary,
  Bool,
  DateDay,
  Decimal,
  Field,
  FixedSizeBinary,
  Float32,
  Float64,
  Int16,
  Int32,
  Int64,
  Interval,
  IntervalUnit,
  List,
  TimeUnit,
  Timestamp,
  Utf8,
  type DataType,
} from 'apache-arrow';
import type {
  BoolColumnBuilder,
  ColumnBuilder,
  Date32ColumnBuilder,
  Decimal128ColumnBuilder,
  FixedSizeBinaryColumnBuilder,
  Int64ColumnBuilder,
  IntervalMonthDayNanoColumnBuilder,
  ListColumnBuilder,
  TimestampColumnBuilder,
  Utf8ColumnBuilder,
} from '../../sdk/builders.js';

/** A builder of 64-bit words (Int64 and Timestamp). */
type Word64ColumnBuilder = Int64ColumnBuilder | TimestampColumnBuilder;
import { column } from '../../sdk/batch.js';
import { definite } from '../../sdk/errors.js';
import { OID } from './oids.js';

/** A row of `pg_type` (what the mapping needs). */
export interface PgTypeInfo {
  oid: number;
  name: string;
  schema: string;
  /** b base, d domain, e enum, c composite, r range, m multirange, p pseudo */
  typtype: string;
  baseType: number;
  baseTypmod: number;
  elem: number;
  category: string;
}

/** A table column as the catalog or a pgoutput Relation message describes it. */
export interface ColumnSpec {
  name: string;
  typeOid: number;
  typmod: number;
  /** `format_type(oid, typmod)`, stored as the field's `refstream.source_type`. */
  sourceType: string;
  nullable: boolean;
  /**
   * `pg_attribute.attnum`: the column's identity in its table (a rename keeps it, a drop never
   * frees it), stored as the field's `refstream.column_id`. Absent in checkpoints of refstream
   * versions that did not record it.
   */
  attnum?: number;
}

/** Decodes one non-null value in binary send format, `buf[off, off+len)`, into `builder`. */
export type BinaryDecoder = (buf: Buffer, off: number, len: number, builder: ColumnBuilder) => void;

/** How one column is read: its Arrow field and its binary and text decoders. */
export interface ColumnCodec {
  readonly spec: ColumnSpec;
  readonly field: Field;
  readonly decodeBinary: BinaryDecoder;
  /** Decodes a value in text output format (pgoutput text datums). */
  readonly decodeText: BinaryDecoder;
  /** A {@link FAST} kind that hot loops decode inline (0: call `decodeBinary`). */
  readonly fast: number;
  /**
   * Delivered as PostgreSQL's text output (`unknownTypes: 'text'`): the snapshot selects it
   * as text and the stream must send it as text, as it has no binary decoder.
   */
  readonly textOnly: boolean;
}

/** What to do with a type that has no Arrow mapping. */
export type UnknownTypes = 'error' | 'text';

/** Kinds of columns that the COPY decoder handles inline instead of through a closure. */
export const FAST = {
  none: 0,
  int8: 1,
  bytes: 2,
  bool: 3,
  timestamp: 4,
  int4: 5,
  int2: 6,
  float4: 7,
  float8: 8,
  date: 9,
  uuid: 10,
  /** numeric with a precision and scale (Decimal128); values beyond 2^53 unscaled take the codec. */
  decimal: 11,
} as const;

export { OID };

/** Days between the Unix epoch and PostgreSQL's epoch (2000-01-01). */
const PG_EPOCH_DAYS = 10_957;
const TWO_32 = 4294967296;

/** The oids a column's mapping depends on (domain bases, array elements), for catalog loading. */
export function dependentOids(info: PgTypeInfo): number[] {
  const out: number[] = [];
  if (info.typtype === 'd' && info.baseType) out.push(info.baseType);
  if (info.category === 'A' && info.elem) out.push(info.elem);
  return out;
}

interface Mapping {
  type: DataType;
  decodeBinary: BinaryDecoder;
  decodeText: BinaryDecoder;
  fast?: number;
  textOnly?: boolean;
}

/**
 * Builds the codec of a column. `lookup` returns catalog info for an oid (already loaded).
 * Throws definite `UNSUPPORTED_TYPE` naming table, column and type for anything unmapped.
 */
export function columnCodec(
  spec: ColumnSpec,
  table: string,
  lookup: (oid: number) => PgTypeInfo | undefined,
  unknownTypes: UnknownTypes = 'error',
): ColumnCodec {
  const fail = (what: string): never => {
    throw definite(
      'UNSUPPORTED_TYPE',
      `column ${spec.name} of ${table} has type ${spec.sourceType}${what}, which refstream cannot represent in Arrow`,
      {
        table,
        hint: `set unknownTypes: 'text' (CLI: --unknown-types text) to receive it as text (PostgreSQL's output format), or change the column type (ALTER TABLE ${table} ALTER COLUMN ${spec.name} TYPE …)`,
      },
    );
  };
  const ctx: MapContext = { table, column: spec.name, lookup, fail, unknownTypes };
  const mapping = mapType(spec.typeOid, spec.typmod, ctx, 0);
  return {
    spec,
    field: column(spec.name, mapping.type, spec.nullable, spec.sourceType, spec.attnum),
    decodeBinary: mapping.decodeBinary,
    decodeText: mapping.decodeText,
    fast: mapping.fast ?? FAST.none,
    textOnly: mapping.textOnly === true,
  };
}

/**
 * The codec the snapshot uses: text-only columns are selected as their text output, so their
 * COPY values are text bytes.
 */
export function snapshotCodec(codec: ColumnCodec): ColumnCodec {
  if (!codec.textOnly) return codec;
  const text = textMapping();
  return { ...codec, decodeBinary: text.decodeBinary, fast: text.fast ?? FAST.none };
}

interface MapContext {
  table: string;
  column: string;
  lookup: (oid: number) => PgTypeInfo | undefined;
  fail: (what: string) => never;
  unknownTypes: UnknownTypes;
}

function mapType(oid: number, typmod: number, ctx: MapContext, depth: number): Mapping {
  if (depth > 8) ctx.fail(' (nested too deeply)');
  const builtin = mapBuiltin(oid, typmod, ctx);
  if (builtin) return builtin;
  const info = ctx.lookup(oid);
  if (!info) return ctx.fail(` (oid ${oid})`);
  if (info.typtype === 'd') return mapType(info.baseType, typmod >= 0 ? typmod : info.baseTypmod, ctx, depth + 1);
  if (info.typtype === 'e') return textMapping();
  if (info.category === 'A' && info.elem) {
    const child = mapType(info.elem, typmod, ctx, depth + 1);
    // An array of text-only elements is delivered whole as its text ('{a,b}').
    return child.textOnly ? textOnlyMapping(ctx) : arrayMapping(child, ctx);
  }
  if (ctx.unknownTypes === 'text' && info.typtype !== 'p') return textOnlyMapping(ctx);
  return ctx.fail('');
}

/** A type delivered as its text output (`unknownTypes: 'text'`); binary values are refused. */
function textOnlyMapping(ctx: MapContext): Mapping {
  const text = textMapping();
  return {
    type: text.type,
    textOnly: true,
    decodeText: text.decodeText,
    decodeBinary: () => {
      throw definite(
        'SCHEMA_INCOMPATIBLE',
        `column ${ctx.column} of ${ctx.table} arrived in binary form, but its type is read as text only`,
        {
          table: ctx.table,
          hint: 'restart the source (the stream then starts in text mode for this table), or set binaryValues: false',
        },
      );
    },
  };
}

function textMapping(): Mapping {
  const decode: BinaryDecoder = (buf, off, len, b) => (b as Utf8ColumnBuilder).appendBytes(buf, off, off + len);
  return { type: new Utf8(), decodeBinary: decode, decodeText: decode, fast: FAST.bytes };
}

function mapBuiltin(oid: number, typmod: number, ctx: MapContext): Mapping | undefined {
  switch (oid) {
    case OID.bool:
      return {
        type: new Bool(),
        fast: FAST.bool,
        decodeBinary: (buf, off, _len, b) => (b as BoolColumnBuilder).append(buf[off] !== 0),
        decodeText: (buf, off, _len, b) => (b as BoolColumnBuilder).append(buf[off] === 0x74),
      };
    case OID.int2:
      return {
        type: new Int16(),
        fast: FAST.int2,
        decodeBinary: (buf, off, _len, b) => (b as unknown as { append(v: number): void }).append(buf.readInt16BE(off)),
        decodeText: numberFromText,
      };
    case OID.int4:
      return {
        type: new Int32(),
        fast: FAST.int4,
        decodeBinary: (buf, off, _len, b) => (b as unknown as { append(v: number): void }).append(buf.readInt32BE(off)),
        decodeText: numberFromText,
      };
    case OID.oid:
      return {
        type: new Int64(),
        decodeBinary: (buf, off, _len, b) => (b as Int64ColumnBuilder).appendSafeInteger(buf.readUInt32BE(off)),
        decodeText: (buf, off, len, b) => (b as Int64ColumnBuilder).appendInteger(buf.toString('latin1', off, off + len)),
      };
    case OID.int8:
      return {
        type: new Int64(),
        fast: FAST.int8,
        decodeBinary: (buf, off, _len, b) => (b as Int64ColumnBuilder).appendInt64BE(buf, off),
        decodeText: (buf, off, len, b) => (b as Int64ColumnBuilder).appendInteger(buf.toString('latin1', off, off + len)),
      };
    case OID.float4:
      return {
        type: new Float32(),
        fast: FAST.float4,
        decodeBinary: (buf, off, _len, b) => (b as unknown as { append(v: number): void }).append(buf.readFloatBE(off)),
        decodeText: numberFromText,
      };
    case OID.float8:
      return {
        type: new Float64(),
        fast: FAST.float8,
        decodeBinary: (buf, off, _len, b) => (b as unknown as { append(v: number): void }).append(buf.readDoubleBE(off)),
        decodeText: numberFromText,
      };
    case OID.text:
    case OID.varchar:
    case OID.bpchar:
    case OID.name:
    case OID.char:
    case OID.json:
      return textMapping();
    case OID.jsonb:
      return {
        type: new Utf8(),
        // binary jsonb is a version byte (1) followed by the JSON text
        decodeBinary: (buf, off, len, b) => (b as Utf8ColumnBuilder).appendBytes(buf, off + 1, off + len),
        decodeText: (buf, off, len, b) => (b as Utf8ColumnBuilder).appendBytes(buf, off, off + len),
      };
    case OID.bytea:
      return {
        type: new Binary(),
        fast: FAST.bytes,
        decodeBinary: (buf, off, len, b) => (b as Utf8ColumnBuilder).appendBytes(buf, off, off + len),
        decodeText: (buf, off, len, b) => {
          const text = buf.toString('latin1', off, off + len);
          if (!text.startsWith('\\x')) ctx.fail(' (escape-format bytea text)');
          (b as Utf8ColumnBuilder).appendBytes(Buffer.from(text.slice(2), 'hex'));
        },
      };
    case OID.uuid:
      return {
        type: new FixedSizeBinary(16),
        fast: FAST.uuid,
        decodeBinary: (buf, off, _len, b) => (b as FixedSizeBinaryColumnBuilder).appendBytes(buf, off),
        decodeText: (buf, off, len, b) => (b as FixedSizeBinaryColumnBuilder).appendValue(buf.toString('latin1', off, off + len)),
      };
    case OID.date:
      return {
        type: new DateDay(),
        fast: FAST.date,
        decodeBinary: (buf, off, _len, b) => (b as Date32ColumnBuilder).append(unixDays(buf.readInt32BE(off))),
        decodeText: (buf, off, len, b) => (b as Date32ColumnBuilder).appendValue(buf.toString('latin1', off, off + len)),
      };
    case OID.timestamp:
    case OID.timestamptz:
      return {
        type: new Timestamp(TimeUnit.MICROSECOND, oid === OID.timestamptz ? 'UTC' : null),
        fast: FAST.timestamp,
        decodeBinary: decodeTimestamp,
        decodeText: (buf, off, len, b) => (b as TimestampColumnBuilder).appendValue(buf.toString('latin1', off, off + len)),
      };
    case OID.interval:
      return {
        type: new Interval(IntervalUnit.MONTH_DAY_NANO),
        decodeBinary: (buf, off, _len, b) =>
          (b as IntervalMonthDayNanoColumnBuilder).append(
            buf.readInt32BE(off + 12),
            buf.readInt32BE(off + 8),
            buf.readBigInt64BE(off) * 1000n,
          ),
        decodeText: (buf, off, len, b) => {
          const v = parseIsoInterval(buf.toString('latin1', off, off + len));
          if (!v) ctx.fail(' (unrecognised interval text)');
          (b as IntervalMonthDayNanoColumnBuilder).append(v!.months, v!.days, v!.nanoseconds);
        },
      };
    case OID.numeric:
      return mapNumeric(typmod, ctx);
  }
  return undefined;
}

/** A PostgreSQL date (days since 2000-01-01) as days since the Unix epoch; ±infinity keep their sentinels (int32 max/min) instead of wrapping. */
export function unixDays(pgDays: number): number {
  return pgDays === 0x7fffffff || pgDays === -0x80000000 ? pgDays : pgDays + PG_EPOCH_DAYS;
}

function numberFromText(buf: Buffer, off: number, len: number, b: ColumnBuilder): void {
  (b as unknown as { append(v: number): void }).append(Number(buf.toString('latin1', off, off + len)));
}

export function decodeTimestamp(buf: Buffer, off: number, _len: number, b: ColumnBuilder): void {
  // byte arithmetic: Buffer.read*BE validate their arguments on every call
  const hi = (buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
  const lo = ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
  appendPgTimestamp(b as TimestampColumnBuilder, hi, lo);
}

/** The Unix epoch's distance to PostgreSQL's in µs (946,684,800,000,000), as high and low 32-bit words. */
const PG_EPOCH_US_HI = 220_417;
const PG_EPOCH_US_LO = 993_517_568;

/**
 * Appends a PostgreSQL timestamp (µs since 2000-01-01, as the signed high and unsigned low
 * words of its int64) as µs since the Unix epoch, with 32-bit word arithmetic (no BigInt);
 * ±infinity keep int64 max/min, other values wrap as int64 arithmetic does.
 */
export function appendPgTimestamp(builder: Word64ColumnBuilder, hi: number, lo: number): void {
  if ((hi === 0x7fffffff && lo === 0xffffffff) || (hi === -0x80000000 && lo === 0)) return builder.appendWords(lo | 0, hi);
  const low = lo + PG_EPOCH_US_LO;
  const carry = low >= TWO_32 ? 1 : 0;
  builder.appendWords((low - carry * TWO_32) | 0, (hi + PG_EPOCH_US_HI + carry) | 0);
}

const NUMERIC_NEG = 0x4000;
const NUMERIC_NAN = 0xc000;
const NUMERIC_PINF = 0xd000;
const NUMERIC_NINF = 0xf000;
const POW10 = [1, 10, 100, 1000, 10000, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

function mapNumeric(typmod: number, ctx: MapContext): Mapping {
  let precision = -1;
  let scale = 0;
  if (typmod >= 4) {
    precision = ((typmod - 4) >> 16) & 0xffff;
    // scale is an 11-bit signed field since PostgreSQL 15 (negative scales)
    scale = (typmod - 4) & 0x7ff;
    if (scale > 1023) scale -= 2048;
  }
  if (precision < 1 || precision > 38 || scale < 0) {
    return {
      type: new Utf8(),
      decodeBinary: (buf, off, _len, b) => (b as Utf8ColumnBuilder).appendString(numericToText(buf, off)),
      decodeText: (buf, off, len, b) => (b as Utf8ColumnBuilder).appendBytes(buf, off, off + len),
    };
  }
  const notRepresentable = (what: string): never => {
    throw definite(
      'VALUE_OUT_OF_RANGE',
      `column ${ctx.column} of ${ctx.table} holds numeric ${what}, which Decimal128(${precision}, ${scale}) cannot represent`,
      {
        table: ctx.table,
        hint: `remove the ${what} values, or change the column to unconstrained numeric (delivered as text)`,
      },
    );
  };
  return {
    type: new Decimal(scale, precision, 128),
    fast: FAST.decimal,
    decodeBinary: (buf, off, _len, b) => {
      const builder = b as Decimal128ColumnBuilder;
      if (appendNumericSafe(buf, off, scale, builder)) return;
      const sign = (buf[off + 4]! << 8) | buf[off + 5]!;
      if (sign === NUMERIC_NAN) notRepresentable('NaN');
      if (sign === NUMERIC_PINF || sign === NUMERIC_NINF) notRepresentable('Infinity');
      builder.appendUnscaled(numericUnscaled(buf, off, scale));
    },
    decodeText: (buf, off, len, b) => {
      const text = buf.toString('latin1', off, off + len);
      if (text === 'NaN') notRepresentable('NaN');
      if (/Infinity/.test(text)) notRepresentable('Infinity');
      (b as Decimal128ColumnBuilder).appendValue(text);
    },
  };
}

/** 2^53 / 10000, rounded down so that `acc * 10000 + 9999` stays a safe integer. */
const NUMERIC_SAFE_ACC = 900_719_925_473;
const DIGIT_POW10 = [1, 10, 100, 1000];

/**
 * Appends a binary numeric (not NaN or infinite) as its unscaled value at `scale` when that is a
 * safe integer and needs no rounding, with no BigInt; returns false, appending nothing, for
 * anything else (special values, larger values, more fraction digits than `scale`).
 */
export function appendNumericSafe(buf: Uint8Array, off: number, scale: number, builder: Decimal128ColumnBuilder): boolean {
  const ndigits = (buf[off]! << 8) | buf[off + 1]!;
  const weight = ((buf[off + 2]! << 24) >> 16) | buf[off + 3]!;
  const sign = (buf[off + 4]! << 8) | buf[off + 5]!;
  if ((sign !== 0 && sign !== NUMERIC_NEG) || ndigits > 0x7fff) return false;
  if (ndigits === 0) {
    builder.appendUnscaledSafe(0);
    return true;
  }
  // value = Σ digit[i] · 10000^(weight − i); unscaled = value · 10^scale = digits · 10^exp10
  let acc = 0;
  const lastAt = off + 8 + 2 * (ndigits - 1);
  for (let q = off + 8; q < lastAt; q += 2) acc = acc * 10000 + ((buf[q]! << 8) | buf[q + 1]!);
  if (acc > NUMERIC_SAFE_ACC) return false;
  const last = (buf[lastAt]! << 8) | buf[lastAt + 1]!;
  const exp10 = scale - 4 * (ndigits - 1 - weight);
  let unscaled: number;
  if (exp10 >= 0) {
    if (exp10 > 15) return false;
    // exact whenever the result is a safe integer (both factors are)
    unscaled = (acc * 10000 + last) * POW10[exp10]!;
    if (unscaled > Number.MAX_SAFE_INTEGER) return false;
  } else {
    // the last group holds 1–3 digits beyond the scale: they must be zeros (no rounding here)
    if (exp10 < -3) return false;
    // small-integer tables: `%` on a double (POW10's elements) is a call into C
    const divisor = DIGIT_POW10[-exp10]!;
    if (last % divisor !== 0) return false;
    unscaled = acc * DIGIT_POW10[4 + exp10]! + last / divisor;
  }
  builder.appendUnscaledSafe(sign === NUMERIC_NEG ? -unscaled : unscaled);
  return true;
}

/** The unscaled value of a finite binary numeric at `scale`, exactly (digits beyond `scale` truncated toward zero). */
export function numericUnscaled(buf: Buffer, off: number, scale: number): bigint {
  const ndigits = buf.readInt16BE(off);
  const weight = buf.readInt16BE(off + 2);
  const sign = buf.readUInt16BE(off + 4);
  if (ndigits === 0) return 0n;
  let big = 0n;
  for (let i = 0; i < ndigits; i++) big = big * 10000n + BigInt(buf.readUInt16BE(off + 8 + 2 * i));
  const exp10 = scale - 4 * (ndigits - 1 - weight);
  if (exp10 >= 0) big *= 10n ** BigInt(exp10);
  else big /= 10n ** BigInt(-exp10);
  return sign === NUMERIC_NEG ? -big : big;
}

/** Renders a binary numeric as PostgreSQL would print it (keeps the display scale). */
export function numericToText(buf: Buffer, off: number): string {
  const ndigits = buf.readInt16BE(off);
  const weight = buf.readInt16BE(off + 2);
  const sign = buf.readUInt16BE(off + 4);
  const dscale = buf.readUInt16BE(off + 6) & 0x3fff;
  if (sign === NUMERIC_NAN) return 'NaN';
  if (sign === NUMERIC_PINF) return 'Infinity';
  if (sign === NUMERIC_NINF) return '-Infinity';
  const digit = (i: number) => (i >= 0 && i < ndigits ? buf.readUInt16BE(off + 8 + 2 * i) : 0);
  let text = sign === NUMERIC_NEG ? '-' : '';
  if (weight < 0) text += '0';
  else {
    text += String(digit(0));
    for (let i = 1; i <= weight; i++) text += String(digit(i)).padStart(4, '0');
  }
  if (dscale > 0) {
    let frac = '';
    for (let i = weight + 1; frac.length < dscale; i++) frac += String(digit(i)).padStart(4, '0');
    text += '.' + frac.slice(0, dscale);
  }
  return text;
}

function arrayMapping(child: Mapping, ctx: MapContext): Mapping {
  const type = new List(new Field('item', child.type, true));
  return {
    type,
    decodeBinary: (buf, off, _len, b) => {
      const list = b as ListColumnBuilder;
      const ndim = buf.readInt32BE(off);
      if (ndim === 0) return list.endList();
      if (ndim > 1) {
        throw definite(
          'UNSUPPORTED_TYPE',
          `column ${ctx.column} of ${ctx.table} holds a ${ndim}-dimensional array; only one-dimensional arrays are supported`,
          {
            table: ctx.table,
            hint: 'store one-dimensional arrays, or change the column type',
          },
        );
      }
      const count = buf.readInt32BE(off + 12);
      let p = off + 20;
      for (let i = 0; i < count; i++) {
        const len = buf.readInt32BE(p);
        p += 4;
        if (len < 0) list.child.appendNull();
        else {
          child.decodeBinary(buf, p, len, list.child);
          p += len;
        }
      }
      list.endList();
    },
    decodeText: (buf, off, len, b) => {
      const list = b as ListColumnBuilder;
      const items = parseArrayText(buf.toString('utf8', off, off + len));
      if (items === undefined) {
        throw definite(
          'UNSUPPORTED_TYPE',
          `column ${ctx.column} of ${ctx.table} holds a multi-dimensional or unparsable array; only one-dimensional arrays are supported`,
          {
            table: ctx.table,
            hint: 'store one-dimensional arrays, or change the column type',
          },
        );
      }
      for (const item of items) {
        if (item === null) list.child.appendNull();
        else {
          const bytes = Buffer.from(item, 'utf8');
          child.decodeText(bytes, 0, bytes.length, list.child);
        }
      }
      list.endList();
    },
  };
}

/**
 * Parses an interval in `IntervalStyle = iso_8601` output (`P1Y2M3DT4H5M6.000007S`, parts may
 * be negative) into months, days and nanoseconds, exactly.
 */
export function parseIsoInterval(text: string): { months: number; days: number; nanoseconds: bigint } | undefined {
  const m = /^P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?)(\d+)(?:\.(\d{1,9}))?S)?)?$/.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sSign, s, frac] = m;
  const months = Number(y ?? 0) * 12 + Number(mo ?? 0);
  const seconds = s === undefined ? 0n : BigInt(s) * 1_000_000_000n + BigInt((frac ?? '').padEnd(9, '0') || '0');
  const nanoseconds = BigInt(h ?? 0) * 3_600_000_000_000n + BigInt(mi ?? 0) * 60_000_000_000n + (sSign === '-' ? -seconds : seconds);
  return { months, days: Number(d ?? 0), nanoseconds };
}

/**
 * Parses a one-dimensional array in text output format (`{1,NULL,"a \"b\""}`, optionally
 * prefixed by bounds `[0:2]=`) into element texts (`null` for NULL). Returns `undefined` for
 * multi-dimensional or malformed input.
 */
export function parseArrayText(text: string): (string | null)[] | undefined {
  let i = 0;
  if (text[0] === '[') {
    i = text.indexOf('=') + 1;
    if (i === 0) return undefined;
  }
  if (text[i] !== '{') return undefined;
  i++;
  const items: (string | null)[] = [];
  if (text[i] === '}') return i + 1 === text.length ? items : undefined;
  for (;;) {
    if (text[i] === '{') return undefined; // nested: more than one dimension
    let item = '';
    if (text[i] === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\') i++;
        item += text[i++];
      }
      if (text[i] !== '"') return undefined;
      i++;
      items.push(item);
    } else {
      const start = i;
      while (i < text.length && text[i] !== ',' && text[i] !== '}') i++;
      item = text.slice(start, i).trim();
      items.push(item.toUpperCase() === 'NULL' ? null : item);
    }
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] === '}' && i + 1 === text.length) return items;
    return undefined;
  }
}
