/** Cell readers agree with apache-arrow's own accessors, on whole and sliced batches. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Binary, Bool, Date_, DateUnit, Decimal, Field, Float64, Int32, Int64, List, TimeUnit, Timestamp, Utf8 } from 'apache-arrow';
import fc from 'fast-check';
import { BatchBuilder, type TableDescriptor } from '../../src/sdk/batch.js';
import { batchReaders, cellKey } from '../../src/sdk/values.js';

const fields = [
  new Field('id', new Int64(), false),
  new Field('n', new Int32(), true),
  new Field('s', new Utf8(), true),
  new Field('d', new Decimal(2, 10, 128), true),
  new Field('t', new Timestamp(TimeUnit.MICROSECOND, 'UTC'), true),
  new Field('b', new Bool(), true),
  new Field('day', new Date_(DateUnit.DAY), true),
  new Field('f', new Float64(), true),
  new Field('bin', new Binary(), true),
  new Field('l', new List(new Field('item', new Int32(), true)), true),
];
const table: TableDescriptor = { table: 'public.t', primaryKey: ['id'], fields };

function batchOf(rows: number, nullEvery: number) {
  const b = new BatchBuilder(table, 'snapshot');
  for (let i = 0; i < rows; i++) {
    const none = nullEvery > 0 && i % nullEvery === 0;
    b.appendRow([
      BigInt(i) * 1_000_003n,
      none ? null : i * 7,
      none ? null : `text ${i} ü`,
      none ? null : `${i}.${String(i % 100).padStart(2, '0')}`,
      none ? null : new Date(Date.UTC(2024, 0, 1) + i * 1000),
      none ? null : i % 2 === 0,
      none ? null : 19000 + i,
      none ? null : i + 0.25,
      none ? null : new Uint8Array([i & 0xff, 7]),
      none ? null : [i, null, i + 1],
    ]);
  }
  return b.finish();
}

const norm = (v: unknown): unknown =>
  JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? [...x] : x));

test('cell readers read sliced batches (apache-arrow slices value buffers, not validity bits)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.nat(5), fc.nat(), fc.nat(), (rows, nullEvery, a, b) => {
      const full = batchOf(rows, nullEvery);
      const start = a % rows;
      const end = start + (b % (rows - start + 1));
      const slice = full.slice(start, end);
      const whole = batchReaders(full);
      const part = batchReaders(slice);
      for (let i = 0; i < slice.numRows; i++) {
        for (let c = 0; c < fields.length; c++)
          assert.equal(norm(part[c]!(i)), norm(whole[c]!(start + i)), `${fields[c]!.name} row ${start + i}`);
        assert.equal(cellKey(part[0]!(i)), cellKey(whole[0]!(start + i)));
      }
    }),
    { numRuns: 300 },
  );
});
