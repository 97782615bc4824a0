/**
 * CHG: the change stream (docs/concepts.md): inserts, updates and deletes arrive with
 * the right change type, in order per key, with increasing positions; empty polls return
 * within `maxWaitMs`.
 */
import { CheckFailure, check, describeError, fail, within } from '../assert.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { canonicalTestRow, makeRow, makeRows, rowText, sameRow } from '../test-table.js';
import { catchUp, consumerFor, defineCheck, lingering, NEEDS_CHANGES, writerFor } from './helpers.js';

/** One key updated 15 times, one harness call each. */
const UPDATES = 15;

export const changeChecks = [
  defineCheck({
    id: 'CHG-01',
    level: 'MUST',
    category: 'changes',
    rule: 'Rows inserted after the snapshot arrive as `insert` rows with all their values.',
    method:
      'Three snapshot rows; then five inserts in two transactions; every new key must arrive as `insert` and the fold equal the table.',
    requires: NEEDS_CHANGES,
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(3));
      const consumer = await consumerFor(ctx);
      await consumer.drainSnapshot();
      await writer.insert(makeRows(2, 10));
      await writer.insert(makeRows(3, 20));
      await consumer.converge(writer);
      consumer.assertNoViolations();
      for (const id of ['10', '11', '20', '21', '22']) {
        const types = consumer.view.changes.filter((c) => c.key === id).map((c) => c.changeType);
        check(types[0] === 'insert', `key ${id} was inserted but arrived as ${JSON.stringify(types)}`);
      }
    },
  }),
  defineCheck({
    id: 'CHG-02',
    level: 'MUST',
    category: 'changes',
    rule: 'Updates arrive as `update` rows carrying the new values.',
    method: 'Five snapshot rows; three of them updated; the changes of those keys must be `update` rows and the fold equal the table.',
    requires: NEEDS_CHANGES,
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(5));
      const consumer = await consumerFor(ctx);
      await consumer.drainSnapshot();
      await writer.update([makeRow(1, 1), makeRow(3, 1), makeRow(5, 1)]);
      await consumer.converge(writer);
      consumer.assertNoViolations();
      for (const id of ['1', '3', '5']) {
        const types = consumer.view.changes.filter((c) => c.key === id).map((c) => c.changeType);
        check(types.length > 0 && types.every((t) => t === 'update'), `key ${id} was updated but arrived as ${JSON.stringify(types)}`);
      }
      const others = consumer.view.changes.filter((c) => c.key === '2' || c.key === '4');
      check(others.length === 0, `keys 2 and 4 were not written but ${others.length} changes of them arrived`);
    },
  }),
  defineCheck({
    id: 'CHG-03',
    level: 'MUST',
    category: 'changes',
    rule: 'Deletes arrive as `delete` rows carrying the key columns; deleted keys vanish from the fold.',
    method: 'Four snapshot rows, two deleted (one transaction) and one inserted-then-deleted; checks type and key of every delete row.',
    requires: { changes: ['log', 'poll'], deletes: true },
    verifies: ['deletes'],
    counterpart: 'CHG-03N',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(4));
      const consumer = await consumerFor(ctx);
      await consumer.drainSnapshot();
      await writer.delete([2n, 4n]);
      await consumer.converge(writer);
      consumer.assertNoViolations();
      const deletes = consumer.view.changes.filter((c) => c.changeType === 'delete');
      check(deletes.length >= 2, `2 rows were deleted but ${deletes.length} delete rows arrived`);
      for (const d of deletes) check(d.key === '2' || d.key === '4', `a delete row carries key ${d.key}, expected 2 or 4`);
    },
  }),
  defineCheck({
    id: 'CHG-03N',
    level: 'MUST',
    category: 'changes',
    rule: 'A source that does not observe deletes emits no `delete` rows and still converges on every row that exists (deleted rows may remain).',
    method:
      'Four snapshot rows, two deleted, one updated, one inserted; no `delete` row may arrive and every remaining row must be current.',
    requires: { changes: ['log', 'poll'], deletes: false },
    counterpart: 'CHG-03',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(4));
      const consumer = await consumerFor(ctx);
      await consumer.drainSnapshot();
      await writer.delete([2n, 4n]);
      await writer.update([makeRow(1, 1)]);
      await writer.insert([makeRow(9)]);
      await consumer.converge(writer, lingering(ctx, writer));
      const deletes = consumer.view.changes.filter((c) => c.changeType === 'delete');
      check(deletes.length === 0, `the source declares deletes = false but emitted ${deletes.length} delete rows`);
    },
  }),
  defineCheck({
    id: 'CHG-04',
    level: 'MUST',
    category: 'changes',
    rule: "A key's changes are never reordered: the values delivered for a key follow commit order and end with the latest.",
    method: `One row updated ${UPDATES} times (one transaction each), then read; the delivered versions must be increasing and end with the last.`,
    requires: NEEDS_CHANGES,
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert([makeRow(1)]);
      const consumer = await consumerFor(ctx);
      await consumer.drainSnapshot();
      for (let v = 1; v <= UPDATES; v++) await writer.update([makeRow(1, v)]);
      await consumer.converge(writer);
      const versions = consumer.view.changes.filter((c) => c.key === '1').map((c) => versionOf(c.row));
      for (let i = 1; i < versions.length; i++) {
        check(versions[i]! > versions[i - 1]!, `versions of key 1 arrived in the order ${versions.join(', ')}`);
      }
      check(versions.at(-1) === UPDATES, `the last version delivered is ${versions.at(-1)}, expected ${UPDATES}`);
      ctx.note(`${versions.length} of ${UPDATES} versions delivered`);
    },
  }),
  defineCheck({
    id: 'CHG-05',
    level: 'MUST',
    category: 'changes',
    rule: 'A log-based source delivers every committed change: none dropped or coalesced.',
    method: `Inserts 10 rows one transaction each, updates one key ${UPDATES} times and another 5 times interleaved; every version must arrive exactly once.`,
    requires: { changes: 'log' },
    verifies: ['changes'],
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert([makeRow(1), makeRow(2)]);
      const consumer = await consumerFor(ctx);
      await consumer.drainSnapshot();
      for (let i = 0; i < 10; i++) await writer.insert([makeRow(100 + i)]);
      for (let v = 1; v <= UPDATES; v++) {
        await writer.update([makeRow(1, v)]);
        if (v % 3 === 0) await writer.update([makeRow(2, v)]);
      }
      await consumer.converge(writer);
      consumer.assertNoViolations();
      const count = (key: string) => consumer.view.changes.filter((c) => c.key === key).length;
      for (let i = 0; i < 10; i++)
        check(count(String(100 + i)) === 1, `key ${100 + i}: ${count(String(100 + i))} changes arrived for one insert`);
      check(count('1') === UPDATES, `key 1: ${count('1')} changes arrived for ${UPDATES} updates`);
      check(count('2') === 5, `key 2: ${count('2')} changes arrived for 5 updates`);
    },
  }),
  defineCheck({
    id: 'CHG-06',
    level: 'MUST',
    category: 'changes',
    rule: '`_position` is non-empty and strictly increasing in delivery order (string order equals stream order).',
    method: 'Inserts, updates and deletes in several transactions, read with batch size 3; compares consecutive positions across batches.',
    requires: NEEDS_CHANGES,
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(3));
      const consumer = await consumerFor(ctx, { batchRows: 3 });
      await consumer.drainSnapshot();
      await writer.insert(makeRows(4, 10));
      await writer.update([makeRow(1, 1), makeRow(10, 1)]);
      await writer.update([makeRow(1, 2)]);
      if (ctx.capabilities.deletes) await writer.delete([2n]);
      await catchUp(consumer, writer, ctx);
      const positions = consumer.view.changes.map((c) => c.position);
      check(positions.length > 0, 'no change arrived');
      for (let i = 1; i < positions.length; i++) {
        check(positions[i]! > positions[i - 1]!, `position ${JSON.stringify(positions[i])} follows ${JSON.stringify(positions[i - 1])}`);
      }
    },
  }),
  defineCheck({
    id: 'CHG-07',
    level: 'MUST',
    category: 'changes',
    rule: 'A row moved to a new key (delete of the old key, insert of the new) ends with only the new key.',
    method: 'Deletes key 1 and inserts key 1001 with the same values, in consecutive transactions, twice over.',
    requires: NEEDS_CHANGES,
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(3));
      const consumer = await consumerFor(ctx);
      await consumer.drainSnapshot();
      await writer.delete([1n]);
      await writer.insert([{ ...makeRow(1), id: 1001n }]);
      await writer.delete([1001n]);
      await writer.insert([{ ...makeRow(1), id: 2001n }]);
      await consumer.converge(writer, lingering(ctx, writer));
      consumer.assertNoViolations();
      check(
        sameRow(consumer.view.rows.get('2001'), canonicalTestRow({ ...makeRow(1), id: 2001n })),
        () => `key 2001 holds ${rowText(consumer.view.rows.get('2001'))}`,
      );
    },
  }),
  defineCheck({
    id: 'CHG-08',
    level: 'MUST',
    category: 'changes',
    rule: 'With nothing pending, `pollChanges` returns `null` within `maxWaitMs` (plus scheduling slack).',
    method: 'With `maxWaitMs = 200` and no writes, times three `pollChanges` calls; each must resolve to `null` within 1,000 ms.',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(1));
      const consumer = await consumerFor(ctx, { maxWaitMs: 200 });
      await consumer.drainSnapshot();
      // a first poll may pick up start-up noise of the stream
      await within(consumer.pollChanges(), 5_000, 'the first pollChanges()');
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        const batch = await within(consumer.pollChanges(), 5_000, 'pollChanges() with nothing pending');
        const elapsed = Date.now() - started;
        times.push(elapsed);
        if (batch !== null) fail(`pollChanges() with nothing written returned a batch of ${batch.rows.length} rows`);
        check(elapsed <= 1_000, `pollChanges() took ${elapsed} ms to return null with maxWaitMs = 200`);
      }
      ctx.note(`empty polls took ${times.join(', ')} ms`);
    },
  }),
  defineCheck({
    id: 'CHG-09',
    level: 'MUST',
    category: 'changes',
    rule: 'A source without a change stream (`changes: none`) answers `pollChanges` with `null`, never a batch or an error.',
    method: 'Writes after the snapshot and polls changes three times.',
    requires: { changes: 'none' },
    counterpart: 'CHG-01',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(2));
      const consumer = await consumerFor(ctx, { maxWaitMs: 50 });
      await consumer.drainSnapshot();
      await writer.insert(makeRows(2, 10));
      for (let i = 0; i < 3; i++) {
        try {
          const batch = await consumer.pollChanges();
          check(batch === null, 'pollChanges() returned a batch although changes = none');
        } catch (error) {
          fail(`pollChanges() rejected with ${describeError(error)}`);
        }
      }
    },
  }),
  defineCheck({
    id: 'CHG-10',
    level: 'SHOULD',
    category: 'changes',
    rule: 'A source declaring `transactions` delivers the rows of one transaction together: never split across batches when they fit.',
    method:
      'Inserts six rows in one transaction and updates three in another, with `batchRows = 100`; each transaction must arrive within one batch.',
    requires: { changes: ['log', 'poll'], transactions: true },
    verifies: ['transactions'],
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(2));
      const consumer = await consumerFor(ctx, { batchRows: 100 });
      await consumer.drainSnapshot();
      await writer.insert(makeRows(6, 10));
      await writer.update([makeRow(10, 1), makeRow(11, 1), makeRow(12, 1)]);
      await consumer.converge(writer);
      const batches = consumer.batches.filter((b) => b.kind === 'changes');
      const batchOf = (key: string, type: string) => batches.findIndex((b) => b.rows.some((r) => r.key === key && r.changeType === type));
      const inserted = new Set(['10', '11', '12', '13', '14', '15'].map((k) => batchOf(k, 'insert')));
      check(inserted.size === 1, `one 6-row transaction was split over ${inserted.size} batches`);
      const updated = new Set(['10', '11', '12'].map((k) => batchOf(k, 'update')));
      check(updated.size === 1, `one 3-row transaction was split over ${updated.size} batches`);
    },
  }),
  defineCheck({
    id: 'CHG-11',
    level: 'MUST',
    category: 'changes',
    rule: 'After a TRUNCATE the fold converges to the table — through a `truncate` row (all table columns null) or a `delete` row per key — or the source stops with a definite `TABLE_TRUNCATED`; truncated rows never linger, and rows written after it arrive.',
    method:
      'Three snapshot rows, one update, TRUNCATE, then one insert; the fold must equal the one new row. A truncate row with a non-null table column fails.',
    requires: { changes: ['log', 'poll'], deletes: true },
    needsHarness: ['truncate'],
    verifies: ['deletes'],
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(3));
      const consumer = await consumerFor(ctx);
      await consumer.drainSnapshot();
      await writer.update([makeRow(2, 1)]);
      await writer.truncate();
      await writer.insert([makeRow(7)]);
      try {
        await consumer.converge(writer);
      } catch (error) {
        if (error instanceof CheckFailure) throw error;
        check(
          ConnectorError.is(error, 'TABLE_TRUNCATED') && error.kind === 'definite',
          () => `after a TRUNCATE polling rejected with ${describeError(error)}, expected convergence or definite TABLE_TRUNCATED`,
        );
        ctx.note('the source stops with definite TABLE_TRUNCATED');
        return;
      }
      consumer.assertNoViolations();
      const truncates = consumer.view.changes.filter((c) => c.changeType === 'truncate');
      for (const t of truncates) {
        const values = Object.entries(t.row).filter(([, v]) => v !== null);
        check(values.length === 0, `a truncate row at ${t.position} carries values: ${values.map(([k]) => k).join(', ')}`);
      }
      ctx.note(truncates.length > 0 ? `delivered as ${truncates.length} truncate row(s)` : 'delivered as delete rows');
    },
  }),
];

/** The version a row was written with by `makeRow(id, version)` (encoded in its name). */
function versionOf(row: { name: string | null }): number {
  const m = / v(\d+)$/.exec(row.name ?? '');
  return m ? Number(m[1]) : -1;
}
