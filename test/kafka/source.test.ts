import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordBatch } from 'apache-arrow';
import { startKafkaTestBroker, type KafkaTestBroker } from '../../src/testing/index.js';
import { KafkaReferenceTableSource, KafkaSink, type KafkaSourceOptions } from '../../src/connectors/kafka/index.js';
import { batchInfo } from '../../src/sdk/batch.js';
import { makeCheckpoint } from '../../src/sdk/checkpoint.js';
import { ConnectorError, isAbortError } from '../../src/sdk/errors.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import { formatPosition, snapshotSchema } from '../../src/sdk/batch.js';
import { toIpc } from '../../src/connectors/kafka/encode.js';
import { partitionFor } from '../../src/connectors/kafka/index.js';
import { changeBatch, customers, produceRecords, quiet, readTopic, row, snapshotBatch, type Change, type Row } from './helpers.js';
import { waitFor } from '../helpers/process.js';

let broker: KafkaTestBroker;
const topics = [
  'snap',
  'mid',
  'restore',
  'life',
  'abort',
  'stale',
  'trunc',
  'bounded',
  'noschema',
  'old-format',
  'array-format',
  'late-writer',
];
before(async () => {
  broker = await startKafkaTestBroker({ brokers: 2, topics: topics.map((t) => `${t}:3`) });
});
after(async () => {
  await broker?.stop();
});

function sinkFor(topic: string): KafkaSink {
  return new KafkaSink({ brokers: broker.brokers, topic, ...quiet });
}
function sourceFor(topic: string, extra: Partial<KafkaSourceOptions> = {}): KafkaReferenceTableSource {
  return new KafkaReferenceTableSource({ brokers: broker.brokers, topic, table: 'public.customers', maxWaitMs: 50, ...quiet, ...extra });
}
async function drainSnapshot(source: KafkaReferenceTableSource, table: ReferenceTable): Promise<RecordBatch[]> {
  const batches: RecordBatch[] = [];
  for (let b = await source.pollSnapshot(); b !== null; b = await source.pollSnapshot()) {
    batches.push(b);
    table.apply(b);
  }
  return batches;
}
async function drainChanges(source: KafkaReferenceTableSource, table: ReferenceTable, emptyPolls = 2): Promise<RecordBatch[]> {
  const batches: RecordBatch[] = [];
  let empty = 0;
  while (empty < emptyPolls) {
    const b = await source.pollChanges();
    if (b === null) empty++;
    else {
      empty = 0;
      batches.push(b);
      table.apply(b);
    }
  }
  return batches;
}
function rowsOf(batches: RecordBatch[]): number {
  return batches.reduce((n, b) => n + b.numRows, 0);
}
/** The expected state: the same batches applied to a ReferenceTable directly. */
function expectedOf(batches: RecordBatch[]): ReferenceTable {
  const t = new ReferenceTable();
  for (const b of batches) t.apply(b);
  return t;
}
function sameState(actual: ReferenceTable, expected: ReferenceTable): void {
  const byId = (t: ReferenceTable) => (t.toJSON() as Array<Record<string, unknown>>).map((r) => JSON.stringify(r)).sort();
  assert.deepEqual(byId(actual), byId(expected));
}

describe('KafkaReferenceTableSource', () => {
  test('snapshot = topic folded to the end offsets at start, typed as the written table; changes after', async () => {
    const sink = sinkFor('snap');
    const written = [
      snapshotBatch(Array.from({ length: 50 }, (_, i) => row(i))),
      changeBatch([
        ['update', row(3, 'three'), 1],
        ['delete', 4, 2],
        ['insert', row(60), 3],
      ]),
    ];
    await sink.snapshotStart({ restart: false });
    await sink.write(written[0]!);
    await sink.snapshotComplete();
    await sink.write(written[1]!);
    await sink.flush();

    const source = sourceFor('snap');
    const table = new ReferenceTable();
    const snapshot = await drainSnapshot(source, table);
    assert.ok(source.isSnapshotComplete());
    assert.equal(rowsOf(snapshot), 50, 'folded: one row per live key');
    assert.equal(batchInfo(snapshot[0]!).kind, 'snapshot');
    assert.equal(String(snapshot[0]!.schema.fields[2]!.type), String(written[0]!.schema.fields[2]!.type), 'decimal type restored');
    sameState(table, expectedOf(written));
    assert.equal(table.get(3n)?.name, 'three');
    assert.equal(table.get(3n)?.amount, '3.50');

    const more = [
      changeBatch([
        ['update', row(5, 'five'), 4],
        ['delete', 60, 5],
        ['truncate', null, 6],
        ['insert', row(7, 'seven'), 7],
      ]),
    ];
    await sink.write(more[0]!);
    await sink.flush();
    const changes = await drainChanges(source, table);
    assert.ok(changes.every((b) => batchInfo(b).kind === 'changes'));
    sameState(table, expectedOf([...written, ...more]));
    assert.equal(table.size, 1);
    await sink.close();
    await source.close();
  });

  test('records written while the snapshot is read come as changes, not in the snapshot', async () => {
    const sink = sinkFor('mid');
    const first = snapshotBatch(Array.from({ length: 20 }, (_, i) => row(i)));
    await sink.write(first);
    await sink.flush();
    const source = sourceFor('mid', { batchRows: 5 });
    const table = new ReferenceTable();
    const b1 = await source.pollSnapshot();
    assert.equal(b1!.numRows, 5, 'bounded by batchRows');
    table.apply(b1!);
    const late = changeBatch([
      ['update', row(1, 'late'), 10],
      ['insert', row(100), 11],
    ]);
    await sink.write(late);
    await sink.flush();
    const rest = await drainSnapshot(source, table);
    assert.equal(rowsOf(rest) + 5, 20);
    assert.equal(table.has(100n), false);
    const changes = await drainChanges(source, table);
    assert.equal(rowsOf(changes), 2);
    sameState(table, expectedOf([first, late]));
    await sink.close();
    await source.close();
  });

  test('checkpoint/restore resumes with exactly the next change (no loss, no duplicate)', async () => {
    const sink = sinkFor('restore');
    await sink.write(snapshotBatch([row(1), row(2)]));
    let seq = 1;
    const changes: Change[] = [];
    for (let i = 0; i < 60; i++) changes.push([i % 7 === 6 ? 'delete' : 'update', i % 7 === 6 ? i % 10 : row(i % 10, `v${i}`), seq++]);
    await sink.flush();

    const first = sourceFor('restore', { batchRows: 7 });
    const seen = new ReferenceTable();
    await drainSnapshot(first, seen);
    await sink.write(changeBatch(changes));
    await sink.flush();
    // Read a few change batches, then "crash" and continue from the checkpoint.
    const positionsBefore: string[] = [];
    for (let i = 0; i < 3;) {
      const b = await first.pollChanges();
      if (b === null) continue;
      i++;
      seen.apply(b);
      const pos = b.getChild('_position')!;
      for (let r = 0; r < b.numRows; r++) positionsBefore.push(pos.get(r) as string);
    }
    const cp = JSON.parse(JSON.stringify(first.checkpoint()));
    await first.close();

    const second = sourceFor('restore', { batchRows: 7 });
    await second.restore(cp);
    assert.equal(second.isSnapshotComplete(), true);
    const rest = await drainChanges(second, seen);
    const positionsAfter: string[] = [];
    for (const b of rest) {
      const pos = b.getChild('_position')!;
      for (let r = 0; r < b.numRows; r++) positionsAfter.push(pos.get(r) as string);
    }
    assert.equal(positionsBefore.length + positionsAfter.length, 60);
    assert.equal(new Set([...positionsBefore, ...positionsAfter]).size, 60, 'no duplicates');
    sameState(seen, expectedOf([snapshotBatch([row(1), row(2)]), changeBatch(changes)]));
    await second.close();
    await sink.close();
  });

  test('contract: INVALID_STATE before the snapshot, CHECKPOINT_INVALID for foreign checkpoints, CHECKPOINT_MISMATCH for another topic, CLOSED after close', async () => {
    const source = sourceFor('life');
    await assert.rejects(source.pollChanges(), (e) => ConnectorError.is(e, 'INVALID_STATE') && e.kind === 'definite');
    const foreign = [
      makeCheckpoint('postgres', 'public.customers', 'changes', { lsn: '0/1' }),
      makeCheckpoint('kafka', 'public.other', 'changes', null),
      makeCheckpoint('kafka', 'public.customers', 'changes', {
        topic: 'life',
        offsets: { 0: 'x' },
        high: {},
        frontier: {},
        truncatedAt: null,
        schema: null,
      }),
      { version: 99 } as never,
    ];
    for (const cp of foreign) {
      await assert.rejects(
        sourceFor('life').restore(cp),
        (e) => ConnectorError.is(e, 'CHECKPOINT_INVALID') && e.kind === 'definite',
        JSON.stringify(cp),
      );
    }
    const otherTopic = makeCheckpoint('kafka', 'public.customers', 'changes', {
      topic: 'other',
      offsets: {},
      high: {},
      frontier: {},
      truncatedAt: null,
      schema: null,
    });
    await assert.rejects(
      sourceFor('life').restore(otherTopic),
      (e) =>
        ConnectorError.is(e, 'CHECKPOINT_MISMATCH') &&
        e.kind === 'definite' &&
        /checkpoint: topic other; connected: topic life/.test(e.message),
    );
    assert.equal(await source.pollSnapshot(), null, 'empty topic: empty snapshot');
    assert.equal(await source.pollSnapshot(), null);
    assert.equal(await source.pollChanges(), null);
    await assert.rejects(source.restore(source.checkpoint()), (e) => ConnectorError.is(e, 'INVALID_STATE'));
    await source.close();
    await source.close();
    await assert.rejects(source.pollSnapshot(), (e) => ConnectorError.is(e, 'CLOSED'));
    await assert.rejects(source.pollChanges(), (e) => ConnectorError.is(e, 'CLOSED'));
  });

  test('pollChanges waits at most maxWaitMs; an abort rejects promptly and the source stays usable', async () => {
    const source = sourceFor('abort', { maxWaitMs: 100 });
    assert.equal(await source.pollSnapshot(), null);
    let t0 = Date.now();
    assert.equal(await source.pollChanges(), null);
    assert.ok(Date.now() - t0 < 1000, `idle poll took ${Date.now() - t0} ms`);

    const slow = sourceFor('abort', { maxWaitMs: 10_000 });
    assert.equal(await slow.pollSnapshot(), null);
    const controller = new AbortController();
    t0 = Date.now();
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(slow.pollChanges({ signal: controller.signal }), (e) => isAbortError(e));
    assert.ok(Date.now() - t0 < 1000, `abort took ${Date.now() - t0} ms`);
    const already = new AbortController();
    already.abort();
    await assert.rejects(slow.pollChanges({ signal: already.signal }), (e) => isAbortError(e));

    const sink = sinkFor('abort');
    await sink.write(changeBatch([['insert', row(1), 1]]));
    await sink.flush();
    const table = new ReferenceTable();
    let b: RecordBatch | null = null;
    for (let i = 0; i < 20 && b === null; i++) b = await slow.pollChanges();
    table.apply(b!);
    assert.equal(table.get(1n)?.name, 'customer 1');
    await Promise.all([source.close(), slow.close(), sink.close()]);
  });

  test('a stale replay (older position) does not overwrite a newer value', async () => {
    const sink = sinkFor('stale');
    // The writer crashed after position 3 and replays from its last checkpoint (position 1).
    await sink.write(
      changeBatch([
        ['insert', row(1, 'v1'), 1],
        ['update', row(1, 'v2'), 2],
        ['update', row(1, 'v3'), 3],
      ]),
    );
    await sink.write(changeBatch([['update', row(1, 'v2'), 2]]));
    await sink.flush();
    const source = sourceFor('stale');
    const table = new ReferenceTable();
    await drainSnapshot(source, table);
    assert.equal(table.get(1n)?.name, 'v3');
    // The same in the change phase: the replay is dropped, new changes apply.
    await sink.write(
      changeBatch([
        ['update', row(1, 'v4'), 4],
        ['update', row(1, 'v5'), 5],
      ]),
    );
    await sink.write(changeBatch([['update', row(1, 'v4'), 4]]));
    await sink.write(
      changeBatch([
        ['update', row(1, 'v5'), 5],
        ['update', row(1, 'v6'), 6],
      ]),
    );
    await sink.flush();
    const changes = await drainChanges(source, table);
    assert.equal(table.get(1n)?.name, 'v6');
    const names = changes.flatMap((b) => Array.from({ length: b.numRows }, (_, r) => b.getChild('name')!.get(r) as string));
    assert.deepEqual(names, ['v4', 'v5', 'v6'], 'replays dropped by the source itself');
    await Promise.all([source.close(), sink.close()]);
  });

  test('truncate control records clear the table once, across partitions', async () => {
    const sink = sinkFor('trunc');
    await sink.write(changeBatch(Array.from({ length: 10 }, (_, i) => ['insert', row(i), i + 1] as Change)));
    await sink.flush();
    const source = sourceFor('trunc');
    const table = new ReferenceTable();
    await drainSnapshot(source, table);
    assert.equal(table.size, 10);
    await sink.write(
      changeBatch([
        ['truncate', null, 20],
        ['insert', row(42), 21],
      ]),
    );
    await sink.flush();
    const changes = await drainChanges(source, table);
    const types = changes.flatMap((b) => Array.from({ length: b.numRows }, (_, r) => b.getChild('_change_type')!.get(r) as string));
    assert.deepEqual(types, ['truncate', 'insert']);
    assert.equal(table.size, 1);
    assert.ok(table.has(42n));
    await Promise.all([source.close(), sink.close()]);
  });

  /**
   * A sink whose data and control topics the broker's log cleaner compacts within the test:
   * segments roll every 100 ms, any dirty segment is cleaned, tombstones go after 100 ms.
   */
  function compactingSink(topic: string): KafkaSink {
    return new KafkaSink({
      brokers: broker.brokers,
      topic,
      createTopic: { partitions: 3, config: { 'segment.ms': '100', 'min.cleanable.dirty.ratio': '0.01', 'delete.retention.ms': '100' } },
      ...quiet,
    });
  }
  /** Writes a change batch and flushes after the segments had time to roll, so the cleaner can take the records before. */
  async function laterWrite(sink: KafkaSink, changes: Change[]): Promise<void> {
    await new Promise((r) => setTimeout(r, 150));
    await sink.write(changeBatch(changes));
    await sink.flush();
  }
  const kindsOf = async (topic: string) => (await readTopic(broker.brokers, topic)).map((r) => r.headers['refstream-control']?.toString());

  test('a truncate survives compaction: rows written before it stay gone for a reader starting later', { timeout: 120_000 }, async () => {
    const sink = compactingSink('compact-trunc');
    await sink.snapshotStart({ restart: false });
    await sink.write(snapshotBatch(Array.from({ length: 10 }, (_, i) => row(i + 1))));
    await sink.snapshotComplete();
    await sink.write(
      changeBatch([
        ['update', row(3, 'three'), 10],
        ['truncate', null, 20],
        ['insert', row(42), 21],
        ['insert', row(43), 22],
        ['delete', 43, 23],
      ]),
    );
    await sink.flush();
    for (let seq = 30; seq < 34; seq++) await laterWrite(sink, [['update', row(42, `v${seq}`), seq]]);
    await sink.close();
    // The cleaner ran: the deleted key is gone from the data topic, superseded watermarks from the control topic.
    await waitFor(
      async () => {
        const data = await readTopic(broker.brokers, 'compact-trunc');
        const watermarks = (await kindsOf(sink.controlTopic)).filter((k) => k === 'watermark').length;
        return !data.some((r) => r.key?.toString() === '{"id":"43"}') && watermarks <= 2;
      },
      90_000,
      'the log cleaner to compact both topics',
      300,
    );
    const data = await readTopic(broker.brokers, 'compact-trunc');
    assert.ok(
      data.some((r) => r.headers['refstream-op']?.toString() === 'snapshot'),
      'rows written before the truncate survive compaction',
    );
    assert.equal((await kindsOf(sink.controlTopic)).filter((k) => k === 'truncate').length, 1, 'the truncate survives');
    const source = sourceFor('compact-trunc', { schema: customers });
    const table = new ReferenceTable();
    await drainSnapshot(source, table);
    assert.deepEqual(
      (table.toJSON() as Array<{ id: string; name: string }>).map((r) => `${r.id} ${r.name}`),
      ['42 v33'],
    );
    await source.close();
    // Without the schema option: the schema record survives compaction too.
    const blind = sourceFor('compact-trunc');
    const again = new ReferenceTable();
    await drainSnapshot(blind, again);
    assert.deepEqual(again.toJSON(), table.toJSON());
    await blind.close();
  });

  test('a repeated snapshot survives compaction: rows gone from the new snapshot are not resurrected', { timeout: 120_000 }, async () => {
    const sink = compactingSink('compact-resnap');
    await sink.snapshotStart({ restart: false });
    await sink.write(snapshotBatch(Array.from({ length: 10 }, (_, i) => row(i + 1))));
    await sink.flush();
    // The source restarted and delivered the snapshot again; rows 6..10 were deleted meanwhile.
    await new Promise((r) => setTimeout(r, 150));
    await sink.snapshotStart({ restart: true });
    await sink.write(snapshotBatch(Array.from({ length: 5 }, (_, i) => row(i + 1, 'second'))));
    await sink.snapshotComplete();
    await sink.flush();
    for (let seq = 1; seq < 4; seq++) await laterWrite(sink, [['update', row(1, `v${seq}`), seq]]);
    await sink.close();
    await waitFor(
      async () => (await kindsOf(sink.controlTopic)).filter((k) => k === 'snapshot-start').length === 1,
      90_000,
      'the log cleaner to keep only the latest snapshot-start',
      300,
    );
    const source = sourceFor('compact-resnap');
    const table = new ReferenceTable();
    await drainSnapshot(source, table);
    const rows = table.toJSON() as Array<{ id: string; name: string }>;
    assert.deepEqual(rows.map((r) => r.id).sort(), ['1', '2', '3', '4', '5']);
    assert.deepEqual(rows.map((r) => r.name).sort(), ['second', 'second', 'second', 'second', 'v3']);
    await source.close();
  });

  test('a reader started before the writer finds the control topic once it appears', async () => {
    const source = sourceFor('late-writer', { maxWaitMs: 500 });
    assert.equal(await source.pollSnapshot(), null);
    const sink = sinkFor('late-writer');
    await sink.write(changeBatch([1, 2, 3].map((id) => ['insert', row(id), id] as Change)));
    await sink.flush();
    const table = new ReferenceTable();
    const started = Date.now();
    while (table.size < 3 && Date.now() - started < 20_000) {
      const b = await source.pollChanges();
      if (b !== null) table.apply(b);
    }
    assert.equal(table.size, 3);
    await Promise.all([source.close(), sink.close()]);
  });

  for (const layout of [
    { topic: 'old-format', what: 'control records as tombstones keyed by a JSON object', arrayKeys: false },
    { topic: 'array-format', what: 'control records in the data topic, keyed by a JSON array, markers kept', arrayKeys: true },
  ])
    test(`reads topics in the record formats of earlier versions (${layout.what})`, async () => {
      const header = (h: Record<string, string | Buffer>) =>
        Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v)]));
      const kept = new Set(['schema', 'snapshot-start', 'truncate']);
      const control = (kind: string, h: Record<string, string | Buffer> = {}) =>
        [0, 1, 2].map((partition) => {
          const all = { 'refstream-control': kind, 'refstream-table': 'public.customers', ...h };
          const text = Object.fromEntries(Object.entries(all).filter(([, v]) => typeof v === 'string'));
          return {
            partition,
            key: Buffer.from(layout.arrayKeys ? `["__refstream_control","${kind}"]` : `{"__refstream_control":"${kind}"}`),
            value: layout.arrayKeys && kept.has(kind) ? Buffer.from(JSON.stringify(text)) : null,
            headers: header(all),
          };
        });
      const rowRecord = (r: Row, op: string, position?: string) => {
        const [id, name, amount, updatedAt, active, note] = r;
        const key = `{"id":"${id}"}`;
        const value = JSON.stringify({ id: String(id), name, amount, updated_at: updatedAt, active, note });
        return {
          partition: partitionFor(layout.topic, key, 3),
          key: Buffer.from(key),
          value: Buffer.from(value),
          headers: header({ 'refstream-op': op, ...(position ? { 'refstream-position': position } : {}) }),
        };
      };
      const deleteRecord = (id: number, position: string) => {
        const key = `{"id":"${id}"}`;
        return {
          partition: partitionFor(layout.topic, key, 3),
          key: Buffer.from(key),
          value: null,
          headers: header({ 'refstream-op': 'delete', 'refstream-position': position }),
        };
      };
      await produceRecords(broker.brokers, layout.topic, [
        ...control('snapshot-start', { 'refstream-marker': 'm1', 'refstream-snapshot-restart': 'false' }),
        ...control('schema', { 'refstream-schema': toIpc([], snapshotSchema(customers)) }),
        ...Array.from({ length: 6 }, (_, i) => rowRecord(row(i + 1), 'snapshot')),
        ...control('snapshot-complete'),
        rowRecord(row(2, 'two'), 'update', formatPosition(1)),
        deleteRecord(3, formatPosition(2)),
        ...control('watermark', { 'refstream-position': formatPosition(2) }),
      ]);
      const source = sourceFor(layout.topic);
      const table = new ReferenceTable();
      await drainSnapshot(source, table);
      assert.deepEqual((table.toJSON() as Array<{ id: string }>).map((r) => r.id).sort(), ['1', '2', '4', '5', '6']);
      assert.equal(table.get(2n)?.name, 'two');
      await produceRecords(broker.brokers, layout.topic, [
        ...control('truncate', { 'refstream-position': formatPosition(3), 'refstream-marker': formatPosition(3) }),
        rowRecord(row(42), 'insert', formatPosition(4)),
        ...control('watermark', { 'refstream-position': formatPosition(4) }),
      ]);
      const changes = await drainChanges(source, table);
      const types = changes.flatMap((b) => Array.from({ length: b.numRows }, (_, r) => b.getChild('_change_type')!.get(r) as string));
      assert.deepEqual(types, ['truncate', 'insert']);
      assert.deepEqual(
        (table.toJSON() as Array<{ id: string }>).map((r) => r.id),
        ['42'],
      );
      await source.close();
    });

  test('batches are bounded by batchRows and batchBytes', async () => {
    const sink = sinkFor('bounded');
    await sink.write(snapshotBatch(Array.from({ length: 100 }, (_, i) => row(i))));
    await sink.write(changeBatch(Array.from({ length: 100 }, (_, i) => ['update', row(i, 'x'.repeat(200)), i + 1] as Change)));
    await sink.flush();
    const source = sourceFor('bounded', { batchRows: 1000, batchBytes: 4096 });
    const table = new ReferenceTable();
    await source.restore(makeCheckpoint('kafka', 'public.customers', 'snapshot', null));
    const snap = await drainSnapshot(source, table);
    assert.ok(snap.length > 1 && snap.every((b) => b.numRows < 100));
    const rowsSource = sourceFor('bounded', { batchRows: 3 });
    const t2 = new ReferenceTable();
    const s2 = await drainSnapshot(rowsSource, t2);
    assert.ok(s2.every((b) => b.numRows <= 3));
    assert.equal(rowsOf(s2), 100);
    await Promise.all([source.close(), rowsSource.close(), sink.close()]);
  });

  test('without schema records a clear definite error, unless the schema is passed', async () => {
    const sink = new KafkaSink({ brokers: broker.brokers, topic: 'noschema', controlRecords: false, ...quiet });
    const batch = snapshotBatch([row(1)]);
    await sink.write(batch);
    await sink.close();
    const blind = sourceFor('noschema');
    await assert.rejects(blind.pollSnapshot(), (e) => ConnectorError.is(e, 'SCHEMA_INCOMPATIBLE') && /schema/.test(e.hint ?? ''));
    await blind.close();
    const told = sourceFor('noschema', { schema: batch.schema });
    const table = new ReferenceTable();
    await drainSnapshot(told, table);
    assert.equal(table.get(1n)?.name, 'customer 1');
    await told.close();
  });
});
