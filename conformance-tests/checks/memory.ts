/**
 * MEM: batches are bounded by `batchRows`, and memory by the batch size rather than the
 * table size (docs/concepts.md#batch-conventions).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { check } from '../assert.js';
import { makeRows } from '../test-table.js';
import type { TestRow } from '../types.js';
import { catchUp, consumerFor, defineCheck, writerFor } from './helpers.js';

export const memoryChecks = [
  defineCheck({
    id: 'MEM-01',
    level: 'MUST',
    category: 'memory',
    rule: 'No batch holds more rows than `batchRows`, in the snapshot or in the changes.',
    method: 'Sixty rows read with `batchRows = 7`; then thirty rows inserted in one transaction; every batch is measured.',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(60));
      const consumer = await consumerFor(ctx, { batchRows: 7 });
      await consumer.drainSnapshot();
      if (ctx.capabilities.changes !== 'none') {
        await writer.insert(makeRows(30, 100));
        await catchUp(consumer, writer, ctx);
      }
      consumer.assertNoViolations();
      const largest = Math.max(...consumer.batches.map((b) => b.rows.length));
      ctx.note(`${consumer.batches.length} batches, largest ${largest} rows`);
    },
  }),
  defineCheck({
    id: 'MEM-02',
    level: 'SHOULD',
    category: 'memory',
    rule: 'Reading the first snapshot batch does not load the table: memory grows with `batchRows`, not with table size.',
    method:
      'A table of ~24 MiB (1,500 rows of 16 KiB notes) read with `batchRows = 10`: heap plus ArrayBuffer memory still held after the first `pollSnapshot` (measured after garbage collection) must stay under 8 MiB. Where collection cannot be forced, growth including garbage is measured (a heuristic that can only over-count).',
    async run(ctx) {
      const writer = writerFor(ctx);
      const note = 'm'.repeat(16 * 1024);
      for (let from = 1; from <= 1500; from += 250) {
        await writer.insert(makeRows(250, from).map((r): TestRow => ({ ...r, note: `${r.id}${note}` })));
      }
      const consumer = await consumerFor(ctx, { batchRows: 10 });
      const collect = garbageCollector();
      const used = async () => {
        await collect?.();
        const m = process.memoryUsage();
        return m.heapUsed + m.arrayBuffers;
      };
      const before = await used();
      const first = await consumer.pollSnapshot();
      const grown = (await used()) - before;
      check(first !== null && first.rows.length <= 10, 'the first batch is missing or too large');
      ctx.note(
        `first batch ${collect ? 'holds' : 'grew memory by'} ${(grown / 1048576).toFixed(1)} MiB${collect ? ' after garbage collection' : ' (no forced collection available)'}`,
      );
      check(
        grown < 8 * 1048576,
        `reading one batch of 10 rows ${collect ? 'left' : 'grew memory by'} ${(grown / 1048576).toFixed(1)} MiB${collect ? ' held after garbage collection' : ''} (table ≈ 24 MiB)`,
      );
    },
  }),
];

/**
 * A full garbage collection (two passes around a macrotask, so freed ArrayBuffers are
 * counted too), or null when this runtime does not let the suite force one.
 */
function garbageCollector(): (() => Promise<void>) | null {
  let gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') {
    try {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    } catch {
      return null;
    }
  }
  if (typeof gc !== 'function') return null;
  const run = gc;
  return async () => {
    run();
    await new Promise((resolve) => setImmediate(resolve));
    run();
  };
}
