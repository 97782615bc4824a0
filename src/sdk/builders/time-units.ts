/**
 * Exact conversions of dates and ISO-8601 text into counts of an Arrow time unit.
 */
import { TimeUnit } from 'apache-arrow';

/** A Date as a count of `unit` since the epoch. */
export function dateToUnit(date: Date, unit: TimeUnit): bigint {
  const ms = BigInt(date.getTime());
  switch (unit) {
    case TimeUnit.SECOND:
      return ms >= 0n || ms % 1000n === 0n ? ms / 1000n : ms / 1000n - 1n;
    case TimeUnit.MILLISECOND:
      return ms;
    case TimeUnit.MICROSECOND:
      return ms * 1000n;
    default:
      return ms * 1_000_000n;
  }
}

/** Parses an ISO-8601 timestamp into an exact count of `unit` since the epoch (no tz suffix = UTC). */
export function parseIsoToUnit(text: string, unit: TimeUnit): bigint {
  const m = /^(-?\d{4,})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i.exec(text.trim());
  if (!m) throw new RangeError(`not an ISO-8601 timestamp: ${JSON.stringify(text)}`);
  const [, y, mo, d, h, mi, s, frac = '', zone] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number(y) < 100) {
    const date = new Date(ms);
    date.setUTCFullYear(Number(y));
    ms = date.getTime();
  }
  if (zone && zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0')) * 60_000;
  }
  const nanosOfSecond = BigInt((frac + '000000000').slice(0, 9));
  const secondsNs = (BigInt(ms) / 1000n) * 1_000_000_000n;
  const totalNs = (ms < 0 && ms % 1000 !== 0 ? secondsNs - 1_000_000_000n : secondsNs) + nanosOfSecond;
  const divisor = {
    [TimeUnit.SECOND]: 1_000_000_000n,
    [TimeUnit.MILLISECOND]: 1_000_000n,
    [TimeUnit.MICROSECOND]: 1000n,
    [TimeUnit.NANOSECOND]: 1n,
  }[unit];
  const q = totalNs / divisor;
  return totalNs < 0n && totalNs % divisor !== 0n ? q - 1n : q;
}
