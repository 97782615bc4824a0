/**
 * Log sequence numbers as bigints, and their `X/Y` text form.
 */

/** Parses `16/B374D848` into a bigint. */
export function parseLsn(text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!m) throw new RangeError(`not an LSN: ${text}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** Formats a bigint LSN as `X/Y` (upper case hex, as PostgreSQL prints it). */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** True for `X/Y` text. */
export function isLsnText(text: string): boolean {
  return /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(text);
}

/** Reads a big-endian unsigned 64-bit LSN. */
export function readLsn(buf: Buffer, offset: number): bigint {
  return buf.readBigUInt64BE(offset);
}
