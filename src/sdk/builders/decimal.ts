/**
 * Decimal128 from exact decimal text or unscaled integers.
 */
import { Decimal, makeData, type Data } from 'apache-arrow';
import { decimalStringToUnscaled } from '../decimal.js';
import { TWO_32, grow, handOver, ColumnBuilder } from './column-builder.js';

/**
 * Decimal128(precision, scale): 128-bit two's complement unscaled integers, little-endian
 * 32-bit words. Values are exact: decimal text is parsed digit by digit, never via a float.
 */
export class Decimal128ColumnBuilder extends ColumnBuilder<Decimal> {
  private words = new Uint32Array(256);
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
    const { taken: data, next } = handOver(this.words, this.length * 4, (n) => new Uint32Array(n));
    this.words = next;
    const v = this.takeValidity();
    return makeData({ type: this.type, data, ...v });
  }
}
