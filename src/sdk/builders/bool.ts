/**
 * Booleans, bit-packed.
 */
import { Bool, makeData, type Data } from 'apache-arrow';
import { grow, handOver, ColumnBuilder } from './column-builder.js';

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
    const { taken: data, next } = handOver(this.bits, (this.length + 7) >> 3, (n) => new Uint8Array(n));
    // append only sets bits: a kept buffer is cleared where this batch used it
    if (next === this.bits) next.fill(0, 0, data.length);
    this.bits = next;
    const v = this.takeValidity();
    return makeData({ type: this.type, data, ...v });
  }
}
