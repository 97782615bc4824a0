import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Int32, Utf8 } from 'apache-arrow';
import { BatchBuilder, column, formatPosition, type TableDescriptor } from '../../src/sdk/batch.js';
import { ReferenceTable, type TableChange } from '../../src/sdk/table.js';

const composite: TableDescriptor = {
  table: 'public.pairs',
  primaryKey: ['a', 'b'],
  fields: [column('a', new Int32(), false), column('b', new Utf8(), false), column('v', new Utf8(), true)],
};

type Op = { kind: 'insert' | 'update' | 'delete'; a: number; b: string; v: string | null } | { kind: 'truncate' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constantFrom('insert' as const, 'update' as const, 'delete' as const),
      a: fc.integer({ min: 0, max: 4 }),
      b: fc.constantFrom('x', 'y', 'ü'),
      v: fc.option(fc.string(), { nil: null }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'truncate' as const }) },
);

function modelKey(a: number, b: string) {
  return `${a}|${b}`;
}

test('ReferenceTable folds any interleaving of snapshot and change batches, with replays, like the model', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 4 }), fc.constantFrom('x', 'y', 'ü'), fc.string()), { maxLength: 12 }),
      fc.array(opArb, { maxLength: 40 }),
      fc.integer({ min: 1, max: 7 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (snapshotRows, ops, batchSize, replayPicks) => {
        const model = new Map<string, [number, string, string | null]>();
        const snapshot = new Map<string, [number, string, string]>();
        for (const [a, b, v] of snapshotRows) snapshot.set(modelKey(a, b), [a, b, v]);
        for (const [k, row] of snapshot) model.set(k, row);
        // snapshot batches (with one replayed batch)
        const batches = [];
        const snapRows = [...snapshot.values()];
        for (let i = 0; i < snapRows.length; i += batchSize) {
          const b = new BatchBuilder(composite, 'snapshot');
          for (const r of snapRows.slice(i, i + batchSize)) b.appendRow(r);
          batches.push(b.finish());
        }
        // change batches
        const changeBatches = [];
        let seq = 0;
        for (let i = 0; i < ops.length; i += batchSize) {
          const b = new BatchBuilder(composite, 'changes');
          for (const op of ops.slice(i, i + batchSize)) {
            seq++;
            const pos = formatPosition(seq, 0);
            if (op.kind === 'truncate') {
              b.appendChange('truncate', null, pos);
              model.clear();
            } else if (op.kind === 'delete') {
              b.appendChange('delete', [op.a, op.b, null], pos);
              model.delete(modelKey(op.a, op.b));
            } else {
              b.appendChange(op.kind, [op.a, op.b, op.v], pos);
              model.set(modelKey(op.a, op.b), [op.a, op.b, op.v]);
            }
          }
          changeBatches.push(b.finish());
        }
        const table = new ReferenceTable();
        const delivered = [...batches, ...changeBatches];
        // at-least-once: replay random earlier batches after delivering each prefix
        let replayIndex = 0;
        for (let i = 0; i < delivered.length; i++) {
          table.apply(delivered[i]!);
          const pick = replayPicks[replayIndex++ % Math.max(1, replayPicks.length)];
          if (pick !== undefined && changeBatches.includes(delivered[i]!)) {
            const earlier = changeBatches.indexOf(delivered[i]!);
            table.apply(changeBatches[pick % (earlier + 1)]!);
          }
        }
        assert.equal(table.size, model.size);
        for (const [a, b, v] of model.values()) {
          assert.deepEqual(table.get({ a, b }), { a, b, v });
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('ReferenceTable ignores a stale replay and reports changes to listeners', () => {
  const d: TableDescriptor = { table: 't', primaryKey: ['id'], fields: [column('id', new Int32(), false), column('v', new Utf8(), true)] };
  const table = new ReferenceTable();
  const events: TableChange[] = [];
  table.on('change', (c) => events.push(c));
  const b1 = new BatchBuilder(d, 'changes');
  b1.appendChange('insert', [1, 'old'], formatPosition(1));
  const stale = b1.finish();
  const b2 = new BatchBuilder(d, 'changes');
  b2.appendChange('update', [1, 'new'], formatPosition(2));
  table.apply(stale);
  table.apply(b2.finish());
  assert.deepEqual(table.apply(stale), { applied: 0, ignored: 1 });
  assert.equal(table.get(1)?.v, 'new');
  assert.deepEqual(
    events.map((e) => e.type),
    ['insert', 'update'],
  );
  assert.equal(events[1]!.previous?.v, 'old');
  // toArrow round trip keeps exact values
  const copy = new ReferenceTable();
  copy.apply(table.toArrow());
  assert.deepEqual(copy.toJSON(), table.toJSON());
});

test('ReferenceTable rejects batches of another table and explains composite key lookups', () => {
  const table = new ReferenceTable({ table: 'public.pairs' });
  const b = new BatchBuilder(composite, 'snapshot');
  b.appendRow([1, 'x', 'v']);
  table.apply(b.finish());
  assert.throws(() => table.get(1), /composite key \(a, b\)/);
  const other = new BatchBuilder({ ...composite, table: 'public.other' }, 'snapshot');
  assert.throws(() => table.apply(other.finish()), /public\.other/);
});
