/**
 * Booleans, bit-packed.
 */
import { Bool, makeData, type Data } from 'apache-arrow';
import { grow, ColumnBuilder } from './column-builder.js';

/** Booleans, bit-packed. */
export class BoolColumnBuilder extends ColumnBuilder<Bool> {
  private bits = new Uint8Array(8);
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
    // the next batch reuses the grown buffer; append only sets bits, so clear the used ones
    this.bits.fill(0, 0, data.length);
    return makeData({ type: this.type, data, ...v });
  }
}
