/**
 * The real Kafka test broker itself: it answers metadata on a loopback port, keeps its data in
 * a temp folder, and leaves no process or folder behind, whether stopped or orphaned by a
 * test process killed with SIGKILL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { Kafka, logLevel } from 'kafkajs';
import { startKafkaTestBroker } from '../../src/testing/index.js';
import { randomClusterId } from '../../src/testing/kafka/real-broker.js';
import { waitFor } from '../helpers/process.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('a single node on a random loopback port: metadata, topics with configs, and stop() removes process and data', async () => {
  const broker = await startKafkaTestBroker({ topics: [{ name: 'configured', partitions: 2, config: { 'cleanup.policy': 'compact' } }] });
  const node = broker.nodes[0]!;
  const pid = node.pid!;
  try {
    assert.match(broker.bootstrapServers, /^127\.0\.0\.1:\d+$/);
    assert.ok(node.dataDir.startsWith(tmpdir()), node.dataDir);
    assert.ok(existsSync(node.dataDir));
    const admin = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const cluster = await admin.describeCluster();
      assert.deepEqual(
        cluster.brokers.map((b) => b.nodeId),
        [1],
      );
      const { topics } = await admin.fetchTopicMetadata({ topics: ['configured'] });
      assert.equal(topics[0]!.partitions.length, 2);
    } finally {
      await admin.disconnect();
    }
  } finally {
    await broker.stop();
  }
  assert.equal(alive(pid), false, 'the JVM has exited');
  assert.equal(existsSync(node.dataDir), false, 'the data folder is removed');
  await broker.stop(); // idempotent
});

test('a test process killed with SIGKILL leaves no broker and no data behind', { timeout: 90_000 }, async () => {
  const script = `
    import { startKafkaTestBroker } from ${JSON.stringify(new URL('../../src/testing/index.ts', import.meta.url).href)};
    const b = await startKafkaTestBroker();
    console.log(JSON.stringify({ pid: b.nodes[0].pid, dataDir: b.nodes[0].dataDir }));
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the test process exited with ${code} before the broker was up`)));
  });
  const { pid, dataDir } = JSON.parse(line) as { pid: number; dataDir: string };
  assert.ok(alive(pid) && existsSync(dataDir));
  child.kill('SIGKILL');
  await waitFor(() => !alive(pid) && !existsSync(dataDir), 30_000, 'the watchdog to kill the JVM and remove its data', 200);
});

test('cluster ids never start with "-" (kafka-storage format would read one as an option)', () => {
  for (let i = 0; i < 5000; i++) {
    const id = randomClusterId();
    assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  }
});
