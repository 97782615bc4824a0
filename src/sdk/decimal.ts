/**
 * Exact decimal text <-> unscaled integer conversions (never through a float).
 */

const DECIMAL_TEXT = /^([+-])?(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i;

/**
 * Parses decimal text into the unscaled integer at `scale` (e.g. "12.5" at scale 2 → 1250n).
 * Throws RangeError when the value has more fractional digits than `scale` (other than
 * trailing zeros) or more than `precision` digits in all.
 */
export function decimalStringToUnscaled(text: string, scale: number, precision = 38): bigint {
  const m = DECIMAL_TEXT.exec(text.trim());
  if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) throw new RangeError(`not a decimal number: ${JSON.stringify(text)}`);
  const [, sign, intPart = '', fracRaw = '', exp] = m;
  let digits = intPart + fracRaw;
  const pointShift = fracRaw.length - (exp ? Number(exp) : 0); // digits right of the point
  // bring to the target scale
  if (pointShift < scale) {
    digits += '0'.repeat(scale - pointShift);
  } else if (pointShift > scale) {
    const drop = pointShift - scale;
    const dropped = digits.slice(digits.length - drop);
    if (/[^0]/.test(dropped)) throw new RangeError(`${text} has more than ${scale} fractional digits`);
    digits = digits.slice(0, digits.length - drop);
  }
  digits = digits.replace(/^0+/, '');
  if (digits.length > precision) throw new RangeError(`${text} does not fit DECIMAL(${precision}, ${scale})`);
  const value = digits === '' ? 0n : BigInt(digits);
  return sign === '-' ? -value : value;
}

/** Formats an unscaled integer at `scale` as canonical decimal text ("-0.05", "12.50"). */
export function unscaledToDecimalString(unscaled: bigint, scale: number): string {
  const negative = unscaled < 0n;
  let digits = (negative ? -unscaled : unscaled).toString();
  if (scale > 0) {
    if (digits.length <= scale) digits = '0'.repeat(scale - digits.length + 1) + digits;
    digits = `${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`;
  }
  return negative ? `-${digits}` : digits;
}

/** Reads the 128-bit little-endian two's complement value at `index` of a Decimal128 buffer. */
export function readDecimal128(words: Uint32Array, index: number): bigint {
  const o = index * 4;
  const lo = words[o]!;
  const w1 = words[o + 1]!;
  const w2 = words[o + 2]!;
  const hi = words[o + 3]!;
  // fast path: fits in 53 bits signed
  if ((hi === 0 && w2 === 0 && w1 < 0x200000) || (hi === 0xffffffff && w2 === 0xffffffff && w1 >= 0xffe00000)) {
    const signed = (w1 | 0) * 4294967296 + lo;
    return BigInt(signed);
  }
  const unsigned = (BigInt(hi) << 96n) | (BigInt(w2) << 64n) | (BigInt(w1) << 32n) | BigInt(lo);
  return BigInt.asIntN(128, unsigned);
}
