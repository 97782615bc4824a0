/**
 * ExasolTableSink following the source's schema changes: a PostgreSQL table synced into an
 * Exasol table (the Exasol test server, which keeps its tables in the same PostgreSQL) while
 * columns are added, dropped, renamed and widened, with the sync (and so the sink) restarted
 * between some changes and two changes landing in one flush. The target ends equal to the
 * source, each column with the Exasol type of its new source type; a column the user added to
 * the target survives; with alterTable off the first change is refused with the statements.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startExasolTestServer, startPostgres, type ExasolTestServer, type TestPostgres } from '../../src/testing/index.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import { ExasolTableSink, type ExasolConnection } from '../../src/connectors/exasol/index.js';
import { queryObjects } from '../../src/connectors/exasol/catalog.js';
import { sync } from '../../src/sdk/sync.js';
import { MemoryCheckpointStore } from '../../src/sdk/checkpoint-store.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { waitFor } from '../helpers/process.js';
import { connect, connectionConfig } from './helpers.js';

let pg: TestPostgres;
let exa: ExasolTestServer;
let session: ExasolConnection;

before(async () => {
  pg = await startPostgres();
  exa = await startExasolTestServer({ postgres: pg });
  session = await connect(exa);
});
after(async () => {
  await session?.close();
  await exa?.stop();
  await pg?.stop();
});

/** The target's columns and types as Exasol reports them. */
async function exasolColumns(table: string): Promise<string[]> {
  const rows = await queryObjects(
    session,
    `SELECT COLUMN_NAME, COLUMN_TYPE FROM EXA_ALL_COLUMNS WHERE COLUMN_SCHEMA = 'SINKS' AND COLUMN_TABLE = '${table}' ORDER BY COLUMN_ORDINAL_POSITION`,
  );
  return rows.map((r) => `${String(r.COLUMN_NAME)} ${String(r.COLUMN_TYPE)}`);
}

async function sourceColumns(table: string): Promise<string[]> {
  const rows = await pg.query<{ c: string }>(
    `SELECT attname AS c FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [table],
  );
  return rows.map((r) => r.c);
}

/** Rows as text, read from PostgreSQL (the source, or the test server's storage of the target). */
async function rowsAsText(table: string, columns: string[]): Promise<string> {
  const list = columns.map((c) => `"${c}"::text`).join(', ');
  return JSON.stringify(await pg.query(`SELECT ${list} FROM ${table} ORDER BY "id"`));
}

function start(source: string, target: string, slot: string, checkpoints: MemoryCheckpointStore, alterTable = true) {
  return sync({
    source: () => new PostgresSource({ connectionString: pg.connectionString, table: source, slot, maxWaitMs: 100 }),
    sinks: [new ExasolTableSink({ ...connectionConfig(exa), schema: 'SINKS', table: target, createTable: true, alterTable })],
    checkpoints,
    commitEvery: { ms: 100 },
  });
}

test(
  'the Exasol target follows added, dropped, renamed and widened columns across restarts; a column of its own survives',
  { timeout: 180_000 },
  async () => {
    const source = 'public.regions';
    await pg.query(`CREATE TABLE ${source} (id int PRIMARY KEY, code text, name varchar(20) NOT NULL, pop int)`);
    await pg.query(`INSERT INTO ${source} SELECT g, 'c' || g, 'n' || g, g FROM generate_series(1, 50) g`);
    const checkpoints = new MemoryCheckpointStore();
    const steps = [
      [
        `ALTER TABLE ${source} ADD COLUMN area numeric(10,1)`,
        `UPDATE ${source} SET area = id / 2.0 WHERE id < 10`,
        // two changes in one flush: the rows of each are applied with their own columns
        `ALTER TABLE ${source} DROP COLUMN code`,
        `INSERT INTO ${source} (id, name) VALUES (100, 'hundred')`,
      ],
      [`ALTER TABLE ${source} RENAME COLUMN name TO label`, `UPDATE ${source} SET label = label || '!' WHERE id % 5 = 0`],
      [`ALTER TABLE ${source} ALTER COLUMN pop TYPE bigint`, `UPDATE ${source} SET pop = 9007199254740993 WHERE id = 3`],
      [`ALTER TABLE ${source} ALTER COLUMN label TYPE text`, `UPDATE ${source} SET label = repeat('x', 30) WHERE id = 4`],
    ];
    let run = start(source, 'REGIONS', 'exa_schema', checkpoints);
    try {
      await waitFor(() => run.progress.phase === 'changes' && run.progress.commits > 0, 30_000, 'the snapshot in the target');
      await session.execute(`ALTER TABLE SINKS.REGIONS ADD COLUMN LOADED_AT TIMESTAMP`);
      for (const [i, statements] of steps.entries()) {
        for (const sql of statements) await pg.query(sql);
        const cols = await sourceColumns(source);
        await waitFor(
          async () => (await rowsAsText('"SINKS"."REGIONS"', cols).catch(() => '')) === (await rowsAsText(source, cols)),
          30_000,
          `step ${i + 1} (${statements[0]}) in the target`,
          100,
        );
        if (i % 2 === 0) {
          // a new sink instance knows the target's columns by their comments only
          run.stop();
          await run.done;
          run = start(source, 'REGIONS', 'exa_schema', checkpoints);
        }
      }
    } finally {
      run.stop();
      await run.done.catch(() => {});
    }
    assert.deepEqual(await exasolColumns('REGIONS'), [
      'id DECIMAL(10,0)',
      'label VARCHAR(2000000) UTF8',
      'pop DECIMAL(19,0)',
      'LOADED_AT TIMESTAMP(3)',
      'area DECIMAL(10,1)',
    ]);
  },
);

test('with alterTable: false a schema change stops the Exasol sink naming the statements to run', { timeout: 60_000 }, async () => {
  const source = 'public.cities';
  await pg.query(`CREATE TABLE ${source} (id int PRIMARY KEY, name text)`);
  await pg.query(`INSERT INTO ${source} VALUES (1, 'one')`);
  const run = start(source, 'CITIES', 'exa_noalter', new MemoryCheckpointStore(), false);
  await waitFor(() => run.progress.phase === 'changes' && run.progress.commits > 0, 30_000, 'the snapshot');
  await pg.query(`ALTER TABLE ${source} RENAME COLUMN name TO label`);
  await pg.query(`UPDATE ${source} SET label = 'uno'`);
  await assert.rejects(
    run.done,
    (e: unknown) =>
      ConnectorError.is(e, 'SCHEMA_INCOMPATIBLE') &&
      /RENAME COLUMN "name" TO "label"/.test(e.hint ?? '') &&
      /alterTable/.test(e.hint ?? ''),
  );
  assert.deepEqual(await exasolColumns('CITIES'), ['id DECIMAL(10,0)', 'name VARCHAR(2000000) UTF8']);
  assert.equal(await rowsAsText('"SINKS"."CITIES"', ['id', 'name']), JSON.stringify([{ id: '1', name: 'one' }]));
});
