import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Binary,
  Bool,
  DateDay,
  Decimal,
  Field,
  FixedSizeBinary,
  Float64,
  Int16,
  Int32,
  Int64,
  List,
  TimeUnit,
  Timestamp,
  Utf8,
  tableFromIPC,
  tableToIPC,
  Table,
} from 'apache-arrow';
import { BatchBuilder, column, type TableDescriptor } from '../../src/sdk/batch.js';
import { cellReader, type Cell } from '../../src/sdk/values.js';
import { builderFor, parseIsoToUnit } from '../../src/sdk/builders.js';
import { decimalStringToUnscaled, unscaledToDecimalString } from '../../src/sdk/decimal.js';

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const decimal38 = fc.bigInt({ min: -(10n ** 38n) + 1n, max: 10n ** 38n - 1n });

const cases: Array<{ type: () => any; arb: fc.Arbitrary<Cell> }> = [
  { type: () => new Int16(), arb: fc.integer({ min: -32768, max: 32767 }) },
  { type: () => new Int32(), arb: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) },
  { type: () => new Int64(), arb: int64 },
  { type: () => new Float64(), arb: fc.double({ noNaN: true }) },
  { type: () => new Bool(), arb: fc.boolean() },
  // A leading U+FEFF is data and must survive (TextDecoder strips it by default).
  {
    type: () => new Utf8(),
    arb: fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.string({ maxLength: 8 }).map((s) => `\uFEFF${s}`),
    ),
  },
  { type: () => new Binary(), arb: fc.uint8Array({ maxLength: 40 }) },
  { type: () => new FixedSizeBinary(16), arb: fc.uint8Array({ minLength: 16, maxLength: 16 }) },
  { type: () => new DateDay(), arb: fc.integer({ min: -700_000, max: 2_900_000 }) },
  { type: () => new Timestamp(TimeUnit.MICROSECOND, 'UTC'), arb: int64 },
  { type: () => new Timestamp(TimeUnit.NANOSECOND), arb: int64 },
  { type: () => new List(new Field('item', new Int32(), true)), arb: fc.array(fc.option(fc.integer(), { nil: null }), { maxLength: 5 }) },
];

for (const { type, arb } of cases) {
  test(`column builder round trip: ${type()}`, () => {
    fc.assert(
      fc.property(fc.array(fc.option(arb, { nil: null, freq: 4 }), { maxLength: 300 }), (values) => {
        const builder = builderFor(type());
        for (const v of values) builder.appendValue(v);
        const data = builder.finish();
        assert.equal(data.length, values.length);
        assert.equal(data.nullCount, values.filter((v) => v === null).length);
        const read = cellReader(data);
        for (let i = 0; i < values.length; i++) assert.deepEqual(read(i), values[i]);
      }),
      { numRuns: 60 },
    );
  });

  test(`one builder, batch after batch (buffers reused): ${type()}`, () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.option(arb, { nil: null, freq: 4 }), { maxLength: 300 }), { minLength: 2, maxLength: 4 }),
        (batches) => {
          const builder = builderFor(type());
          for (const values of batches) {
            for (const v of values) builder.appendValue(v);
            const data = builder.finish();
            assert.equal(data.length, values.length);
            const read = cellReader(data);
            for (let i = 0; i < values.length; i++) assert.deepEqual(read(i), values[i]);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
}

test('Decimal128 builder is exact for every value of precision 38, through IPC', () => {
  fc.assert(
    fc.property(fc.array(fc.option(decimal38, { nil: null }), { maxLength: 200 }), fc.integer({ min: 0, max: 10 }), (values, scale) => {
      const d: TableDescriptor = {
        table: 't',
        primaryKey: ['k'],
        fields: [column('k', new Int32(), false), column('d', new Decimal(scale, 38, 128), true)],
      };
      const b = new BatchBuilder(d, 'snapshot');
      values.forEach((v, i) => b.appendRow([i, v === null ? null : unscaledToDecimalString(v, scale)]));
      const batch = new Table(b.finish());
      const back = tableFromIPC(tableToIPC(batch)).batches[0]!;
      const read = cellReader(back.data.children[1]!);
      values.forEach((v, i) => assert.equal(read(i), v === null ? null : unscaledToDecimalString(v, scale)));
    }),
    { numRuns: 100 },
  );
});

test('decimal text parsing rejects what does not fit instead of rounding', () => {
  assert.equal(decimalStringToUnscaled('12.5', 2), 1250n);
  assert.equal(decimalStringToUnscaled('-0.05', 2), -5n);
  assert.equal(decimalStringToUnscaled('1e3', 0), 1000n);
  assert.equal(decimalStringToUnscaled('1.2300', 2), 123n);
  assert.throws(() => decimalStringToUnscaled('1.234', 2), /more than 2 fractional digits/);
  assert.throws(() => decimalStringToUnscaled('123', 0, 2), /does not fit DECIMAL\(2, 0\)/);
  assert.throws(() => decimalStringToUnscaled('abc', 0), /not a decimal/);
});

test('ISO timestamps keep every sub-millisecond digit', () => {
  assert.equal(parseIsoToUnit('2024-01-02T03:04:05.123456Z', TimeUnit.MICROSECOND), 1704164645123456n);
  assert.equal(parseIsoToUnit('1969-12-31T23:59:59.999999Z', TimeUnit.MICROSECOND), -1n);
  assert.equal(parseIsoToUnit('2024-01-02 03:04:05.123456789+01:00', TimeUnit.NANOSECOND), 1704161045123456789n);
});
