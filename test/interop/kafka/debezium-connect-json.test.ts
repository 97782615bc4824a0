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
    startKafkaTestBroker({ topics: ['regions_connect:1'] }),
    javaProgram(join(PROJECT_ROOT, 'test/interop/connect-json')),
  ]);
});
after(async () => {
  await Promise.all([pg?.stop(), broker?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

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
    const input = join(dir, 'records.tsv');
    const b64 = (text: string | null): string => (text === null ? '-' : Buffer.from(text, 'utf8').toString('base64'));
    writeFileSync(input, records.map((r) => `${b64(r.key)}\t${b64(r.payload)}\n`).join(''));
    const { stdout } = await runJava(program, 'dev.refstream.interop.ReadWithJsonConverter', [topic, input], {
      jvmArgs: ['-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'],
    });
    const read = stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as ConverterRecord);
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
