/**
 * The standard test table: its columns, the canonical (lossless, comparable) form of a row,
 * and the rows the checks write.
 */
import { decimalStringToUnscaled, unscaledToDecimalString } from '../src/sdk/decimal.js';
import type { TestRow } from './types.js';

/** Column names of the standard test table, in table order. */
export const TEST_COLUMNS = ['id', 'name', 'amount', 'updated_at', 'active', 'note'] as const;
export type TestColumn = (typeof TEST_COLUMNS)[number];

/** The primary key of the test table. */
export const TEST_PRIMARY_KEY = ['id'] as const;

/**
 * A row in canonical form: every value a string (or null / boolean) that two equal values
 * always render the same way, whichever Arrow type carried them. Timestamps are microseconds
 * since the epoch, decimals are text at scale 2, ids are decimal text.
 */
export type CanonicalRow = {
  id: string;
  name: string | null;
  amount: string | null;
  updated_at: string | null;
  active: boolean | null;
  note: string | null;
};

/** Decimal text normalised to scale 2 ("12.5" → "12.50"); text that is not a decimal is kept. */
export function canonicalDecimal(text: string): string {
  try {
    return unscaledToDecimalString(decimalStringToUnscaled(text, 2), 2);
  } catch {
    return text;
  }
}

/** The canonical form of a row as written through the harness. */
export function canonicalTestRow(row: TestRow): CanonicalRow {
  return {
    id: row.id.toString(),
    name: row.name,
    amount: canonicalDecimal(row.amount),
    updated_at: (BigInt(row.updated_at.getTime()) * 1000n).toString(),
    active: row.active,
    note: row.note,
  };
}

/** A stable text of a canonical row for equality and diffs. */
export function rowText(row: CanonicalRow | undefined): string {
  return row === undefined
    ? '(absent)'
    : JSON.stringify(row, (_k, v: unknown) => (typeof v === 'string' && v.length > 80 ? `${v.slice(0, 40)}…(${v.length} chars)` : v));
}

/** Exact equality of canonical rows (full values, not the abbreviated text). */
export function sameRow(a: CanonicalRow | undefined, b: CanonicalRow | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return TEST_COLUMNS.every((c) => a[c] === b[c]);
}

/** A small deterministic PRNG (mulberry32), so generated rows depend only on the seed. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASE_TIME = Date.UTC(2024, 0, 1);

/**
 * A plain row for `id`; `version` changes every non-key value so updates are visible.
 * Values are deterministic so that failures replay.
 */
export function makeRow(id: bigint | number, version = 0): TestRow {
  const n = BigInt(id);
  const cents = (n * 7919n + BigInt(version) * 104729n) % 100000000n;
  return {
    id: n,
    name: `row ${n} v${version}`,
    amount: unscaledToDecimalString(cents, 2),
    updated_at: new Date(BASE_TIME + Number(n % 100000n) * 1000 + version * 37),
    active: (n + BigInt(version)) % 2n === 0n,
    note: version % 3 === 2 ? null : `note ${n}/${version}`,
  };
}

/** Rows `from`..`from + count - 1`. */
export function makeRows(count: number, from = 1, version = 0): TestRow[] {
  return Array.from({ length: count }, (_, i) => makeRow(from + i, version));
}

/**
 * Unicode that breaks naive encoders: astral emoji, ZWJ sequences, combining marks, RTL, NFC vs NFD.
 * (The empty string is VAL-01's business, so databases without one can still run VAL-02.)
 */
export const UNICODE_SAMPLES = [
  'plain ascii',
  'Grüße, Zürich — “quotes” ‘single’',
  '😀 astral emoji 𝄞 𠜎',
  'family 👨‍👩‍👧‍👦 zwj 🏳️‍🌈',
  'e\u0301 combining (NFD) vs \u00e9 (NFC)',
  'עברית العربية right-to-left',
  '日本語テキスト 中文 한국어',
  'tab\tnewline\nquote"backslash\\',
  '\u00a0nbsp \u200b zero-width \ufeff bom',
];

/** Decimal values of decimal(12,2) at the edges: scale, sign, smallest and largest magnitude. */
export const DECIMAL_SAMPLES = ['0.00', '0.01', '-0.01', '-0.05', '12.50', '1234567890.12', '9999999999.99', '-9999999999.99', '100.10'];

/** Timestamps with millisecond fractions, before 1970, and far ahead. */
export const TIMESTAMP_SAMPLES = [
  new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789)),
  new Date(Date.UTC(1969, 11, 31, 23, 59, 59, 999)),
  new Date(Date.UTC(1900, 0, 1, 0, 0, 0, 1)),
  new Date(Date.UTC(1970, 0, 1)),
  new Date(Date.UTC(2999, 11, 31, 23, 59, 59, 500)),
];

/** Ids beyond 2^53 (not representable as a JS number) and at the int64 edges. */
export const INT64_SAMPLES = [2n ** 53n + 1n, 2n ** 62n + 12345n, 9223372036854775807n, -9223372036854775808n, -(2n ** 53n) - 3n];

/**
 * Marker rows: after each scenario step the suite inserts a row from this reserved key range
 * and waits until the change stream delivers it. Changes arrive in commit order, so once a
 * marker has arrived everything written before it has arrived too, and the comparison is
 * final. Markers never appear in the expected table, and the consumer's view leaves them out
 * of its rows and change lists. The range lies below 2^53, so a source that passes ids through
 * a JS number still delivers recognisable markers, and clear of every id the checks write.
 */
export const MARKER_BASE = 4_500_000_000_000_000n;
const MARKER_SPAN = 1_000_000_000n;

/** True for the key text of a marker row. */
export function isMarkerKey(key: string): boolean {
  if (key.length !== 16 || !key.startsWith('45')) return false;
  const id = BigInt(key);
  return id >= MARKER_BASE && id < MARKER_BASE + MARKER_SPAN;
}

/** The ordinal of a marker key (its offset in the reserved range). */
export function markerOrdinal(key: string): number {
  return Number(BigInt(key) - MARKER_BASE);
}

/** The marker row with ordinal `n`. */
export function markerRow(n: number): TestRow {
  return { ...makeRow(0, 0), id: MARKER_BASE + BigInt(n), name: `marker ${n}`, note: null };
}
