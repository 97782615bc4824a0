/**
 * SNAP: the snapshot delivers every row of the table exactly once, at any batch size, and
 * together with the changes converges even when the table is written during the snapshot.
 */
import { isDeepStrictEqual } from 'node:util';
import { check } from '../assert.js';
import { makeRow, makeRows } from '../test-table.js';
import type { CheckContext, SourceOptions } from '../types.js';
import { catchUp, consumerFor, defineCheck, lingering, NEEDS_CHANGES, writerFor } from './helpers.js';

/** Writes `count` rows, reads the snapshot with `options`, and compares it with the table. */
async function snapshotEquals(ctx: CheckContext, count: number, options: SourceOptions = {}): Promise<number> {
  const writer = writerFor(ctx);
  for (let from = 1; from <= count; from += 500) await writer.insert(makeRows(Math.min(500, count - from + 1), from));
  const consumer = await consumerFor(ctx, options);
  const polls = await consumer.drainSnapshot();
  consumer.assertNoViolations();
  const diff = consumer.view.diff(writer.expected);
  check(diff.length === 0, () => `the snapshot differs from the table: ${diff.join('; ')}`);
  check(consumer.view.snapshotRows === count, `the snapshot delivered ${consumer.view.snapshotRows} rows for ${count} table rows`);
  ctx.note(`${count} rows in ${polls} batches`);
  return polls;
}

export const snapshotChecks = [
  defineCheck({
    id: 'SNAP-01',
    level: 'MUST',
    category: 'snapshot',
    rule: 'The snapshot of an empty table delivers no rows and completes.',
    method: 'Reads the snapshot of the empty test table.',
    run: async (ctx) => void (await snapshotEquals(ctx, 0)),
  }),
  defineCheck({
    id: 'SNAP-02',
    level: 'MUST',
    category: 'snapshot',
    rule: 'The snapshot of a one-row table delivers that row, exactly.',
    method: 'Inserts one row and compares the snapshot with it, value by value.',
    run: async (ctx) => void (await snapshotEquals(ctx, 1)),
  }),
  defineCheck({
    id: 'SNAP-03',
    level: 'MUST',
    category: 'snapshot',
    rule: 'The snapshot delivers every row of the table exactly once.',
    method: 'Inserts 2,000 rows and compares the snapshot (default batch size) with the table; a key delivered twice fails.',
    run: async (ctx) => void (await snapshotEquals(ctx, 2000)),
  }),
  defineCheck({
    id: 'SNAP-04',
    level: 'MUST',
    category: 'snapshot',
    rule: 'With `batchRows = 1` every batch holds at most one row and the snapshot is the same row set.',
    method: 'Inserts 40 rows and reads the snapshot with batch size 1, checking every batch boundary.',
    async run(ctx) {
      const polls = await snapshotEquals(ctx, 40, { batchRows: 1 });
      check(polls >= 40, `40 rows arrived in ${polls} batches with batchRows = 1`);
    },
  }),
  defineCheck({
    id: 'SNAP-05',
    level: 'SHOULD',
    category: 'snapshot',
    rule: 'Two snapshots of an unchanged table are equal.',
    method: 'Reads the snapshot of a 100-row table with two source instances (batch sizes 7 and default) and compares them.',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(100));
      const a = await consumerFor(ctx, { batchRows: 7 });
      await a.drainSnapshot();
      const b = await consumerFor(ctx);
      await b.drainSnapshot();
      check(
        isDeepStrictEqual(new Map([...a.view.rows].sort()), new Map([...b.view.rows].sort())),
        () => `the two snapshots differ: ${b.view.diff(a.view.rows).join('; ')}`,
      );
    },
  }),
  defineCheck({
    id: 'SNAP-06',
    level: 'MUST',
    category: 'snapshot',
    rule: 'Writes during the snapshot are not lost: snapshot plus changes converge to the final table.',
    method:
      'Thirty rows read in batches of 5; after two batches inserts, updates (read and unread rows) and deletes; then reads on until the fold equals the table.',
    requires: NEEDS_CHANGES,
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(30));
      const consumer = await consumerFor(ctx, { batchRows: 5 });
      await consumer.pollSnapshot();
      await consumer.pollSnapshot();
      await writer.insert(makeRows(5, 101));
      await writer.update([makeRow(1, 1), makeRow(2, 1), makeRow(25, 1), makeRow(30, 1)]);
      await writer.delete([3n, 26n, 102n]);
      await catchUp(consumer, writer, ctx);
      consumer.assertNoViolations();
      check(consumer.view.diff(writer.expected, lingering(ctx, writer)).length === 0, 'the fold differs from the table');
    },
  }),
];
