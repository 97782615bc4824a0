/**
 * A PostgreSQL table synced into a one-partition topic as Debezium's envelope with Connect
 * schemas (`format: 'debezium', schemas: true`) across the migrations reference tables see:
 * ADD COLUMN, DROP COLUMN, RENAME COLUMN, int → bigint, each followed by updates of a few rows,
 * then a delete. Returns the topic as kcat reads it and, per step, the rows it touched as
 * PostgreSQL shows them then. Shared by the kcat test (test/kafka/debezium-schemas-postgres.test.ts)
 * and the Kafka Connect JsonConverter test (test/interop/kafka/debezium-connect-json.test.ts).
 */
import assert from 'node:assert/strict';
import type { KafkaTestBroker, TestPostgres } from '../../src/testing/index.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import { KafkaSink } from '../../src/connectors/kafka/index.js';
import { sync } from '../../src/sdk/sync.js';
import { waitFor } from '../helpers/process.js';
import { readTopic, type TopicRecord } from '../helpers/kcat-topic.js';

/** The table's columns at one step, with the Connect type Debezium gives each. */
export interface Step {
  what: string;
  /** Ids of the rows the step changed (its records carry them, in this order). */
  ids: number[];
  /** Column name → Connect type (`name` of a logical type, else the type). */
  columns: Record<string, string>;
  /** The changed rows as PostgreSQL shows them after the step (null for a deleted row). */
  rows: Array<Record<string, string | null> | null>;
}

export interface Scenario {
  records: TopicRecord[];
  steps: Step[];
  /** The table at the end, by id. */
  finalRows: Map<number, Record<string, string | null>>;
}

const ROWS = 12;

/** Every column as text PostgreSQL and the decoded records can both be compared in. */
function selectList(columns: Record<string, string>): string {
  return Object.keys(columns)
    .map((c) => {
      if (c === 'seen') return `(extract(epoch FROM seen) * 1000000)::bigint::text AS seen`;
      if (c === 'born') return `(born - date '1970-01-01')::text AS born`;
      return `${c}::text AS ${c}`;
    })
    .join(', ');
}

export async function runDebeziumSchemaScenario(
  pg: TestPostgres,
  broker: KafkaTestBroker,
  names: { table: string; topic: string; slot: string },
): Promise<Scenario> {
  const { table, topic, slot } = names;
  await pg.query(
    `CREATE TABLE ${table} (id int PRIMARY KEY, name text NOT NULL, pop int, area numeric(10,1), seen timestamptz, born date, tag uuid, raw bytea)`,
  );
  await pg.query(
    `INSERT INTO ${table} SELECT g, 'n' || g, g * 100, g + 0.5, timestamptz '2024-05-06 07:08:09.123456+00' + g * interval '1 day',
       date '2000-01-01' + g, ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, decode(lpad(to_hex(g), 2, '0') || 'ff', 'hex')
     FROM generate_series(1, ${ROWS}) g`,
  );
  let columns: Record<string, string> = {
    id: 'int32',
    name: 'string',
    pop: 'int32',
    area: 'org.apache.kafka.connect.data.Decimal',
    seen: 'io.debezium.time.ZonedTimestamp',
    born: 'io.debezium.time.Date',
    tag: 'io.debezium.data.Uuid',
    raw: 'bytes',
  };
  const rowsOf = async (ids: number[], cols: Record<string, string>): Promise<Array<Record<string, string | null> | null>> => {
    const found = await pg.query<Record<string, string | null>>(`SELECT ${selectList(cols)} FROM ${table} WHERE id = ANY($1) ORDER BY id`, [
      ids,
    ]);
    return ids.map((id) => found.find((r) => Number(r['id']) === id) ?? null);
  };
  const steps: Step[] = [{ what: 'snapshot', ids: Array.from({ length: ROWS }, (_, i) => i + 1), columns, rows: [] }];
  steps[0]!.rows = await rowsOf(steps[0]!.ids, columns);

  const run = sync({
    source: () => new PostgresSource({ connectionString: pg.connectionString, table, slot, maxWaitMs: 50, onWarning: () => undefined }),
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
    assert.equal(failure, null, String(failure));
    const migrations: Array<{
      what: string;
      ddl: string;
      dml: string;
      ids: number[];
      columns: (c: Record<string, string>) => Record<string, string>;
    }> = [
      {
        what: 'ADD COLUMN active',
        ddl: `ALTER TABLE ${table} ADD COLUMN active boolean`,
        dml: `UPDATE ${table} SET pop = pop + 1, active = false WHERE id IN (1, 2)`,
        ids: [1, 2],
        columns: (c) => ({ ...c, active: 'boolean' }),
      },
      {
        what: 'DROP COLUMN area',
        ddl: `ALTER TABLE ${table} DROP COLUMN area`,
        dml: `UPDATE ${table} SET pop = pop + 1 WHERE id IN (3, 4)`,
        ids: [3, 4],
        columns: ({ area: _area, ...c }) => c,
      },
      {
        what: 'RENAME COLUMN name TO label',
        ddl: `ALTER TABLE ${table} RENAME COLUMN name TO label`,
        dml: `UPDATE ${table} SET label = label || '!' WHERE id IN (5, 6)`,
        ids: [5, 6],
        columns: (c) => Object.fromEntries(Object.entries(c).map(([k, v]) => [k === 'name' ? 'label' : k, v])),
      },
      {
        what: 'ALTER COLUMN pop TYPE bigint',
        ddl: `ALTER TABLE ${table} ALTER COLUMN pop TYPE bigint`,
        dml: `UPDATE ${table} SET pop = 9007199254740993 WHERE id = 7`,
        ids: [7],
        columns: (c) => ({ ...c, pop: 'int64' }),
      },
      { what: 'DELETE', ddl: '', dml: `DELETE FROM ${table} WHERE id = 8`, ids: [8], columns: (c) => c },
    ];
    for (const m of migrations) {
      const seen = run.progress.changeRows;
      if (m.ddl) await pg.query(m.ddl);
      await pg.query(m.dml);
      columns = m.columns(columns);
      steps.push({ what: m.what, ids: m.ids, columns, rows: await rowsOf(m.ids, columns) });
      await waitFor(() => failure !== null || run.progress.changeRows >= seen + m.ids.length, 60_000, `the changes after ${m.what}`);
      assert.equal(failure, null, String(failure));
    }
  } finally {
    run.stop();
    await run.done.catch(() => undefined);
  }
  assert.equal(failure, null, String(failure));
  const final = await pg.query<Record<string, string | null>>(`SELECT ${selectList(columns)} FROM ${table} ORDER BY id`);
  return {
    records: await readTopic(broker.bootstrapServers, topic),
    steps,
    finalRows: new Map(final.map((r) => [Number(r['id']), r])),
  };
}

/** Connect type of a field schema: its logical name when it has one, else its type. */
export function connectTypeOf(schema: { type: string; name?: string }): string {
  return schema.name ?? schema.type;
}
