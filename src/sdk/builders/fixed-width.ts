/**
 * Fixed-width numbers stored in one typed array: Int8/16/32, Float32/64 and Date32.
 *
 * Each concrete class stores its values in its own `append`: one shared method would store
 * into five kinds of typed array, which V8 compiles to a slow generic store.
 */
import { DateDay, Float32, Float64, Int8, Int16, Int32, makeData, type Data, type DataType } from 'apache-arrow';
import { grow, handOver, ColumnBuilder } from './column-builder.js';

type FixedArray = Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** Fixed-width numbers stored in one typed array (Int8/16/32, Float32/64, Date32). */
class FixedWidthBuilder<T extends DataType> extends ColumnBuilder<T> {
  protected values: FixedArray;
  constructor(
    type: T,
    private readonly make: (n: number) => FixedArray,
  ) {
    super(type);
    this.values = make(64);
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
    const i = this.slot();
    this.values[i] = value;
    this.appended(i);
  }
  /** The index of the next value, with room for it. */
  protected slot(): number {
    const i = this.length;
    if (i >= this.values.length) this.values = grow(this.values, i + 1, this.make);
    return i;
  }
  /** Marks the value just stored at `i` as appended. */
  protected appended(i: number): void {
    this.markValid(i);
    this.length = i + 1;
  }
  appendValue(value: unknown): void {
    if (value === null || value === undefined) this.appendNull();
    else this.append(Number(value));
  }
  finish(): Data<T> {
    const { taken: values, next } = handOver(this.values, this.length, this.make);
    this.values = next;
    const v = this.takeValidity();
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
  override append(value: number): void {
    const i = this.slot();
    this.values[i] = value;
    this.appended(i);
  }
}

export class Int32ColumnBuilder extends FixedWidthBuilder<Int32> {
  constructor() {
    super(new Int32(), (n) => new Int32Array(n));
  }
  override append(value: number): void {
    const i = this.slot();
    this.values[i] = value;
    this.appended(i);
  }
}

export class Float32ColumnBuilder extends FixedWidthBuilder<Float32> {
  constructor() {
    super(new Float32(), (n) => new Float32Array(n));
  }
  override append(value: number): void {
    const i = this.slot();
    this.values[i] = value;
    this.appended(i);
  }
}

export class Float64ColumnBuilder extends FixedWidthBuilder<Float64> {
  constructor() {
    super(new Float64(), (n) => new Float64Array(n));
  }
  override append(value: number): void {
    const i = this.slot();
    this.values[i] = value;
    this.appended(i);
  }
}

/** Days since the Unix epoch. Accepts numbers (days), Date objects and `YYYY-MM-DD` strings. */
export class Date32ColumnBuilder extends FixedWidthBuilder<DateDay> {
  constructor() {
    super(new DateDay(), (n) => new Int32Array(n));
  }
  override append(value: number): void {
    const i = this.slot();
    this.values[i] = value;
    this.appended(i);
  }
  override appendValue(value: unknown): void {
    if (value === null || value === undefined) return this.appendNull();
    if (value instanceof Date) return this.append(Math.floor(value.getTime() / 86_400_000));
    if (typeof value === 'string') return this.append(Math.floor(Date.parse(`${value.slice(0, 10)}T00:00:00Z`) / 86_400_000));
    this.append(Number(value));
  }
}
