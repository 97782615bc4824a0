/**
 * Sink checks of ordered delivery, values, flush and close, schema changes, truncate and
 * snapshot restarts (SINK-01 … SINK-07).
 */
import { ConnectorError } from '../../../src/sdk/errors.js';
import { check, describeError, fail } from '../../assert.js';
import { DECIMAL_SAMPLES, INT64_SAMPLES, makeRow, makeRows, TIMESTAMP_SAMPLES, UNICODE_SAMPLES } from '../../test-table.js';
import { applyStep, deliver, expectStored } from '../drive.js';
import { ExpectedTable, StreamBuilder, type Step, type StreamRow } from '../stream.js';
import type { SinkCheck, SinkCheckContext } from '../types.js';

/** Commit after every step: the delivery compares after each flush, so a failure names its batch. */
function everyStep(steps: readonly Step[]): number[] {
  return steps.map((_, i) => i + 1);
}

/** The stream SINK-01 delivers: a snapshot in batches of two, then changes that only come out right in order. */
export function orderedStream(): Step[] {
  return new StreamBuilder()
    .fullSnapshot(makeRows(6, 1), 2)
    .changes([
      { type: 'insert', row: makeRow(7) },
      { type: 'update', row: makeRow(2, 1) },
      { type: 'delete', id: 3n },
    ])
    .changes([
      { type: 'update', row: makeRow(4, 1) },
      { type: 'update', row: makeRow(4, 2) },
      { type: 'update', row: makeRow(4, 3) },
    ])
    .changes([
      { type: 'delete', id: 5n },
      { type: 'insert', row: makeRow(5, 4) },
    ])
    .changes([
      { type: 'insert', row: makeRow(8) },
      { type: 'delete', id: 8n },
    ])
    .changes([{ type: 'update', row: makeRow(7, 1) }])
    .changes([{ type: 'update', row: makeRow(7, 2) }])
    .changes([{ type: 'delete', id: 1n }])
    .changes([{ type: 'insert', row: makeRow(1, 5) }]).steps;
}

/** Rows with the edge values of every column: int64 beyond 2^53, decimals at the edges, old and far timestamps, Unicode, NULL and ''. */
export function valueRows(): StreamRow[] {
  const rows: StreamRow[] = [];
  const count = Math.max(INT64_SAMPLES.length, UNICODE_SAMPLES.length, DECIMAL_SAMPLES.length, TIMESTAMP_SAMPLES.length);
  for (let i = 0; i < count; i++) {
    rows.push({
      id: INT64_SAMPLES[i] ?? BigInt(1000 + i),
      name: UNICODE_SAMPLES[i % UNICODE_SAMPLES.length]!,
      amount: DECIMAL_SAMPLES[i % DECIMAL_SAMPLES.length]!,
      updated_at: TIMESTAMP_SAMPLES[i % TIMESTAMP_SAMPLES.length]!,
      active: i % 2 === 0,
      note: i % 3 === 0 ? null : i % 3 === 1 ? '' : `note ${i} "quoted", comma; tab\there`,
    });
  }
  rows.push({ ...makeRow(2000), note: 'x'.repeat(100_000) + 'ü' });
  return rows;
}

/** Awaits a refusal: a definite ConnectorError from `write` or `flush`, and never a silent success. */
async function expectRefusal(ctx: SinkCheckContext, steps: readonly Step[], index: number, what: string): Promise<void> {
  const sink = await ctx.createSink();
  for (let i = 0; i < index; i++) await applyStep(sink, steps, i);
  await sink.flush();
  const step = steps[index]!;
  if (step.kind !== 'changes') throw new TypeError(`step ${index} is not a change batch`);
  let error: unknown = null;
  try {
    await sink.write(step.batch);
    await sink.flush();
  } catch (e) {
    error = e;
  }
  if (error === null)
    fail(`${what} was accepted (write and flush resolved), but the target declares it unsupported: the sink must refuse it`);
  check(
    ConnectorError.is(error) && error.kind === 'definite',
    () => `${what} was refused with ${describeError(error)}; expected a definite ConnectorError naming the problem`,
  );
  ctx.note(`refused with ${describeError(error)}`);
  await sink.close().catch(() => undefined);
  await expectStored(ctx, ExpectedTable.of(steps.slice(0, index)), `after the refused ${what}`);
}

export const deliveryChecks: readonly SinkCheck[] = [
  {
    id: 'SINK-01',
    level: 'MUST',
    category: 'delivery',
    rule: 'batches are applied in delivery order: after each flush the destination holds exactly the fold of everything written',
    method:
      'Delivers a snapshot in batches of two, then change batches whose result depends on order (several updates of one key in one batch, delete then re-insert, insert then delete, single-row batches); flushes after every step and compares readBack() with the model each time.',
    async run(ctx) {
      const steps = orderedStream();
      await deliver(ctx, steps, { commitsAfter: everyStep(steps), compareAtCommits: true });
      await expectStored(ctx, ExpectedTable.of(steps), 'after close()');
    },
  },
  {
    id: 'SINK-02',
    level: 'MUST',
    category: 'values',
    rule: 'every value is stored exactly: int64 beyond 2^53, decimal edges, timestamps before 1970 and far ahead, Unicode, NULL distinct from empty text, 100 KB text',
    method:
      'Writes a snapshot of edge-value rows, then updates that turn NULL into text and text into NULL; compares after each flush (a destination with the quirk emptyStringIsNull expects empty text back as NULL).',
    async run(ctx) {
      const rows = valueRows();
      const steps = new StreamBuilder()
        .fullSnapshot(rows, 4)
        .changes(
          rows.slice(0, 6).map((r, i) => ({ type: 'update' as const, row: { ...r, note: r.note === null ? `was null ${i}` : null } })),
        ).steps;
      await deliver(ctx, steps, { commitsAfter: [steps.length - 1, steps.length], compareAtCommits: true });
    },
  },
  {
    id: 'SINK-03',
    level: 'MUST',
    category: 'flush',
    rule: 'flush() makes everything written so far durable: readBack() sees it before close(); a flush with nothing new changes nothing',
    method:
      'Writes, flushes and reads back (sink still open) twice over; then flushes twice with nothing written in between and reads back again.',
    async run(ctx) {
      const steps = new StreamBuilder()
        .fullSnapshot(makeRows(4, 1))
        .changes([{ type: 'update', row: makeRow(2, 1) }])
        .changes([
          { type: 'insert', row: makeRow(9) },
          { type: 'delete', id: 1n },
        ]).steps;
      const sink = await ctx.createSink();
      const flushAndCompare = async (upTo: number, when: string) => {
        await sink.flush();
        await expectStored(ctx, ExpectedTable.of(steps.slice(0, upTo)), when);
      };
      for (let i = 0; i < 4; i++) await applyStep(sink, steps, i);
      await flushAndCompare(4, 'after the snapshot and its first change batch were flushed (sink still open)');
      await applyStep(sink, steps, 4);
      await flushAndCompare(5, 'after the last change batch was flushed (sink still open)');
      await flushAndCompare(5, 'after a second flush() with nothing written');
      await sink.close();
    },
  },
  {
    id: 'SINK-04',
    level: 'MUST',
    category: 'flush',
    rule: 'close() after the final flush keeps everything; a second close() resolves; closing a sink that never wrote resolves',
    method:
      'Delivers a stream with a flush after each change batch, closes, reads back, closes again; opens a second sink on a fresh destination and closes it without writing.',
    async run(ctx) {
      const steps = orderedStream();
      const { sink } = await deliver(ctx, steps, { commitsAfter: [4, 6, 8, 10] });
      await expectStored(ctx, ExpectedTable.of(steps), 'after close()');
      try {
        await sink.close();
      } catch (error) {
        fail(`a second close() rejected: ${describeError(error)}`);
      }
      await expectStored(ctx, ExpectedTable.of(steps), 'after a second close()');
      const idle = await (await ctx.fresh()).createSink();
      try {
        await idle.close();
      } catch (error) {
        fail(`close() of a sink that never wrote rejected: ${describeError(error)}`);
      }
    },
  },
  {
    id: 'SINK-05',
    level: 'MUST',
    category: 'schema',
    requires: { addColumn: true },
    counterpart: 'SINK-05N',
    rule: 'a change batch with an added nullable column is stored with the new column; earlier rows read it as NULL',
    method:
      'Writes a snapshot and a change batch, then change batches whose schema has an added column `extra` (updates, inserts, NULL and text values); compares after each flush.',
    async run(ctx) {
      const steps = addedColumnStream();
      await deliver(ctx, steps, { commitsAfter: everyStep(steps), compareAtCommits: true });
    },
  },
  {
    id: 'SINK-05N',
    level: 'MUST',
    category: 'schema',
    requires: { addColumn: false },
    counterpart: 'SINK-05',
    rule: 'a sink that cannot add columns refuses a batch with an added column with a definite ConnectorError, and keeps what was flushed before',
    method:
      'Writes and flushes a snapshot and a change batch, then writes the batch with the added column: write() or flush() must reject definite; readBack() must still hold the earlier rows.',
    async run(ctx) {
      const steps = addedColumnStream();
      await expectRefusal(
        ctx,
        steps,
        steps.findIndex((s) => s.kind === 'changes' && s.withAddedColumn),
        'a batch with an added column',
      );
    },
  },
  {
    id: 'SINK-06',
    level: 'MUST',
    category: 'truncate',
    requires: { truncate: true },
    counterpart: 'SINK-06N',
    rule: 'a truncate row clears everything before it (earlier batches and earlier rows of its batch); rows after it in the same batch stay',
    method:
      'Writes a snapshot, then a batch [update, truncate, insert, insert], an insert batch, a batch with a lone truncate and an insert batch; compares after each flush.',
    async run(ctx) {
      const steps = truncateStream();
      await deliver(ctx, steps, { commitsAfter: everyStep(steps), compareAtCommits: true });
    },
  },
  {
    id: 'SINK-06N',
    level: 'MUST',
    category: 'truncate',
    requires: { truncate: false },
    counterpart: 'SINK-06',
    rule: 'a sink that cannot apply truncate refuses a truncate row with a definite ConnectorError, and keeps what was flushed before',
    method:
      'Writes and flushes a snapshot, then a batch with a truncate row: write() or flush() must reject definite; readBack() must still hold the snapshot.',
    async run(ctx) {
      const steps = truncateStream();
      await expectRefusal(
        ctx,
        steps,
        steps.findIndex((s) => s.kind === 'changes' && s.changes.some((c) => c.type === 'truncate')),
        'a truncate row',
      );
    },
  },
  {
    id: 'SINK-07',
    level: 'MUST',
    category: 'snapshot',
    rule: 'snapshotStart({ restart: true }) replaces everything stored before, also rows written by an earlier sink instance; an empty snapshot empties the destination',
    method:
      'Snapshot + changes, then a second snapshot of other rows with restart: true; a crash right before a third snapshot, so a new instance (restored from the last commit) starts it; then an empty snapshot. On a fresh destination: a snapshot, a commit, a crash, and an empty snapshot restart as the first act of the new instance. Compares at the end of each.',
    async run(ctx) {
      const b = new StreamBuilder()
        .fullSnapshot(makeRows(5, 1), 2)
        .changes([
          { type: 'update', row: makeRow(1, 1) },
          { type: 'insert', row: makeRow(6) },
        ])
        .fullSnapshot(makeRows(4, 4, 2), 3, true)
        .changes([{ type: 'delete', id: 5n }]);
      const crashAt = b.steps.length;
      b.fullSnapshot(makeRows(3, 20, 1), 2, true).fullSnapshot([], 1, true);
      const steps = b.steps;
      await deliver(ctx, steps, { commitsAfter: everyStep(steps), crashes: [[crashAt, 'new-instance']] });
      await expectStored(ctx, ExpectedTable.of(steps), 'after the empty snapshot restart');
      // A table emptied while the sync was down: the new instance's first act is an empty snapshot.
      const emptied = new StreamBuilder().fullSnapshot(makeRows(4, 1), 2).fullSnapshot([], 1, true).steps;
      const other = await ctx.fresh();
      await deliver(other, emptied, { commitsAfter: [emptied.length - 2], crashes: [[emptied.length - 2, 'new-instance']] });
      await expectStored(other, ExpectedTable.of(emptied), 'after an empty snapshot restart as the first act of a new sink instance');
      ctx.note(
        `delivered ${steps.length} steps with 3 snapshot restarts, one in a new instance; then an empty snapshot as the first act of a new instance`,
      );
    },
  },
];

function addedColumnStream(): Step[] {
  return new StreamBuilder()
    .fullSnapshot(makeRows(3, 1))
    .changes([{ type: 'insert', row: makeRow(4) }])
    .changes(
      [
        { type: 'update', row: { ...makeRow(2, 1), extra: 'x2' } },
        { type: 'insert', row: { ...makeRow(5), extra: null } },
        { type: 'insert', row: { ...makeRow(6), extra: 'six' } },
      ],
      true,
    )
    .changes([
      { type: 'update', row: { ...makeRow(4, 1), extra: 'later' } },
      { type: 'delete', id: 3n },
    ]).steps;
}

function truncateStream(): Step[] {
  return new StreamBuilder()
    .fullSnapshot(makeRows(5, 1))
    .changes([
      { type: 'update', row: makeRow(1, 1) },
      { type: 'truncate' },
      { type: 'insert', row: makeRow(10) },
      { type: 'insert', row: makeRow(11) },
    ])
    .changes([{ type: 'insert', row: makeRow(12) }])
    .changes([{ type: 'truncate' }])
    .changes([
      { type: 'insert', row: makeRow(13) },
      { type: 'update', row: makeRow(13, 1) },
    ]).steps;
}
