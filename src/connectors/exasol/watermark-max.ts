/**
 * The highest watermark among the rows of an EXPORT, found from the CSV bytes of the
 * watermark field: a row costs a byte comparison and no string; the text is made once, at
 * the end.
 */
import { readDecimal128, unscaledToDecimalString } from '../../sdk/decimal.js';
import { compareWatermarks, keyValueText } from './table-shape.js';
import type { ExasolType } from './types.js';

const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

export class WatermarkMax {
  private max = new Uint8Array(64);
  private length = -1;
  /** Set when a value was not plain decimal text: compared as text from then on. */
  private text: string | null = null;

  constructor(private readonly type: ExasolType) {}

  /** Offers the value in `buf[start, end)`. */
  offer(buf: Uint8Array, start: number, end: number): void {
    if (this.text !== null) return this.offerText(Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1'));
    if (this.length >= 0) {
      const order =
        this.type.kind === 'DECIMAL' ? this.compareDecimal(buf, start, end) : compareBytes(buf, start, end, this.max, this.length);
      if (order === undefined) {
        this.text = this.result()!;
        return this.offerText(Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1'));
      }
      if (order <= 0) return;
    }
    const n = end - start;
    if (n > this.max.length) this.max = new Uint8Array(n * 2);
    for (let k = 0; k < n; k++) this.max[k] = buf[start + k]!;
    this.length = n;
    if (this.type.kind === 'DECIMAL' && !decimalParts(this.max, 0, n, this.maxParts)) {
      this.text = this.result(); // not plain decimal text: compared as text from now on
    }
  }

  /** Where the parts of the decimal text in `max` are (see {@link decimalParts}). */
  private readonly maxParts = new Int32Array(5);

  private compareDecimal(buf: Uint8Array, start: number, end: number): number | undefined {
    if (!decimalParts(buf, start, end, X)) return undefined;
    const parts = this.maxParts;
    for (let k = 0; k < 5; k++) Y[k] = parts[k]!;
    return compareParts(buf, this.max);
  }

  /** The highest value as canonical watermark text, `null` when no row had one. */
  result(): string | null {
    if (this.text !== null) return this.text;
    if (this.length < 0) return null;
    return keyValueText(this.type, Buffer.from(this.max.buffer, 0, this.length).toString('latin1'));
  }

  private offerText(value: string): void {
    if (compareWatermarks(this.type, value, this.text!) > 0) this.text = keyValueText(this.type, value);
  }
}

/** Byte order (DATE and TIMESTAMP text in their fixed format sort as they compare). */
function compareBytes(a: Uint8Array, as: number, ae: number, b: Uint8Array, bl: number): number {
  const n = Math.min(ae - as, bl);
  for (let k = 0; k < n; k++) {
    const d = a[as + k]! - b[k]!;
    if (d !== 0) return d;
  }
  return ae - as - bl;
}

/**
 * Compares two decimal texts (`-12.50`, `7`) by value; `undefined` when either is not plain
 * decimal text (an exponent, say), which the caller then compares as text.
 */
export function compareDecimalBytes(a: Uint8Array, as: number, ae: number, b: Uint8Array, bs: number, be: number): number | undefined {
  if (!decimalParts(a, as, ae, X) || !decimalParts(b, bs, be, Y)) return undefined;
  return compareParts(a, b);
}

/** Compares the decimals described by X (in `a`) and Y (in `b`). */
function compareParts(a: Uint8Array, b: Uint8Array): number {
  const xSign = sign(X);
  const ySign = sign(Y);
  if (xSign !== ySign) return xSign - ySign;
  if (xSign === 0) return 0;
  const magnitude = compareMagnitude(a, b);
  return xSign < 0 ? -magnitude : magnitude;
}

/** Where the parts of a decimal text are: negative (0/1), integer digits without leading zeros, fraction digits without trailing zeros. */
const NEGATIVE = 0;
const INT_START = 1;
const INT_END = 2;
const FRAC_START = 3;
const FRAC_END = 4;
const X = new Int32Array(5);
const Y = new Int32Array(5);

function decimalParts(buf: Uint8Array, start: number, end: number, out: Int32Array): boolean {
  let p = start;
  const negative = buf[p] === MINUS;
  if (negative || buf[p] === PLUS) p++;
  let dot = end;
  for (let k = p; k < end; k++) {
    const c = buf[k]!;
    if (c === DOT) {
      if (dot !== end) return false;
      dot = k;
    } else if (c < ZERO || c > NINE) return false;
  }
  while (p < dot && buf[p] === ZERO) p++;
  const fracStart = dot < end ? dot + 1 : end;
  let fracEnd = end;
  while (fracEnd > fracStart && buf[fracEnd - 1] === ZERO) fracEnd--;
  out[NEGATIVE] = negative ? 1 : 0;
  out[INT_START] = p;
  out[INT_END] = dot;
  out[FRAC_START] = fracStart;
  out[FRAC_END] = fracEnd;
  return true;
}

function sign(parts: Int32Array): number {
  if (parts[INT_END] === parts[INT_START] && parts[FRAC_END] === parts[FRAC_START]) return 0;
  return parts[NEGATIVE] === 1 ? -1 : 1;
}

/** Compares the magnitudes of the decimals described by X (in `a`) and Y (in `b`). */
function compareMagnitude(a: Uint8Array, b: Uint8Array): number {
  const xInt = X[INT_END]! - X[INT_START]!;
  const yInt = Y[INT_END]! - Y[INT_START]!;
  if (xInt !== yInt) return xInt - yInt;
  for (let k = 0; k < xInt; k++) {
    const d = a[X[INT_START]! + k]! - b[Y[INT_START]! + k]!;
    if (d !== 0) return d;
  }
  const xFrac = X[FRAC_END]! - X[FRAC_START]!;
  const yFrac = Y[FRAC_END]! - Y[FRAC_START]!;
  for (let k = 0; k < Math.min(xFrac, yFrac); k++) {
    const d = a[X[FRAC_START]! + k]! - b[Y[FRAC_START]! + k]!;
    if (d !== 0) return d;
  }
  return xFrac - yFrac;
}

/**
 * The highest DECIMAL watermark among the batches of a delivered Decimal128 column, found from
 * the batches' 128-bit words when each batch is finished: the rows cost nothing.
 */
export class DecimalWatermarkMax {
  private readonly max = new Uint32Array(4);
  private found = false;

  constructor(
    private readonly type: ExasolType,
    private readonly scale: number,
  ) {}

  /** Takes in a finished batch's column (`data.values`: 4 little-endian words per value). */
  scan(data: { length: number; offset: number; values: Uint32Array; nullBitmap: Uint8Array | undefined }): void {
    const words = data.values;
    const valid = data.nullBitmap && data.nullBitmap.length > 0 ? data.nullBitmap : null;
    const m = this.max;
    for (let i = 0; i < data.length; i++) {
      const bit = data.offset + i;
      if (valid !== null && (valid[bit >> 3]! & (1 << (bit & 7))) === 0) continue;
      const o = 4 * i;
      if (!this.found || compareWords(words, o, m) > 0) {
        m[0] = words[o]!;
        m[1] = words[o + 1]!;
        m[2] = words[o + 2]!;
        m[3] = words[o + 3]!;
        this.found = true;
      }
    }
  }

  /** The highest value as canonical watermark text, `null` when no row had one. */
  result(): string | null {
    return this.found ? keyValueText(this.type, unscaledToDecimalString(readDecimal128(this.max, 0), this.scale)) : null;
  }
}

/** Signed 128-bit comparison of `words[o, o+4)` with `max` (little-endian 32-bit words). */
function compareWords(words: Uint32Array, o: number, max: Uint32Array): number {
  const hi = words[o + 3]! | 0;
  const maxHi = max[3]! | 0;
  if (hi !== maxHi) return hi - maxHi;
  for (let k = 2; k >= 0; k--) {
    const a = words[o + k]!;
    const b = max[k]!;
    if (a !== b) return a > b ? 1 : -1;
  }
  return 0;
}
