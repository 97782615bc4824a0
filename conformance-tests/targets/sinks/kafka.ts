/**
 * Sink conformance target: KafkaSink (format `json`) on the Kafka test broker. Every
 * destination is a new topic; readBack reads the topic to its end with
 * KafkaReferenceTableSource, the consumer that understands the sink's control records
 * (schema, snapshot-start and truncate markers).
 */
import { KafkaReferenceTableSource, KafkaSink } from '../../../src/connectors/kafka/index.js';
import { batchReaders, toJsonValue } from '../../../src/sdk/values.js';
import { startKafkaTestBroker, type KafkaTestBroker } from '../../../src/testing/index.js';
import type { SinkConformanceTarget, SinkHarness, StoredRow } from '../../sinks/types.js';

let started: Promise<KafkaTestBroker> | undefined;
let topics = 0;
const pools = new WeakMap<KafkaTestBroker, string[]>();

/** A broker that creates topics on request (a real cluster, where topics are not created on first use). */
type CreatesTopics = { createTopics(topics: Array<{ name: string; partitions?: number }>): Promise<void> };

/**
 * A fresh topic. A broker with `createTopics` gets them created sixteen at a time (one call
 * costs about as much for sixteen as for one); a broker without it creates a topic on first use.
 */
async function nextTopic(broker: KafkaTestBroker): Promise<string> {
  const creator = broker as unknown as Partial<CreatesTopics>;
  if (typeof creator.createTopics !== 'function') return `sink-conformance-${process.pid}-${++topics}`;
  const pool = pools.get(broker) ?? [];
  pools.set(broker, pool);
  if (pool.length === 0) {
    const names = Array.from({ length: 16 }, () => `sink-conformance-${process.pid}-${++topics}`);
    await creator.createTopics(names.map((name) => ({ name, partitions: 1 })));
    pool.push(...names);
  }
  return pool.shift()!;
}

/**
 * A target on `broker` (default: a test broker started on first use and stopped by
 * {@link stopKafkaSinkTarget}). With `transactions`, the sink writes in Kafka transactions
 * (one `transactional.id` per destination, each flush commits); readBack reads
 * `read_committed`, as the reverse source always does.
 */
export function kafkaSinkTarget(
  broker: () => Promise<KafkaTestBroker> = ownBroker,
  options: {
    transactions?: boolean;
    /** Runs before each readBack, e.g. to wait until the last commit is visible. */
    beforeReadBack?: (brokers: string[], topic: string) => Promise<void>;
  } = {},
): SinkConformanceTarget {
  return {
    name: options.transactions ? 'kafka (KafkaSink, json, transactions)' : 'kafka (KafkaSink, json)',
    async setup(): Promise<SinkHarness> {
      const running = await broker();
      const { brokers } = running;
      const topic = await nextTopic(running);
      return {
        async createSink() {
          return new KafkaSink({
            brokers,
            topic,
            logLevel: 'nothing',
            ...(options.transactions ? { transactions: true, transactionalId: `conformance-${topic}` } : {}),
          });
        },
        async readBack() {
          await options.beforeReadBack?.(brokers, topic);
          const source = new KafkaReferenceTableSource({ brokers, topic, logLevel: 'nothing', maxWaitMs: 0 });
          try {
            const rows: StoredRow[] = [];
            for (let batch = await source.pollSnapshot(); batch !== null; batch = await source.pollSnapshot()) {
              const readers = batchReaders(batch);
              const fields = batch.schema.fields;
              for (let i = 0; i < batch.numRows; i++) {
                rows.push(Object.fromEntries(fields.map((f, c) => [f.name, toJsonValue(f, readers[c]!(i))])) as StoredRow);
              }
            }
            return rows;
          } finally {
            await source.close();
          }
        },
        async teardown() {},
      };
    },
  };
}

function ownBroker(): Promise<KafkaTestBroker> {
  started ??= startKafkaTestBroker({ brokers: 1 });
  return started;
}

/** Stops the broker {@link kafkaSinkTarget} started for itself. */
export async function stopKafkaSinkTarget(): Promise<void> {
  const running = started;
  started = undefined;
  if (running) await (await running).stop();
}

export default kafkaSinkTarget();
