/**
 * The consumers users load refstream's topics into, reading the topics `refstream sync` wrote
 * under load with kill -9s (see topics-under-load.ts), each ending equal to the PostgreSQL
 * table, with refstream's control records causing no error, no warning and no extra row:
 *
 * - Python confluent-kafka (librdkafka), `isolation.level=read_committed`: the transactional
 *   upsert topic holds every change exactly once; the Debezium-envelope topic folds too;
 * - Kafka Streams 4.4: a GlobalKTable (String serdes) and a KTable (typed Jackson serdes,
 *   default exception handler) over the upsert topic, their stores compared row by row;
 * - Flink SQL 2.2 (one MiniCluster for all jobs): `upsert-kafka` over the upsert topic,
 *   `kafka` + `debezium-json` over the Debezium topic, and an event-time temporal join of an
 *   orders stream with the upsert table.
 *
 * One load, one broker and one PostgreSQL serve every consumer; the two JVM programs start as
 * soon as the load is done and run side by side.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startKafkaTestBroker, startPostgres, type KafkaTestBroker, type TestPostgres } from '../../../src/testing/index.js';
import { javaProgram, runJava, type JavaProgram, type JavaRun } from '../../helpers/java-program.js';
import { PROJECT_ROOT, pythonEnv, type PythonEnv } from '../python-env.js';
import { kcatRead } from '../../kafka/helpers.js';
import { customerTopicsFor, syncCustomersUnderLoad, type CustomerRow, type CustomerTopics } from './topics-under-load.js';

const run = promisify(execFile);
const PREFIX = 'consumers';
const PARTITIONS = 3;
const ORDERS_TOPIC = `${PREFIX}-orders`;
/** Flink writes what each of its pipelines read to `<prefix>-upsert`, `-debezium` and `-enriched`. */
const FLINK_OUT = `${PREFIX}-flink`;
/** JVM settings for short runs on a small machine: quick start-up matters more than peak speed. */
const JVM = ['-Xmx768m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn'];

let server: TestPostgres;
let broker: KafkaTestBroker;
let python: PythonEnv;
let topics: CustomerTopics;
let table: CustomerRow[];
let orders: Order[];
let stateDir: string;
let kafkaStreams: Promise<Timed<JavaRun>>;
let flink: Promise<Timed<JavaRun>>;

interface Order {
  order_id: string;
  customer_id: string;
  amount: string;
  ordered_ms: number;
}
type Timed<T> = T & { ms: number };

async function timed<T extends object>(what: Promise<T>): Promise<Timed<T>> {
  const start = Date.now();
  const result = await what;
  return { ...result, ms: Date.now() - start };
}

before(async () => {
  // Not under the OS temp folder, which Kafka Streams warns about.
  mkdirSync(join(PROJECT_ROOT, '.cache'), { recursive: true });
  stateDir = mkdtempSync(join(PROJECT_ROOT, '.cache', 'kafka-streams-state-'));
  const started = Date.now();
  let programs: [JavaProgram, JavaProgram];
  [python, programs, server, broker] = await Promise.all([
    Promise.resolve(pythonEnv(join(PROJECT_ROOT, 'test/interop/requirements.txt'))),
    Promise.all([javaProgram(join(PROJECT_ROOT, 'test/interop/kafka-streams')), javaProgram(join(PROJECT_ROOT, 'test/interop/flink-sql'))]),
    startPostgres(),
    startKafkaTestBroker({
      topics: [
        ...customerTopicsFor(PREFIX, PARTITIONS),
        ORDERS_TOPIC,
        ...['upsert', 'debezium', 'enriched'].map((n) => `${FLINK_OUT}-${n}:2`),
      ],
    }),
  ]);
  console.log(`setup (Python env, Maven + javac of both programs, PostgreSQL, broker): ${Date.now() - started} ms`);
  topics = await syncCustomersUnderLoad({ server, broker, prefix: PREFIX });
  table = await topics.tableRows();
  orders = await produceOrders(table);
  const [streamsProgram, flinkProgram] = programs;
  kafkaStreams = timed(
    runJava(streamsProgram, 'dev.refstream.interop.MaterializeCustomers', [broker.bootstrapServers, topics.upsertTopic, stateDir], {
      jvmArgs: JVM,
    }),
  );
  flink = timed(
    runJava(
      flinkProgram,
      'dev.refstream.interop.CustomersInFlink',
      [broker.bootstrapServers, topics.upsertTopic, topics.debeziumTopic, ORDERS_TOPIC, FLINK_OUT],
      {
        jvmArgs: JVM,
        timeoutMs: 300_000,
      },
    ),
  );
  // Reported by the tests; settled here so that a failure is not an unhandled rejection meanwhile.
  kafkaStreams.catch(() => undefined);
  flink.catch(() => undefined);
});
after(async () => {
  await Promise.allSettled([kafkaStreams, flink]);
  await Promise.all([server?.stop(), broker?.stop()]);
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

/** Orders for existing, deleted and never-existing customers, all timed after the last change. */
async function produceOrders(rows: CustomerRow[]): Promise<Order[]> {
  const ids = rows.map((r) => Number(r.id));
  const live = new Set(ids);
  const maxId = Math.max(...ids);
  const gone: number[] = [];
  for (let id = 1; id <= maxId && gone.length < 10; id++) if (!live.has(id)) gone.push(id);
  const customerIds = [...ids.filter((_, i) => i % Math.ceil(ids.length / 40) === 0), ...gone, maxId + 1000];
  const orderedMs = Date.now() + 60_000;
  const out = customerIds.map((id, i) => ({
    order_id: String(i + 1),
    customer_id: String(id),
    amount: `${(i * 7) % 500}.25`,
    ordered_ms: orderedMs + i,
  }));
  const lines = out.map((o) =>
    JSON.stringify({ ...o, order_id: Number(o.order_id), customer_id: Number(o.customer_id), amount: Number(o.amount) }),
  );
  await new Promise<void>((resolve, reject) => {
    const kcat = spawn('kcat', ['-P', '-b', broker.bootstrapServers, '-t', ORDERS_TOPIC], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    kcat.stderr.on('data', (c: Buffer) => (err += c.toString()));
    kcat.on('error', reject);
    kcat.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kcat -P exited ${code}: ${err}`))));
    kcat.stdin.end(lines.join('\n') + '\n');
  });
  return out;
}

/**
 * Warning and error entries of a JVM program's log (SLF4J simple: `[thread] WARN logger -
 * message`), each with the stack trace lines that follow it (up to 12).
 */
function warnings(stderr: string): string[] {
  const entries: string[] = [];
  let current: string[] | null = null;
  for (const line of stderr.split('\n')) {
    if (/^\[.*\] (WARN|ERROR) \S+ - /.test(line)) entries.push((current = [line]).join('\n'));
    else if (/^\[.*\] (TRACE|DEBUG|INFO) \S+ - /.test(line)) current = null;
    else if (current !== null && current.length < 13 && line.trim() !== '') {
      current.push(line);
      entries[entries.length - 1] = current.join('\n');
    }
  }
  return entries;
}

/**
 * Warnings each program logs at start-up whatever it reads (configuration notices of Kafka
 * Streams and Flink's local cluster); any other warning or error fails the test, so a control
 * record a consumer could not deserialise, skipped or complained about would show up.
 */
const KNOWN_WARNINGS: Record<'kafkaStreams' | 'flink', RegExp[]> = {
  kafkaStreams: [
    / WARN org\.apache\.kafka\.streams\.StreamsConfig - Processing exception handler is not enabled for the GlobalThread/,
    // the state directory lies in the checkout's .cache, which is under /tmp on a CI machine
    / WARN org\.apache\.kafka\.streams\.processor\.internals\.StateDirectory - Using an OS temp directory in the state\.dir property/,
  ],
  flink: [
    / WARN org\.apache\.flink\.runtime\.security\.token\.DefaultDelegationTokenManager - (No tokens obtained|Tokens update task not started)/,
    / WARN org\.apache\.flink\.runtime\.webmonitor\.WebMonitorUtils - (Log file environment variable|JobManager log files are unavailable)/,
    / WARN org\.apache\.flink\.connector\.kafka\.source\.KafkaSourceBuilder - (Offset commit on checkpoint is disabled|Property partition\.discovery\.interval\.ms is provided)/,
    / WARN org\.apache\.flink\.connector\.kafka\.source\.reader\.KafkaSourceReader - Offset commit on checkpoint is disabled/,
    / WARN org\.apache\.flink\.kafka\.shaded\.org\.apache\.kafka\.common\.utils\.AppInfoParser - Error while loading kafka-version\.properties/,
  ],
};

function unexpectedWarnings(stderr: string, program: keyof typeof KNOWN_WARNINGS): string[] {
  return warnings(stderr).filter((l) => !KNOWN_WARNINGS[program].some((known) => known.test(l)));
}

function parseLines<T>(stdout: string): T[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as T);
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

/** The consumed rows equal the table: same keys, each row equal column by column, nothing else. */
function assertSameRows(consumed: Record<string, unknown>[], what: string): void {
  const byId = new Map(consumed.map((r) => [String(r.id), asText(r)]));
  assert.equal(byId.size, consumed.length, `${what}: one row per key`);
  const extra = [...byId.keys()].filter((id) => !table.some((r) => r.id === id));
  assert.deepEqual(extra, [], `${what}: no row the table does not have`);
  assert.equal(byId.size, table.length, `${what}: as many rows as the table`);
  for (const row of table) assert.deepEqual(byId.get(row.id), row, `${what}: row ${row.id}`);
}

// ---- Python confluent-kafka ----

interface Consumed {
  rows: Record<string, unknown>[];
  records: number;
  duplicates: string[];
  controlRecords: number;
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

test('confluent-kafka with read_committed: the transactional upsert topic has every change once and folds to the table', async () => {
  assert.ok(topics.changes > 200, `the writer made ${topics.changes} changes`);
  const committed = await consume(topics.upsertTopic, 'json', 'read_committed');
  assert.deepEqual(committed.errors, [], 'no consumer errors');
  assert.deepEqual(committed.duplicates, [], 'no (position, key) delivered twice');
  assert.equal(committed.controlRecords, 0, 'the data topic holds rows and tombstones only');
  const { stdout } = await run('kcat', [
    '-C',
    '-b',
    broker.bootstrapServers,
    '-t',
    `${topics.upsertTopic}.refstream-control`,
    '-e',
    '-q',
    '-f',
    '%k\\n',
  ]);
  assert.equal(stdout.split('\n').filter((k) => k === 'snapshot-start').length, 1, 'one snapshot-start in the control topic: one snapshot');
  assertSameRows(committed.rows, 'confluent-kafka upsert');

  // The aborted transactions of the killed syncs are in the log, and read_committed hid them.
  const everything = await consume(topics.upsertTopic, 'json', 'read_uncommitted');
  console.log(
    `${topics.changes} writer changes; read_committed ${committed.records} records, read_uncommitted ${everything.records} (${everything.duplicates.length} duplicates)`,
  );
  assert.ok(everything.records >= committed.records);
});

test('confluent-kafka: the Debezium-envelope topic folds to the table by op/after', async () => {
  const consumed = await consume(topics.debeziumTopic, 'debezium', 'read_committed');
  assert.deepEqual(consumed.errors, [], 'no consumer errors');
  assertSameRows(consumed.rows, 'confluent-kafka debezium');
});

// ---- Kafka Streams ----

test('Kafka Streams: a GlobalKTable and a typed KTable over the upsert topic hold exactly the table', async () => {
  const { stdout, stderr, ms } = await kafkaStreams;
  console.log(`Kafka Streams program: ${ms} ms; warnings: ${JSON.stringify(warnings(stderr), null, 1)}`);
  assert.deepEqual(unexpectedWarnings(stderr, 'kafkaStreams'), [], 'no warning or error beyond the start-up notices');
  const lines = parseLines<{ store: string; key: string; value?: string; row?: Record<string, unknown> }>(stdout);
  const global = lines.filter((l) => l.store === 'global');
  const globalKeys = global.map((l) => l.key);
  for (const key of globalKeys) assert.match(key, /^\{"id":"\d+"\}$/, 'every GlobalKTable key is a row key');
  assertSameRows(
    global.map((l) => JSON.parse(l.value!) as Record<string, unknown>),
    'GlobalKTable',
  );
  const typed = lines.filter((l) => l.store === 'table');
  for (const l of typed) assert.equal(l.key, l.row!.id, 'KTable key matches its row');
  assertSameRows(
    typed.map((l) => l.row!),
    'KTable (Jackson serdes)',
  );
});

// ---- Flink SQL ----

/** What a Flink pipeline wrote to its output topic: upsert topics folded by key, the enriched stream as it is. */
async function flinkRows(pipeline: 'upsert' | 'debezium' | 'enriched'): Promise<Record<string, string | null>[]> {
  const { stdout, stderr, ms } = await flink;
  if (pipeline === 'upsert')
    console.log(
      `Flink program (one job, three pipelines, one MiniCluster): ${ms} ms, ${stdout.trim()}; warnings: ${JSON.stringify(warnings(stderr), null, 1)}`,
    );
  assert.deepEqual(unexpectedWarnings(stderr, 'flink'), [], 'no warning or error beyond the start-up notices');
  const records = await kcatRead(broker.bootstrapServers, `${FLINK_OUT}-${pipeline}`);
  if (pipeline === 'enriched') return records.map((r) => JSON.parse(r.payload!) as Record<string, string | null>);
  const folded = new Map<string, Record<string, string | null>>();
  for (const r of records) {
    if (r.payload === null) folded.delete(r.key!);
    else folded.set(r.key!, JSON.parse(r.payload) as Record<string, string | null>);
  }
  return [...folded.values()];
}

test('Flink SQL: upsert-kafka with key.format=json and value.format=json reads the table', async () => {
  assertSameRows(await flinkRows('upsert'), 'Flink upsert-kafka');
});

test('Flink SQL: a kafka table with format debezium-json over the Debezium topic reads the table', async () => {
  assertSameRows(await flinkRows('debezium'), 'Flink debezium-json');
});

test('Flink SQL: an event-time temporal join enriches orders with the customers as they are now', async () => {
  const enriched = await flinkRows('enriched');
  const byId = new Map(table.map((r) => [r.id, r]));
  const expected = orders.map((o) => ({
    order_id: o.order_id,
    customer_id: o.customer_id,
    amount: o.amount,
    name: byId.get(o.customer_id)?.name ?? null,
    segment: byId.get(o.customer_id)?.segment ?? null,
  }));
  const sort = (rows: Record<string, string | null>[]) => [...rows].sort((a, b) => Number(a.order_id) - Number(b.order_id));
  assert.ok(expected.some((o) => o.name === null) && expected.some((o) => o.name !== null), 'orders of present and absent customers');
  assert.deepEqual(sort(enriched), sort(expected));
});
