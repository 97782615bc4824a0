/**
 * Byte values: variable-length (Utf8, Binary: offsets plus data) and fixed-size (uuid).
 */
import { Binary, FixedSizeBinary, Utf8, makeData, type Data } from 'apache-arrow';
import { encoder, grow, handOver, ColumnBuilder } from './column-builder.js';

/** Variable-length bytes (Utf8 and Binary): Int32 offsets plus one data buffer. */
class VarBytesBuilder<T extends Utf8 | Binary> extends ColumnBuilder<T> {
  private offsets = new Int32Array(65);
  private bytes = new Uint8Array(1024);
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
    const offsets = handOver(this.offsets, this.length + 1, (n) => new Int32Array(n));
    const bytes = handOver(this.bytes, this.end, (n) => new Uint8Array(n));
    const valueOffsets = offsets.taken;
    const data = bytes.taken;
    // offsets[0] stays 0 in a kept buffer and is 0 in a new one; bytes are written before read
    this.offsets = offsets.next;
    this.bytes = bytes.next;
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
