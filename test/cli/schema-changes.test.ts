/**
 * The migrations a reference table goes through, as a user runs refstream: the built
 * `refstream sync` (a separate process) of a `regions` table into JSON Lines, Arrow IPC and a
 * PostgreSQL table while a writer keeps changing rows and migrations run — columns added (one
 * with a default, which re-seeds the table), dropped, renamed, widened — with kill -9 between
 * two DDL statements. After each step the last Arrow stream has the table's columns; at the end
 * every output folds to the table in its final shape, with no (position, key) twice. A second
 * scenario narrows a type and changes the primary key in re-seed mode.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordBatchReader } from 'apache-arrow';
import { startPostgres, type TestPostgres } from '../../src/testing/index.js';
import { METADATA } from '../../src/sdk/batch.js';
import { builtCli, ensureBuiltCli } from '../helpers/built-cli.js';
import { exited, waitFor as waitForCondition } from '../helpers/process.js';
import { foldArrow, foldJsonl } from '../sinks/fold.js';
import { startBackgroundWriter, type BackgroundWriter } from '../helpers/background-writer.js';

let server: TestPostgres;
/** The sync of the running scenario, whose log a timeout shows. */
let current: { stderr: () => string } | null = null;

/** Waits like waitFor; a timeout shows the end of the running sync's log. */
async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string, intervalMs?: number): Promise<void> {
  try {
    await waitForCondition(condition, timeoutMs, what, intervalMs);
  } catch (error) {
    throw new Error(`${(error as Error).message}\nsync log (tail):\n${current?.stderr().slice(-3000) ?? ''}`, { cause: error });
  }
}

before(async () => {
  ensureBuiltCli();
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
});

/** Updates and inserts a few rows of `table` every few ms until stopped (columns id and pop only, which every step keeps). */
function startWriter(table: string): BackgroundWriter {
  return startBackgroundWriter(server.connectionString, async (client) => {
    const id = 1 + Math.floor(Math.random() * 200);
    if (Math.random() < 0.2) await client.query(`DELETE FROM ${table} WHERE id = $1`, [id]).catch(() => {});
    else await client.query(`UPDATE ${table} SET pop = pop + 1 WHERE id = $1`, [id]).catch(() => {});
  });
}

function startSync(dir: string, table: string, extra: string[]): { child: ChildProcess; stderr: () => string } {
  const child = spawn(
    process.execPath,
    [
      builtCli,
      'sync',
      '--source',
      server.connectionString,
      '--table',
      table,
      '--sink',
      `jsonl:${join(dir, 'out.jsonl')}`,
      '--sink',
      `arrow:${join(dir, 'out.arrow')}`,
      '--sink',
      `${server.connectionString}#copy.${table.split('.')[1]}`,
      '--checkpoint',
      join(dir, 'cp.json'),
      '--commit-ms',
      '100',
      '--log-format',
      'json',
      ...extra,
    ],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  current = { stderr: () => err };
  return { child, stderr: () => err };
}

/** The table's rows as text values by column (what every fold is compared with). */
async function tableText(table: string, key: string[]): Promise<Map<string, Record<string, string | null>>> {
  const rows = await server.query<{ r: Record<string, string | null> }>(
    `SELECT (SELECT json_object_agg(key, value) FROM json_each_text(row_to_json(t))) AS r FROM ${table} t`,
  );
  return new Map(rows.map(({ r }) => [key.map((k) => r[k]).join('|'), r]));
}

function textRows(rows: Iterable<Record<string, unknown>>, key: string[]): Map<string, Record<string, string | null>> {
  const out = new Map<string, Record<string, string | null>>();
  for (const row of rows) {
    const text = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v === null || v === undefined ? null : String(v)]));
    out.set(key.map((k) => text[k]).join('|'), text);
  }
  return out;
}

/** Columns (name and source type) of the last stream of the Arrow file. */
function lastArrowColumns(path: string): string[] {
  let fields: string[] = [];
  for (const reader of RecordBatchReader.readAll(readFileSync(path)))
    for (const batch of reader)
      fields = batch.schema.fields.filter((f) => !f.name.startsWith('_')).map((f) => `${f.name} ${f.metadata.get(METADATA.sourceType)}`);
  return fields;
}

async function tableColumns(table: string): Promise<string[]> {
  const rows = await server.query<{ c: string }>(
    `SELECT attname || ' ' || format_type(atttypid, atttypmod) AS c FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [table],
  );
  return rows.map((r) => r.c);
}

async function assertConverged(dir: string, table: string, key: string[], what: string): Promise<void> {
  const expected = await tableText(table, key);
  const jsonl = foldJsonl(join(dir, 'out.jsonl'));
  const arrow = foldArrow(join(dir, 'out.arrow'));
  assert.deepEqual(jsonl.problems.slice(0, 5), [], `${what}: jsonl positions`);
  assert.deepEqual(arrow.problems.slice(0, 5), [], `${what}: arrow positions`);
  assert.deepEqual(textRows(jsonl.rows.values(), key), expected, `${what}: the folded JSON Lines equal the table`);
  assert.deepEqual(textRows(arrow.rows.values(), key), expected, `${what}: the folded Arrow file equals the table`);
  const copy = await tableText(`copy.${table.split('.')[1]}`, key);
  assert.deepEqual(copy, expected, `${what}: the target table equals the table`);
}

test(
  'migrations under a writer with kill -9 between two DDLs: added (with a default: re-seed), dropped, renamed, widened columns reach every sink',
  { timeout: 240_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'refstream-schema-'));
    const table = 'public.regions';
    await server.query('CREATE SCHEMA IF NOT EXISTS copy');
    await server.query(`CREATE TABLE ${table} (id int PRIMARY KEY, code text NOT NULL, name varchar(40) NOT NULL, pop int NOT NULL)`);
    await server.query(`INSERT INTO ${table} SELECT g, 'C' || g, 'region ' || g, g * 100 FROM generate_series(1, 200) g`);
    const writer = startWriter(table);
    const extra = ['--on-schema-change', 'resnapshot'];
    let run = startSync(dir, table, extra);
    const logs: string[] = [];
    const steps = [
      `ALTER TABLE ${table} ADD COLUMN area numeric(10,1)`,
      `ALTER TABLE ${table} ADD COLUMN active bool NOT NULL DEFAULT true`,
      `ALTER TABLE ${table} DROP COLUMN code`,
      `ALTER TABLE ${table} ALTER COLUMN pop TYPE bigint`,
      `ALTER TABLE ${table} RENAME COLUMN name TO label`,
      `ALTER TABLE ${table} ALTER COLUMN label TYPE text`,
    ];
    try {
      await waitFor(() => run.stderr().includes('"event":"snapshot-complete"') || run.child.exitCode !== null, 30_000, 'the snapshot');
      for (const [i, ddl] of steps.entries()) {
        await server.query(ddl);
        await server.query(`UPDATE ${table} SET pop = pop + 1000 WHERE id % 7 = ${i}`);
        if (i === 2) {
          // kill -9 between two DDL statements, before the stream reached the last one
          await new Promise((r) => setTimeout(r, 200 * Math.random()));
          run.child.kill('SIGKILL');
          await exited(run.child);
          logs.push(run.stderr());
          run = startSync(dir, table, extra);
        }
        await waitFor(
          async () =>
            run.child.exitCode !== null ||
            JSON.stringify(lastArrowColumns(join(dir, 'out.arrow'))) === JSON.stringify(await tableColumns(table)),
          30_000,
          `the Arrow file to have the columns after ${ddl}`,
          200,
        );
        assert.equal(run.child.exitCode, null, run.stderr().slice(-3000));
      }
    } finally {
      const ops = await writer.stop();
      assert.ok(ops > 50, `the writer made ${ops} changes`);
    }
    await new Promise((r) => setTimeout(r, 1500));
    run.child.kill('SIGTERM');
    await exited(run.child);
    assert.equal(run.child.exitCode, 0, run.stderr().slice(-3000));
    const last = startSync(dir, table, [...extra, '--duration', '3']);
    await exited(last.child);
    assert.equal(last.child.exitCode, 0, last.stderr().slice(-3000));
    await assertConverged(dir, table, ['id'], 'after the migrations');
    const warnings = [...logs, run.stderr(), last.stderr()]
      .join('\n')
      .split('\n')
      .filter((l) => /"code":"(SCHEMA_CHANGED|TABLE_RESEEDED)"/.test(l));
    assert.ok(warnings.length >= 3, `schema changes are logged: ${warnings.length}`);
    const status = spawnSync(
      process.execPath,
      [builtCli, 'status', '--source', server.connectionString, '--table', table, '--checkpoint', join(dir, 'cp.json')],
      {
        encoding: 'utf8',
      },
    );
    assert.match(status.stdout, /last schema change at [0-9a-f/]+: .*label/, status.stdout + status.stderr);
  },
);

test(
  're-seed mode: a narrowed type, then a new primary key, under a writer: every output converges with no gap',
  { timeout: 180_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'refstream-reseed-'));
    const table = 'public.zones';
    await server.query('CREATE SCHEMA IF NOT EXISTS copy');
    await server.query(`CREATE TABLE ${table} (id int PRIMARY KEY, code varchar(20) NOT NULL UNIQUE, pop int NOT NULL)`);
    await server.query(`INSERT INTO ${table} SELECT g, 'Z' || g, g FROM generate_series(1, 200) g`);
    const writer = startWriter(table);
    const run = startSync(dir, table, ['--on-schema-change', 'resnapshot']);
    try {
      await waitFor(() => run.stderr().includes('"event":"snapshot-complete"') || run.child.exitCode !== null, 30_000, 'the snapshot');
      await server.query(`ALTER TABLE ${table} ALTER COLUMN code TYPE varchar(10)`);
      await waitFor(() => run.stderr().includes('TABLE_RESEEDED') || run.child.exitCode !== null, 30_000, 'the first re-seed');
      await server.query(`ALTER TABLE ${table} DROP CONSTRAINT zones_pkey, ADD PRIMARY KEY (code)`);
      await server.query(`UPDATE ${table} SET pop = pop + 1 WHERE id < 20`);
      await waitFor(() => run.stderr().split('TABLE_RESEEDED').length > 2 || run.child.exitCode !== null, 30_000, 'the second re-seed');
      assert.equal(run.child.exitCode, null, run.stderr().slice(-3000));
    } finally {
      await writer.stop();
    }
    await new Promise((r) => setTimeout(r, 1500));
    run.child.kill('SIGTERM');
    await exited(run.child);
    assert.equal(run.child.exitCode, 0, run.stderr().slice(-3000));
    await assertConverged(dir, table, ['code'], 'after two re-seeds');
  },
);
