/**
 * `refstream sync` (the built CLI as a separate process) on a table whose large text values are
 * stored out of line, under the default REPLICA IDENTITY and a concurrent write load where most
 * updates leave the large column unchanged: kill -9 twice mid-stream, restart each time, and
 * the folded jsonl file equals the table; no run stops on an unchanged large value.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../../src/testing/index.js';
import { builtCli, ensureBuiltCli, runBuiltCli } from '../helpers/built-cli.js';
import { exited, waitFor } from '../helpers/process.js';
import { foldJsonl, sortedRows } from '../sinks/fold.js';

/** Random hex, incompressible: 6400 characters, so PostgreSQL stores it out of line. */
const LONG = `(SELECT string_agg(md5(random()::text || g::text), '') FROM generate_series(1, 200) g)`;
let server: TestPostgres;

before(async () => {
  ensureBuiltCli();
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
});

function startWriter(table: string): { stop: () => Promise<number> } {
  let running = true;
  let ops = 0;
  const done = (async () => {
    const client = new pg.Client({ connectionString: server.connectionString });
    await client.connect();
    let next = 301;
    try {
      while (running) {
        const id = 1 + Math.floor(Math.random() * (next - 1));
        const r = Math.random();
        if (r < 0.6) await client.query(`UPDATE ${table} SET price = price + 1 WHERE id = $1`, [id]);
        else if (r < 0.75) await client.query(`UPDATE ${table} SET description = ${LONG} WHERE id = $1`, [id]);
        else if (r < 0.8) await client.query(`UPDATE ${table} SET description = 'short' WHERE id = $1`, [id]);
        else if (r < 0.9) await client.query(`INSERT INTO ${table} VALUES ($1, 1, ${LONG})`, [next++]);
        else await client.query(`DELETE FROM ${table} WHERE id = $1`, [id]);
        ops++;
        await new Promise((res) => setTimeout(res, 2));
      }
    } finally {
      await client.end();
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return ops;
    },
  };
}

test(
  'kill -9 twice mid-stream with unchanged large values (toast: lookup), restarting: the folded output equals the table',
  { timeout: 120_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'refstream-toast-cli-'));
    const jsonl = join(dir, 'out.jsonl');
    const checkpoint = join(dir, 'cp.json');
    const table = 'public.products_toast';
    await server.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, price int NOT NULL, description text)`);
    await server.query(`INSERT INTO ${table} SELECT g, g, ${LONG} FROM generate_series(1, 300) g`);
    const phase = () => {
      if (!existsSync(checkpoint)) return null;
      try {
        return (JSON.parse(readFileSync(checkpoint, 'utf8')) as { checkpoint: { phase: string } }).checkpoint.phase;
      } catch {
        return null;
      }
    };
    const startSync = (extra: string[] = []): { child: ChildProcess; stderr: () => string } => {
      const args = [builtCli, 'sync', '--source', server.connectionString, '--table', table, '--slot', 'toast_cli_slot'];
      args.push('--sink', `jsonl:${jsonl}`, '--checkpoint', checkpoint, '--batch-rows', '50', '--commit-ms', '100', '--log-format', 'json');
      const child = spawn(process.execPath, [...args, ...extra], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
      return { child, stderr: () => err };
    };
    const writer = startWriter(table);
    const errors: string[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const run = startSync();
        await waitFor(() => phase() === 'changes' || run.child.exitCode !== null, 60_000, 'the change phase');
        await new Promise((r) => setTimeout(r, 700 + Math.random() * 1200));
        assert.equal(run.child.exitCode, null, run.stderr().slice(-2000));
        run.child.kill('SIGKILL');
        await exited(run.child);
        errors.push(run.stderr());
      }
    } finally {
      const ops = await writer.stop();
      assert.ok(ops > 100, `${ops} writes`);
    }
    const last = startSync(['--duration', '5']);
    await exited(last.child);
    assert.equal(last.child.exitCode, 0, last.stderr().slice(-2000));
    for (const err of [...errors, last.stderr()]) assert.doesNotMatch(err, /MISSING_TOAST|"level":"error"/);
    const expected = sortedRows(
      await server.query<Record<string, unknown>>(`SELECT id::text AS id, price::text AS price, description FROM ${table}`),
    );
    const folded = foldJsonl(jsonl);
    assert.deepEqual(folded.problems.slice(0, 5), [], 'no (position, key) twice, positions in order');
    const pick = (r: Record<string, unknown>) => ({ id: String(r['id']), price: String(r['price']), description: r['description'] });
    assert.deepEqual(sortedRows(folded.rows.values()).map(pick), expected, 'the folded jsonl file equals the table');
    await server.query(`SELECT pg_drop_replication_slot('toast_cli_slot')`);
  },
);

test('refstream sync --toast identity-full on a table without REPLICA IDENTITY FULL: refused at start with the table, the columns and the ALTER TABLE', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'refstream-toast-cli-refused-'));
  const table = 'public.products_refused';
  await server.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, price int NOT NULL, description text)`);
  await server.query(`INSERT INTO ${table} VALUES (1, 1, ${LONG})`);
  const result = await runBuiltCli(
    [
      'sync',
      '--source',
      server.connectionString,
      '--table',
      table,
      '--sink',
      `jsonl:${join(dir, 'out.jsonl')}`,
      '--toast',
      'identity-full',
    ],
    { cwd: dir },
  );
  assert.notEqual(result.code, 0, result.err);
  const events = result.err
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string; code?: string; message?: string; hint?: string });
  const error = events.find((e) => e.event === 'error');
  assert.equal(error?.code, 'REPLICA_IDENTITY_NOT_FULL', result.err);
  assert.match(error!.message!, /public\.products_refused/);
  assert.match(error!.message!, /column description /);
  assert.match(error!.hint!, /ALTER TABLE "public"\."products_refused" REPLICA IDENTITY FULL;/);
  const [row] = await server.query<{ r: string }>(`SELECT relreplident::text AS r FROM pg_class WHERE oid = '${table}'::regclass`);
  assert.equal(row!.r, 'd');
});
