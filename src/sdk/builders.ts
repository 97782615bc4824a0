/**
 * Fast Arrow column builders.
 *
 * They write straight into growable typed arrays and hand the buffers to `makeData`
 * without copying, avoiding apache-arrow's generic `Builder` path (per-value type dispatch,
 * chunk bookkeeping), which is several times slower on the hot path (see bench/builders.ts).
 * Each builder also has raw appenders (`appendInt64BE`, `appendBytes`, …) that decoders of
 * binary wire formats use to skip the JS value entirely.
 */
import {
  Binary,
  Bool,
  DateDay,
  Decimal,
  Dictionary,
  Field,
  FixedSizeBinary,
  Float32,
  Float64,
  Int8,
  Int16,
  Int32,
  Int64,
  List,
  Utf8,
  makeData,
  vectorFromArray,
  type Data,
  type DataType,
  TimeUnit,
  Timestamp,
  Interval,
  IntervalUnit,
} from 'apache-arrow';
import { decimalStringToUnscaled } from './decimal.js';

const TWO_32 = 4294967296;
const encoder = new TextEncoder();

function grow<T extends { length: number; set(a: ArrayLike<number>, o?: number): void }>(
  array: T,
  needed: number,
  make: (n: number) => T,
): T {
  if (needed <= array.length) return array;
  let size = Math.max(array.length * 2, 64);
  while (size < needed) size *= 2;
  const next = make(size);
  next.set(array as unknown as ArrayLike<number>);
  return next;
}

/** Common state of every builder: length and a lazily allocated validity bitmap. */
export abstract class ColumnBuilder<T extends DataType = DataType> {
  length = 0;
  nullCount = 0;
  private validity: Uint8Array | null = null;

  constructor(readonly type: T) {}

  /** Bytes held by the builder so far (for `batchBytes` accounting). */
  abstract get byteLength(): number;

  /** Appends a value given as a JS value (see each builder for what it accepts); null/undefined → null. */
  abstract appendValue(value: unknown): void;

  /** Returns the built column and resets the builder for the next batch. */
  abstract finish(): Data<T>;

  /** Appends a null. */
  appendNull(): void {
    const index = this.length;
    this.ensureValidity(index + 1);
    // bit already 0
    this.nullCount++;
    this.pushEmpty();
    this.length = index + 1;
  }

  /** Called by appendNull to write a placeholder value slot. */
  protected abstract pushEmpty(): void;

  /** Marks the slot at `index` valid (only when a bitmap exists). */
  protected markValid(index: number): void {
    const v = this.validity;
    if (v !== null) {
      if ((index >> 3) >= v.length) this.ensureValidity(index + 1);
      this.validity![index >> 3] |= 1 << (index & 7);
    }
  }

  private ensureValidity(rows: number): void {
    const bytes = (rows + 7) >> 3;
    if (this.validity === null) {
      const v = new Uint8Array(Math.max(64, bytes * 2));
      // every earlier row was valid
      const full = this.length >> 3;
      v.fill(0xff, 0, full);
      for (let i = full << 3; i < this.length; i++) v[i >> 3] |= 1 << (i & 7);
      this.validity = v;
    } else if (bytes > this.validity.length) {
      this.validity = grow(this.validity, bytes, (n) => new Uint8Array(n));
    }
  }

  protected takeValidity(): { nullBitmap: Uint8Array | undefined; nullCount: number; length: number } {
    const out = {
      nullBitmap: this.nullCount > 0 && this.validity ? this.validity.subarray(0, (this.length + 7) >> 3) : undefined,
      nullCount: this.nullCount,
      length: this.length,
    };
    this.validity = null;
    this.nullCount = 0;
    this.length = 0;
    return out;
  }

  protected validityBytes(): number {
    return this.validity ? (this.length + 7) >> 3 : 0;
  }
}

type FixedArray = Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** Fixed-width numbers stored in one typed array (Int8/16/32, Float32/64, Date32). */
class FixedWidthBuilder<T extends DataType> extends ColumnBuilder<T> {
  protected values: FixedArray;
  constructor(
    type: T,
    private readonly make: (n: number) => FixedArray,
  ) {
    super(type);
    this.values = make(1024);
  }
  get byteLength(): number {
    return this.length * this.values.BYTES_PER_ELEMENT + this.validityBytes();
  }
  protected pushEmpty(): void {
    this.values = grow(this.values, this.length + 1, this.make);
    this.values[this.length] = 0;
  }
  /** Appends a number. */
  append(value: number): void {
    const i = this.length;
    if (i >= this.values.length) this.values = grow(this.values, i + 1, this.make);
    this.values[i] = value;
    this.markValid(i);
    this.length = i + 1;
  }
  appendValue(value: unknown): void {
    if (value === null || value === undefined) this.appendNull();
    else this.append(Number(value));
  }
  finish(): Data<T> {
    const values = this.values.slice(0, this.length);
    const v = this.takeValidity();
    this.values = this.make(1024);
    return makeData({ type: this.type as never, data: values, ...v } as never) as unknown as Data<T>;
  }
}

export class Int8ColumnBuilder extends FixedWidthBuilder<Int8> {
  constructor() {
    super(new Int8(), (n) => new Int8Array(n));
  }
}
export class Int16ColumnBuilder extends FixedWidthBuilder<Int16> {
  constructor() {
    super(new Int16(), (n) => new Int16Array(n));
  }
}
export class Int32ColumnBuilder extends FixedWidthBuilder<Int32> {
  constructor() {
    super(new Int32(), (n) => new Int32Array(n));
  }
}
export class Float32ColumnBuilder extends FixedWidthBuilder<Float32> {
  constructor() {
    super(new Float32(), (n) => new Float32Array(n));
  }
}
export class Float64ColumnBuilder extends FixedWidthBuilder<Float64> {
  constructor() {
    super(new Float64(), (n) => new Float64Array(n));
  }
}
/** Days since the Unix epoch. Accepts numbers (days), Date objects and `YYYY-MM-DD` strings. */
export class Date32ColumnBuilder extends FixedWidthBuilder<DateDay> {
  constructor() {
    super(new DateDay(), (n) => new Int32Array(n));
  }
  override appendValue(value: unknown): void {
    if (value === null || value === undefined) return this.appendNull();
    if (value instanceof Date) return this.append(Math.floor(value.getTime() / 86_400_000));
    if (typeof value === 'string') return this.append(Math.floor(Date.parse(`${value.slice(0, 10)}T00:00:00Z`) / 86_400_000));
    this.append(Number(value));
  }
}

/**
 * 64-bit integers (Int64, Timestamp) kept as pairs of 32-bit words so that decoders can write
 * them without creating BigInts.
 */
class Word64Builder<T extends DataType> extends ColumnBuilder<T> {
  protected words = new Int32Array(2048);
  get byteLength(): number {
    return this.length * 8 + this.validityBytes();
  }
  protected slot(): number {
    const i = this.length;
    if (2 * i + 2 > this.words.length) this.words = grow(this.words, 2 * i + 2, (n) => new Int32Array(n));
    return i;
  }
  protected pushEmpty(): void {
    const i = this.slot();
    this.words[2 * i] = 0;
    this.words[2 * i + 1] = 0;
  }
  /** Appends a big-endian signed 64-bit integer read from `buf` at `offset`. */
  appendInt64BE(buf: Uint8Array, offset: number): void {
    const i = this.slot();
    this.words[2 * i + 1] = (buf[offset]! << 24) | (buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!;
    this.words[2 * i] = (buf[offset + 4]! << 24) | (buf[offset + 5]! << 16) | (buf[offset + 6]! << 8) | buf[offset + 7]!;
    this.markValid(i);
    this.length = i + 1;
  }
  /** Appends a safe integer (|v| < 2^53) without BigInt arithmetic. */
  appendSafeInteger(value: number): void {
    const i = this.slot();
    const hi = Math.floor(value / TWO_32);
    this.words[2 * i] = (value - hi * TWO_32) | 0;
    this.words[2 * i + 1] = hi | 0;
    this.markValid(i);
    this.length = i + 1;
  }
  /** Appends a 64-bit integer given as a BigInt (wrapped to 64 bits). */
  appendBigInt(value: bigint): void {
    const i = this.slot();
    const v = BigInt.asUintN(64, value);
    this.words[2 * i] = Number(v & 0xffffffffn) | 0;
    this.words[2 * i + 1] = Number(v >> 32n) | 0;
    this.markValid(i);
    this.length = i + 1;
  }
  /** Appends an integer from a number (safe integers), bigint or decimal string. */
  appendInteger(value: number | bigint | string): void {
    if (typeof value === 'number' && Number.isSafeInteger(value)) this.appendSafeInteger(value);
    else this.appendBigInt(BigInt(value));
  }
  appendValue(value: unknown): void {
    if (value === null || value === undefined) this.appendNull();
    else this.appendInteger(value as number | bigint | string);
  }
  finish(): Data<T> {
    const values = new BigInt64Array(this.words.buffer.slice(0, this.length * 8));
    const v = this.takeValidity();
    this.words = new Int32Array(2048);
    return makeData({ type: this.type as never, data: values, ...v } as never) as unknown as Data<T>;
  }
}

export class Int64ColumnBuilder extends Word64Builder<Int64> {
  constructor() {
    super(new Int64());
  }
}

/** A Date as a count of `unit` since the epoch. */
export function dateToUnit(date: Date, unit: TimeUnit): bigint {
  const ms = BigInt(date.getTime());
  switch (unit) {
    case TimeUnit.SECOND:
      return ms >= 0n || ms % 1000n === 0n ? ms / 1000n : ms / 1000n - 1n;
    case TimeUnit.MILLISECOND:
      return ms;
    case TimeUnit.MICROSECOND:
      return ms * 1000n;
    default:
      return ms * 1_000_000n;
  }
}

/** Timestamps as 64-bit counts of `unit` since the Unix epoch; `timezone` `'UTC'` for instants. */
export class TimestampColumnBuilder extends Word64Builder<Timestamp> {
  constructor(readonly unit: TimeUnit = TimeUnit.MICROSECOND, timezone: string | null = null) {
    super(new Timestamp(unit, timezone));
  }
  /**
   * Accepts a Date, a bigint or number count of `unit`, or an ISO-8601 string (fractional
   * digits beyond milliseconds are kept up to the unit's precision).
   */
  override appendValue(value: unknown): void {
    if (value === null || value === undefined) return this.appendNull();
    if (value instanceof Date) return this.appendBigInt(dateToUnit(value, this.unit));
    if (typeof value === 'string') return this.appendBigInt(parseIsoToUnit(value, this.unit));
    this.appendInteger(value as number | bigint);
  }
}

/** Parses an ISO-8601 timestamp into an exact count of `unit` since the epoch (no tz suffix = UTC). */
export function parseIsoToUnit(text: string, unit: TimeUnit): bigint {
  const m = /^(-?\d{4,})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i.exec(text.trim());
  if (!m) throw new RangeError(`not an ISO-8601 timestamp: ${JSON.stringify(text)}`);
  const [, y, mo, d, h, mi, s, frac = '', zone] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number(y) < 100) {
    const date = new Date(ms);
    date.setUTCFullYear(Number(y));
    ms = date.getTime();
  }
  if (zone && zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0')) * 60_000;
  }
  const nanosOfSecond = BigInt((frac + '000000000').slice(0, 9));
  const secondsNs = (BigInt(ms) / 1000n) * 1_000_000_000n;
  const totalNs = (ms < 0 && ms % 1000 !== 0 ? secondsNs - 1_000_000_000n : secondsNs) + nanosOfSecond;
  const divisor = { [TimeUnit.SECOND]: 1_000_000_000n, [TimeUnit.MILLISECOND]: 1_000_000n, [TimeUnit.MICROSECOND]: 1000n, [TimeUnit.NANOSECOND]: 1n }[unit];
  const q = totalNs / divisor;
  return totalNs < 0n && totalNs % divisor !== 0n ? q - 1n : q;
}

/** Booleans, bit-packed. */
export class BoolColumnBuilder extends ColumnBuilder<Bool> {
  private bits = new Uint8Array(128);
  constructor() {
    super(new Bool());
  }
  get byteLength(): number {
    return ((this.length + 7) >> 3) + this.validityBytes();
  }
  protected pushEmpty(): void {
    this.bits = grow(this.bits, (this.length >> 3) + 1, (n) => new Uint8Array(n));
  }
  append(value: boolean): void {
    const i = this.length;
    if (i >> 3 >= this.bits.length) this.bits = grow(this.bits, (i >> 3) + 1, (n) => new Uint8Array(n));
    if (value) this.bits[i >> 3] |= 1 << (i & 7);
    this.markValid(i);
    this.length = i + 1;
  }
  appendValue(value: unknown): void {
    if (value === null || value === undefined) this.appendNull();
    else this.append(value === true || value === 't' || value === 'true' || value === 1 || value === '1');
  }
  finish(): Data<Bool> {
    const data = this.bits.slice(0, (this.length + 7) >> 3);
    const v = this.takeValidity();
    this.bits = new Uint8Array(128);
    return makeData({ type: this.type, data, ...v });
  }
}

/** Variable-length bytes (Utf8 and Binary): Int32 offsets plus one data buffer. */
class VarBytesBuilder<T extends Utf8 | Binary> extends ColumnBuilder<T> {
  private offsets = new Int32Array(1025);
  private bytes = new Uint8Array(16 * 1024);
  private end = 0;
  get byteLength(): number {
    return this.end + this.length * 4 + this.validityBytes();
  }
  protected pushEmpty(): void {
    this.reserveOffsets();
    this.offsets[this.length + 1] = this.end;
  }
  private reserveOffsets(): void {
    if (this.length + 2 > this.offsets.length) this.offsets = grow(this.offsets, this.length + 2, (n) => new Int32Array(n));
  }
  private reserveBytes(extra: number): void {
    if (this.end + extra > this.bytes.length) this.bytes = grow(this.bytes, this.end + extra, (n) => new Uint8Array(n));
  }
  /** Appends the bytes `source[start, end)` as one value. */
  appendBytes(source: Uint8Array, start = 0, end = source.length): void {
    const n = end - start;
    this.reserveBytes(n);
    this.reserveOffsets();
    if (n < 32) {
      const dst = this.bytes;
      let o = this.end;
      for (let k = start; k < end; k++) dst[o++] = source[k]!;
    } else {
      this.bytes.set(source.subarray(start, end), this.end);
    }
    this.end += n;
    const i = this.length;
    this.offsets[i + 1] = this.end;
    this.markValid(i);
    this.length = i + 1;
  }
  /** Appends a string as UTF-8. */
  appendString(value: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 unit
    this.reserveBytes(value.length * 3);
    this.reserveOffsets();
    let written: number;
    if (value.length < 64) {
      written = asciiInto(value, this.bytes, this.end);
      if (written < 0) written = encoder.encodeInto(value, this.bytes.subarray(this.end)).written!;
    } else {
      written = encoder.encodeInto(value, this.bytes.subarray(this.end)).written!;
    }
    this.end += written;
    const i = this.length;
    this.offsets[i + 1] = this.end;
    this.markValid(i);
    this.length = i + 1;
  }
  appendValue(value: unknown): void {
    if (value === null || value === undefined) this.appendNull();
    else if (typeof value === 'string') this.appendString(value);
    else if (value instanceof Uint8Array) this.appendBytes(value);
    else this.appendString(String(value));
  }
  finish(): Data<T> {
    const valueOffsets = this.offsets.slice(0, this.length + 1);
    const data = this.bytes.slice(0, this.end);
    const v = this.takeValidity();
    this.offsets = new Int32Array(1025);
    this.bytes = new Uint8Array(16 * 1024);
    this.end = 0;
    return makeData({ type: this.type as never, valueOffsets, data, ...v }) as unknown as Data<T>;
  }
}

/** Writes an ASCII-only string byte by byte; returns -1 on the first non-ASCII unit. */
function asciiInto(value: string, target: Uint8Array, at: number): number {
  for (let k = 0; k < value.length; k++) {
    const c = value.charCodeAt(k);
    if (c > 0x7f) return -1;
    target[at + k] = c;
  }
  return value.length;
}

export class Utf8ColumnBuilder extends VarBytesBuilder<Utf8> {
  constructor() {
    super(new Utf8());
  }
}
export class BinaryColumnBuilder extends VarBytesBuilder<Binary> {
  constructor() {
    super(new Binary());
  }
}

/** Fixed-size binary (e.g. UUIDs as 16 bytes, hash values). Accepts Uint8Array or hex/UUID text. */
export class FixedSizeBinaryColumnBuilder extends ColumnBuilder<FixedSizeBinary> {
  private bytes: Uint8Array;
  constructor(readonly byteWidth: number) {
    super(new FixedSizeBinary(byteWidth));
    this.bytes = new Uint8Array(byteWidth * 256);
  }
  get byteLength(): number {
    return this.length * this.byteWidth + this.validityBytes();
  }
  protected pushEmpty(): void {
    this.bytes = grow(this.bytes, (this.length + 1) * this.byteWidth, (n) => new Uint8Array(n));
  }
  appendBytes(source: Uint8Array, start = 0): void {
    const i = this.length;
    this.bytes = grow(this.bytes, (i + 1) * this.byteWidth, (n) => new Uint8Array(n));
    this.bytes.set(source.subarray(start, start + this.byteWidth), i * this.byteWidth);
    this.markValid(i);
    this.length = i + 1;
  }
  appendValue(value: unknown): void {
    if (value === null || value === undefined) return this.appendNull();
    if (value instanceof Uint8Array) return this.appendBytes(value);
    const hex = String(value).replace(/-/g, '');
    if (hex.length !== this.byteWidth * 2 || !/^[0-9a-f]*$/i.test(hex)) {
      throw new RangeError(`expected ${this.byteWidth} bytes as hex, got ${JSON.stringify(value)}`);
    }
    this.appendBytes(Uint8Array.from(Buffer.from(hex, 'hex')));
  }
  finish(): Data<FixedSizeBinary> {
    const data = this.bytes.slice(0, this.length * this.byteWidth);
    const v = this.takeValidity();
    this.bytes = new Uint8Array(this.byteWidth * 256);
    return makeData({ type: this.type, data, ...v });
  }
}

/**
 * Decimal128(precision, scale): 128-bit two's complement unscaled integers, little-endian
 * 32-bit words. Values are exact: decimal text is parsed digit by digit, never via a float.
 */
export class Decimal128ColumnBuilder extends ColumnBuilder<Decimal> {
  private words = new Uint32Array(4096);
  constructor(
    readonly precision: number,
    readonly scale: number,
  ) {
    super(new Decimal(scale, precision, 128));
  }
  get byteLength(): number {
    return this.length * 16 + this.validityBytes();
  }
  private slot(): number {
    const i = this.length;
    if (4 * i + 4 > this.words.length) this.words = grow(this.words, 4 * i + 4, (n) => new Uint32Array(n));
    return i;
  }
  protected pushEmpty(): void {
    const i = this.slot();
    this.words.fill(0, 4 * i, 4 * i + 4);
  }
  /** Appends an unscaled value that is a safe integer (the common case) without BigInt. */
  appendUnscaledSafe(unscaled: number): void {
    const i = this.slot();
    const w = this.words;
    const negative = unscaled < 0;
    const hi = Math.floor(unscaled / TWO_32);
    w[4 * i] = (unscaled - hi * TWO_32) >>> 0;
    w[4 * i + 1] = hi >>> 0;
    w[4 * i + 2] = negative ? 0xffffffff : 0;
    w[4 * i + 3] = negative ? 0xffffffff : 0;
    this.markValid(i);
    this.length = i + 1;
  }
  /** Appends an unscaled 128-bit value. */
  appendUnscaled(unscaled: bigint): void {
    if (unscaled >= -9007199254740991n && unscaled <= 9007199254740991n) return this.appendUnscaledSafe(Number(unscaled));
    const i = this.slot();
    const v = BigInt.asUintN(128, unscaled);
    const w = this.words;
    w[4 * i] = Number(v & 0xffffffffn);
    w[4 * i + 1] = Number((v >> 32n) & 0xffffffffn);
    w[4 * i + 2] = Number((v >> 64n) & 0xffffffffn);
    w[4 * i + 3] = Number((v >> 96n) & 0xffffffffn);
    this.markValid(i);
    this.length = i + 1;
  }
  /** Appends a decimal given as text (`-12.5`, `1e3`), a bigint (already unscaled) or an integer number. */
  appendValue(value: unknown): void {
    if (value === null || value === undefined) return this.appendNull();
    if (typeof value === 'bigint') return this.appendUnscaled(value * 10n ** BigInt(this.scale));
    if (typeof value === 'number' && Number.isSafeInteger(value) && this.scale === 0) return this.appendUnscaledSafe(value);
    this.appendUnscaled(decimalStringToUnscaled(String(value), this.scale, this.precision));
  }
  finish(): Data<Decimal> {
    const data = this.words.slice(0, this.length * 4);
    const v = this.takeValidity();
    this.words = new Uint32Array(4096);
    return makeData({ type: this.type, data, ...v });
  }
}

/** Dictionary<Int8, Utf8> over a fixed list of strings (used for `_change_type`). */
export class FixedDictionaryColumnBuilder extends ColumnBuilder<Dictionary<Utf8, Int8>> {
  private indices = new Int8Array(1024);
  private readonly lookup: Map<string, number>;
  private readonly dictionaryVector;
  constructor(
    readonly values: readonly string[],
    id = 0,
  ) {
    super(new Dictionary(new Utf8(), new Int8(), id));
    this.lookup = new Map(values.map((v, i) => [v, i]));
    this.dictionaryVector = vectorFromArray([...values], new Utf8());
  }
  get byteLength(): number {
    return this.length + this.validityBytes();
  }
  protected pushEmpty(): void {
    this.indices = grow(this.indices, this.length + 1, (n) => new Int8Array(n));
  }
  /** Appends the value at `index` of the dictionary. */
  appendIndex(index: number): void {
    const i = this.length;
    if (i >= this.indices.length) this.indices = grow(this.indices, i + 1, (n) => new Int8Array(n));
    this.indices[i] = index;
    this.markValid(i);
    this.length = i + 1;
  }
  appendValue(value: unknown): void {
    if (value === null || value === undefined) return this.appendNull();
    const index = this.lookup.get(String(value));
    if (index === undefined) throw new RangeError(`${JSON.stringify(value)} is not one of ${this.values.join(', ')}`);
    this.appendIndex(index);
  }
  finish(): Data<Dictionary<Utf8, Int8>> {
    const data = this.indices.slice(0, this.length);
    const v = this.takeValidity();
    this.indices = new Int8Array(1024);
    return makeData({ type: this.type, data, dictionary: this.dictionaryVector, ...v });
  }
}

/** List<child>: offsets plus a child builder. Accepts arrays of values the child accepts. */
export class ListColumnBuilder extends ColumnBuilder<List> {
  private offsets = new Int32Array(1025);
  constructor(
    readonly child: ColumnBuilder,
    childField: Field = new Field('item', child.type, true),
  ) {
    super(new List(childField));
  }
  get byteLength(): number {
    return this.length * 4 + this.child.byteLength + this.validityBytes();
  }
  protected pushEmpty(): void {
    if (this.length + 2 > this.offsets.length) this.offsets = grow(this.offsets, this.length + 2, (n) => new Int32Array(n));
    this.offsets[this.length + 1] = this.child.length;
  }
  /** Closes the current list after its items were appended to `child` directly. */
  endList(): void {
    const i = this.length;
    if (i + 2 > this.offsets.length) this.offsets = grow(this.offsets, i + 2, (n) => new Int32Array(n));
    this.offsets[i + 1] = this.child.length;
    this.markValid(i);
    this.length = i + 1;
  }
  appendValue(value: unknown): void {
    if (value === null || value === undefined) return this.appendNull();
    for (const item of value as Iterable<unknown>) this.child.appendValue(item);
    this.endList();
  }
  finish(): Data<List> {
    const valueOffsets = this.offsets.slice(0, this.length + 1);
    const child = this.child.finish();
    const v = this.takeValidity();
    this.offsets = new Int32Array(1025);
    return makeData({ type: this.type, valueOffsets, child, ...v });
  }
}

/**
 * Interval(MonthDayNano): months and days as Int32, nanoseconds as Int64 (16 bytes a value).
 * Accepts `{ months, days, nanoseconds }` objects.
 */
export class IntervalMonthDayNanoColumnBuilder extends ColumnBuilder<Interval> {
  private words = new Int32Array(4096);
  constructor() {
    super(new Interval(IntervalUnit.MONTH_DAY_NANO));
  }
  get byteLength(): number {
    return this.length * 16 + this.validityBytes();
  }
  private slot(): number {
    const i = this.length;
    if (4 * i + 4 > this.words.length) this.words = grow(this.words, 4 * i + 4, (n) => new Int32Array(n));
    return i;
  }
  protected pushEmpty(): void {
    const i = this.slot();
    this.words.fill(0, 4 * i, 4 * i + 4);
  }
  /** Appends months, days and nanoseconds. */
  append(months: number, days: number, nanoseconds: bigint): void {
    const i = this.slot();
    const ns = BigInt.asUintN(64, nanoseconds);
    this.words[4 * i] = months | 0;
    this.words[4 * i + 1] = days | 0;
    this.words[4 * i + 2] = Number(ns & 0xffffffffn) | 0;
    this.words[4 * i + 3] = Number(ns >> 32n) | 0;
    this.markValid(i);
    this.length = i + 1;
  }
  appendValue(value: unknown): void {
    if (value === null || value === undefined) return this.appendNull();
    const v = value as { months?: number; days?: number; nanoseconds?: bigint | number };
    this.append(v.months ?? 0, v.days ?? 0, BigInt(v.nanoseconds ?? 0));
  }
  finish(): Data<Interval> {
    const data = this.words.slice(0, this.length * 4);
    const v = this.takeValidity();
    this.words = new Int32Array(4096);
    return makeData({ type: this.type, data, ...v } as never) as unknown as Data<Interval>;
  }
}

/**
 * A builder for any supported Arrow type (the types refstream's connectors produce).
 * Throws for other types so the caller can report `UNSUPPORTED_TYPE`.
 */
export function builderFor(type: DataType): ColumnBuilder {
  const t = type as DataType & Record<string, unknown>;
  switch (type.typeId) {
    case 2: {
      // Int
      const bits = t.bitWidth as number;
      if (t.isSigned === false) break;
      if (bits === 8) return new Int8ColumnBuilder();
      if (bits === 16) return new Int16ColumnBuilder();
      if (bits === 32) return new Int32ColumnBuilder();
      if (bits === 64) return new Int64ColumnBuilder();
      break;
    }
    case 3: // Float
      return (t.precision as number) === 1 ? new Float32ColumnBuilder() : new Float64ColumnBuilder();
    case 4:
      return new BinaryColumnBuilder();
    case 5:
      return new Utf8ColumnBuilder();
    case 6:
      return new BoolColumnBuilder();
    case 7:
      if ((t.bitWidth as number) === 128) return new Decimal128ColumnBuilder(t.precision as number, t.scale as number);
      break;
    case 8:
      if ((t.unit as number) === 0) return new Date32ColumnBuilder();
      break;
    case 10:
      return new TimestampColumnBuilder(t.unit as TimeUnit, (t.timezone as string | null) ?? null);
    case 11:
      if ((t.unit as number) === IntervalUnit.MONTH_DAY_NANO) return new IntervalMonthDayNanoColumnBuilder();
      break;
    case 12: {
      const childField = (t.children as Field[])[0]!;
      return new ListColumnBuilder(builderFor(childField.type), childField);
    }
    case 15:
      return new FixedSizeBinaryColumnBuilder(t.byteWidth as number);
    case -1: {
      const dict = type as unknown as Dictionary;
      const keys = dict.indices;
      if (keys.bitWidth === 8 && dict.dictionary.typeId === 5) {
        throw new TypeError('dictionary columns need their value list: use FixedDictionaryColumnBuilder');
      }
      break;
    }
  }
  throw new TypeError(`no column builder for Arrow type ${String(type)}`);
}
