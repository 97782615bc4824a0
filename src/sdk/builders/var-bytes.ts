/**
 * Byte values: variable-length (Utf8, Binary: offsets plus data) and fixed-size (uuid).
 */
import { Binary, FixedSizeBinary, Utf8, makeData, type Data } from 'apache-arrow';
import { encoder, grow, handOver, ColumnBuilder } from './column-builder.js';

/** Variable-length bytes (Utf8 and Binary): Int32 offsets plus one data buffer. */
class VarBytesBuilder<T extends Utf8 | Binary> extends ColumnBuilder<T> {
  private offsets = new Int32Array(65);
  private bytes: Uint8Array = new Uint8Array(1024);
  /** `bytes` as a DataView, for {@link appendBytesFrom}. */
  private bytesView: DataView = new DataView(this.bytes.buffer);
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
    if (this.end + extra > this.bytes.length) this.setBytes(grow(this.bytes, this.end + extra, (n) => new Uint8Array(n)));
  }
  private setBytes(bytes: Uint8Array): void {
    this.bytes = bytes;
    this.bytesView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  /** Appends the bytes `source[start, end)` as one value. */
  appendBytes(source: Uint8Array, start = 0, end = source.length): void {
    const n = end - start;
    this.reserveBytes(n);
    this.reserveOffsets();
    // short values byte by byte: subarray() would create an object per value
    if (n <= 64) {
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
  /**
   * Appends the bytes `[start, end)` of `view` (a wire buffer) as one value. Short values move
   * four bytes per step through DataViews, which compile to plain loads and stores.
   */
  appendBytesFrom(view: DataView, start: number, end: number): void {
    const n = end - start;
    this.reserveBytes(n);
    this.reserveOffsets();
    let o = this.end;
    if (n <= 64) {
      const dst = this.bytesView;
      let k = start;
      for (; k + 4 <= end; k += 4, o += 4) dst.setInt32(o, view.getInt32(k, true), true);
      for (; k < end; k++, o++) dst.setUint8(o, view.getUint8(k));
    } else {
      this.bytes.set(new Uint8Array(view.buffer, view.byteOffset + start, n), o);
      o += n;
    }
    this.end = o;
    const i = this.length;
    this.offsets[i + 1] = o;
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
    const offsets = handOver(this.offsets, this.length + 1, (n) => new Int32Array(n));
    const bytes = handOver(this.bytes, this.end, (n) => new Uint8Array(n));
    const valueOffsets = offsets.taken;
    const data = bytes.taken;
    // offsets[0] stays 0 in a kept buffer and is 0 in a new one; bytes are written before read
    this.offsets = offsets.next;
    if (bytes.next !== this.bytes) this.setBytes(bytes.next);
    const v = this.takeValidity();
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
  /** `bytes` as a DataView, for {@link appendBytesFrom}. */
  private bytesView: DataView;
  constructor(readonly byteWidth: number) {
    super(new FixedSizeBinary(byteWidth));
    this.bytes = new Uint8Array(byteWidth * 256);
    this.bytesView = new DataView(this.bytes.buffer);
  }
  private setBytes(bytes: Uint8Array): void {
    this.bytes = bytes;
    this.bytesView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get byteLength(): number {
    return this.length * this.byteWidth + this.validityBytes();
  }
  protected pushEmpty(): void {
    const needed = (this.length + 1) * this.byteWidth;
    if (needed > this.bytes.length) this.setBytes(grow(this.bytes, needed, (n) => new Uint8Array(n)));
  }
  appendBytes(source: Uint8Array, start = 0): void {
    const i = this.length;
    const width = this.byteWidth;
    if ((i + 1) * width > this.bytes.length) this.setBytes(grow(this.bytes, (i + 1) * width, (n) => new Uint8Array(n)));
    // a byte loop: subarray() would create an object per value
    const dst = this.bytes;
    for (let k = 0, o = i * width; k < width; k++) dst[o + k] = source[start + k]!;
    this.markValid(i);
    this.length = i + 1;
  }
  /** Appends `byteWidth` bytes of `view` (a wire buffer) from `start`, four at a time. */
  appendBytesFrom(view: DataView, start: number): void {
    const i = this.length;
    const width = this.byteWidth;
    if ((i + 1) * width > this.bytes.length) this.setBytes(grow(this.bytes, (i + 1) * width, (n) => new Uint8Array(n)));
    const dst = this.bytesView;
    let k = 0;
    for (const o = i * width; k + 4 <= width; k += 4) dst.setInt32(o + k, view.getInt32(start + k, true), true);
    for (const o = i * width; k < width; k++) dst.setUint8(o + k, view.getUint8(start + k));
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
    const { taken: data, next } = handOver(this.bytes, this.length * this.byteWidth, (n) => new Uint8Array(n));
    if (next !== this.bytes) this.setBytes(next);
    const v = this.takeValidity();
    return makeData({ type: this.type, data, ...v });
  }
}
