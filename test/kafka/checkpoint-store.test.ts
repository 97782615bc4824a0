import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startKafkaTestBroker, type KafkaTestBroker } from '../../src/testing/index.js';
import { KafkaCheckpointStore } from '../../src/connectors/kafka/index.js';
import { makeCheckpoint } from '../../src/sdk/checkpoint.js';
import { storedCheckpoint } from '../../src/sdk/checkpoint-store.js';
import { quiet } from './helpers.js';

let broker: KafkaTestBroker;
before(async () => {
  broker = await startKafkaTestBroker({ topics: ['checkpoints:3'] });
});
after(async () => {
  await broker?.stop();
});

test('KafkaCheckpointStore: save, load in a fresh store, keys kept apart, clear', async () => {
  const a = new KafkaCheckpointStore({ brokers: broker.brokers, topic: 'checkpoints', key: 'db.public.a', ...quiet });
  const b = new KafkaCheckpointStore({ brokers: broker.brokers, topic: 'checkpoints', key: 'db.public.b', ...quiet });
  try {
    assert.equal(await a.load(), null);
    const cp1 = makeCheckpoint('postgres', 'public.a', 'changes', { lsn: '0/10' });
    const cp2 = makeCheckpoint('postgres', 'public.a', 'changes', { lsn: '0/20' });
    await a.save(storedCheckpoint(cp1));
    await a.save(storedCheckpoint(cp2, { 'jsonl:/out/a.jsonl': { bytes: 42 } }));
    await b.save(storedCheckpoint(makeCheckpoint('postgres', 'public.b', 'snapshot', null)));
    // A fresh instance (as after a crash) reads what the last save acknowledged.
    const fresh = new KafkaCheckpointStore({ brokers: broker.brokers, topic: 'checkpoints', key: 'db.public.a', ...quiet });
    assert.deepEqual(await fresh.load(), storedCheckpoint(cp2, { 'jsonl:/out/a.jsonl': { bytes: 42 } }));
    await fresh.close();
    assert.equal((await b.load())?.checkpoint.table, 'public.b');
    await a.clear();
    assert.equal(await a.load(), null);
    assert.equal((await b.load())?.checkpoint.table, 'public.b');
  } finally {
    await a.close();
    await b.close();
  }
});
