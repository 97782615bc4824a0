/**
 * Runs the Flink SQL example against throwaway servers (embedded Postgres and the Kafka test
 * broker from refstream/testing): refstream keeps `public.customers` in the `customers` topic,
 * a customer changes between two orders, and Flink's temporal join gives each order the
 * customer as it was when the order was placed. Needs a JDK (17+) and Maven, which resolve and
 * compile the runner.
 *
 *   node --import tsx examples/flink-sql/demo.ts
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { sync } from '../../src/index.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import { KafkaSink } from '../../src/connectors/kafka/index.js';
import { startKafkaTestBroker, startPostgres } from '../../src/testing/index.js';
import { javaProgram } from '../../test/helpers/java-program.js';

const run = promisify(execFile);
const [flink, pg, broker] = await Promise.all([
  javaProgram(import.meta.dirname),
  startPostgres(),
  startKafkaTestBroker({ topics: ['customers:3', 'orders:3', 'orders-enriched:3'] }),
]);
const kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING });
try {
  await pg.query('create table public.customers (id bigint primary key, name text not null, segment text not null)');
  await pg.query(`insert into public.customers values (1, 'Ada', 'enterprise'), (2, 'Grace', 'smb'), (3, 'Linus', 'smb')`);

  // refstream: the table into its topic, snapshot then every change (the CLI equivalent:
  // refstream sync --source <postgres url> --table public.customers --sink kafka://<brokers>/customers).
  const sync_ = sync({
    source: () =>
      new PostgresSource({ connectionString: pg.connectionString, table: 'public.customers', slot: 'demo_customers', maxWaitMs: 50 }),
    sinks: [new KafkaSink({ brokers: broker.brokers, topic: 'customers', logLevel: 'nothing' })],
    commitEvery: { ms: 200 },
  });
  const committed = () => new Promise<void>((resolve) => sync_.once('commit', () => resolve()));
  await new Promise<void>((resolve) => sync_.once('snapshot-complete', () => resolve()));
  await committed();

  const producer = kafka.producer();
  await producer.connect();
  const order = (id: number, customer: number, amount: string) => ({
    key: String(id),
    value: JSON.stringify({ order_id: String(id), customer_id: customer, amount, ordered_at: Date.now() }),
  });
  await producer.send({ topic: 'orders', messages: [order(100, 1, '12.00'), order(101, 2, '7.50')] });

  // Customer 2 changes after order 101 and before order 102.
  const written = new Promise<void>((resolve) => sync_.on('batch', (b) => b.kind === 'changes' && void committed().then(resolve)));
  await new Promise((r) => setTimeout(r, 50));
  await pg.query(`update public.customers set name = 'Grace H.', segment = 'enterprise' where id = 2`);
  await written;
  await new Promise((r) => setTimeout(r, 50));
  await producer.send({ topic: 'orders', messages: [order(102, 2, '3.25'), order(103, 9, '1.00')] });
  await producer.disconnect();
  await sync_.stop();
  await sync_.done;

  // The SQL script on a local Flink (as `mvn -q compile exec:exec -Dbootstrap=…` runs it).
  await run(
    flink.java,
    [
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
      '-cp',
      flink.classpath,
      'example.RunSql',
      join(import.meta.dirname, 'enrich-orders.sql'),
      `BOOTSTRAP=${broker.bootstrapServers}`,
    ],
    { timeout: 300_000 },
  );

  const consumer = kafka.consumer({ groupId: 'demo-reader' });
  await consumer.connect();
  await consumer.subscribe({ topic: 'orders-enriched', fromBeginning: true });
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
} finally {
  await Promise.all([pg.stop(), broker.stop()]);
}
