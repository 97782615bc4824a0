/**
 * Interval(MonthDayNano) values.
 */
import { makeData, type Data, Interval, IntervalUnit } from 'apache-arrow';
import { grow, ColumnBuilder } from './column-builder.js';

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
