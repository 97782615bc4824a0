/**
 * The librdkafka mock cluster behind `startKafkaTestBroker({ kind: 'mock' })`. It uses the
 * mock because the mock is what it tests: the harness that `refstream/testing` still offers
 * for what a real broker cannot do (taking a broker offline without killing a process).
 * Every other Kafka test runs against the real broker.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startKafkaTestBroker, type MockKafkaTestBroker } from '../../src/testing/index.js';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaSink } from '../../src/connectors/kafka/index.js';
import { foldUpsert, kcatRead, quiet, row, snapshotBatch } from './helpers.js';

let broker: MockKafkaTestBroker;
before(async () => {
  broker = await startKafkaTestBroker({ kind: 'mock', topics: ['mocked:2', 'mocked.refstream-control'] });
});
after(async () => {
  await broker?.stop();
});

test('mock cluster: declared topics, produce and read back, brokerDown refuses connections until brokerUp', async () => {
  assert.equal(broker.kind, 'mock');
  const write = async (ids: number[]) => {
    const sink = new KafkaSink({ brokers: broker.brokers, topic: 'mocked', ...quiet });
    try {
      await sink.write(snapshotBatch(ids.map((id) => row(id))));
      await sink.flush();
    } finally {
      await sink.close();
    }
  };
  await write([1, 2, 3]);
  assert.equal(foldUpsert(await kcatRead(broker.bootstrapServers, 'mocked')).size, 3);

  await broker.brokerDown(1);
  const admin = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING, connectionTimeout: 500, retry: { retries: 0 } }).admin();
  await assert.rejects(admin.connect(), 'connections are refused while the broker is down');
  await broker.brokerUp(1);
  await write([4]);
  assert.equal(foldUpsert(await kcatRead(broker.bootstrapServers, 'mocked')).size, 4);
  await assert.rejects(startKafkaTestBroker({ kind: 'mock', heapMb: 100 }), /real broker only/);
});
