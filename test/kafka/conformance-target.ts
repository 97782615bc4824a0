/**
 * Conformance target for KafkaReferenceTableSource: every test table is a fresh topic on the
 * Kafka test broker, written by KafkaSink as change batches (one position per row, in order),
 * read back by the source.
 */
import { BatchBuilder, formatPosition } from '../../src/sdk/batch.js';
import { KafkaReferenceTableSource, KafkaSink } from '../../src/connectors/kafka/index.js';
import type { RealKafkaTestBroker } from '../../src/testing/index.js';
import type { ConformanceTarget, SourceOptions, TableHarness, TestRow } from '../../conformance-tests/types.js';
import { testTableDescriptor } from '../../conformance-tests/targets/test-table-descriptor.js';

let topicCounter = 0;
const pools = new WeakMap<RealKafkaTestBroker, string[]>();

/**
 * A fresh topic. Topics are created sixteen at a time (one CreateTopics call waiting for its
 * leaders costs about as much for sixteen as for one). Values of several MiB (VAL-06) exceed
 * Kafka's default 1 MB batch limit: raised as a user with such rows would.
 */
async function nextTopic(broker: RealKafkaTestBroker): Promise<string> {
  const pool = pools.get(broker) ?? [];
  pools.set(broker, pool);
  if (pool.length === 0) {
    const names = Array.from({ length: 16 }, () => `conformance-${process.pid}-${++topicCounter}`);
    await broker.createTopics(names.map((name) => ({ name, partitions: 4, config: { 'max.message.bytes': String(32 << 20) } })));
    pool.push(...names);
  }
  return pool.shift()!;
}

export function kafkaTarget(broker: () => RealKafkaTestBroker): ConformanceTarget {
  return {
    name: 'kafka (KafkaReferenceTableSource)',
    capabilities: { changes: 'log', deletes: true, exactlyOnce: true, midSnapshotResume: false, transactions: false },
    async setup(): Promise<TableHarness> {
      const descriptor = testTableDescriptor();
      // A fresh topic per table, created before the source first reads it.
      const topic = await nextTopic(broker());
      const sink = new KafkaSink({ brokers: broker().brokers, topic, logLevel: 'nothing', chunkBytes: 64 << 10 });
      const sources: KafkaReferenceTableSource[] = [];
      let seq = 0;
      const write = async (type: 'insert' | 'update' | 'delete' | 'truncate', rows: Array<TestRow | bigint | null>): Promise<void> => {
        const builder = new BatchBuilder(descriptor, 'changes');
        for (const r of rows) {
          const values =
            r === null
              ? null
              : typeof r === 'bigint'
                ? [r, null, null, null, null, null]
                : [r.id, r.name, r.amount, r.updated_at, r.active, r.note];
          builder.appendChange(type, values, formatPosition(++seq));
        }
        await sink.write(builder.finish());
        await sink.flush();
      };
      return {
        async createSource(options: SourceOptions = {}) {
          const source = new KafkaReferenceTableSource({
            brokers: broker().brokers,
            topic,
            table: descriptor.table,
            logLevel: 'nothing',
            ...(options.batchRows !== undefined ? { batchRows: options.batchRows } : {}),
            ...(options.maxWaitMs !== undefined ? { maxWaitMs: options.maxWaitMs } : {}),
          });
          sources.push(source);
          return source;
        },
        insert: (rows) => write('insert', rows),
        update: (rows) => write('update', rows),
        delete: (ids) => write('delete', ids),
        truncate: () => write('truncate', [null]),
        async teardown() {
          await Promise.all(sources.map((s) => s.close()));
          await sink.close();
        },
      };
    },
  };
}
