/**
 * Reads what a sink stored in canonical form and compares it with the expected table, naming
 * the first diverging key (in key order) so a failure says exactly where to look.
 */
import { canonicalDecimal, rowText, TEST_COLUMNS, type CanonicalRow } from '../test-table.js';
import { ADDED_COLUMN, type ExpectedRow, type ExpectedTable } from './stream.js';
import type { SinkQuirks, StoredRow, StoredValue } from './types.js';

const TIMESTAMP = /^(-?\d{4,6})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:Z|[+-]00(?::?00)?)?$/;

/** Microseconds since the epoch of ISO-8601 text (UTC), or null when the text is not a timestamp. */
export function timestampMicros(text: string): string | null {
  const m = TIMESTAMP.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac = ''] = m;
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), Number(s), 0);
  const micros = BigInt(date.getTime()) * 1000n + BigInt((frac + '000000').slice(0, 6));
  return micros.toString();
}

function text(value: StoredValue): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  return String(value);
}

/** One stored value in the canonical form of its column (unknown renderings are kept as text, so they differ visibly). */
function canonicalValue(column: string, value: StoredValue): string | boolean | null {
  if (value === null || value === undefined) return null;
  switch (column) {
    case 'id':
      return typeof value === 'number' && !Number.isSafeInteger(value) ? `${value} (a JS number)` : String(value);
    case 'amount':
      return canonicalDecimal(String(value));
    case 'updated_at':
      if (value instanceof Date) return (BigInt(value.getTime()) * 1000n).toString();
      if (typeof value === 'bigint') return value.toString();
      return timestampMicros(String(value)) ?? `${String(value)} (not a timestamp)`;
    case 'active':
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === 't') return true;
      if (value === 'false' || value === 'f') return false;
      return `${String(value)} (not a boolean)`;
    default:
      return text(value);
  }
}

/** A stored row in canonical form; a missing added column reads as null. */
export function canonicalStored(row: StoredRow, withAddedColumn: boolean): ExpectedRow {
  const out: Record<string, string | boolean | null> = {};
  for (const column of TEST_COLUMNS) out[column] = canonicalValue(column, row[column] ?? null);
  if (withAddedColumn) out[ADDED_COLUMN] = canonicalValue(ADDED_COLUMN, row[ADDED_COLUMN] ?? null);
  return out as unknown as ExpectedRow;
}

/** The expected row as a destination with `quirks` holds it. */
function withQuirks(row: ExpectedRow, quirks: SinkQuirks | undefined): ExpectedRow {
  if (!quirks?.emptyStringIsNull) return row;
  const out = { ...row } as Record<string, unknown>;
  for (const column of ['name', 'note', ADDED_COLUMN]) if (out[column] === '') out[column] = null;
  return out as ExpectedRow;
}

function same(a: ExpectedRow, b: ExpectedRow, withAddedColumn: boolean): boolean {
  const columns: string[] = [...TEST_COLUMNS, ...(withAddedColumn ? [ADDED_COLUMN] : [])];
  return columns.every((c) => (a as Record<string, unknown>)[c] === (b as Record<string, unknown>)[c]);
}

function keyOrder(a: string, b: string): number {
  try {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  } catch {
    return a < b ? -1 : a > b ? 1 : 0;
  }
}

function show(row: ExpectedRow | undefined): string {
  return rowText(row as CanonicalRow | undefined);
}

/**
 * Compares stored rows with the expected table. Returns null when they are equal, otherwise a
 * message naming the first diverging key, both versions of its row, and how many keys differ.
 */
export function divergence(stored: readonly StoredRow[], expected: ExpectedTable, quirks?: SinkQuirks): string | null {
  const withAdded = expected.hasAddedColumn;
  const byKey = new Map<string, ExpectedRow>();
  const twice = new Set<string>();
  for (const row of stored) {
    const canonical = canonicalStored(row, withAdded);
    const key = String(canonical.id);
    if (byKey.has(key)) twice.add(key);
    byKey.set(key, canonical);
  }
  const keys = [...new Set([...byKey.keys(), ...expected.rows.keys()])].sort(keyOrder);
  const differing: string[] = [];
  for (const key of keys) {
    const want = expected.rows.get(key);
    const got = byKey.get(key);
    if (twice.has(key) || want === undefined || got === undefined || !same(got, withQuirks(want, quirks), withAdded)) differing.push(key);
  }
  if (differing.length === 0) return null;
  const first = differing[0]!;
  const want = expected.rows.get(first);
  const got = byKey.get(first);
  const what = twice.has(first)
    ? `is stored ${stored.filter((r) => String(canonicalStored(r, withAdded).id) === first).length} times`
    : want === undefined
      ? `is stored but should not exist: ${show(got)}`
      : got === undefined
        ? `is missing: expected ${show(withQuirks(want, quirks))}`
        : `differs: stored ${show(got)}, expected ${show(withQuirks(want, quirks))}`;
  return `first diverging key id=${first} ${what}; ${differing.length} of ${keys.length} keys differ (stored ${stored.length} rows, expected ${expected.rows.size})`;
}
