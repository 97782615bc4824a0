/**
 * A consumer of a Debezium topic with schemas (`format: 'debezium', schemas: true`) sees the
 * schema change where Debezium's would: a PostgreSQL table synced across ADD COLUMN, DROP
 * COLUMN, RENAME COLUMN and int → bigint, read with kcat (librdkafka). Each record's value
 * schema lists the table's columns at that point with Debezium's types, and each payload,
 * decoded as its schema says, equals the row in PostgreSQL.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startKafkaTestBroker, startPostgres, type KafkaTestBroker, type TestPostgres } from '../../src/testing/index.js';
import { unscaledToDecimalString } from '../../src/sdk/decimal.js';
import type { ConnectSchema } from '../../src/connectors/kafka/connect-schema.js';
import { connectTypeOf, runDebeziumSchemaScenario, type Step } from './debezium-schema-scenario.js';

let pg: TestPostgres;
let broker: KafkaTestBroker;

before(async () => {
  [pg, broker] = await Promise.all([startPostgres(), startKafkaTestBroker({ topics: ['regions_dbz:1'] })]);
});
after(async () => {
  await Promise.all([pg?.stop(), broker?.stop()]);
});

interface Envelope {
  schema: ConnectSchema;
  payload: { before: Record<string, unknown> | null; after: Record<string, unknown> | null; op: string };
}

/** A value of a Connect field decoded to the text PostgreSQL shows (see the scenario's select list). */
function decode(field: ConnectSchema, value: unknown, raw: string): string | null {
  if (value === null) return null;
  switch (connectTypeOf(field)) {
    case 'int64': {
      // JSON.parse rounds beyond 2^53: read the digits from the record itself
      const digits = new RegExp(`"${field.field}":(-?\\d+)`).exec(raw);
      return digits![1]!;
    }
    case 'org.apache.kafka.connect.data.Decimal': {
      const bytes = Buffer.from(value as string, 'base64');
      const unsigned = BigInt(`0x${bytes.toString('hex')}`);
      const unscaled = bytes[0]! & 0x80 ? unsigned - (1n << BigInt(bytes.length * 8)) : unsigned;
      return unscaledToDecimalString(unscaled, Number(field.parameters!['scale']));
    }
    case 'io.debezium.time.ZonedTimestamp': {
      const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(value as string)!;
      return String(BigInt(Date.parse(`${m[1]}Z`)) * 1000n + BigInt((m[2] ?? '').padEnd(6, '0').slice(0, 6)));
    }
    case 'bytes':
      return `\\x${Buffer.from(value as string, 'base64').toString('hex')}`;
    default:
      return String(value);
  }
}

function checkRow(
  step: Step,
  schema: ConnectSchema,
  row: Record<string, unknown>,
  raw: string,
  expected: Record<string, string | null>,
): void {
  const value = schema.fields!.find((f) => f.field === 'after')!;
  for (const field of value.fields!) {
    assert.equal(
      decode(field, row[field.field!], raw),
      expected[field.field!],
      `${step.what}: ${field.field} of row ${String(expected['id'])}`,
    );
  }
}

test(
  'each record carries the table schema of its point in the stream, with Debezium types, and its payload decodes to the row',
  { timeout: 240_000 },
  async () => {
    const { records, steps } = await runDebeziumSchemaScenario(pg, broker, {
      table: 'public.regions_dbz',
      topic: 'regions_dbz',
      slot: 'dbz_schemas',
    });
    let next = 0;
    const schemaVersions: string[] = [];
    for (const step of steps) {
      for (const [i, id] of step.ids.entries()) {
        const record = records[next++];
        assert.ok(record, `a record for ${step.what}, row ${id}`);
        const key = JSON.parse(record.key!) as { schema: ConnectSchema; payload: { id: number } };
        assert.deepEqual(key.payload, { id }, `${step.what}: the key of row ${id}`);
        assert.equal(key.schema.name, 'refstream.public.regions_dbz.Key');
        assert.deepEqual(key.schema.fields, [{ type: 'int32', optional: false, field: 'id' }]);
        const raw = record.payload!;
        const envelope = JSON.parse(raw) as Envelope;
        assert.equal(envelope.schema.name, 'refstream.public.regions_dbz.Envelope');
        const value = envelope.schema.fields!.find((f) => f.field === 'after')!;
        assert.equal(value.name, 'refstream.public.regions_dbz.Value');
        assert.deepEqual(
          value.fields!.map((f) => `${f.field}:${connectTypeOf(f)}:${f.optional ? 'optional' : 'required'}`),
          Object.entries(step.columns).map(([name, type]) => `${name}:${type}:${name === 'id' ? 'required' : 'optional'}`),
          `${step.what}: the value schema of row ${id}`,
        );
        const version = JSON.stringify(envelope.schema);
        if (schemaVersions.at(-1) !== version) schemaVersions.push(version);
        const expected = step.rows[i];
        if (expected === null || expected === undefined) {
          assert.equal(envelope.payload.op, 'd');
          assert.equal(envelope.payload.after, null);
          assert.equal(envelope.payload.before!['id'], id);
          const tombstone = records[next++];
          assert.equal(tombstone?.payload, null, 'a tombstone follows the delete');
          assert.equal(tombstone.key, record.key);
          continue;
        }
        assert.equal(envelope.payload.op, step.what === 'snapshot' ? 'r' : 'u');
        checkRow(step, envelope.schema, envelope.payload.after!, raw, expected);
      }
    }
    assert.equal(next, records.length, 'no records beyond the steps');
    // snapshot, then one new version per migration (the delete keeps the last)
    assert.equal(schemaVersions.length, 5);
  },
);
