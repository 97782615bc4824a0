/**
 * The conformance suite against KafkaReferenceTableSource: each test table is a fresh topic
 * written by KafkaSink on the Kafka test broker.
 */
import { after, before, test } from 'node:test';
import { registerConformance } from '../../conformance-tests/index.js';
import { startKafkaTestBroker, type RealKafkaTestBroker } from '../../src/testing/index.js';
import { kafkaTarget } from './conformance-target.js';

let broker: RealKafkaTestBroker;
before(async () => {
  broker = await startKafkaTestBroker({ brokers: 1 });
});
after(async () => {
  await broker?.stop();
});

const seed = process.env.REFSTREAM_CONFORMANCE_SEED ? Number(process.env.REFSTREAM_CONFORMANCE_SEED) : 20261121;
registerConformance(
  test,
  kafkaTarget(() => broker),
  { seed, numRuns: 10, timeoutMs: 20_000 },
);
