/**
 * Result sets as Exasol sends them: column metadata with exact `dataType` objects, values
 * encoded from PostgreSQL's text output (never through a JS Date or, for decimals, a double),
 * column-major `data`, inline below 1,000 rows and behind a handle at or above, and `fetch`
 * slices bounded by the client's byte budget.
 */
import { RawJsonNumber, writeJson } from './json.js';
import { wireDataType, type ExasolType } from './exasol-types.js';

/** Exasol inlines result sets with fewer rows than this; larger ones get a handle. */
export const INLINE_ROW_LIMIT = 1000;

export interface ResultColumn {
  name: string;
  type: ExasolType;
}

/** Formatting settings of the session that affect values (ALTER SESSION / attributes). */
export interface ValueFormat {
  /** Digits after the seconds of TIMESTAMP values (NLS_TIMESTAMP_FORMAT `FFn`), default 6. */
  timestampFractionDigits: number;
}

/** A materialised result set: encoded values, row-major. */
export class StoredResultSet {
  private rowSizes: number[] | undefined;

  constructor(
    readonly columns: ResultColumn[],
    readonly rows: unknown[][],
  ) {}

  get numRows(): number {
    return this.rows.length;
  }

  /** The `resultSet` object of an `execute` reply. */
  toWire(handle: number | undefined, protocolVersion: number): Record<string, unknown> {
    const columns = this.columns.map((c) => ({ name: c.name, dataType: wireDataType(c.type, protocolVersion) }));
    if (handle !== undefined) {
      // With a handle the rows come only through fetch.
      return { resultSetHandle: handle, numColumns: columns.length, numRows: this.numRows, numRowsInMessage: 0, columns };
    }
    return {
      numColumns: columns.length,
      numRows: this.numRows,
      numRowsInMessage: this.numRows,
      columns,
      data: columnMajor(this.rows, this.columns.length, 0, this.numRows),
    };
  }

  /** The `responseData` of a `fetch`: rows from `start` that fit in `numBytes` (at least one). */
  fetch(start: number, numBytes: number): { numRows: number; data: unknown[][] } {
    const sizes = (this.rowSizes ??= this.rows.map((row) => writeJson(row).length));
    let end = start;
    let used = 0;
    while (end < this.numRows && (end === start || used + sizes[end] <= numBytes)) used += sizes[end++];
    return { numRows: end - start, data: columnMajor(this.rows, this.columns.length, start, end) };
  }
}

function columnMajor(rows: unknown[][], numColumns: number, start: number, end: number): unknown[][] {
  const data: unknown[][] = [];
  for (let c = 0; c < numColumns; c++) {
    const column = new Array(end - start);
    for (let r = start; r < end; r++) column[r - start] = rows[r][c];
    data.push(column);
  }
  return data;
}

/**
 * Encodes PostgreSQL text values (`null` for NULL) of one column as Exasol JSON values. Columns
 * typed from an unconstrained numeric get their scale from the data, as a real DECIMAL would
 * have one.
 */
export function encodeColumn(type: ExasolType, values: (string | null)[], format: ValueFormat): { type: ExasolType; values: unknown[] } {
  let resolved = type;
  if (type.type === 'DECIMAL' && type.scaleFromData) {
    const scale = Math.max(0, ...values.map((v) => (v && v.includes('.') ? v.length - v.indexOf('.') - 1 : 0)));
    resolved = { type: 'DECIMAL', precision: 36, scale: Math.min(scale, 36) };
  }
  return { type: resolved, values: values.map((v) => (v === null ? null : encodeValue(resolved, v, format))) };
}

/** Encodes one non-null PostgreSQL text value. */
export function encodeValue(type: ExasolType, text: string, format: ValueFormat): unknown {
  switch (type.type) {
    case 'DECIMAL': {
      const fixed = withScale(text, type.scale ?? 0);
      // Exasol writes DECIMAL(p ≤ 18, 0) as JSON numbers, everything else as strings.
      return (type.scale ?? 0) === 0 && (type.precision ?? 18) <= 18 ? new RawJsonNumber(fixed) : fixed;
    }
    case 'DOUBLE': {
      const n = Number(text);
      return Number.isFinite(n) ? n : null;
    }
    case 'BOOLEAN':
      return text === 't' || text === 'true';
    case 'TIMESTAMP':
      return formatTimestamp(text, format.timestampFractionDigits);
    case 'INTERVAL YEAR TO MONTH':
    case 'INTERVAL DAY TO SECOND':
      return formatInterval(type, text);
    case 'HASHTYPE':
      return text.startsWith('\\x') ? text.slice(2) : text.replace(/-/g, '');
    default:
      return text;
  }
}

/** Normalises a PostgreSQL numeric text to exactly `scale` fraction digits. */
function withScale(text: string, scale: number): string {
  const [whole, fraction = ''] = text.split('.');
  if (scale === 0) return whole;
  return `${whole}.${fraction.padEnd(scale, '0').slice(0, scale)}`;
}

/** `YYYY-MM-DD HH:MI:SS[.f…][+TZ]` → `YYYY-MM-DD HH:MI:SS.ffffff` (the session is UTC). */
export function formatTimestamp(text: string, fractionDigits: number): string {
  const match = /^(\d{4,}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.(\d+))?(?:[+-]\d\d(?::?\d\d)?)?$/.exec(text);
  if (!match) return text;
  if (fractionDigits === 0) return match[1];
  return `${match[1]}.${(match[2] ?? '').padEnd(fractionDigits, '0').slice(0, fractionDigits)}`;
}

/** PostgreSQL ISO-8601 interval (`P1Y2M3DT4H5M6.789S`) → Exasol interval text. */
export function formatInterval(type: ExasolType, text: string): string {
  const m = /^P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)W)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?\d+(?:\.\d+)?)S)?)?$/.exec(text);
  if (!m) return text;
  const n = (k: number) => Number(m[k] ?? 0);
  const precision = type.precision ?? 2;
  if (type.type === 'INTERVAL YEAR TO MONTH') {
    const months = n(1) * 12 + n(2);
    const abs = Math.abs(months);
    return `${months < 0 ? '-' : '+'}${String(Math.floor(abs / 12)).padStart(precision, '0')}-${String(abs % 12).padStart(2, '0')}`;
  }
  const fraction = type.fraction ?? 3;
  const seconds = m[7] ?? '0';
  const micros =
    BigInt(n(3) * 7 + n(4)) * 86_400_000_000n + BigInt(n(5)) * 3_600_000_000n + BigInt(n(6)) * 60_000_000n + secondsToMicros(seconds);
  const negative = micros < 0n;
  let rest = negative ? -micros : micros;
  const days = rest / 86_400_000_000n;
  rest %= 86_400_000_000n;
  const hours = rest / 3_600_000_000n;
  rest %= 3_600_000_000n;
  const minutes = rest / 60_000_000n;
  rest %= 60_000_000n;
  const secs = rest / 1_000_000n;
  const micro = String(rest % 1_000_000n).padStart(6, '0');
  const two = (v: bigint) => String(v).padStart(2, '0');
  const frac = fraction > 0 ? '.' + micro.padEnd(fraction, '0').slice(0, fraction) : '';
  return `${negative ? '-' : '+'}${String(days).padStart(precision, '0')} ${two(hours)}:${two(minutes)}:${two(secs)}${frac}`;
}

function secondsToMicros(text: string): bigint {
  const negative = text.startsWith('-');
  const [whole, fraction = ''] = text.replace('-', '').split('.');
  const value = BigInt(whole) * 1_000_000n + BigInt(fraction.padEnd(6, '0').slice(0, 6));
  return negative ? -value : value;
}
