/**
 * Kafka Connect's own JsonConverter (`org.apache.kafka:connect-json`, `schemas.enable=true`)
 * reads refstream's Debezium topic with schemas (`format: 'debezium', schemas: true`) as a
 * Connect sink connector would: a PostgreSQL table synced across ADD COLUMN, DROP COLUMN, RENAME
 * COLUMN and int → bigint. The converter accepts every record, sees the logical types (Decimal
 * values arrive as BigDecimal), and the Structs equal the table's rows at each step; folded by
 * key they equal the table at the end.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKafkaTestBroker, startPostgres, type KafkaTestBroker, type TestPostgres } from '../../../src/testing/index.js';
import { javaProgram, runJava, type JavaProgram } from '../../helpers/java-program.js';
import { PROJECT_ROOT } from '../python-env.js';
import { runDebeziumSchemaScenario } from '../../kafka/debezium-schema-scenario.js';
import { PostgresSource } from '../../../src/connectors/postgres/index.js';
import { KafkaSink } from '../../../src/connectors/kafka/index.js';
import { sync } from '../../../src/sdk/sync.js';
import { readTopic, type TopicRecord } from '../../helpers/kcat-topic.js';
import { waitFor } from '../../helpers/process.js';

/** Connect's type of each Debezium type of the scenario (`TYPE[:logical name]`). */
const CONNECT_TYPES: Record<string, string> = {
  int32: 'INT32',
  int64: 'INT64',
  string: 'STRING',
  boolean: 'BOOLEAN',
  bytes: 'BYTES',
  'org.apache.kafka.connect.data.Decimal': 'BYTES:org.apache.kafka.connect.data.Decimal',
  'io.debezium.time.ZonedTimestamp': 'STRING:io.debezium.time.ZonedTimestamp',
  'io.debezium.time.Date': 'INT32:io.debezium.time.Date',
  'io.debezium.data.Uuid': 'STRING:io.debezium.data.Uuid',
};

interface ConverterRecord {
  keySchema: string;
  key: { id: string };
  value?: null;
  valueSchema?: string;
  valueName?: string;
  fields?: string[];
  op?: string;
  before?: Record<string, string | null> | null;
  after?: Record<string, string | null> | null;
}

let pg: TestPostgres;
let broker: KafkaTestBroker;
let program: JavaProgram;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'connect-json-'));
  [pg, broker, program] = await Promise.all([
    startPostgres(),
    startKafkaTestBroker({ topics: ['regions_connect:1', 'every_type_connect:1'] }),
    javaProgram(join(PROJECT_ROOT, 'test/interop/connect-json')),
  ]);
});
after(async () => {
  await Promise.all([pg?.stop(), broker?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs the converter program over records as kcat read them. */
async function convert(topic: string, records: readonly TopicRecord[]): Promise<ConverterRecord[]> {
  const input = join(dir, `${topic}.tsv`);
  const b64 = (text: string | null): string => (text === null ? '-' : Buffer.from(text, 'utf8').toString('base64'));
  writeFileSync(input, records.map((r) => `${b64(r.key)}\t${b64(r.payload)}\n`).join(''));
  const { stdout } = await runJava(program, 'dev.refstream.interop.ReadWithJsonConverter', [topic, input], {
    jvmArgs: ['-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'],
  });
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as ConverterRecord);
}

test(
  'JsonConverter (schemas.enable=true) accepts every record and its Structs equal the table rows across schema changes',
  { timeout: 300_000 },
  async () => {
    const topic = 'regions_connect';
    const { records, steps, finalRows } = await runDebeziumSchemaScenario(pg, broker, {
      table: 'public.regions_connect',
      topic,
      slot: 'dbz_connect',
    });
    const read = await convert(topic, records);
    assert.equal(read.length, records.length, 'the converter read every record');

    let next = 0;
    for (const step of steps) {
      for (const [i, id] of step.ids.entries()) {
        const record = read[next++]!;
        assert.equal(record.keySchema, 'refstream.public.regions_connect.Key');
        assert.deepEqual(record.key, { id: String(id) });
        assert.equal(record.valueSchema, 'refstream.public.regions_connect.Envelope');
        assert.equal(record.valueName, 'refstream.public.regions_connect.Value');
        assert.deepEqual(
          record.fields,
          Object.entries(step.columns).map(([name, type]) => `${name}:${CONNECT_TYPES[type]!}`),
          `${step.what}: the Connect schema of row ${id}`,
        );
        const expected = step.rows[i];
        if (expected === null || expected === undefined) {
          assert.equal(record.op, 'd');
          assert.equal(record.after, null);
          assert.equal(record.before!['id'], String(id));
          assert.equal(read[next++]!.value, null, 'the tombstone after the delete');
          continue;
        }
        assert.equal(record.op, step.what === 'snapshot' ? 'r' : 'u');
        assert.deepEqual(record.after, expected, `${step.what}: row ${id} as the converter reads it`);
      }
    }
    assert.equal(next, read.length);

    // Folded by key as a Connect sink upserts: the table at the end, in its final shape.
    const folded = new Map<number, Record<string, string | null>>();
    for (const r of read) {
      if (r.value === null || r.op === 'd') folded.delete(Number(r.key.id));
      else folded.set(Number(r.key.id), r.after!);
    }
    const lastColumns = Object.keys(steps.at(-1)!.columns);
    for (const [id, row] of folded) {
      // rows not touched since a change keep the columns of the record that wrote them
      const current = finalRows.get(id)!;
      for (const [column, value] of Object.entries(row))
        if (lastColumns.includes(column)) assert.equal(value, current[column], `${column} of ${id}`);
    }
    const ids = (m: Map<number, unknown>): number[] => [...m.keys()].sort((a, b) => a - b);
    assert.deepEqual(ids(folded), ids(finalRows));
  },
);

/** Every column type of the type table, as Connect sees it (`name:TYPE[:logical name]`). */
const EVERY_TYPE_FIELDS = [
  'id:INT32',
  'small:INT16',
  'big:INT64',
  're:FLOAT32',
  'dbl:FLOAT64',
  'flag:BOOLEAN',
  'txt:STRING',
  'amount:BYTES:org.apache.kafka.connect.data.Decimal',
  'anynum:STRUCT:io.debezium.data.VariableScaleDecimal',
  'raw:BYTES',
  'uid:STRING:io.debezium.data.Uuid',
  'doc:STRING:io.debezium.data.Json',
  'day:INT32:io.debezium.time.Date',
  'at:INT64:io.debezium.time.MicroTimestamp',
  'at_ms:INT64:io.debezium.time.Timestamp',
  'at_tz:STRING:io.debezium.time.ZonedTimestamp',
  'tod:INT64:io.debezium.time.MicroTime',
  'span:INT64:io.debezium.time.MicroDuration',
  'ints:ARRAY',
  'mood:STRING',
];

test(
  'JsonConverter reads a row of every column type PostgreSQL delivers, from the snapshot and the change stream, each value equal to the column',
  { timeout: 300_000 },
  async () => {
    const table = 'public.every_type';
    const topic = 'every_type_connect';
    await pg.query(`CREATE TYPE mood AS ENUM ('sad', 'happy')`);
    await pg.query(
      `CREATE TABLE ${table} (id int PRIMARY KEY, small int2, big int8, re real, dbl float8, flag bool, txt varchar(20), amount numeric(10,2),
       anynum numeric, raw bytea, uid uuid, doc jsonb, day date, at timestamp, at_ms timestamp(3), at_tz timestamptz, tod time,
       span interval, ints int[], mood mood)`,
    );
    const values = (id: number, amount: string, anynum: string): string =>
      `(${id}, -12, 9007199254740993, 1.5, -2.25, true, 'héllo "q"', ${amount}, ${anynum}, '\\x00ff10', '4f1c2a3b-5d6e-4f70-8a9b-0c1d2e3f4a5b',
      '{"a": [1, 2]}', '2024-02-29', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123', '2024-01-02 03:04:05.12+02',
      '13:14:15.5', '1 year 2 months 3 days 00:00:04.000005', '{1,NULL,-3}', 'happy')`;
    await pg.query(`INSERT INTO ${table} VALUES ${values(1, '-123.45', '12.3400')}`);
    await pg.query(`INSERT INTO ${table} (id) VALUES (2)`);
    const run = sync({
      source: () =>
        new PostgresSource({ connectionString: pg.connectionString, table, slot: 'dbz_every_type', maxWaitMs: 50, unknownTypes: 'text' }),
      sinks: [new KafkaSink({ brokers: broker.brokers, topic, format: 'debezium', schemas: true, logLevel: 'nothing' })],
      commitEvery: { ms: 50 },
    });
    let failure: unknown = null;
    run.done.catch((e: unknown) => (failure = e));
    try {
      await waitFor(
        () => failure !== null || (run.progress.phase === 'changes' && run.progress.commits > 0),
        60_000,
        'the snapshot in the topic',
      );
      await pg.query(`INSERT INTO ${table} VALUES ${values(3, '0.01', '-0.0012')}`);
      await waitFor(() => failure !== null || run.progress.changeRows >= 1, 60_000, 'the insert in the topic');
    } finally {
      run.stop();
      await run.done.catch(() => undefined);
    }
    assert.equal(failure, null, String(failure));
    const read = await convert(topic, await readTopic(broker.bootstrapServers, topic));
    assert.deepEqual(
      read.map((r) => [r.key.id, r.op]),
      [
        ['1', 'r'],
        ['2', 'r'],
        ['3', 'c'],
      ],
    );
    const expected = await pg.query<Record<string, string | null>>(
      `SELECT id::text, small::text, big::text, re::text, dbl::text, flag::text, txt, amount::text, anynum::text, raw::text, uid::text,
       doc::text, (day - date '1970-01-01')::text AS day, (extract(epoch FROM at) * 1000000)::bigint::text AS at,
       (extract(epoch FROM at_ms) * 1000)::bigint::text AS at_ms, (extract(epoch FROM at_tz) * 1000000)::bigint::text AS at_tz,
       (extract(epoch FROM tod) * 1000000)::bigint::text AS tod, mood::text
     FROM ${table} ORDER BY id::int`,
    );
    // 14 months of 365.25/12 days (Debezium's MicroDuration), 3 days, 4.000005 s
    const span = String(14n * 2_629_800_000_000n + 3n * 86_400_000_000n + 4_000_005n);
    for (const [i, record] of read.entries()) {
      assert.deepEqual(record.fields, EVERY_TYPE_FIELDS);
      const row = expected[i]!;
      const full = row['small'] !== null;
      assert.deepEqual(record.after, {
        ...row,
        span: full ? span : null,
        ints: full ? ['1', null, '-3'] : null,
      } as unknown as Record<string, string | null>);
    }
  },
);
