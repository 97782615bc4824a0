/**
 * Schema changes through a Kafka topic: a PostgreSQL table synced into a topic while columns
 * are dropped, renamed and widened. The Kafka source reads the topic back two ways: a reader
 * that started before the changes follows them in its change stream, and a reader that starts
 * afterwards reads a snapshot. Rows written before a change are read with the schema they were
 * written with and mapped to the latest (renamed and dropped by `refstream.column_id`), also
 * when another partition already carried a newer schema; both readers end equal to the table.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startKafkaTestBroker, startPostgres, type KafkaTestBroker, type TestPostgres } from '../../src/testing/index.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import { KafkaReferenceTableSource, KafkaSink } from '../../src/connectors/kafka/index.js';
import { sync } from '../../src/sdk/sync.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import { waitFor } from '../helpers/process.js';

let pg: TestPostgres;
let broker: KafkaTestBroker;

before(async () => {
  [pg, broker] = await Promise.all([startPostgres(), startKafkaTestBroker({ topics: ['regions_p1:1', 'regions_p3:3'] })]);
});
after(async () => {
  await Promise.all([pg?.stop(), broker?.stop()]);
});

function reader(topic: string, table: string): KafkaReferenceTableSource {
  return new KafkaReferenceTableSource({ brokers: broker.brokers, topic, table, maxWaitMs: 50, logLevel: 'nothing' });
}

async function tableRows(table: string): Promise<Array<{ id: number; label: string; pop: string }>> {
  return pg.query(`SELECT id, label, pop::text AS pop FROM ${table} ORDER BY id`);
}

function rowsOf(state: ReferenceTable): Array<{ id: number; label: unknown; pop: string }> {
  return state
    .toJSON()
    .map((r) => ({ id: Number(r['id']), label: r['label'], pop: String(r['pop']) }))
    .sort((a, b) => a.id - b.id);
}

for (const partitions of [1, 3]) {
  test(
    `a topic of ${partitions} partition(s) written across dropped, renamed and widened columns reads back as the table in its final shape`,
    { timeout: 120_000 },
    async () => {
      const table = `public.regions_p${partitions}`;
      const topic = `regions_p${partitions}`;
      await pg.query(`CREATE TABLE ${table} (id int PRIMARY KEY, code text, name varchar(20) NOT NULL, pop int)`);
      await pg.query(`INSERT INTO ${table} SELECT g, 'c' || g, 'n' || g, g FROM generate_series(1, 60) g`);
      const schemaChanges: string[] = [];
      const run = sync({
        source: () =>
          new PostgresSource({
            connectionString: pg.connectionString,
            table,
            slot: `kafka_schema_${partitions}`,
            maxWaitMs: 50,
            onWarning: (w) => void (w.code === 'SCHEMA_CHANGED' && schemaChanges.push(w.message)),
          }),
        sinks: [new KafkaSink({ brokers: broker.brokers, topic, logLevel: 'nothing' })],
        commitEvery: { ms: 50 },
      });
      let failure: unknown = null;
      run.done.catch((e: unknown) => (failure = e));
      // a reader that follows the changes as they come
      const follower = reader(topic, table);
      const followed = new ReferenceTable();
      try {
        await waitFor(() => run.progress.phase === 'changes' && run.progress.commits > 0, 30_000, 'the snapshot in the topic');
        for (let b = await follower.pollSnapshot(); b !== null; b = await follower.pollSnapshot()) followed.apply(b);
        const changes = run.progress.changeRows;
        for (const [ddl, dml] of [
          [`ALTER TABLE ${table} DROP COLUMN code`, `UPDATE ${table} SET pop = pop + 1 WHERE id <= 5`],
          [`ALTER TABLE ${table} RENAME COLUMN name TO label`, `UPDATE ${table} SET label = label || '!' WHERE id BETWEEN 6 AND 10`],
          [`ALTER TABLE ${table} ALTER COLUMN pop TYPE bigint`, `UPDATE ${table} SET pop = 9007199254740993 WHERE id = 11`],
        ] as const) {
          await pg.query(ddl);
          await pg.query(dml);
        }
        await waitFor(() => failure !== null || run.progress.changeRows >= changes + 11, 30_000, 'the changes in the topic');
        assert.equal(failure, null, String(failure));
        const expected = await tableRows(table);
        await waitFor(
          async () => {
            const b = await follower.pollChanges();
            if (b) followed.apply(b);
            return JSON.stringify(rowsOf(followed)) === JSON.stringify(expected);
          },
          30_000,
          'the following reader to equal the table',
          10,
        );
        assert.deepEqual(
          followed.fields.map((f) => f.name),
          ['id', 'label', 'pop'],
        );
      } finally {
        await follower.close();
        run.stop();
        await run.done.catch(() => undefined);
      }
      assert.equal(schemaChanges.length, 3, schemaChanges.join('\n'));
      // a reader that starts afterwards: its snapshot reads every row with the schema it was written with
      const late = reader(topic, table);
      const state = new ReferenceTable();
      try {
        for (let b = await late.pollSnapshot(); b !== null; b = await late.pollSnapshot()) state.apply(b);
      } finally {
        await late.close();
      }
      assert.deepEqual(
        state.fields.map((f) => f.name),
        ['id', 'label', 'pop'],
      );
      assert.deepEqual(rowsOf(state), await tableRows(table));
    },
  );
}
