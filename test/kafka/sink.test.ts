import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tableFromIPC } from 'apache-arrow';
import { Kafka, logLevel } from 'kafkajs';
import { startKafkaTestBroker, type KafkaTestBroker } from '../../src/testing/index.js';
import { KafkaSink, isControlKey, partitionFor } from '../../src/connectors/kafka/index.js';
import { KafkaReferenceTableSource } from '../../src/connectors/kafka/index.js';
import { formatPosition } from '../../src/sdk/batch.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import { changeBatch, foldUpsert, kcatRead, quiet, row, snapshotBatch, type Change, type KcatRecord } from './helpers.js';

const run = promisify(execFile);
let broker: KafkaTestBroker;

before(async () => {
  broker = await startKafkaTestBroker({
    brokers: 3,
    topics: [
      'format:3',
      'order:3',
      'acks:2',
      'fold:3',
      'debezium:2',
      'truncate:2',
      'arrow:3',
      'kcat-keys:5',
      'fail-truncate:1',
      'no-control:1',
      'fold-gzip:3',
      'idem:3',
      'plain:3',
      'watermarks:3',
      'lenient:3',
    ],
  });
});
after(async () => {
  await broker?.stop();
});

/** The control topic's records as written: partition and the JSON value. */
async function controlRecords(
  topic: string,
): Promise<
  Array<{ partition: number; kind: string; table: string; offsets: string[]; position?: string | null; marker?: string; schema?: string }>
> {
  return (await kcatRead(broker.bootstrapServers, topic)).map((r) => {
    assert.equal(r.key, JSON.parse(r.payload!).kind, 'keyed by kind');
    return { partition: r.partition, ...JSON.parse(r.payload!) };
  });
}

async function topicNames(): Promise<string[]> {
  const admin = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return await admin.listTopics();
  } finally {
    await admin.disconnect();
  }
}

function sinkFor(topic: string, extra: Partial<ConstructorParameters<typeof KafkaSink>[0]> = {}): KafkaSink {
  return new KafkaSink({ brokers: broker.brokers, topic, ...quiet, ...extra });
}

describe('KafkaSink', () => {
  test('json upsert format: keys, values, headers, tombstones and control records', async () => {
    const sink = sinkFor('format');
    await sink.snapshotStart({ restart: false });
    await sink.write(snapshotBatch([row(1), row(2), row(3)]));
    await sink.snapshotComplete();
    await sink.write(
      changeBatch([
        ['insert', row(4), 10],
        ['update', row(1, 'renamed', '99.99'), 11],
        ['delete', 2, 12],
      ]),
    );
    await sink.flush();
    await sink.close();

    const records = await kcatRead(broker.bootstrapServers, 'format');
    const data = records.filter((r) => r.headers['refstream-control'] === undefined);
    const byKey = (k: string) => data.filter((r) => r.key === k);

    // Snapshot row: key object with the key columns, lossless JSON row, op header, no position.
    const snap1 = byKey('{"id":"1"}')[0]!;
    assert.deepEqual(JSON.parse(snap1.payload!), {
      id: '1',
      name: 'customer 1',
      amount: '1.50',
      updated_at: '2024-01-02T03:04:05.123456Z',
      active: false,
      note: 'note 1',
    });
    assert.equal(snap1.headers['refstream-op'], 'snapshot');
    assert.equal(snap1.headers['refstream-position'], undefined);
    // Key order of the value is the table's column order.
    assert.deepEqual(Object.keys(JSON.parse(snap1.payload!)), ['id', 'name', 'amount', 'updated_at', 'active', 'note']);

    // Changes carry op and position; the update follows the snapshot row of its key.
    const upd = byKey('{"id":"1"}')[1]!;
    assert.equal(upd.headers['refstream-op'], 'update');
    assert.equal(upd.headers['refstream-position'], '000000000000000b/00000000');
    assert.equal(JSON.parse(upd.payload!).amount, '99.99');
    assert.equal(byKey('{"id":"4"}')[0]!.headers['refstream-op'], 'insert');
    assert.equal(byKey('{"id":"3"}')[0]!.payload!.includes('"note":null'), true);

    // Delete is a tombstone with its position.
    const del = byKey('{"id":"2"}').at(-1)!;
    assert.equal(del.payload, null);
    assert.equal(del.headers['refstream-op'], 'delete');
    assert.equal(del.headers['refstream-position'], '000000000000000c/00000000');

    // The data topic holds rows and tombstones only: every key is a row key.
    assert.ok(records.every((r) => r.headers['refstream-control'] === undefined && /^\{"id":"\d+"\}$/.test(r.key!)));
    assert.ok(!isControlKey('{"id":"1"}'));
    assert.ok(isControlKey('["__refstream_control","truncate"]') && isControlKey('{"__refstream_control":"truncate"}'), 'earlier formats');

    // Control records: in the control topic (one partition), in order, each placed among the
    // rows by the data partitions' offsets it carries.
    assert.equal(sink.controlTopic, 'format.refstream-control');
    const controls = await controlRecords(sink.controlTopic);
    assert.deepEqual(
      controls.map((c) => c.kind),
      ['snapshot-start', 'schema', 'snapshot-complete', 'watermark'],
    );
    assert.ok(controls.every((c) => c.partition === 0));
    assert.ok(controls.slice(1).every((c) => c.table === 'public.customers'));
    const ends = (before: (r: KcatRecord) => boolean) =>
      [0, 1, 2].map((p) => String(Math.max(-1, ...records.filter((r) => r.partition === p && before(r)).map((r) => r.offset)) + 1));
    assert.deepEqual(controls[0]!.offsets, ['0', '0', '0'], 'snapshot-start: before every row');
    assert.deepEqual(controls[1]!.offsets, ['0', '0', '0'], 'schema: before every row');
    assert.ok(Buffer.from(controls[1]!.schema!, 'base64').length > 0);
    assert.deepEqual(
      controls[2]!.offsets,
      ends((r) => r.headers['refstream-op'] === 'snapshot'),
      'snapshot-complete: after the snapshot rows',
    );
    assert.deepEqual(
      controls[3]!.offsets,
      ends(() => true),
      'watermark: after everything flushed',
    );
    assert.equal(controls[3]!.position, '000000000000000c/00000000');
  });

  test('each key stays in one partition (murmur2, as Java clients) and keeps its order', async () => {
    const sink = sinkFor('order', { chunkBytes: 2048 });
    let seq = 1;
    for (let round = 0; round < 20; round++) {
      const changes: Change[] = [];
      for (let id = 0; id < 40; id++) changes.push([round === 0 ? 'insert' : 'update', row(id, `v${round}`), seq++]);
      await sink.write(changeBatch(changes));
    }
    await sink.flush();
    await sink.close();
    const records = (await kcatRead(broker.bootstrapServers, 'order')).filter((r) => r.headers['refstream-control'] === undefined);
    assert.equal(records.length, 800);
    const partitionOf = new Map<string, number>();
    const lastPosition = new Map<string, string>();
    for (const r of records) {
      const key = r.key!;
      assert.equal(partitionOf.get(key) ?? r.partition, r.partition, `key ${key} in two partitions`);
      partitionOf.set(key, r.partition);
      assert.equal(r.partition, partitionFor('order', key, 3));
      const pos = r.headers['refstream-position']!;
      assert.ok((lastPosition.get(key) ?? '') < pos, `key ${key} out of order`);
      lastPosition.set(key, pos);
    }
    assert.equal(new Set(partitionOf.values()).size, 3, 'keys spread over all partitions');
  });

  test('watermarks: one per flush, at the highest position flushed and the end of every partition, however many produce calls', async () => {
    const sink = sinkFor('watermarks', { chunkBytes: 1024 });
    let seq = 1;
    const flushedAt: string[] = [];
    const counts: number[] = [];
    for (let round = 0; round < 2; round++) {
      for (let b = 0; b < 15; b++)
        await sink.write(changeBatch(Array.from({ length: 20 }, (_, i): Change => ['update', row(i, `r${round}b${b}`), seq++])));
      await sink.flush();
      await sink.flush(); // nothing new: no watermark
      flushedAt.push(formatPosition(seq - 1));
      counts.push((await kcatRead(broker.bootstrapServers, 'watermarks')).length);
    }
    await sink.close();
    const records = await kcatRead(broker.bootstrapServers, 'watermarks');
    assert.equal(records.length, 600);
    const watermarks = (await controlRecords(sink.controlTopic)).filter((c) => c.kind === 'watermark');
    assert.deepEqual(
      watermarks.map((w) => w.position),
      flushedAt,
    );
    // Each says exactly what its flush made durable: the end of every partition then.
    assert.deepEqual(
      watermarks.map((w) => w.offsets.reduce((n, o) => n + Number(o), 0)),
      counts,
    );
  });

  test('the data topic holds row keys only: a typed-key consumer (Jackson `record Key(long id)`) reads every record and keeps row 0', async () => {
    const sink = sinkFor('lenient');
    await sink.snapshotStart({ restart: false });
    await sink.write(snapshotBatch(Array.from({ length: 10 }, (_, i) => row(i))));
    await sink.snapshotComplete();
    await sink.write(
      changeBatch([
        ['update', row(1, 'one'), 1],
        ['delete', 2, 2],
      ]),
    );
    await sink.flush();
    await sink.snapshotStart({ restart: true });
    await sink.write(snapshotBatch(Array.from({ length: 10 }, (_, i) => row(i))));
    await sink.snapshotComplete();
    await sink.close();
    const records = await kcatRead(broker.bootstrapServers, 'lenient');
    // As Jackson binds a key to `record Key(long id)`: strictly (an unknown property fails) and
    // leniently (a missing `id` becomes 0). Every key binds strictly: nothing is skipped or misread.
    const state = new Map<bigint, string>();
    for (const r of records) {
      const key = JSON.parse(r.key!) as Record<string, unknown>;
      assert.deepEqual(Object.keys(key), ['id'], r.key!);
      const id = BigInt(key.id as string);
      if (r.payload === null) state.delete(id);
      else state.set(id, r.payload);
    }
    assert.ok((await controlRecords(sink.controlTopic)).length >= 5, 'control records were written, to the control topic');
    assert.deepEqual(
      [...state.keys()].sort((a, b) => Number(a - b)),
      [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n],
    );
    assert.equal(JSON.parse(state.get(0n)!).id, '0', 'row 0 survives');
  });

  test('partitioning agrees with a librdkafka producer using murmur2', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `{"id":"${i}"}`);
    const input = keys.map((k) => `${k}\tx`).join('\n') + '\n';
    await new Promise<void>((resolve, reject) => {
      const child = execFile(
        'kcat',
        ['-P', '-b', broker.bootstrapServers, '-t', 'kcat-keys', '-K', '\t', '-X', 'topic.partitioner=murmur2_random'],
        (error) => (error ? reject(error) : resolve()),
      );
      child.stdin!.end(input);
    });
    const records = await kcatRead(broker.bootstrapServers, 'kcat-keys');
    assert.equal(records.length, 30);
    for (const r of records) assert.equal(r.partition, partitionFor('kcat-keys', r.key!, 5), r.key!);
  });

  test('flush resolves only when every record is acknowledged', async () => {
    const sink = sinkFor('acks', { chunkBytes: 1 << 20, controlRecords: false });
    const kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const end = async () => (await admin.fetchTopicOffsets('acks')).reduce((n, p) => n + Number(p.high), 0);
    try {
      const changes: Change[] = Array.from({ length: 500 }, (_, i) => ['insert', row(i), i + 1] as Change);
      for (let i = 0; i < 10; i++) await sink.write(changeBatch(changes.map(([t, r, seq]) => [t, r, seq + i * 1000] as Change)));
      assert.ok(sink.bufferedBytes > 0, 'writes return before their records are acknowledged');
      await sink.flush();
      assert.equal(sink.bufferedBytes, 0);
      // Acknowledged means readable: the end offsets already count every record.
      assert.equal(await end(), 5000);
    } finally {
      await sink.close();
      await admin.disconnect();
    }
  });

  test('write waits while more than maxBufferedBytes are unacknowledged', async () => {
    const sink = sinkFor('acks', { chunkBytes: 4096, maxBufferedBytes: 16384, controlRecords: false });
    let peak = 0;
    for (let b = 0; b < 20; b++) {
      await sink.write(changeBatch(Array.from({ length: 50 }, (_, i) => ['update', row(i, `round ${b}`), b * 100 + i + 1] as Change)));
      peak = Math.max(peak, sink.bufferedBytes);
    }
    await sink.close();
    assert.ok(peak <= 16384, `buffered ${peak} bytes`);
  });

  test('an independent consumer folding the topic by key gets the written state, deletes included', async () => {
    const sink = sinkFor('fold', { chunkBytes: 4096 });
    const table = new ReferenceTable();
    const batches = [
      snapshotBatch(Array.from({ length: 100 }, (_, i) => row(i))),
      changeBatch([
        ['delete', 5, 1],
        ['update', row(6, 'six'), 2],
        ['insert', row(200), 3],
        ['delete', 200, 4],
      ]),
      changeBatch([
        ['insert', row(5, 'back'), 5],
        ['delete', 7, 6],
        ['update', row(8, 'x', '-1.25'), 7],
        ['delete', 99, 8],
      ]),
    ];
    await sink.snapshotStart({ restart: false });
    await sink.write(batches[0]!);
    await sink.snapshotComplete();
    await sink.write(batches[1]!);
    await sink.write(batches[2]!);
    await sink.flush();
    await sink.close();
    for (const b of batches) table.apply(b);

    const state = foldUpsert(await kcatRead(broker.bootstrapServers, 'fold'));
    const expected = new Map<string, string>();
    for (const r of table.toJSON() as Array<Record<string, unknown>>) expected.set(`{"id":"${r.id}"}`, JSON.stringify(r));
    assert.equal(state.size, 98);
    assert.deepEqual([...state.keys()].sort(), [...expected.keys()].sort());
    assert.equal(state.has('{"id":"7"}'), false);
    assert.equal(JSON.parse(state.get('{"id":"5"}')!).name, 'back');
    assert.equal(JSON.parse(state.get('{"id":"8"}')!).amount, '-1.25');
    for (const [key, json] of state) assert.deepEqual(JSON.parse(json), JSON.parse(expected.get(key)!));
  });

  test('idempotent produce: the sink obtains a producer id and writes every record (and without: plain produce)', async () => {
    // The real broker checks every batch's producer id and sequence numbers (a wrong numbering
    // is refused): the id is obtained, and every record arrives exactly once, with and without.
    for (const [topic, idempotent] of [
      ['idem', true],
      ['plain', false],
    ] as const) {
      const sink = sinkFor(topic, { chunkBytes: 2048, idempotent });
      await sink.write(snapshotBatch(Array.from({ length: 400 }, (_, i) => row(i))));
      for (let k = 0; k < 5; k++)
        await sink.write(changeBatch(Array.from({ length: 30 }, (_, i): Change => ['update', row(i, `v${k}`), k * 100 + i + 1])));
      await sink.flush();
      assert.equal(sink.idempotent, idempotent);
      await sink.close();
      const records = (await kcatRead(broker.bootstrapServers, topic)).filter((r) => r.headers['refstream-control'] === undefined);
      assert.equal(records.length, 400 + 150);
      const state = foldUpsert(records);
      assert.equal(JSON.parse(state.get('{"id":"3"}')!).name, 'v4');
    }
  });

  test('gzip-compressed batches read back by kcat and by KafkaReferenceTableSource (kafkajs)', async () => {
    const sink = sinkFor('fold-gzip', { compression: 'gzip', chunkBytes: 8192 });
    const table = new ReferenceTable();
    const batches = [
      snapshotBatch(Array.from({ length: 300 }, (_, i) => row(i))),
      changeBatch([
        ['delete', 5, 1],
        ['update', row(6, 'six'), 2],
      ]),
    ];
    await sink.snapshotStart({ restart: false });
    await sink.write(batches[0]!);
    await sink.snapshotComplete();
    await sink.write(batches[1]!);
    await sink.close();
    for (const b of batches) table.apply(b);
    const state = foldUpsert(await kcatRead(broker.bootstrapServers, 'fold-gzip'));
    assert.equal(state.size, 299);
    assert.equal(JSON.parse(state.get('{"id":"6"}')!).name, 'six');
    const source = new KafkaReferenceTableSource({ brokers: broker.brokers, topic: 'fold-gzip', ...quiet });
    try {
      const loaded = new ReferenceTable();
      for (let b = await source.pollSnapshot(); b !== null; b = await source.pollSnapshot()) loaded.apply(b);
      assert.deepEqual(loaded.toJSON(), table.toJSON());
    } finally {
      await source.close();
    }
  });

  test('debezium envelope: before/after/op/source/ts_ms, delete followed by a tombstone', async () => {
    const sink = sinkFor('debezium', { format: 'debezium', controlRecords: false });
    await sink.write(snapshotBatch([row(1)]));
    await sink.write(
      changeBatch([
        ['insert', row(2), 1],
        ['update', row(2, 'two'), 2],
        ['delete', 1, 3],
      ]),
    );
    await sink.close();
    const records = await kcatRead(broker.bootstrapServers, 'debezium');
    const one = records.filter((r) => r.key === '{"id":"1"}');
    const two = records.filter((r) => r.key === '{"id":"2"}');
    const events = (rs: typeof records) => rs.filter((r) => r.payload !== null).map((r) => JSON.parse(r.payload!));
    const [r, d] = events(one);
    assert.equal(r.op, 'r');
    assert.equal(r.before, null);
    assert.equal(r.after.name, 'customer 1');
    assert.equal(r.source.snapshot, 'true');
    assert.equal(r.source.table, 'public.customers');
    assert.equal(typeof r.ts_ms, 'number');
    assert.equal(d.op, 'd');
    assert.equal(d.after, null);
    assert.equal(d.before.id, '1');
    assert.equal(d.source.position, '0000000000000003/00000000');
    assert.equal(one.at(-1)!.payload, null, 'tombstone after the delete event');
    assert.deepEqual(
      events(two).map((e) => e.op),
      ['c', 'u'],
    );
    assert.equal(events(two)[1].after.name, 'two');
    assert.equal(events(two)[1].source.snapshot, 'false');
    // An update's before carries the key (the rest null), as a delete's: Flink's debezium-json
    // refuses an update without one.
    assert.deepEqual(events(two)[1].before, { id: '2', name: null, amount: null, updated_at: null, active: null, note: null });
  });

  test('truncate becomes a control record placed between the rows before and after it', async () => {
    const sink = sinkFor('truncate');
    await sink.write(
      changeBatch([
        ['insert', row(1), 1],
        ['truncate', null, 2],
        ['insert', row(2), 3],
      ]),
    );
    await sink.close();
    const records = await kcatRead(broker.bootstrapServers, 'truncate');
    assert.ok(records.every((r) => r.headers['refstream-control'] === undefined));
    const truncates = (await controlRecords(sink.controlTopic)).filter((c) => c.kind === 'truncate');
    assert.equal(truncates.length, 1);
    const t = truncates[0]!;
    assert.equal(t.position, '0000000000000002/00000000');
    assert.equal(t.marker, '0000000000000002/00000000');
    const at = (id: string) => records.find((r) => r.key === `{"id":"${id}"}`)!;
    assert.ok(at('1').offset < Number(t.offsets[at('1').partition]), 'row 1 before the truncate');
    assert.ok(at('2').offset >= Number(t.offsets[at('2').partition]), 'row 2 after it');
  });

  test("onTruncate: 'fail' rejects with a definite TABLE_TRUNCATED; so does a truncate without control records", async () => {
    for (const [topic, options] of [
      ['fail-truncate', { onTruncate: 'fail' as const }],
      ['no-control', { controlRecords: false }],
    ] as const) {
      const sink = sinkFor(topic, options);
      await assert.rejects(
        sink.write(changeBatch([['truncate', null, 1]])),
        (e) => ConnectorError.is(e, 'TABLE_TRUNCATED') && e.kind === 'definite',
      );
      await sink.close();
    }
    assert.ok(!(await topicNames()).includes('no-control.refstream-control'), 'controlRecords: false creates no control topic');
  });

  test('arrow format: one IPC stream per batch and partition, rows of a key in one partition', async () => {
    const sink = sinkFor('arrow', { format: 'arrow', controlRecords: false });
    await sink.write(changeBatch(Array.from({ length: 30 }, (_, i) => ['insert', row(i), i + 1] as Change)));
    await sink.close();
    const ids: string[] = [];
    for (let partition = 0; partition < 3; partition++) {
      // One IPC stream per partition: its raw bytes, read by an independent consumer.
      const { stdout } = await run(
        'kcat',
        ['-C', '-b', broker.bootstrapServers, '-t', 'arrow', '-p', String(partition), '-o', '0', '-c', '1', '-e', '-q', '-f', '%s'],
        { encoding: 'buffer' },
      );
      const table = tableFromIPC(stdout);
      assert.equal(table.schema.metadata.get('refstream.kind'), 'changes');
      for (const r of table) {
        const id = String(r!.id);
        assert.equal(partition, partitionFor('arrow', `{"id":"${id}"}`, 3));
        ids.push(id);
      }
    }
    assert.equal(new Set(ids).size, 30);
  });

  test('bad options fail before connecting, listing every problem without echoing secrets', () => {
    assert.throws(
      () =>
        new KafkaSink({
          brokers: [],
          topic: 'bad topic!',
          sasl: { mechanism: 'plain', username: 'u', password: 'hunter2' },
          chunkBytes: -1,
        }),
      (e: unknown) => {
        assert.ok(ConnectorError.is(e, 'CONFIG_INVALID'));
        assert.match(e.message, /brokers/);
        assert.match(e.message, /topic/);
        assert.match(e.message, /chunkBytes/);
        assert.doesNotMatch(e.message, /hunter2/);
        return true;
      },
    );
  });
});
