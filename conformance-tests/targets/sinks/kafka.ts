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

/** A target on `broker` (default: a test broker started on first use and stopped by {@link stopKafkaSinkTarget}). */
export function kafkaSinkTarget(broker: () => Promise<KafkaTestBroker> = ownBroker): SinkConformanceTarget {
  return {
    name: 'kafka (KafkaSink, json)',
    async setup(): Promise<SinkHarness> {
      const { brokers } = await broker();
      // The test broker creates a topic on first use.
      const topic = `sink-conformance-${process.pid}-${++topics}`;
      return {
        async createSink() {
          return new KafkaSink({ brokers, topic, logLevel: 'nothing' });
        },
        async readBack() {
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
