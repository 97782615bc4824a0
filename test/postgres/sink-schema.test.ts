/**
 * PostgresTableSink following the source's schema changes: a PostgreSQL table synced into
 * another table while columns are added, dropped, renamed and widened, with the sync (and so
 * the sink) restarted between changes. The target ends equal to the source, a column the user
 * added to the target survives, and with alterTable off the first change is refused with the
 * statements to run.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { PostgresSource, PostgresTableSink } from '../../src/connectors/postgres/index.js';
import { sync } from '../../src/sdk/sync.js';
import { MemoryCheckpointStore } from '../../src/sdk/checkpoint-store.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { eventually, uniqueName } from './helpers.js';

let server: TestPostgres;
before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
});

async function columns(table: string): Promise<string[]> {
  const rows = await server.query<{ c: string }>(
    `SELECT attname || ' ' || format_type(atttypid, atttypmod) AS c FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [table],
  );
  return rows.map((r) => r.c);
}

async function rows(table: string, cols: string): Promise<string> {
  return JSON.stringify(await server.query(`SELECT ${cols} FROM ${table} ORDER BY id`));
}

test(
  'the target follows added, dropped, renamed and widened columns across restarts; a column of its own survives',
  { timeout: 120_000 },
  async () => {
    const source = `public.${uniqueName('src')}`;
    const target = `public.${uniqueName('dst')}`;
    const slot = uniqueName('sink_schema');
    await server.query(`CREATE TABLE ${source} (id int PRIMARY KEY, code text, name varchar(20) NOT NULL, pop int)`);
    await server.query(`INSERT INTO ${source} SELECT g, 'c' || g, 'n' || g, g FROM generate_series(1, 50) g`);
    const checkpoints = new MemoryCheckpointStore();
    const start = () =>
      sync({
        source: () => new PostgresSource({ connectionString: server.connectionString, table: source, slot, maxWaitMs: 100 }),
        sinks: [new PostgresTableSink({ connectionString: server.connectionString, table: target })],
        checkpoints,
        commitEvery: { ms: 50 },
      });
    const steps = [
      { ddl: `ALTER TABLE ${source} ADD COLUMN area numeric(10,1)`, dml: `UPDATE ${source} SET area = id / 2.0 WHERE id < 10` },
      { ddl: `ALTER TABLE ${source} DROP COLUMN code`, dml: `INSERT INTO ${source} (id, name) VALUES (100, 'hundred')` },
      { ddl: `ALTER TABLE ${source} RENAME COLUMN name TO label`, dml: `UPDATE ${source} SET label = label || '!' WHERE id % 5 = 0` },
      { ddl: `ALTER TABLE ${source} ALTER COLUMN pop TYPE bigint`, dml: `UPDATE ${source} SET pop = 9007199254740993 WHERE id = 3` },
      { ddl: `ALTER TABLE ${source} ALTER COLUMN label TYPE text`, dml: `UPDATE ${source} SET label = repeat('x', 30) WHERE id = 4` },
    ];
    let run = start();
    try {
      await eventually(async () => run.progress.phase === 'changes' && run.progress.commits > 0, 20_000, 'the snapshot in the target');
      await server.query(`ALTER TABLE ${target} ADD COLUMN loaded_at timestamptz DEFAULT now()`);
      for (const [i, step] of steps.entries()) {
        await server.query(step.ddl);
        await server.query(step.dml);
        const cols = (await columns(source)).map((c) => c.split(' ')[0]!).join(', ');
        await eventually(
          async () => {
            const targetCols = (await columns(target)).filter((c) => !c.startsWith('loaded_at'));
            return (
              JSON.stringify(targetCols) === JSON.stringify(await columns(source)) &&
              (await rows(target, cols)) === (await rows(source, cols))
            );
          },
          20_000,
          `step ${i + 1} (${step.ddl}) in the target`,
        );
        if (i % 2 === 0) {
          // a new sink instance knows the target's columns by their comments only
          run.stop();
          await run.done;
          run = start();
        }
      }
      assert.ok(
        (await columns(target)).some((c) => c.startsWith('loaded_at ')),
        'the column the user added is kept',
      );
    } finally {
      run.stop();
      await run.done.catch(() => {});
    }
  },
);

test('with alterTable: false a schema change stops the sink naming the statements to run', { timeout: 60_000 }, async () => {
  const source = `public.${uniqueName('src')}`;
  const target = `public.${uniqueName('dst')}`;
  await server.query(`CREATE TABLE ${source} (id int PRIMARY KEY, name text)`);
  await server.query(`INSERT INTO ${source} VALUES (1, 'one')`);
  const run = sync({
    source: () =>
      new PostgresSource({ connectionString: server.connectionString, table: source, slot: uniqueName('noalter'), maxWaitMs: 100 }),
    sinks: [new PostgresTableSink({ connectionString: server.connectionString, table: target, alterTable: false })],
    commitEvery: { ms: 50 },
  });
  await eventually(async () => run.progress.phase === 'changes' && run.progress.commits > 0, 20_000, 'the snapshot');
  await server.query(`ALTER TABLE ${source} RENAME COLUMN name TO label`);
  await server.query(`UPDATE ${source} SET label = 'uno'`);
  await assert.rejects(
    run.done,
    (e: unknown) =>
      ConnectorError.is(e, 'SCHEMA_INCOMPATIBLE') &&
      /RENAME COLUMN "?name"? TO "?label"?/.test(e.hint ?? '') &&
      /alterTable/.test(e.hint ?? ''),
  );
});
