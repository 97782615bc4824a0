/**
 * A small stream processor: keeps the `customers` reference table in memory, synced from
 * Postgres by refstream, and enriches every order of the `orders` topic with its customer
 * into `orders_enriched`.
 */
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { MemorySink, ReferenceTable, sync, type SyncRun } from '../../src/index.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';

export interface EnrichmentOptions {
  /** Postgres holding the customers table. */
  connectionString: string;
  /** Qualified name of the customers table (default `public.customers`). */
  customersTable?: string;
  brokers: string[];
  ordersTopic?: string;
  enrichedTopic?: string;
  /** Consumer group of the processor (default `orders-enrichment`). */
  groupId?: string;
}

/** An order as it arrives on the orders topic. */
interface Order {
  order_id: string;
  customer_id: string | number;
  [field: string]: unknown;
}

export interface Enrichment {
  /** The in-memory customers table the processor joins against. */
  readonly customers: ReferenceTable;
  /** Orders enriched so far. */
  readonly enriched: () => number;
  stop(): Promise<void>;
}

export async function startEnrichment(options: EnrichmentOptions): Promise<Enrichment> {
  const customers = new ReferenceTable();
  const table = options.customersTable ?? 'public.customers';

  // 1. The reference table: snapshot, then changes, folded into `customers`.
  const run: SyncRun = sync({
    source: () => new PostgresSource({ connectionString: options.connectionString, table, slot: 'enrichment_customers', maxWaitMs: 50 }),
    sinks: [new MemorySink(customers)],
    commitEvery: { ms: 1000 },
  });
  await Promise.race([
    new Promise<void>((resolve) => run.once('snapshot-complete', () => resolve())),
    run.done.then((r) => Promise.reject(new Error(`customer sync stopped: ${r.stoppedBy}`))),
  ]);

  // 2. The stream: orders in, enriched orders out. Joining only starts once the table is loaded.
  const kafka = new Kafka({ brokers: options.brokers, clientId: 'orders-enrichment', logLevel: logLevel.ERROR });
  const producer: Producer = kafka.producer();
  const consumer: Consumer = kafka.consumer({ groupId: options.groupId ?? 'orders-enrichment' });
  await Promise.all([producer.connect(), consumer.connect()]);
  await consumer.subscribe({ topic: options.ordersTopic ?? 'orders', fromBeginning: true });
  let enriched = 0;
  await consumer.run({
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      const out = [];
      for (const message of batch.messages) {
        if (message.value === null) continue;
        const order = JSON.parse(message.value.toString('utf8')) as Order;
        // Lookup by primary key: an int8 id is a bigint in the table.
        const customer = customers.get(BigInt(order.customer_id));
        out.push({
          key: message.key,
          value: JSON.stringify({ ...order, customer: customer === undefined ? null : { name: customer.name, segment: customer.segment } }),
        });
      }
      if (out.length > 0) await producer.send({ topic: options.enrichedTopic ?? 'orders_enriched', acks: -1, messages: out });
      enriched += out.length;
      const last = batch.messages.at(-1);
      if (last !== undefined) resolveOffset(last.offset);
      await heartbeat();
    },
  });

  return {
    customers,
    enriched: () => enriched,
    async stop() {
      await consumer.disconnect();
      await producer.disconnect();
      run.stop();
      await run.done;
    },
  };
}
