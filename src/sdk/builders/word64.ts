/**
 * 64-bit integers kept as pairs of 32-bit words: Int64 and Timestamp.
 */
import { Int64, makeData, type Data, type DataType, TimeUnit, Timestamp } from 'apache-arrow';
import { TWO_32, grow, handOver, ColumnBuilder } from './column-builder.js';
import { dateToUnit, parseIsoToUnit } from './time-units.js';

/**
 * 64-bit integers (Int64, Timestamp) kept as pairs of 32-bit words so that decoders can write
 * them without creating BigInts.
 */
class Word64Builder<T extends DataType> extends ColumnBuilder<T> {
  protected words = new Int32Array(128);
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
  /** Appends the 64-bit integer whose low and high 32-bit words (as int32) are given. */
  appendWords(low: number, high: number): void {
    const i = this.slot();
    this.words[2 * i] = low;
    this.words[2 * i + 1] = high;
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
    const { taken, next } = handOver(this.words, this.length * 2, (n) => new Int32Array(n));
    this.words = next;
    const values = new BigInt64Array(taken.buffer, taken.byteOffset, this.length);
    const v = this.takeValidity();
    return makeData({ type: this.type as never, data: values, ...v } as never) as unknown as Data<T>;
  }
}

export class Int64ColumnBuilder extends Word64Builder<Int64> {
  constructor() {
    super(new Int64());
  }
}

/** Timestamps as 64-bit counts of `unit` since the Unix epoch; `timezone` `'UTC'` for instants. */
export class TimestampColumnBuilder extends Word64Builder<Timestamp> {
  constructor(
    readonly unit: TimeUnit = TimeUnit.MICROSECOND,
    timezone: string | null = null,
  ) {
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
