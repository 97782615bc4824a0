/**
 * `refstream sync --capture trigger` (the built CLI as a separate process) on a server with
 * `wal_level = replica`, under a pgbench-like load (single-row updates, inserts, deletes, key
 * changes, multi-row transactions, transactions that roll back) mixed with long transactions
 * that sleep several seconds before they commit. The reader is killed with SIGKILL at random
 * moments — during the snapshot and during the change stream — and restarted from its
 * checkpoint each time. At the end the folded JSON Lines output equals the table: zero
 * missing, extra or stale rows, positions never going back and no change twice.
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
import { foldJsonl } from '../sinks/fold.js';

const ROWS = 50_000;
const KILLS = 6;
let server: TestPostgres;

before(async () => {
  ensureBuiltCli();
  server = await startPostgres({ walLevel: 'replica', settings: { max_connections: 50 } });
});
after(async () => {
  await server?.stop();
});

const RETRYABLE = new Set(['40P01', '40001', '23505', '55P03']);

/** One writer: pgbench-like transactions on random accounts until `until`. */
async function writer(table: string, id: number, until: number, stats: { ops: number; rollbacks: number }): Promise<void> {
  const c = new pg.Client({ connectionString: server.connectionString });
  await c.connect();
  let next = 1_000_000 * (id + 1);
  const any = () => 1 + Math.floor(Math.random() * ROWS * 1.2);
  try {
    while (Date.now() < until) {
      const r = Math.random();
      try {
        await c.query('BEGIN');
        if (r < 0.55) {
          await c.query(`UPDATE ${table} SET balance = balance + $2 WHERE id = $1`, [any(), Math.floor(Math.random() * 1000) - 500]);
          await c.query(`SELECT balance FROM ${table} WHERE id = $1`, [any()]);
        } else if (r < 0.65) {
          await c.query(`INSERT INTO ${table} (id, balance, note) VALUES ($1, 0, 'new')`, [next++]);
        } else if (r < 0.72) {
          await c.query(`DELETE FROM ${table} WHERE id = $1`, [any()]);
        } else if (r < 0.77) {
          await c.query(`UPDATE ${table} SET id = $2, note = 'moved' WHERE id = $1`, [any(), next++]);
        } else if (r < 0.92) {
          for (let k = 0; k < 5; k++)
            await c.query(`UPDATE ${table} SET balance = balance - 1, note = $2 WHERE id = $1`, [any(), `batch ${k}`]);
        } else {
          await c.query(`UPDATE ${table} SET balance = -1, note = 'rolled back' WHERE id = $1`, [any()]);
          await c.query(`INSERT INTO ${table} (id, balance, note) VALUES ($1, -1, 'rolled back')`, [next++]);
          await c.query('ROLLBACK');
          stats.rollbacks++;
          stats.ops++;
          continue;
        }
        await c.query('COMMIT');
        stats.ops++;
      } catch (error) {
        if (!RETRYABLE.has((error as { code?: string }).code ?? '')) throw error;
        await c.query('ROLLBACK');
        stats.rollbacks++;
      }
    }
  } finally {
    await c.end();
  }
}

/** Long transactions: change a few rows, sleep 2–4 s inside the transaction, then commit (or, one in five, roll back). */
async function longTransactions(table: string, until: number, stats: { long: number }): Promise<void> {
  const c = new pg.Client({ connectionString: server.connectionString });
  await c.connect();
  let next = 9_000_000;
  try {
    while (Date.now() < until) {
      try {
        await c.query('BEGIN');
        await c.query(`INSERT INTO ${table} (id, balance, note) VALUES ($1, 1, 'long')`, [next++]);
        await c.query(`UPDATE ${table} SET note = 'long update' WHERE id = $1`, [1 + Math.floor(Math.random() * ROWS)]);
        await c.query(`SELECT pg_sleep(${2 + Math.random() * 2})`);
        await c.query(`UPDATE ${table} SET balance = balance + 1000 WHERE id = $1`, [1 + Math.floor(Math.random() * ROWS)]);
        await c.query(Math.random() < 0.2 ? 'ROLLBACK' : 'COMMIT');
        stats.long++;
      } catch (error) {
        if (!RETRYABLE.has((error as { code?: string }).code ?? '')) throw error;
        await c.query('ROLLBACK');
      }
    }
  } finally {
    await c.end();
  }
}

test(
  'kill -9 of refstream sync --capture trigger at random moments under load with long transactions: the folded output equals the table',
  { timeout: 300_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'refstream-trigger-kill-'));
    const jsonl = join(dir, 'out.jsonl');
    const checkpoint = join(dir, 'cp.json');
    const table = 'public.accounts';
    await server.query(`CREATE TABLE ${table} (id int8 PRIMARY KEY, balance int8 NOT NULL, note text, doc text)`);
    await server.query(
      `INSERT INTO ${table} SELECT g, 0, 'account ' || g, CASE WHEN g % 100 = 0 THEN repeat(md5(g::text), 200) END FROM generate_series(1, ${ROWS}) g`,
    );
    const installed = await runBuiltCli(['install-triggers', '--source', server.connectionString, '--table', table]);
    assert.equal(installed.code, 0, installed.err);
    assert.match(installed.out, /trigger capture of public\.accounts installed/);

    const phase = () => {
      if (!existsSync(checkpoint)) return null;
      try {
        return (JSON.parse(readFileSync(checkpoint, 'utf8')) as { checkpoint: { phase: string } }).checkpoint.phase;
      } catch {
        return null;
      }
    };
    const startSync = (extra: string[] = []): { child: ChildProcess; stderr: () => string } => {
      const args = [builtCli, 'sync', '--source', server.connectionString, '--table', table, '--capture', 'trigger'];
      args.push(
        '--sink',
        `jsonl:${jsonl}`,
        '--checkpoint',
        checkpoint,
        '--batch-rows',
        '500',
        '--commit-ms',
        '200',
        '--log-format',
        'json',
      );
      const child = spawn(process.execPath, [...args, ...extra], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
      return { child, stderr: () => err };
    };

    const until = Date.now() + 25_000;
    const stats = { ops: 0, rollbacks: 0, long: 0 };
    const load = Promise.all([
      ...[0, 1, 2, 3].map((i) => writer(table, i, until, stats)),
      longTransactions(table, until, stats),
      longTransactions(table, until, stats),
    ]);
    const logs: string[] = [];
    let midSnapshot = 0;
    try {
      for (let i = 0; i < KILLS; i++) {
        // the first run commits every 1000 rows, so that its snapshot leaves checkpoints to resume from
        const run = startSync(i === 0 ? ['--commit-rows', '1000'] : []);
        // the first kill comes during the snapshot, the others at random points of the change stream
        try {
          if (i === 0) await waitFor(() => phase() === 'snapshot' || run.child.exitCode !== null, 30_000, 'a snapshot checkpoint');
          else await waitFor(() => phase() === 'changes' || run.child.exitCode !== null, 60_000, 'the change phase');
        } catch (error) {
          run.child.kill('SIGKILL');
          const activity = await server.query(
            `SELECT pid, state, wait_event, left(query, 100) AS query FROM pg_stat_activity WHERE datname IS NOT NULL`,
          );
          throw new Error(`${(error as Error).message}; sync log: ${run.stderr().slice(-2000)}; server: ${JSON.stringify(activity)}`, {
            cause: error,
          });
        }
        if (i > 0) await new Promise((r) => setTimeout(r, 300 + Math.random() * 2500));
        assert.equal(run.child.exitCode, null, run.stderr().slice(-2000));
        if (phase() === 'snapshot') midSnapshot++;
        run.child.kill('SIGKILL');
        await exited(run.child);
        logs.push(run.stderr());
      }
    } finally {
      await load;
    }
    assert.ok(stats.ops > 500, `${stats.ops} transactions`);
    assert.ok(stats.long >= 6, `${stats.long} long transactions`);
    assert.ok(stats.rollbacks > 10, `${stats.rollbacks} rollbacks`);
    assert.equal(midSnapshot, 1, 'killed once during the snapshot, then during the change stream');
    const last = startSync(['--duration', '6']);
    await exited(last.child);
    assert.equal(last.child.exitCode, 0, last.stderr().slice(-2000));
    for (const err of [...logs, last.stderr()]) assert.doesNotMatch(err, /"level":"error"/);

    const rows = await server.query<{ id: string; balance: string; note: string | null; doc: string | null }>(
      `SELECT id::text AS id, balance::text AS balance, note, doc FROM ${table}`,
    );
    const expected = new Map(rows.map((r) => [r.id, r]));
    const folded = foldJsonl(jsonl);
    assert.deepEqual(folded.problems.slice(0, 5), [], 'positions never go back, no (position, key) twice');
    const got = new Map([...folded.rows.values()].map((r) => [String(r.id), r]));
    const missing: string[] = [];
    const stale: string[] = [];
    const extra: string[] = [];
    for (const [id, row] of expected) {
      const r = got.get(id);
      if (!r) missing.push(id);
      else if (String(r.balance) !== row.balance || r.note !== row.note || r.doc !== row.doc) stale.push(id);
    }
    for (const id of got.keys()) if (!expected.has(id)) extra.push(id);
    assert.deepEqual(
      { missing: missing.slice(0, 10), extra: extra.slice(0, 10), stale: stale.slice(0, 10) },
      { missing: [], extra: [], stale: [] },
    );
    assert.equal(folded.rows.size, expected.size);
    console.log(
      `${stats.ops} transactions (${stats.rollbacks} rolled back), ${stats.long} long ones, ${KILLS} kills (${midSnapshot} mid-snapshot), ${folded.changes} change rows, ${expected.size} rows`,
    );
  },
);
