/**
 * LIFE: the order of calls (docs/concepts.md#snapshot-then-changes): snapshot, then changes; illegal calls
 * rejected; `close()` idempotent, final, and leaving nothing behind.
 */
import { ConnectorError } from '../../src/sdk/errors.js';
import { check, describeError, expectConnectorError, sleep } from '../assert.js';
import { makeRows } from '../test-table.js';
import { consumerFor, defineCheck, writerFor } from './helpers.js';

/** Counts of active resources by type (sockets, timers, child processes …). */
function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const name of process.getActiveResourcesInfo()) counts.set(name, (counts.get(name) ?? 0) + 1);
  return counts;
}

function leaked(before: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [name, count] of activeResources()) {
    const extra = count - (before.get(name) ?? 0);
    if (extra > 0) out.push(`${extra} × ${name}`);
  }
  return out;
}

export const lifecycleChecks = [
  defineCheck({
    id: 'LIFE-01',
    level: 'MUST',
    category: 'lifecycle',
    rule: '`pollSnapshot` returns batches until `null`; from then on `isSnapshotComplete()` is true and further calls return `null`.',
    method:
      'Three rows, batch size 1: checks `isSnapshotComplete()` before, during and after the snapshot, then polls the finished snapshot twice more.',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(3));
      const consumer = await consumerFor(ctx, { batchRows: 1 });
      const { source } = consumer;
      check(source.isSnapshotComplete() === false, 'isSnapshotComplete() is true before the snapshot was read');
      const first = await consumer.pollSnapshot();
      check(first !== null, 'pollSnapshot() returned null first although the table has 3 rows');
      check(source.isSnapshotComplete() === false, 'isSnapshotComplete() is true after the first of 3 batches of size 1');
      await consumer.drainSnapshot();
      check(source.isSnapshotComplete() === true, 'isSnapshotComplete() is false after pollSnapshot() returned null');
      for (let i = 0; i < 2; i++) {
        const again = await source.pollSnapshot();
        check(again === null, 'pollSnapshot() after completion returned a batch instead of null');
      }
      check(consumer.view.snapshotRows === 3, `the snapshot delivered ${consumer.view.snapshotRows} rows, expected 3`);
    },
  }),
  defineCheck({
    id: 'LIFE-02',
    level: 'MUST',
    category: 'lifecycle',
    rule: '`pollChanges` before the snapshot is complete rejects with a definite `INVALID_STATE`, and the source stays usable.',
    method: 'Calls `pollChanges` before any poll and after the first of three snapshot batches; then reads the whole snapshot.',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(3));
      const consumer = await consumerFor(ctx, { batchRows: 1 });
      await expectConnectorError(consumer.source.pollChanges(), 'pollChanges() before the snapshot', 'INVALID_STATE');
      await consumer.pollSnapshot();
      await expectConnectorError(consumer.source.pollChanges(), 'pollChanges() in the middle of the snapshot', 'INVALID_STATE');
      await consumer.drainSnapshot();
      check(
        consumer.view.diff(writer.expected).length === 0,
        () => `after the rejected calls the snapshot is wrong: ${consumer.view.diff(writer.expected).join('; ')}`,
      );
      consumer.assertNoViolations();
    },
  }),
  defineCheck({
    id: 'LIFE-03',
    level: 'MUST',
    category: 'lifecycle',
    rule: '`close()` is idempotent: repeated and concurrent calls resolve.',
    method: 'Closes a fresh source twice in a row, and another source (after its snapshot) twice concurrently.',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(2));
      const fresh = await ctx.createSource();
      try {
        await fresh.close();
        await fresh.close();
      } catch (error) {
        check(false, `a repeated close() rejected with ${describeError(error)}`);
      }
      const used = await consumerFor(ctx);
      await used.drainSnapshot();
      const results = await Promise.allSettled([used.source.close(), used.source.close()]);
      const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      check(rejected === undefined, () => `a concurrent close() rejected with ${describeError(rejected!.reason)}`);
      await used.source.close();
    },
  }),
  defineCheck({
    id: 'LIFE-04',
    level: 'MUST',
    category: 'lifecycle',
    rule: 'After `close()` every poll rejects with a definite `CLOSED`, in the snapshot and in the change phase.',
    method: 'Polls a source closed before its snapshot, and one closed after its snapshot, with `pollSnapshot` and `pollChanges`.',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(2));
      const early = await ctx.createSource();
      await early.close();
      await expectConnectorError(early.pollSnapshot(), 'pollSnapshot() after close()', 'CLOSED');
      await expectConnectorError(early.pollChanges(), 'pollChanges() after close() (snapshot phase)', 'CLOSED');
      const late = await consumerFor(ctx);
      await late.drainSnapshot();
      await late.source.close();
      await expectConnectorError(late.source.pollSnapshot(), 'pollSnapshot() after close() (snapshot complete)', 'CLOSED');
      await expectConnectorError(late.source.pollChanges(), 'pollChanges() after close()', 'CLOSED');
    },
  }),
  defineCheck({
    id: 'LIFE-05',
    level: 'MUST',
    category: 'lifecycle',
    rule: 'No sockets, timers or child processes outlive `close()`.',
    method:
      'Compares `process.getActiveResourcesInfo()` before creating a source and (after up to 1 s of settling) after closing it; the source read its snapshot and polled changes.',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(3));
      await sleep(50); // let the harness's own connections settle first
      const before = activeResources();
      const consumer = await consumerFor(ctx, { maxWaitMs: 50 });
      await consumer.drainSnapshot();
      if (ctx.capabilities.changes !== 'none') await consumer.pollChanges();
      await consumer.source.close();
      let extra = leaked(before);
      for (let waited = 0; extra.length > 0 && waited < 1000; waited += 50) {
        await sleep(50);
        extra = leaked(before);
      }
      check(extra.length === 0, `still active 2 s after close(): ${extra.join(', ')}`);
    },
  }),
  defineCheck({
    id: 'LIFE-06',
    level: 'SHOULD',
    category: 'lifecycle',
    rule: 'Concurrent polls are serialised or rejected with `BUSY`, never interleaved: no row lost or delivered twice.',
    method: 'Five rows, batch size 1: issues pairs of concurrent `pollSnapshot` calls, then reads the rest; the fold must equal the table.',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(5));
      const consumer = await consumerFor(ctx, { batchRows: 1 });
      for (let i = 0; i < 3; i++) {
        const results = await Promise.allSettled([consumer.pollSnapshot(), consumer.pollSnapshot()]);
        for (const r of results) {
          if (r.status === 'rejected') {
            check(
              ConnectorError.is(r.reason, 'BUSY'),
              () => `a concurrent pollSnapshot() rejected with ${describeError(r.reason)}, expected success or BUSY`,
            );
          }
        }
      }
      if (!consumer.source.isSnapshotComplete()) await consumer.drainSnapshot();
      consumer.assertNoViolations();
      const diff = consumer.view.diff(writer.expected);
      check(diff.length === 0, () => `concurrent polls lost or corrupted rows: ${diff.join('; ')}`);
    },
  }),
];
