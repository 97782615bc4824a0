/**
 * The base of every column builder: length, nulls (a lazily allocated validity bitmap) and the
 * growable buffers the builders write into.
 */
import { type Data, type DataType } from 'apache-arrow';

export const TWO_32 = 4294967296;

export const encoder = new TextEncoder();

/**
 * Grows `array` to at least `needed` elements (doubling). Builders start small on purpose: their
 * grow paths then run within the first rows, while V8 still profiles them, instead of first
 * running in optimized code (which V8 throws away when it meets a path it never saw).
 */
export function grow<T extends { length: number; set(a: ArrayLike<number>, o?: number): void }>(
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

/**
 * The first `used` elements of a builder's buffer, for a finished batch, and the buffer the
 * builder goes on with. A batch that fills at least half of the buffer takes the buffer itself
 * (a view, no copy) and the builder starts on a new zeroed one of the same size, which costs
 * less than copying; a smaller batch gets a copy and the builder keeps its buffer.
 */
export function handOver<T extends { length: number; subarray(a: number, b: number): T; slice(a: number, b: number): T }>(
  array: T,
  used: number,
  make: (n: number) => T,
): { taken: T; next: T } {
  if (used * 2 >= array.length) return { taken: array.subarray(0, used), next: make(array.length) };
  return { taken: array.slice(0, used), next: array };
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
      if (index >> 3 >= v.length) this.ensureValidity(index + 1);
      this.validity![index >> 3] |= 1 << (index & 7);
    }
  }

  private ensureValidity(rows: number): void {
    const bytes = (rows + 7) >> 3;
    if (this.validity === null) {
      const v = new Uint8Array(Math.max(8, bytes * 2));
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
