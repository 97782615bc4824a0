/**
 * ABRT: an `AbortSignal` aborts a poll promptly with an `AbortError`, and the source stays
 * usable without losing anything (the contract's abort rule, docs/concepts.md).
 */
import { check, expectAbortError, within } from '../assert.js';
import { makeRow, makeRows } from '../test-table.js';
import { consumerFor, defineCheck, NEEDS_CHANGES, writerFor } from './helpers.js';

export const abortChecks = [
  defineCheck({
    id: 'ABRT-01',
    level: 'MUST',
    category: 'abort',
    rule: 'A poll given an already aborted signal rejects with an `AbortError` at once and consumes nothing.',
    method:
      'Three rows, batch size 1: pre-aborted `pollSnapshot` (and, after the snapshot, `pollChanges`) must reject within 1 s; the following polls must still deliver every row exactly once.',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(3));
      const consumer = await consumerFor(ctx, { batchRows: 1, maxWaitMs: 100 });
      const aborted = AbortSignal.abort();
      await within(
        expectAbortError(consumer.pollSnapshot(aborted), 'pollSnapshot() with an aborted signal'),
        1_000,
        'pollSnapshot() with an aborted signal',
      );
      await consumer.pollSnapshot();
      await within(
        expectAbortError(consumer.pollSnapshot(aborted), 'pollSnapshot() with an aborted signal'),
        1_000,
        'pollSnapshot() with an aborted signal',
      );
      await consumer.drainSnapshot();
      consumer.assertNoViolations();
      check(
        consumer.view.diff(writer.expected).length === 0,
        () => `after aborted polls the snapshot is wrong: ${consumer.view.diff(writer.expected).join('; ')}`,
      );
      if (ctx.capabilities.changes === 'none') return;
      await writer.insert([makeRow(10)]);
      await within(
        expectAbortError(consumer.pollChanges(aborted), 'pollChanges() with an aborted signal'),
        1_000,
        'pollChanges() with an aborted signal',
      );
      await consumer.converge(writer);
      consumer.assertNoViolations();
    },
  }),
  defineCheck({
    id: 'ABRT-02',
    level: 'MUST',
    category: 'abort',
    rule: 'Aborting a waiting `pollChanges` rejects it with an `AbortError` within 1 s, and the source goes on delivering changes.',
    method:
      'With `maxWaitMs = 5000` and nothing pending, aborts a `pollChanges` after 50 ms; then inserts a row, which the next polls must deliver.',
    requires: NEEDS_CHANGES,
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(2));
      const consumer = await consumerFor(ctx, { maxWaitMs: 5_000 });
      await consumer.drainSnapshot();
      const controller = new AbortController();
      const pending = consumer.pollChanges(controller.signal);
      setTimeout(() => controller.abort(), 50);
      const started = Date.now();
      await within(expectAbortError(pending, 'pollChanges() aborted while waiting'), 1_500, 'pollChanges() aborted while waiting');
      ctx.note(`aborted poll settled after ${Date.now() - started} ms`);
      await writer.insert([makeRow(10)]);
      await consumer.converge(writer);
      consumer.assertNoViolations();
    },
  }),
];
