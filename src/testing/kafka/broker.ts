/**
 * Kafka for tests: a real Apache Kafka cluster (the default) or librdkafka's mock cluster.
 *
 * The real cluster (`kind: 'real'`) runs Apache Kafka 4.4 in KRaft mode with the JDK on the
 * machine: Java 17+ and Maven 3 are required; the broker's jars are resolved by Maven into the
 * local repository on first use. It checks idempotent sequences and transactions, creates
 * topics, compacts, replicates and fails over like production. See docs/testing/kafka-broker.md.
 *
 * The mock (`kind: 'mock'`, needs gcc and librdkafka-dev) starts in milliseconds and can take
 * a broker offline without killing a process, but has no CreateTopics, no compaction, no
 * controller id and keeps ~5 MiB per partition in memory. Use it only for what a real broker
 * cannot do.
 */
import { startKafkaMockBroker, type MockKafkaTestBroker } from './mock-broker.js';
import { startRealKafka, type RealKafkaTestBroker } from './real-broker.js';
import type { KafkaTestBroker, StartKafkaTestBrokerOptions } from './types.js';

export type { MockKafkaTestBroker, RealKafkaTestBroker };
export type { KafkaTestBroker, KafkaTestTopic, StartKafkaTestBrokerOptions } from './types.js';
export type { KafkaTestNode } from './real-broker.js';

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

/**
 * Starts a Kafka cluster for tests and resolves once it answers metadata requests, with the
 * given topics created. The processes die with the test process, even on `kill -9`, and the
 * data folder is removed.
 *
 * Real cluster cost (2-core machine): about 3–4 s and 150 MB for one node, 6–7 s for three;
 * start one per test file and share it across its tests.
 */
export function startKafkaTestBroker(options: StartKafkaTestBrokerOptions & { kind: 'mock' }): Promise<MockKafkaTestBroker>;
export function startKafkaTestBroker(options?: StartKafkaTestBrokerOptions & { kind?: 'real' }): Promise<RealKafkaTestBroker>;
export function startKafkaTestBroker(options?: StartKafkaTestBrokerOptions): Promise<KafkaTestBroker>;
export async function startKafkaTestBroker(options: StartKafkaTestBrokerOptions = {}): Promise<KafkaTestBroker> {
  for (const t of options.topics ?? []) {
    const name = typeof t === 'string' ? (t.includes(':') ? t.slice(0, t.lastIndexOf(':')) : t) : t.name;
    if (!TOPIC_NAME.test(name)) throw new TypeError(`invalid topic name ${JSON.stringify(name)}`);
  }
  if (options.kind === 'mock') {
    if (options.serverProperties !== undefined || options.heapMb !== undefined)
      throw new TypeError('serverProperties and heapMb apply to the real broker only');
    return startKafkaMockBroker(options);
  }
  if (options.kind !== undefined && options.kind !== 'real')
    throw new TypeError(`kind must be 'real' or 'mock', not ${JSON.stringify(options.kind)}`);
  return startRealKafka(options);
}
