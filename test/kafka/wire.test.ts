/** The sink's own wire encoding agrees with the reference implementations it replaces. */
import { createRequire } from 'node:module';
import { frameOf, frameSize } from '../../src/connectors/kafka/framed-request.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Partitioners } from 'kafkajs';
import { Binary, Date_, DateUnit, Decimal, Field, Float64, Int16, Int32, List, TimeUnit, Timestamp, type Data } from 'apache-arrow';
import fc from 'fast-check';
import { gunzipSync } from 'node:zlib';
import {
  RecordBatchWriter,
  crc32c,
  gzipRecordBatch,
  keyPartition,
  murmur2,
  sealRecordBatch,
  writeVarint,
} from '../../src/connectors/kafka/wire.js';
import { ProducerSequences } from '../../src/connectors/kafka/produce.js';
import { ByteOut } from '../../src/sinks/json/byte-out.js';
import { columnWriter } from '../../src/sinks/json/cells.js';
import { jsonEncoder } from '../../src/connectors/kafka/encode.js';
import type { SizedMessage } from '../../src/connectors/kafka/sender.js';
import { BatchBuilder, type TableDescriptor } from '../../src/sdk/batch.js';
import { unscaledToDecimalString } from '../../src/sdk/decimal.js';
import { batchReaders, cellReader, toJsonValue, type Cell } from '../../src/sdk/values.js';
import { customers, snapshotBatch, type Row } from './helpers.js';

test('murmur2 partitioning equals kafkajs DefaultPartitioner (Java-compatible) for any key', () => {
  const partitioner = Partitioners.DefaultPartitioner();
  const metadata = (n: number) =>
    Array.from({ length: n }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [], isr: [], partitionErrorCode: 0 }));
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
  // Any alignment and range within a larger buffer (the fast path reads whole aligned words).
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 2000 }), fc.nat(), fc.nat(), fc.nat({ max: 7 }), (bytes, a, b, shift) => {
      const backing = new Uint8Array(bytes.length + 8);
      const view = backing.subarray(shift, shift + bytes.length);
      view.set(bytes);
      const start = a % bytes.length;
      const end = start + (b % (bytes.length - start + 1));
      assert.equal(crc32c(view, start, end), reference(bytes.subarray(start, end)));
    }),
    { numRuns: 300 },
  );
});

/** A one-column batch holding `cells` of `field`'s type, built by the SDK's builders. */
function columnBatch(field: Field, cells: Cell[]): { data: Data; rows: number } {
  const table: TableDescriptor = { table: 't.t', primaryKey: [], fields: [field] };
  const b = new BatchBuilder(table, 'snapshot');
  for (const c of cells) b.appendRow([c]);
  const batch = b.finish();
  return { data: batch.data.children[0] as Data, rows: batch.numRows };
}

/** Renders every cell of a column with the byte writers and decodes it. */
function rendered(field: Field, data: Data, rows: number): string[] {
  const write = columnWriter(field, data);
  const out = new ByteOut(8);
  return Array.from({ length: rows }, (_, i) => {
    out.pos = 0;
    write(i, out);
    return out.toString();
  });
}

test('byte-level cell writers produce exactly the lossless JSON of toJsonValue', () => {
  const check = (field: Field, cells: Cell[]) => {
    const { data, rows } = columnBatch(field, cells);
    const read = cellReader(data);
    const got = rendered(field, data, rows);
    for (let i = 0; i < rows; i++) {
      const cell = read(i);
      assert.equal(got[i], cell === null ? 'null' : JSON.stringify(toJsonValue(field, cell)), `${field.name} ${String(cells[i])}`);
    }
  };
  const f = (name: string) => customers.fields.find((x) => x.name === name)!;
  check(f('id'), [0n, -1n, 9007199254740991n, -9007199254740992n, 9007199254740992n, 9223372036854775807n, -9223372036854775808n, null]);
  fc.assert(
    fc.property(fc.array(fc.option(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }))), (xs) => check(f('id'), xs)),
    { numRuns: 200 },
  );
  check(f('amount'), ['0.00', '-12.50', '0.05', '-0.05', '9999999999.99', null]);
  for (const scale of [0, 2, 5, 10]) {
    const field = new Field('d', new Decimal(scale, 38, 128), true);
    fc.assert(
      fc.property(fc.array(fc.option(fc.bigInt({ min: -(10n ** 38n) + 1n, max: 10n ** 38n - 1n }))), (xs) =>
        check(
          field,
          xs.map((x) => (x === null ? null : unscaledToDecimalString(x, scale))),
        ),
      ),
      { numRuns: 100 },
    );
  }
  check(f('name'), ['', '\uFEFF', '\uFEFFa', 'a"b\\c\n', '😀 ǅ \u0000', '\u007f', 'é', null]);
  fc.assert(
    fc.property(fc.array(fc.option(fc.string({ unit: 'binary' }))), (xs) => check(f('name'), xs)),
    { numRuns: 200 },
  );
  check(f('active'), [true, false, null]);
  const ts = [
    new Timestamp(TimeUnit.MICROSECOND, 'UTC'),
    new Timestamp(TimeUnit.NANOSECOND, null),
    new Timestamp(TimeUnit.MILLISECOND, 'UTC'),
    new Timestamp(TimeUnit.SECOND, null),
  ];
  for (const type of ts) {
    const field = new Field('t', type, true);
    const scale = [1_000_000_000n, 1_000_000n, 1000n, 1n][type.unit]!;
    fc.assert(
      fc.property(fc.array(fc.option(fc.bigInt({ min: -62135596800000000000n, max: 253402300799999999999n })), { maxLength: 20 }), (vs) =>
        check(
          field,
          vs.map((v) => (v === null ? null : v / scale)),
        ),
      ),
      { numRuns: 200 },
    );
    // Around whole seconds and days, where rounding of the quotient could go wrong; and beyond ±2^53 and year 9999.
    const edges = [0n, -1n, 1n, 86_399n, 86_400n, -86_401n, 2n ** 53n - 1n, -(2n ** 53n), 2n ** 62n, -(2n ** 62n), null];
    check(
      field,
      edges.map((v) => (v === null ? null : v)),
    );
  }
  check(new Field('i', new Int32(), true), [0, -5, 2147483647, -2147483648, null]);
  check(new Field('s', new Int16(), true), [0, -5, 32767, null]);
  check(new Field('f', new Float64(), true), [0.1, -2.5e300, Number.NaN, Number.POSITIVE_INFINITY, null]);
  check(new Field('b', new Binary(), true), [new Uint8Array([0, 255, 7]), null]);
  check(new Field('d', new Date_(DateUnit.DAY), true), [0, -1, 20000, null]);
  check(new Field('l', new List(new Field('item', new Int32(), true)), true), [[1, null, 3], [], null]);
});

test('a row renders as JSON.stringify of toJsonValue, for any text (sliced batches too)', () => {
  const encoder = jsonEncoder(() => 3);
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.string({ unit: 'grapheme' }), fc.option(fc.string({ unit: 'binary' }))), { minLength: 1, maxLength: 20 }),
      fc.nat(),
      (texts, cut) => {
        const full = snapshotBatch(
          texts.map(([name, note], i) => [BigInt(i), name, '1.00', '2024-01-02T03:04:05.123456Z', true, note] as Row),
        );
        const from = cut % full.numRows;
        const batch = full.slice(from);
        const messages: SizedMessage[] = [];
        encoder.encode(batch, messages, 0);
        const readers = batchReaders(batch);
        assert.equal(messages.length, batch.numRows);
        for (let i = 0; i < batch.numRows; i++) {
          const expected: Record<string, unknown> = {};
          batch.schema.fields.forEach((f, c) => (expected[f.name] = toJsonValue(f, readers[c]!(i))));
          assert.equal(messages[i]!.message.value, JSON.stringify(expected));
          assert.equal(messages[i]!.message.key, JSON.stringify({ id: expected.id }));
          assert.equal(messages[i]!.message.partition, keyPartition(messages[i]!.message.key as string, 3));
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('records rendered in place are byte-identical to records appended from strings', () => {
  const record = fc.record({
    key: fc.string({ unit: 'binary', maxLength: 40 }),
    value: fc.option(fc.oneof(fc.string({ unit: 'binary', maxLength: 100 }), fc.string({ minLength: 8000, maxLength: 9000 }))),
    headers: fc.array(fc.tuple(fc.constantFrom('refstream-op', 'refstream-position', 'x'), fc.string({ maxLength: 30 })), { maxLength: 3 }),
  });
  fc.assert(
    fc.property(fc.array(record, { minLength: 1, maxLength: 30 }), (records) => {
      const reference = new RecordBatchWriter(64);
      const inPlace = new RecordBatchWriter(64);
      for (const r of records) {
        const headers: Record<string, string> = {};
        for (const [name, value] of r.headers) headers[name] = value;
        reference.append({ key: r.key, value: r.value, headers });
        const key = Buffer.from(r.key, 'utf8');
        inPlace.beginRecord(key, key.length);
        if (r.value !== null) inPlace.out.text(r.value);
        inPlace.endValue(r.value === null);
        // The headers section, as the JSON encoder writes it: count, then name/value pairs.
        const names = Object.keys(headers);
        inPlace.out.ensure(1);
        inPlace.out.pos = writeVarint(inPlace.out.buf, inPlace.out.pos, names.length);
        for (const name of names) {
          const n = Buffer.from(name);
          const v = Buffer.from(headers[name]!);
          inPlace.out.ensure(10);
          inPlace.out.pos = writeVarint(inPlace.out.buf, inPlace.out.pos, n.length);
          inPlace.out.bytes(n);
          inPlace.out.ensure(10);
          inPlace.out.pos = writeVarint(inPlace.out.buf, inPlace.out.pos, v.length);
          inPlace.out.bytes(v);
        }
        inPlace.endRecord();
      }
      assert.deepEqual(inPlace.finish(1700000000000), reference.finish(1700000000000));
    }),
    { numRuns: 200 },
  );
});

test('gzipRecordBatch keeps the header, compresses the records and re-computes the length; sealing writes the CRC', async () => {
  const writer = new RecordBatchWriter(64);
  for (let i = 0; i < 50; i++)
    writer.append({
      key: `{"id":"${i}"}`,
      value: `{"id":"${i}","name":"same text again and again"}`,
      headers: { 'refstream-op': 'snapshot' },
    });
  const plain = writer.finish(1700000000000);
  const zipped = await gzipRecordBatch(plain);
  assert.ok(zipped.length < plain.length / 2, `${zipped.length} bytes vs ${plain.length}`);
  assert.equal(zipped.readInt16BE(21), 1, 'attributes: gzip');
  assert.equal(zipped.readInt32BE(8), zipped.length - 12, 'batch length');
  sealRecordBatch(zipped);
  assert.equal(zipped.readUInt32BE(17), crc32c(zipped, 21, zipped.length), 'sealed: CRC over attributes..end');
  assert.deepEqual(zipped.subarray(23, 61), plain.subarray(23, 61), 'offsets, timestamps, producer fields and record count unchanged');
  assert.deepEqual(gunzipSync(zipped.subarray(61)), plain.subarray(61));
});

test('idempotent batches: producer id, epoch and per-partition sequences advancing by record count, wrapping at 2^31', () => {
  const batch = (records: number) => {
    const w = new RecordBatchWriter(64);
    for (let i = 0; i < records; i++) w.append({ key: `k${i}`, value: `v${i}`, headers: {} });
    return w.finish(1);
  };
  const producer = new ProducerSequences(123456789012345n, 7);
  const sent: Array<Map<number, Buffer>> = [];
  for (const counts of [
    [3, 5],
    [2, 0],
    [4, 1],
  ]) {
    const request = new Map<number, Buffer>();
    counts.forEach((n, partition) => n > 0 && request.set(partition, batch(n)));
    producer.stamp(request);
    for (const b of request.values()) sealRecordBatch(b); // as the producer does before sending
    sent.push(request);
  }
  const fields = (b: Buffer) => ({
    id: b.readBigInt64BE(43),
    epoch: b.readInt16BE(51),
    sequence: b.readInt32BE(53),
    crc: b.readUInt32BE(17) === crc32c(b, 21, b.length),
  });
  assert.deepEqual(fields(sent[0]!.get(0)!), { id: 123456789012345n, epoch: 7, sequence: 0, crc: true });
  assert.deepEqual(fields(sent[0]!.get(1)!), { id: 123456789012345n, epoch: 7, sequence: 0, crc: true });
  assert.equal(fields(sent[1]!.get(0)!).sequence, 3);
  assert.equal(fields(sent[2]!.get(0)!).sequence, 5);
  assert.equal(fields(sent[2]!.get(1)!).sequence, 5);
  // Near the top of the range the next sequence wraps to 0 + the remainder.
  const wrapping = new ProducerSequences(1n, 0);
  (wrapping as unknown as { next: Map<number, number> }).next.set(0, 2 ** 31 - 2);
  wrapping.stamp(new Map([[0, batch(5)]]));
  const after = new Map([[0, batch(1)]]);
  wrapping.stamp(after);
  assert.equal(after.get(0)!.readInt32BE(53), 3);
});

test('frameOf frames a request byte for byte as kafkajs does (size, header v1, body)', async () => {
  const createRequest = createRequire(import.meta.url)('kafkajs/src/protocol/request') as (args: {
    correlationId: number;
    clientId: string;
    request: { apiKey: number; apiVersion: number; encode: () => Promise<unknown> };
  }) => Promise<{ buffer: Buffer }>;
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 3000 }),
      fc.string({ maxLength: 40 }),
      fc.nat(2 ** 31 - 1),
      async (bytes, clientId, correlationId) => {
        const src = Buffer.from(bytes);
        const body = { length: src.length, copy: (target: Buffer, at: number) => src.copy(target, at) };
        const request = { apiKey: 0, apiVersion: 3, apiName: 'Produce', body, decode: async () => null, requestTimeout: 1000 };
        const ours = frameOf(request, correlationId, clientId, Buffer.alloc(frameSize(request, clientId)));
        const theirs = await createRequest({
          correlationId,
          clientId,
          request: { apiKey: 0, apiVersion: 3, encode: async () => ({ buf: Buffer.alloc(0), buffer: body }) },
        });
        assert.deepEqual(ours, theirs.buffer);
      },
    ),
    { numRuns: 200 },
  );
});
