/**
 * Creates the sink's topic when it does not exist yet (the sink's `createTopic` option), with
 * the cleanup policy its format needs: `compact` for the keyed formats, so the topic keeps the
 * latest row of every key (and the markers control records keep) for ever; `delete` for Arrow.
 */
import type { Kafka } from 'kafkajs';

/** How the sink creates a missing topic. */
export interface CreateTopicOptions {
  /** Partitions (default: the broker's `num.partitions`). */
  partitions?: number;
  /** Replicas per partition (default: the broker's `default.replication.factor`). */
  replicationFactor?: number;
  /** Further topic configs, e.g. `{ 'min.insync.replicas': '2' }`; `cleanup.policy` may be overridden. */
  config?: Record<string, string>;
}

/**
 * Creates `topic` unless it exists, waiting for its partition leaders. Resolves true if this
 * call created it. A concurrent creation by another writer counts as existing.
 */
export async function ensureTopic(
  kafka: Kafka,
  topic: string,
  cleanupPolicy: 'compact' | 'delete',
  options: CreateTopicOptions,
): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  // A new topic's metadata reaches every broker a moment after it was created (longer on a
  // busy cluster): a retriable answer in between is waited out, not reported.
  const deadline = Date.now() + 30_000;
  try {
    for (;;) {
      try {
        if ((await admin.listTopics()).includes(topic)) return false;
        const config = { 'cleanup.policy': cleanupPolicy, ...options.config };
        return await admin.createTopics({
          waitForLeaders: true,
          timeout: 30_000,
          topics: [
            {
              topic,
              numPartitions: options.partitions ?? -1,
              replicationFactor: options.replicationFactor ?? -1,
              configEntries: Object.entries(config).map(([name, value]) => ({ name, value })),
            },
          ],
        });
      } catch (error) {
        if ((error as { retriable?: boolean }).retriable !== true || Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
