/**
 * The sink conformance suite against KafkaSink in transactional mode (`transactions: true`,
 * each flush commits its transaction) on the Kafka test broker.
 */
import { after, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { createCluster, type KafkajsCluster } from '../../src/connectors/kafka/fetcher.js';
import { kafkaSinkTarget, stopKafkaSinkTarget } from '../../conformance-tests/targets/sinks/kafka.js';
import { registerSinkConformance } from '../../conformance-tests/sinks/node-test.js';

const seed = process.env.REFSTREAM_CONFORMANCE_SEED ? Number(process.env.REFSTREAM_CONFORMANCE_SEED) : 20261203;

after(async () => {
  await stopKafkaSinkTarget();
});

/**
 * Waits until the last committed transaction is readable: a commit returns once the
 * coordinator has decided it, and its markers reach the partitions a moment later (until
 * then a read_committed reader stops before it). Visible when every partition's last stable
 * offset reaches its high watermark (nothing is left open after a flush), in the data topic
 * and in its control topic (truncate and snapshot markers), whose markers may come later.
 */
async function untilCommitsVisible(brokers: string[], topic: string): Promise<void> {
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
  const committed = createCluster(kafka, 'read_committed');
  const written = createCluster(kafka, 'read_uncommitted');
  const topics = [topic, `${topic}.refstream-control`];
  const ends = async (cluster: KafkajsCluster) => {
    const out: string[] = [];
    for (const name of topics) {
      try {
        await cluster.addTargetTopic(name);
      } catch {
        continue; // no control topic (yet): nothing to wait for there
      }
      const partitions = cluster.findTopicPartitionMetadata(name).map((p) => ({ partition: p.partitionId }));
      const [result] = await cluster.fetchTopicsOffset([{ topic: name, partitions, fromBeginning: false }]);
      out.push(JSON.stringify([name, result?.partitions.map((p) => [p.partition, p.offset]).sort()]));
    }
    return out.join();
  };
  try {
    await Promise.all([committed.connect(), written.connect()]);
    for (let attempt = 0; attempt < 1000 && (await ends(committed)) !== (await ends(written)); attempt++)
      await new Promise((r) => setTimeout(r, 10));
  } finally {
    await Promise.all([committed.disconnect(), written.disconnect()]);
  }
}

registerSinkConformance(test, kafkaSinkTarget(undefined, { transactions: true, beforeReadBack: untilCommitsVisible }), {
  seed,
  numRuns: 15,
  timeoutMs: 30_000,
});
