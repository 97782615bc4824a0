/**
 * Runs the sink conformance suite against every sink of the project: MemorySink, JsonlSink
 * and ArrowIpcSink (files), KafkaSink (Kafka test broker), PostgresTableSink (embedded
 * PostgreSQL) and ExasolTableSink (Exasol protocol test server). Each check's duration is
 * printed as a diagnostic. `REFSTREAM_CONFORMANCE_SEED` replays a seed.
 */
import { after, test } from 'node:test';
import arrowIpcSinkTarget from '../targets/sinks/arrow-ipc.js';
import exasolSinkTarget, { stopExasolSinkTarget } from '../targets/sinks/exasol.js';
import jsonlSinkTarget from '../targets/sinks/jsonl.js';
import kafkaSinkTarget, { stopKafkaSinkTarget } from '../targets/sinks/kafka.js';
import memorySinkTarget from '../targets/sinks/memory.js';
import postgresSinkTarget, { stopPostgresSinkTarget } from '../targets/sinks/postgres.js';
import { registerSinkConformance } from './node-test.js';

const seed = process.env.REFSTREAM_CONFORMANCE_SEED ? Number(process.env.REFSTREAM_CONFORMANCE_SEED) : 20261203;

after(async () => {
  await Promise.all([stopKafkaSinkTarget(), stopPostgresSinkTarget(), stopExasolSinkTarget()]);
});

registerSinkConformance(test, memorySinkTarget, { seed, numRuns: 100 });
registerSinkConformance(test, jsonlSinkTarget, { seed, numRuns: 40 });
registerSinkConformance(test, arrowIpcSinkTarget, { seed, numRuns: 40 });
registerSinkConformance(test, kafkaSinkTarget, { seed, numRuns: 15, timeoutMs: 30_000 });
registerSinkConformance(test, postgresSinkTarget, { seed, numRuns: 15, timeoutMs: 30_000 });
registerSinkConformance(test, exasolSinkTarget, { seed, numRuns: 10, timeoutMs: 30_000 });
