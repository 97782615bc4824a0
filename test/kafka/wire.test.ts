/** The sink's own wire encoding agrees with the reference implementations it replaces. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Partitioners } from 'kafkajs';
import { Binary, Date_, DateUnit, Field, Float64, Int32, List, TimeUnit, Timestamp } from 'apache-arrow';
import fc from 'fast-check';
import { crc32c, keyPartition, murmur2 } from '../../src/sinks/kafka/wire.js';
import { batchJsonColumns, cellRenderer, rowRenderer } from '../../src/sinks/kafka/records.js';
import { batchReaders, toJsonValue, type Cell } from '../../src/sdk/values.js';
import { customers, snapshotBatch, type Row } from './helpers.js';

test('murmur2 partitioning equals kafkajs DefaultPartitioner (Java-compatible) for any key', () => {
  const partitioner = Partitioners.DefaultPartitioner();
  const metadata = (n: number) => Array.from({ length: n }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [], isr: [], partitionErrorCode: 0 }));
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), fc.integer({ min: 1, max: 64 }), (key, n) => {
      assert.equal(keyPartition(key, n), partitioner({ topic: 't', partitionMetadata: metadata(n), message: { key, value: null } }));
    }),
    { numRuns: 2000 },
  );
  assert.equal(murmur2(Buffer.from('')), 275646681); // Kafka's hash of the empty key
});

test('crc32c matches the CRC-32C check value and a bytewise reference', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  const reference = (data: Uint8Array): number => {
    let c = -1;
    for (const byte of data) {
      c ^= byte;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    }
    return (c ^ -1) >>> 0;
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => assert.equal(crc32c(bytes), reference(bytes))));
});

test('fast cell renderers produce exactly the lossless JSON of toJsonValue', () => {
  const f = (name: string) => customers.fields.find((x) => x.name === name)!;
  const check = (field: Field, cells: Cell[]) => {
    const render = cellRenderer(field);
    for (const c of cells) assert.equal(render(c), c === null ? 'null' : JSON.stringify(toJsonValue(field, c)), `${field.name} ${String(c)}`);
  };
  check(f('id'), [0n, -1n, 9223372036854775807n, -9223372036854775808n, null]);
  check(f('amount'), ['0.00', '-12.50', '9999999999.99', null]);
  check(f('name'), ['', 'a"b\\c\n', '😀 ǅ \u0000', null]);
  check(f('active'), [true, false, null]);
  const ts = [new Timestamp(TimeUnit.MICROSECOND, 'UTC'), new Timestamp(TimeUnit.NANOSECOND, null), new Timestamp(TimeUnit.MILLISECOND, 'UTC'), new Timestamp(TimeUnit.SECOND, null)];
  for (const type of ts) {
    fc.assert(
      fc.property(fc.bigInt({ min: -62135596800000000000n, max: 253402300799000000000n }), (v) => {
        const scale = [1_000_000_000n, 1_000_000n, 1000n, 1n][type.unit]!;
        check(new Field('t', type, true), [v / scale]);
      }),
      { numRuns: 300 },
    );
    check(new Field('t', type, true), [0n, -1n, 1n, null]);
  }
  check(new Field('i', new Int32(), true), [0, -5, 2147483647, null]);
  check(new Field('f', new Float64(), true), [0.1, -2.5e300, Number.NaN, Number.POSITIVE_INFINITY, null]);
  check(new Field('b', new Binary(), true), [new Uint8Array([0, 255, 7]), null]);
  check(new Field('d', new Date_(DateUnit.DAY), true), [0, -1, 20000, null]);
  check(new Field('l', new List(new Field('item', new Int32(), true)), true), [[1, null, 3], [], null]);
});

test('batch row rendering equals JSON.stringify of toJsonValue, for any text', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.string({ unit: 'grapheme' }), fc.option(fc.string({ unit: 'binary' }))), { minLength: 1, maxLength: 20 }), (texts) => {
      const batch = snapshotBatch(texts.map(([name, note], i) => [BigInt(i), name, '1.00', '2024-01-02T03:04:05.123456Z', true, note] as Row));
      const n = batch.schema.fields.length;
      const render = rowRenderer(batch.schema.fields, n, batchJsonColumns(batch, n));
      const readers = batchReaders(batch);
      for (let i = 0; i < batch.numRows; i++) {
        const expected: Record<string, unknown> = {};
        batch.schema.fields.forEach((f, c) => (expected[f.name] = toJsonValue(f, readers[c]!(i))));
        assert.equal(render(i), JSON.stringify(expected));
      }
    }),
    { numRuns: 200 },
  );
});
