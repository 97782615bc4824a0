/**
 * Partition leaders die mid-stream on a 3-broker cluster: `kill -9` of the leader, later of
 * another leader, and the killed nodes restarted. The sink keeps writing through it (its
 * producer reconnects to the new leaders by itself), and every acknowledged record is in the
 * topic exactly once (replication factor 3, acks=all, idempotent produce).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startKafkaTestBroker, type RealKafkaTestBroker } from '../../src/testing/index.js';
import { KafkaSink } from '../../src/connectors/kafka/index.js';
import { changeBatch, foldUpsert, kcatRead, quiet, row, type Change } from './helpers.js';

let broker: RealKafkaTestBroker;
before(async () => {
  broker = await startKafkaTestBroker({ brokers: 3, topics: [{ name: 'failover', partitions: 3, replicationFactor: 3 }] });
});
after(async () => {
  await broker?.stop();
});

test('kill -9 of partition leaders mid-stream: the sink reconnects, nothing is lost or duplicated', { timeout: 240_000 }, async () => {
  const sink = new KafkaSink({
    brokers: broker.brokers,
    topic: 'failover',
    chunkBytes: 8192,
    controlRecords: false,
    connectionTimeoutMs: 1000,
    requestTimeoutMs: 5000,
    timeoutMs: 5000,
    ...quiet,
  });
  let seq = 0;
  const latest = new Map<string, string>();
  const writeRound = async (round: number) => {
    const changes: Change[] = [];
    for (let id = 0; id < 200; id++) {
      changes.push(['update', row(id, `r${round}`), ++seq]);
      latest.set(`{"id":"${id}"}`, `r${round}`);
    }
    await sink.write(changeBatch(changes));
  };
  let round = 0;
  const rounds = async (n: number) => {
    for (let i = 0; i < n; i++) await writeRound(round++);
    await sink.flush();
  };

  await rounds(10);
  assert.equal(sink.idempotent, true, 'the sink got a producer id from the real broker');
  const killed: number[] = [];
  for (const partition of [0, 1]) {
    const leader = await broker.partitionLeader('failover', partition);
    // Writes are in flight when the leader dies.
    const writing = rounds(20);
    await new Promise((r) => setTimeout(r, 50));
    await broker.killBroker(leader);
    killed.push(leader);
    await writing;
    await rounds(10);
    const moved = await broker.partitionLeader('failover', partition);
    assert.notEqual(moved, leader, `partition ${partition} has a new leader`);
    await broker.restartBroker(leader);
  }
  await rounds(10);
  await sink.close();

  const records = await kcatRead(broker.bootstrapServers, 'failover');
  assert.equal(records.length, seq, `${records.length} records for ${seq} acknowledged writes`);
  const positions = new Set(records.map((r) => r.headers['refstream-position']));
  assert.equal(positions.size, seq, 'no record twice');
  const state = foldUpsert(records);
  assert.equal(state.size, latest.size);
  for (const [key, name] of latest) assert.equal(JSON.parse(state.get(key)!).name, name, key);
  console.log(`killed leaders ${killed.join(', ')}; ${seq} records, all read back once`);
});
