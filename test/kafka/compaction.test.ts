/**
 * What only a real broker shows: the sink creating its topic (`cleanup.policy=compact`), the
 * log cleaner actually compacting that topic while its fold stays equal to the table, and a
 * volume (1M records, ~130 MiB) far beyond what librdkafka's mock cluster keeps.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Kafka, logLevel, type ConfigResourceTypes } from 'kafkajs';

// kafkajs's ConfigResourceTypes.TOPIC (the enum is not an ES module export).
const TOPIC_RESOURCE = 2 as ConfigResourceTypes;
import { startKafkaTestBroker, type RealKafkaTestBroker } from '../../src/testing/index.js';
import { KafkaSink } from '../../src/connectors/kafka/index.js';
import { BatchBuilder } from '../../src/sdk/batch.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import { changeBatch, customers, foldUpsert, kcatRead, quiet, row, snapshotBatch, type Change } from './helpers.js';
import { waitFor } from '../helpers/process.js';

let broker: RealKafkaTestBroker;
before(async () => {
  broker = await startKafkaTestBroker({ topics: ['existing:2'] });
});
after(async () => {
  await broker?.stop();
});

async function topicConfig(topic: string): Promise<Record<string, string>> {
  const admin = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: TOPIC_RESOURCE, name: topic }] });
    return Object.fromEntries(resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
  } finally {
    await admin.disconnect();
  }
}

async function partitionsOf(topic: string): Promise<number> {
  const admin = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions.length;
  } finally {
    await admin.disconnect();
  }
}

describe('KafkaSink on a real broker', () => {
  test('createTopic: a missing topic is created compacted (json), with delete policy (arrow); an existing one is left as it is', async () => {
    const json = new KafkaSink({ brokers: broker.brokers, topic: 'created-json', createTopic: { partitions: 3 }, ...quiet });
    await json.write(snapshotBatch([row(1), row(2)]));
    await json.close();
    assert.equal((await topicConfig('created-json'))['cleanup.policy'], 'compact');
    assert.equal(await partitionsOf('created-json'), 3);
    assert.equal(foldUpsert(await kcatRead(broker.bootstrapServers, 'created-json')).size, 2);

    const arrow = new KafkaSink({ brokers: broker.brokers, topic: 'created-arrow', format: 'arrow', createTopic: true, ...quiet });
    await arrow.write(snapshotBatch([row(1)]));
    await arrow.close();
    assert.equal((await topicConfig('created-arrow'))['cleanup.policy'], 'delete');
    assert.equal(await partitionsOf('created-arrow'), 4, "the broker's num.partitions");

    const existing = new KafkaSink({ brokers: broker.brokers, topic: 'existing', createTopic: { partitions: 7 }, ...quiet });
    await existing.write(snapshotBatch([row(1)]));
    await existing.close();
    assert.equal(await partitionsOf('existing'), 2);
    assert.equal((await topicConfig('existing'))['cleanup.policy'], 'delete', 'an existing topic keeps its configs');

    // Without createTopic a missing topic is a definite error naming it, and nothing is created.
    const strict = new KafkaSink({ brokers: broker.brokers, topic: 'never-created', ...quiet });
    await assert.rejects(strict.write(snapshotBatch([row(1)])), (e) => {
      assert.ok(ConnectorError.is(e, 'SINK_FAILED'), String(e));
      assert.equal(e.kind, 'definite');
      assert.match(e.message, /never-created does not exist/);
      return true;
    });
    await strict.close();
    const admin = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    assert.ok(!(await admin.listTopics()).includes('never-created'));
    await admin.disconnect();
  });

  test('the log cleaner compacts the topic the sink created, and its fold still equals the table', { timeout: 120_000 }, async () => {
    const topic = 'compacted';
    const sink = new KafkaSink({
      brokers: broker.brokers,
      topic,
      chunkBytes: 4096,
      // Segments roll every 100 ms and the cleaner takes any dirty segment, so compaction runs
      // during the test (the broker checks for work every 200 ms).
      createTopic: { partitions: 2, config: { 'segment.ms': '100', 'min.cleanable.dirty.ratio': '0.01', 'delete.retention.ms': '100' } },
      ...quiet,
    });
    const table = new ReferenceTable();
    const apply = async (batch: ReturnType<typeof snapshotBatch>) => {
      table.apply(batch);
      await sink.write(batch);
    };
    await sink.snapshotStart({ restart: false });
    await apply(snapshotBatch(Array.from({ length: 500 }, (_, i) => row(i))));
    await sink.snapshotComplete();
    let seq = 1;
    let written = 500;
    for (let round = 0; round < 10; round++) {
      const changes: Change[] = [];
      for (let id = 0; id < 500; id += 2) changes.push(['update', row(id, `round ${round}`, `${round}.25`), seq++]);
      for (let id = 1 + round * 10; id < 11 + round * 10; id += 3) changes.push(['delete', id, seq++]);
      written += changes.length;
      await apply(changeBatch(changes));
      await sink.flush();
      await new Promise((r) => setTimeout(r, 150)); // lets the segment roll
    }
    await apply(changeBatch([['insert', row(10_000), seq]]));
    await sink.close();
    const expected = new Map((table.toJSON() as Array<Record<string, unknown>>).map((r) => [`{"id":"${r.id}"}`, JSON.stringify(r)]));

    // Compacted: most superseded versions are gone (offsets have gaps), none of the latest.
    let records = await kcatRead(broker.bootstrapServers, topic);
    await waitFor(
      async () => {
        records = await kcatRead(broker.bootstrapServers, topic);
        return records.filter((r) => r.headers['refstream-control'] === undefined).length < written / 2;
      },
      90_000,
      'the log cleaner to compact the topic',
      500,
    );
    const data = records.filter((r) => r.headers['refstream-control'] === undefined);
    assert.ok(data.length < written / 2, `${data.length} of ${written} records left`);
    const gaps = records.some((r, i) => i > 0 && r.partition === records[i - 1]!.partition && r.offset !== records[i - 1]!.offset + 1);
    assert.ok(gaps, 'offsets have gaps where the cleaner removed records');

    const state = foldUpsert(records);
    assert.equal(state.size, expected.size);
    for (const [key, json] of expected) assert.deepEqual(JSON.parse(state.get(key) ?? 'null'), JSON.parse(json), key);
    // The control topic (created with the same configs) is compacted too: the markers stay, one
    // of each, and superseded watermarks go.
    await waitFor(
      async () => (await kcatRead(broker.bootstrapServers, sink.controlTopic)).filter((r) => r.key === 'watermark').length <= 2,
      90_000,
      'the log cleaner to compact the control topic',
      500,
    );
    const kinds = (await kcatRead(broker.bootstrapServers, sink.controlTopic)).map((r) => r.key);
    for (const kind of ['snapshot-start', 'schema', 'snapshot-complete']) assert.equal(kinds.filter((k) => k === kind).length, 1, kind);
    assert.equal((await topicConfig(sink.controlTopic))['cleanup.policy'], 'compact');
    assert.equal(await partitionsOf(sink.controlTopic), 1);
  });

  test('1M records (about 130 MiB of values) through the sink, every one read back', { timeout: 300_000 }, async () => {
    const topic = 'volume';
    const total = 1_000_000;
    const sink = new KafkaSink({ brokers: broker.brokers, topic, createTopic: { partitions: 3 }, controlRecords: false, ...quiet });
    const started = Date.now();
    const batchRows = 20_000;
    for (let from = 0; from < total; from += batchRows) {
      const b = new BatchBuilder(customers, 'snapshot');
      for (let id = from; id < from + batchRows; id++) b.appendRow(row(id));
      await sink.write(b.finish());
    }
    await sink.close();
    const wroteMs = Date.now() - started;

    // Read back with kcat (an independent client): partition, offset and key of each record.
    const seen = new Uint8Array(total);
    let count = 0;
    let bytes = 0;
    await new Promise<void>((resolve, reject) => {
      const child = execFile('kcat', ['-C', '-b', broker.bootstrapServers, '-t', topic, '-e', '-q', '-f', '%k %S\n'], {
        maxBuffer: 64 << 20,
      });
      let rest = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop()!;
        for (const line of lines) {
          const [key, size] = line.split(' ');
          const id = Number(/^\{"id":"(\d+)"\}$/.exec(key!)![1]);
          seen[id]!++;
          count++;
          bytes += Number(size);
        }
      });
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kcat exited with ${code}`))));
    });
    assert.equal(count, total);
    assert.ok(
      seen.every((n) => n === 1),
      'every id exactly once',
    );
    assert.ok(bytes > 100 << 20, `${bytes} value bytes, beyond the mock's ~5 MiB per partition`);
    console.log(`1M records: written in ${wroteMs} ms, ${(bytes / 1048576).toFixed(0)} MiB of values`);
  });
});
