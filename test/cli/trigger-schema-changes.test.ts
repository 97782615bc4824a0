/**
 * `refstream sync --capture trigger` (the built CLI as a separate process) of a `regions`
 * table into JSON Lines on a server with `wal_level = replica`, while a writer keeps changing
 * rows and migrations run: a column dropped, then — with the sync killed with SIGKILL between
 * the two DDL statements and restarted from its checkpoint — a column renamed and one widened
 * (int → bigint). The folded output equals the table in its final shape, with no position
 * going back, and the schema changes are logged and shown by `refstream status`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type TestPostgres } from '../../src/testing/index.js';
import { builtCli, ensureBuiltCli, runBuiltCli } from '../helpers/built-cli.js';
import { startCliSync, type CliSync } from '../helpers/cli-sync.js';
import { exited, waitFor } from '../helpers/process.js';
import { foldJsonl } from '../sinks/fold.js';
import { startBackgroundWriter, type BackgroundWriter } from '../helpers/background-writer.js';

let server: TestPostgres;

before(async () => {
  ensureBuiltCli();
  server = await startPostgres({ walLevel: 'replica' });
});
after(async () => {
  await server?.stop();
});

/** Updates and deletes rows of `table` every few ms until stopped (columns id and pop only, which every step keeps). */
function startWriter(table: string): BackgroundWriter {
  return startBackgroundWriter(server.connectionString, async (client) => {
    const id = 1 + Math.floor(Math.random() * 200);
    if (Math.random() < 0.1) await client.query(`DELETE FROM ${table} WHERE id = $1`, [id]);
    else await client.query(`UPDATE ${table} SET pop = pop + 1 WHERE id = $1`, [id]);
  });
}

/** The table's rows as text values by key. */
async function tableText(table: string): Promise<Map<string, Record<string, string | null>>> {
  const rows = await server.query<{ r: Record<string, string | null> }>(
    `SELECT (SELECT json_object_agg(key, value) FROM json_each_text(row_to_json(t))) AS r FROM ${table} t`,
  );
  return new Map(rows.map(({ r }) => [String(r['id']), r]));
}

function textRows(rows: Iterable<Record<string, unknown>>): Map<string, Record<string, string | null>> {
  const out = new Map<string, Record<string, string | null>>();
  for (const row of rows) {
    const text = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v === null || v === undefined ? null : String(v)]));
    out.set(String(text['id']), text);
  }
  return out;
}

test(
  'refstream sync --capture trigger across a dropped column, a kill -9, a renamed and a widened column: the folded JSON Lines equal the table',
  { timeout: 180_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'refstream-trigger-schema-'));
    const jsonl = join(dir, 'out.jsonl');
    const checkpoint = join(dir, 'cp.json');
    const table = 'public.regions';
    await server.query(`CREATE TABLE ${table} (id int PRIMARY KEY, code text NOT NULL, name varchar(40) NOT NULL, pop int NOT NULL)`);
    await server.query(`INSERT INTO ${table} SELECT g, 'C' || g, 'region ' || g, g * 100 FROM generate_series(1, 200) g`);
    const installed = await runBuiltCli(['install-triggers', '--source', server.connectionString, '--table', table]);
    assert.equal(installed.code, 0, installed.err);
    const args = [
      '--source',
      server.connectionString,
      '--table',
      table,
      '--capture',
      'trigger',
      '--sink',
      `jsonl:${jsonl}`,
      '--checkpoint',
      checkpoint,
      '--commit-ms',
      '100',
    ];
    const logs: string[] = [];
    const writer = startWriter(table);
    let run: CliSync = startCliSync(args);
    const converged = async (): Promise<boolean> => {
      try {
        const folded = foldJsonl(jsonl);
        return JSON.stringify([...textRows(folded.rows.values())].sort()) === JSON.stringify([...(await tableText(table))].sort());
      } catch {
        return false; // a line being written
      }
    };
    try {
      await waitFor(() => run.stderr().includes('"event":"snapshot-complete"') || run.child.exitCode !== null, 30_000, 'the snapshot');
      await server.query(`ALTER TABLE ${table} DROP COLUMN code`);
      await server.query(`UPDATE ${table} SET pop = pop + 1000 WHERE id % 7 = 0`);
      await waitFor(() => run.stderr().includes('- code') || run.child.exitCode !== null, 30_000, 'the drop to be followed');
      await new Promise((r) => setTimeout(r, 300 * Math.random()));
      // kill -9 between the two DDL statements; the next one runs while no sync does
      run.child.kill('SIGKILL');
      await exited(run.child);
      logs.push(run.stderr());
      await server.query(`UPDATE ${table} SET pop = pop + 1000 WHERE id % 7 = 1`);
      await server.query(`ALTER TABLE ${table} RENAME COLUMN name TO label`);
      await server.query(`UPDATE ${table} SET label = label || '!' WHERE id % 7 = 2`);
      run = startCliSync(args);
      await server.query(`ALTER TABLE ${table} ALTER COLUMN pop TYPE bigint`);
      await server.query(`UPDATE ${table} SET pop = pop + 5000000000 WHERE id % 7 = 3`);
      await waitFor(
        () => run.stderr().includes('pop integer → bigint') || run.child.exitCode !== null,
        30_000,
        'the widening to be followed',
      );
      assert.equal(run.child.exitCode, null, run.stderr().slice(-3000));
    } finally {
      const ops = await writer.stop();
      assert.ok(ops > 50, `the writer made ${ops} changes`);
    }
    await waitFor(converged, 30_000, 'the folded output to equal the table', 250).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\nsync log (tail):\n${run.stderr().slice(-3000)}`, { cause: error });
    });
    run.child.kill('SIGTERM');
    await exited(run.child);
    assert.equal(run.child.exitCode, 0, run.stderr().slice(-3000));
    const folded = foldJsonl(jsonl);
    assert.deepEqual(folded.problems.slice(0, 5), [], 'positions never go back, no change twice');
    assert.deepEqual(textRows(folded.rows.values()), await tableText(table), 'the folded JSON Lines equal the table');
    assert.deepEqual(Object.keys([...folded.rows.values()][0]!).sort(), ['id', 'label', 'pop'], 'the final shape');
    const changes = [...logs, run.stderr()]
      .join('\n')
      .split('\n')
      .filter((l) => l.includes('"code":"SCHEMA_CHANGED"'));
    for (const line of [/- code/, /name → label/, /pop integer → bigint/])
      assert.ok(
        changes.some((c) => line.test(c)),
        `logged: ${line}`,
      );
    const status = spawnSync(
      process.execPath,
      [builtCli, 'status', '--source', server.connectionString, '--table', table, '--checkpoint', checkpoint],
      { encoding: 'utf8' },
    );
    assert.match(status.stdout, /last schema change at .*: .*(label|pop)/, status.stdout + status.stderr);
  },
);
