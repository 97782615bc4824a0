/** The growable output buffer that record and JSON encoders write into. */

/** A growable byte buffer that renderers append to. */
export class ByteOut {
  buf: Buffer;
  pos = 0;

  /** @param buffer - a buffer to write into from the start (reused), instead of a new one of `initialBytes` */
  constructor(initialBytes = 4096, buffer?: Buffer) {
    this.buf = buffer ?? Buffer.allocUnsafe(initialBytes);
  }

  /** Makes room for `bytes` more bytes after `pos`. */
  ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Appends prepared bytes. */
  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    const buf = this.buf;
    let o = this.pos;
    for (let k = 0; k < src.length; k++) buf[o++] = src[k]!;
    this.pos = o;
  }

  /** Appends `src[start, end)`. Short runs are copied by hand: cheaper than a native call. */
  range(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.ensure(n);
    if (n > 48) {
      this.buf.set(src.subarray(start, end), this.pos);
      this.pos += n;
      return;
    }
    const buf = this.buf;
    let o = this.pos;
    for (let k = start; k < end; k++) buf[o++] = src[k]!;
    this.pos = o;
  }

  /** Appends text as UTF-8. */
  text(value: string): void {
    this.ensure(value.length * 3);
    this.pos += this.buf.write(value, this.pos, 'utf8');
  }

  /** Appends the decimal digits of a safe integer. */
  integer(value: number): void {
    this.ensure(21);
    const buf = this.buf;
    let o = this.pos;
    if (value < 0) {
      buf[o++] = 0x2d; // '-'
      value = -value;
    }
    let digits = 1;
    for (let v = value; v >= 10; v = Math.floor(v / 10)) digits++;
    let end = o + digits;
    this.pos = end;
    do {
      const q = Math.floor(value / 10);
      buf[--end] = 0x30 + (value - q * 10);
      value = q;
    } while (end > o);
  }

  /** The bytes written, as a string (for consumers that need text). */
  toString(start = 0, end = this.pos): string {
    return this.buf.toString('utf8', start, end);
  }
}
