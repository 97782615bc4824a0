/**
 * Runs the Kafka Streams example against throwaway servers (embedded Postgres and the Kafka
 * test broker from refstream/testing): refstream keeps `public.customers` in the `customers`
 * topic, the Java application enriches the `orders` topic with it, and the enriched orders
 * are printed. Needs a JDK (17+) and Maven, which resolve and compile the application.
 *
 *   node --import tsx examples/kafka-streams/demo.ts
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { sync } from '../../src/index.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import { KafkaSink } from '../../src/connectors/kafka/index.js';
import { startKafkaTestBroker, startPostgres } from '../../src/testing/index.js';
import { javaProgram } from '../../test/helpers/java-program.js';

const [app, pg, broker] = await Promise.all([
  javaProgram(import.meta.dirname),
  startPostgres(),
  startKafkaTestBroker({ topics: ['customers:3', 'orders:3', 'orders-enriched:3'] }),
]);
const stateDir = mkdtempSync(join(tmpdir(), 'enrich-orders-'));
const kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING });
try {
  await pg.query('create table public.customers (id bigint primary key, name text not null, segment text not null)');
  await pg.query(`insert into public.customers values (1, 'Ada', 'enterprise'), (2, 'Grace', 'smb'), (3, 'Linus', 'smb')`);

  // refstream: the table into its topic, snapshot then every change (the CLI equivalent:
  // refstream sync --source <postgres url> --table public.customers --sink kafka://<brokers>/customers).
  const run = sync({
    source: () =>
      new PostgresSource({ connectionString: pg.connectionString, table: 'public.customers', slot: 'demo_customers', maxWaitMs: 50 }),
    sinks: [new KafkaSink({ brokers: broker.brokers, topic: 'customers', logLevel: 'nothing' })],
    commitEvery: { ms: 200 },
  });
  const committed = () => new Promise<void>((resolve) => run.once('commit', () => resolve()));
  await new Promise<void>((resolve) => run.once('snapshot-complete', () => resolve()));
  await committed();

  // The Kafka Streams application (as `mvn -q compile exec:java -Dexec.args=…` runs it).
  const streams = spawn(
    app.java,
    [
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
      '-cp',
      app.classpath,
      'example.EnrichOrders',
      broker.bootstrapServers,
      'customers',
      'orders',
      'orders-enriched',
      stateDir,
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    streams.stdout.setEncoding('utf8').on('data', (chunk: string) => chunk.includes('running') && resolve());
    streams.once('exit', (code) => reject(new Error(`the Kafka Streams application exited (${code})`)));
  });

  const producer = kafka.producer();
  await producer.connect();
  const order = (id: number, customer: number, amount: string) => ({
    key: String(id),
    value: JSON.stringify({ order_id: String(id), customer_id: customer, amount }),
  });
  await producer.send({ topic: 'orders', messages: [order(100, 1, '12.00'), order(101, 2, '7.50')] });
  await readEnriched(2); // enriched before the change below

  // A change in Postgres: refstream writes it to the topic, the GlobalKTable follows.
  const written = new Promise<void>((resolve) => run.on('batch', (b) => b.kind === 'changes' && void committed().then(resolve)));
  await pg.query(`update public.customers set name = 'Grace H.', segment = 'enterprise' where id = 2`);
  await written;
  await new Promise((r) => setTimeout(r, 1000)); // the application's global thread reads it
  await producer.send({ topic: 'orders', messages: [order(102, 2, '3.25'), order(103, 9, '1.00')] });
  const enriched = await readEnriched(4);
  await producer.disconnect();

  for (const line of enriched.sort()) console.log(line);
  streams.kill('SIGTERM');
  await new Promise((r) => streams.once('exit', r));
  await run.stop();
  await run.done;
} finally {
  await Promise.all([pg.stop(), broker.stop()]);
  rmSync(stateDir, { recursive: true, force: true });
}

/** The enriched orders, once there are `count`. */
async function readEnriched(count: number): Promise<string[]> {
  const consumer = kafka.consumer({ groupId: `demo-reader-${count}` });
  await consumer.connect();
  await consumer.subscribe({ topic: 'orders-enriched', fromBeginning: true });
  const seen: string[] = [];
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value!.toString());
        if (seen.length === count) resolve();
      },
    });
  });
  await consumer.disconnect();
  return seen;
}
