/**
 * Python's confluent-kafka (librdkafka) reads the topics `refstream sync` wrote under load with
 * kill -9s (see topics-under-load.ts): with `isolation.level=read_committed` the transactional
 * upsert topic holds every change exactly once and folds to the table; the Debezium-envelope
 * topic folds to the table too. Control records are skipped by their header, as documented,
 * and cause no consumer error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startKafkaTestBroker, startPostgres, type KafkaTestBroker, type TestPostgres } from '../../../src/testing/index.js';
import { PROJECT_ROOT, pythonEnv, type PythonEnv } from '../python-env.js';
import { customerTopicsFor, syncCustomersUnderLoad, type CustomerRow, type CustomerTopics } from './topics-under-load.js';

const run = promisify(execFile);
const PREFIX = 'confluent';
const PARTITIONS = 3;
let server: TestPostgres;
let broker: KafkaTestBroker;
let python: PythonEnv;
let topics: CustomerTopics;

before(async () => {
  python = pythonEnv(join(PROJECT_ROOT, 'test/interop/requirements.txt'));
  [server, broker] = await Promise.all([startPostgres(), startKafkaTestBroker({ topics: customerTopicsFor(PREFIX, PARTITIONS) })]);
  topics = await syncCustomersUnderLoad({ server, broker, prefix: PREFIX });
});
after(async () => {
  await Promise.all([server?.stop(), broker?.stop()]);
});

interface Consumed {
  rows: Record<string, unknown>[];
  records: number;
  duplicates: string[];
  snapshotStarts: number;
  errors: string[];
}

async function consume(topic: string, format: 'json' | 'debezium', isolation: 'read_committed' | 'read_uncommitted'): Promise<Consumed> {
  const { stdout } = await run(
    python.python,
    [join(PROJECT_ROOT, 'test/interop/kafka/consume_confluent.py'), broker.bootstrapServers, topic, format, isolation],
    { maxBuffer: 256 << 20, timeout: 120_000 },
  );
  return JSON.parse(stdout) as Consumed;
}

/** A row from refstream's JSON, as text the way PostgreSQL prints it. */
function asText(row: Record<string, unknown>): CustomerRow {
  const text = (v: unknown) => (v === null || v === undefined ? null : String(v));
  return {
    id: text(row.id)!,
    name: text(row.name)!,
    segment: text(row.segment),
    credit: text(row.credit)!,
    active: text(row.active)!,
    visits: text(row.visits)!,
  };
}

function assertSameRows(consumed: Record<string, unknown>[], table: CustomerRow[]): void {
  const byId = new Map(consumed.map((r) => [String(r.id), asText(r)]));
  assert.equal(byId.size, consumed.length, 'one row per key');
  assert.deepEqual([...byId.keys()].sort(), table.map((r) => r.id).sort(), 'the same keys as the table');
  for (const row of table) assert.deepEqual(byId.get(row.id), row, `row ${row.id}`);
}

test('confluent-kafka with read_committed: the transactional upsert topic has every change once and folds to the table', async () => {
  const table = await topics.tableRows();
  assert.ok(topics.changes > 200, `the writer made ${topics.changes} changes`);
  const committed = await consume(topics.upsertTopic, 'json', 'read_committed');
  assert.deepEqual(committed.errors, [], 'no consumer errors');
  assert.deepEqual(committed.duplicates, [], 'no (position, key) delivered twice');
  assert.equal(committed.snapshotStarts, PARTITIONS, 'one snapshot-start marker per partition: one snapshot');
  assertSameRows(committed.rows, table);

  // The aborted transactions of the killed syncs are in the log, and read_committed hid them.
  const everything = await consume(topics.upsertTopic, 'json', 'read_uncommitted');
  console.log(
    `${topics.changes} writer changes; read_committed ${committed.records} records, read_uncommitted ${everything.records} (${everything.duplicates.length} duplicates)`,
  );
  assert.ok(everything.records >= committed.records);
});

test('confluent-kafka: the Debezium-envelope topic folds to the table by op/after', async () => {
  const table = await topics.tableRows();
  const consumed = await consume(topics.debeziumTopic, 'debezium', 'read_committed');
  assert.deepEqual(consumed.errors, [], 'no consumer errors');
  assertSameRows(consumed.rows, table);
});
