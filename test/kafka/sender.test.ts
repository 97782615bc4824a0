/** OrderedSender and record batches: size limits and order, against a capturing produce call. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OrderedSender, type PartitionBatches } from '../../src/connectors/kafka/sender.js';
import { RecordBatchWriter, readVarint } from '../../src/connectors/kafka/wire.js';

/** Decodes a v2 record batch (uncompressed) into its record values, checking offset deltas. */
function values(batch: Buffer): string[] {
  const count = batch.readInt32BE(57);
  assert.equal(batch.readInt32BE(8), batch.length - 12, 'batch length field');
  const out: string[] = [];
  let o = 61;
  for (let i = 0; i < count; i++) {
    const [length, body] = readVarint(batch, o);
    let p = body + 2;
    const [delta, afterDelta] = readVarint(batch, p);
    assert.equal(delta, i, 'offset delta');
    p = afterDelta;
    const [kl, afterKey] = readVarint(batch, p);
    p = afterKey + Math.max(kl, 0);
    const [vl, afterValueLength] = readVarint(batch, p);
    out.push(vl < 0 ? '<null>' : batch.toString('utf8', afterValueLength, afterValueLength + vl));
    o = body + length;
  }
  assert.equal(o, batch.length, 'records fill the batch');
  return out;
}

const recordValue = fc.oneof(
  { weight: 5, arbitrary: fc.string({ maxLength: 60 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 500, maxLength: 3000 }) },
);

test('batches stay within chunkBytes (a larger single record goes alone), every record arrives once, in order per partition', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(fc.tuple(fc.nat(2), recordValue), { maxLength: 40 }), { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 256, max: 4096 }),
      async (calls, chunkBytes) => {
        const produced = new Map<number, string[]>();
        const sizes: Array<{ bytes: number; records: number }> = [];
        const sender = new OrderedSender(
          async (batches: PartitionBatches) => {
            await new Promise((resolve) => setImmediate(resolve));
            for (const [partition, batch] of batches) {
              const got = values(batch);
              sizes.push({ bytes: batch.length, records: got.length });
              produced.set(partition, [...(produced.get(partition) ?? []), ...got]);
            }
          },
          { topic: 't', chunkBytes, maxBufferedBytes: 8 * chunkBytes, partitionOf: (r) => r.partition! },
        );
        const expected = new Map<number, string[]>();
        for (const records of calls) {
          const call = sender.beginCall();
          for (const [partition, value] of records) {
            // Half of the records go through the in-place path, as the JSON encoder writes them.
            if (value.length % 2 === 0) call.push({ message: { key: 'k', value, partition, headers: {} } });
            else {
              const writer = call.writer(partition);
              writer.beginRecord(Buffer.from('k'), 1);
              writer.out.text(value);
              writer.endValue(false);
              writer.out.ensure(1);
              writer.out.buf[writer.out.pos++] = 0; // no headers
              writer.endRecord();
            }
            expected.set(partition, [...(expected.get(partition) ?? []), value]);
          }
          await sender.endCall();
        }
        await sender.flush();
        assert.deepEqual(produced, expected);
        for (const s of sizes)
          assert.ok(s.bytes <= chunkBytes || s.records === 1, `a batch of ${s.records} records has ${s.bytes} bytes > ${chunkBytes}`);
      },
    ),
    { numRuns: 100 },
  );
});

test('splitAt keeps the records that fit and re-encodes the rest byte-identically to a fresh batch', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.string({ maxLength: 20 }), fc.option(recordValue)), { minLength: 1, maxLength: 30 }),
      fc.integer({ min: 61, max: 5000 }),
      (records, maxBytes) => {
        const whole = new RecordBatchWriter(64);
        for (const [key, value] of records) whole.append({ key, value, headers: { h: key } });
        const rest = whole.splitAt(maxBytes);
        const kept = whole.records;
        assert.ok(kept >= 1);
        if (rest === null) assert.ok(kept === records.length);
        else {
          assert.equal(kept + rest.records, records.length);
          assert.ok(whole.byteLength <= maxBytes || kept === 1);
        }
        const first = new RecordBatchWriter(64);
        for (const [key, value] of records.slice(0, kept)) first.append({ key, value, headers: { h: key } });
        // Maximal: one more record would not have fit.
        if (rest !== null && kept > 0) {
          const more = new RecordBatchWriter(64);
          for (const [key, value] of records.slice(0, kept + 1)) more.append({ key, value, headers: { h: key } });
          assert.ok(more.byteLength > maxBytes);
        }
        assert.deepEqual(whole.finish(1), first.finish(1));
        if (rest !== null) {
          const second = new RecordBatchWriter(64);
          for (const [key, value] of records.slice(kept)) second.append({ key, value, headers: { h: key } });
          assert.deepEqual(rest.finish(1), second.finish(1));
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('ackedPosition: the highest position acknowledged with everything before it, never one still in flight', async () => {
  let release: () => void = () => undefined;
  let held = false;
  const sender = new OrderedSender(
    async () => {
      if (held) await new Promise<void>((resolve) => (release = resolve));
      else await new Promise((resolve) => setImmediate(resolve));
    },
    { topic: 't', chunkBytes: 256, maxBufferedBytes: 1 << 20, partitionOf: (r) => r.partition! },
  );
  let seq = 0;
  const write = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      seq++;
      await sender.enqueue([
        {
          message: { key: 'k', value: `row ${seq}`.padEnd(40, '.'), partition: seq % 3, headers: {} },
          position: String(seq).padStart(4, '0'),
        },
      ]);
    }
  };
  assert.equal(sender.ackedPosition, null);
  await write(30);
  await sender.flush();
  assert.equal(sender.ackedPosition, '0030');
  // Rows in flight are not acknowledged yet.
  held = true;
  await write(3);
  assert.equal(sender.ackedPosition, '0030');
  held = false;
  release();
  await sender.flush();
  assert.equal(sender.ackedPosition, '0033');
  // A position recorded outside the queue (a truncate) counts once everything before it is acknowledged.
  sender.noteDelivered('0040');
  assert.equal(sender.ackedPosition, '0040');
  sender.noteDelivered('0035');
  assert.equal(sender.ackedPosition, '0040', 'never goes back');
});
