/**
 * Runs the enrichment processor against throwaway servers (embedded Postgres and the Kafka
 * test broker from refstream/testing):
 *
 *   node --import tsx examples/enrichment/demo.ts
 */
import { Kafka, logLevel } from 'kafkajs';
import { startKafkaTestBroker, startPostgres } from '../../src/testing/index.js';
import { startEnrichment } from './processor.js';

const [pg, broker] = await Promise.all([startPostgres(), startKafkaTestBroker({ topics: ['orders:3', 'orders_enriched:3'] })]);
try {
  await pg.query('create table public.customers (id bigint primary key, name text not null, segment text not null)');
  await pg.query(`insert into public.customers values (1, 'Ada', 'enterprise'), (2, 'Grace', 'smb'), (3, 'Linus', 'smb')`);

  const processor = await startEnrichment({ connectionString: pg.connectionString, brokers: broker.brokers });
  console.log(`customers loaded: ${processor.customers.size}`);

  const kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.ERROR });
  const producer = kafka.producer();
  await producer.connect();
  const order = (id: number, customer: number, amount: string) => ({
    key: String(id),
    value: JSON.stringify({ order_id: String(id), customer_id: customer, amount }),
  });
  await producer.send({ topic: 'orders', messages: [order(100, 1, '12.00'), order(101, 2, '7.50')] });

  // A change in Postgres reaches the processor's table within moments.
  await pg.query(`update public.customers set name = 'Grace H.', segment = 'enterprise' where id = 2`);
  while (processor.customers.get(2n)?.name !== 'Grace H.') await new Promise((r) => setTimeout(r, 20));
  await producer.send({ topic: 'orders', messages: [order(102, 2, '3.25'), order(103, 9, '1.00')] });

  while (processor.enriched() < 4) await new Promise((r) => setTimeout(r, 50));
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: 'demo-reader' });
  await consumer.connect();
  await consumer.subscribe({ topic: 'orders_enriched', fromBeginning: true });
  const seen: string[] = [];
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value!.toString());
        if (seen.length === 4) resolve();
      },
    });
  });
  await consumer.disconnect();
  for (const line of seen.sort()) console.log(line);
  await processor.stop();
} finally {
  await Promise.all([pg.stop(), broker.stop()]);
}
