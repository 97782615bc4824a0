/**
 * VAL: values survive exactly, through the snapshot and through change batches: nulls,
 * Unicode, int64 beyond 2^53, decimals, timestamps, large text.
 */
import { check } from '../assert.js';
import { DECIMAL_SAMPLES, INT64_SAMPLES, makeRow, TIMESTAMP_SAMPLES, UNICODE_SAMPLES } from '../test-table.js';
import type { CheckContext, TestRow } from '../types.js';
import { consumerFor, defineCheck, lingering, writerFor } from './helpers.js';

/**
 * Inserts `before` rows and compares the snapshot; then (when the source has changes)
 * inserts `after` rows and rewrites each `before` row with the values of `rewrite`, and
 * compares the fold again. Rows are compared canonically, column by column.
 */
async function roundTrip(
  ctx: CheckContext,
  before: TestRow[],
  after: TestRow[],
  rewrite: (row: TestRow, i: number) => TestRow,
): Promise<void> {
  const writer = writerFor(ctx);
  await writer.insert(before);
  const consumer = await consumerFor(ctx);
  await consumer.drainSnapshot();
  const snapshotDiff = consumer.view.diff(writer.expected);
  check(snapshotDiff.length === 0, () => `through the snapshot: ${snapshotDiff.join('; ')}`);
  if (ctx.capabilities.changes === 'none') {
    ctx.note('snapshot only: the source has no changes');
    return;
  }
  await writer.insert(after);
  await writer.update(before.map(rewrite));
  await consumer.converge(writer, lingering(ctx, writer));
  consumer.assertNoViolations();
}

function withValues(base: number, values: Partial<TestRow>[]): TestRow[] {
  return values.map((v, i) => ({ ...makeRow(base + i), ...v }));
}

export const valueChecks = [
  defineCheck({
    id: 'VAL-01',
    level: 'MUST',
    category: 'values',
    rule: 'A SQL NULL arrives as a null cell (never an empty string or a placeholder), and a non-null value replacing it arrives.',
    method: 'Rows with `note = null` and `note = ""`, through the snapshot; then null ↔ value updates and new rows through changes.',
    run: (ctx) =>
      roundTrip(
        ctx,
        withValues(1, [{ note: null }, { note: '' }, { note: 'x' }]),
        withValues(10, [{ note: null }, { note: '' }]),
        (row, i) => ({ ...row, note: i === 0 ? 'now set' : null }),
      ),
  }),
  defineCheck({
    id: 'VAL-02',
    level: 'MUST',
    category: 'values',
    rule: 'Text arrives byte-exact: astral characters, ZWJ sequences, combining marks (NFC and NFD kept apart), right-to-left text, control characters.',
    method: 'Every Unicode sample as `name` and `note`, through the snapshot and through changes.',
    run: (ctx) =>
      roundTrip(
        ctx,
        withValues(
          1,
          UNICODE_SAMPLES.map((s) => ({ name: s, note: s })),
        ),
        withValues(
          100,
          UNICODE_SAMPLES.map((s) => ({ name: `${s}!`, note: s })),
        ),
        (row, i) => ({ ...row, name: UNICODE_SAMPLES[(i + 1) % UNICODE_SAMPLES.length]!, note: UNICODE_SAMPLES[i]!.normalize('NFD') }),
      ),
  }),
  defineCheck({
    id: 'VAL-03',
    level: 'MUST',
    category: 'values',
    rule: 'int64 values arrive exactly, including those beyond 2^53 and at the int64 limits.',
    method: 'Rows whose ids are 2^53 + 1, 2^62 + 12345, ±2^63 edges and −2^53 − 3, through the snapshot and through changes.',
    run: (ctx) =>
      roundTrip(
        ctx,
        INT64_SAMPLES.slice(0, 3).map((id) => makeRow(id)),
        INT64_SAMPLES.slice(3).map((id) => makeRow(id)),
        (row) => makeRow(row.id, 1),
      ),
  }),
  defineCheck({
    id: 'VAL-04',
    level: 'MUST',
    category: 'values',
    rule: 'decimal(12,2) values arrive exactly at their scale (never through a float), including sign, zero and the largest magnitude.',
    method: 'Every decimal sample as `amount`, through the snapshot and through changes.',
    run: (ctx) =>
      roundTrip(
        ctx,
        withValues(
          1,
          DECIMAL_SAMPLES.map((amount) => ({ amount })),
        ),
        withValues(
          100,
          DECIMAL_SAMPLES.map((amount) => ({ amount })),
        ),
        (row, i) => ({ ...row, amount: DECIMAL_SAMPLES[(i + 3) % DECIMAL_SAMPLES.length]! }),
      ),
  }),
  defineCheck({
    id: 'VAL-05',
    level: 'MUST',
    category: 'values',
    rule: 'Timestamps arrive exactly as UTC instants with their sub-second digits, including before 1970.',
    method:
      'Every timestamp sample (millisecond fractions, 1900, 1969, the epoch, 2999) as `updated_at`, through the snapshot and through changes.',
    run: (ctx) =>
      roundTrip(
        ctx,
        withValues(
          1,
          TIMESTAMP_SAMPLES.map((updated_at) => ({ updated_at })),
        ),
        withValues(
          100,
          TIMESTAMP_SAMPLES.map((updated_at) => ({ updated_at })),
        ),
        (row, i) => ({ ...row, updated_at: TIMESTAMP_SAMPLES[(i + 2) % TIMESTAMP_SAMPLES.length]! }),
      ),
  }),
  defineCheck({
    id: 'VAL-06',
    level: 'SHOULD',
    category: 'values',
    rule: 'Large text values (several MiB) arrive intact.',
    method: 'A 2 MiB and a 3 MiB `note` through the snapshot; a 2.5 MiB one through changes.',
    run: (ctx) =>
      roundTrip(
        ctx,
        withValues(1, [{ note: 'a'.repeat(2 * 1024 * 1024) }, { note: `ü${'b'.repeat(3 * 1024 * 1024)}😀` }]),
        withValues(10, [{ note: 'c'.repeat(2.5 * 1024 * 1024) }]),
        (row, i) => ({ ...row, note: i === 0 ? 'small now' : `${'d'.repeat(1024 * 1024)}€` }),
      ),
  }),
];
