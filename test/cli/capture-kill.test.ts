/**
 * Many tables through one replication slot, as a user runs it: the built `refstream sync
 * --table 'public.cap_*' --slot …` (a separate process) over 20 tables with a pgbench-like load
 * on six of them, killed with kill -9 at random moments during the initial snapshots and while
 * streaming, and restarted. A table created meanwhile that matches the pattern joins at the next
 * start under load. Throughout, the server holds exactly one refstream slot (temporary slots
 * aside, which mark an added table's snapshot and vanish with their connection). At the end every
 * table's JSON Lines file folds to the table, with no (position, key) twice.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type TestPostgres } from '../../src/testing/index.js';
import { builtCli, ensureBuiltCli } from '../helpers/built-cli.js';
import { exited, waitFor } from '../helpers/process.js';
import { foldJsonl, sortedRows } from '../sinks/fold.js';
import { startBackgroundWriter, type BackgroundWriter } from '../helpers/background-writer.js';

const TABLES = 20;
const BUSY = 6;
const SLOT = 'capk';
let server: TestPostgres;
let dir = '';

const tableName = (i: number) => `cap_${String(i).padStart(2, '0')}`;

before(async () => {
  ensureBuiltCli();
  server = await startPostgres({ settings: { max_wal_senders: 20, max_replication_slots: 20 } });
  dir = mkdtempSync(join(tmpdir(), 'refstream-capture-kill-'));
  for (let i = 0; i < TABLES; i++) await createTable(tableName(i), i < BUSY ? 60_000 : 200 + i * 50);
});
after(async () => {
  await server?.stop();
});

async function createTable(name: string, rows: number): Promise<void> {
  await server.query(`CREATE TABLE public.${name} (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2) NOT NULL, note text)`);
  await server.query(
    `INSERT INTO public.${name} SELECT g, 'name ' || g, g * 0.25, CASE WHEN g % 5 = 0 THEN NULL ELSE repeat('x', g % 30) END FROM generate_series(1, ${rows}) g`,
  );
}

/** Small transactions over `tables` (insert, update, delete, sometimes two tables at once) until stopped. */
function startWriter(tables: () => string[]): BackgroundWriter {
  return startBackgroundWriter(
    server.connectionString,
    async (client, ops) => {
      const names = tables();
      const pickTable = () => names[Math.floor(Math.random() * names.length)]!;
      await client.query('BEGIN');
      for (let k = Math.random() < 0.3 ? 2 : 1; k > 0; k--) {
        const t = pickTable();
        const id = 1 + Math.floor(Math.random() * 25_000);
        const r = Math.random();
        if (r < 0.35)
          await client.query(`INSERT INTO public.${t} VALUES ($1, $2, $3, NULL) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name`, [
            id,
            `ins ${ops}`,
            (Math.random() * 1000).toFixed(2),
          ]);
        else if (r < 0.8)
          await client.query(`UPDATE public.${t} SET name = $2, amount = amount + 1, note = $3 WHERE id = $1`, [
            id,
            `upd ${ops}`,
            `n${ops}`,
          ]);
        else await client.query(`DELETE FROM public.${t} WHERE id = $1`, [id]);
      }
      await client.query('COMMIT');
    },
    2,
  );
}

function startSync(extra: string[] = []): { child: ChildProcess; stderr: () => string } {
  const child = spawn(
    process.execPath,
    [
      builtCli,
      'sync',
      '--source',
      server.connectionString,
      '--table',
      'public.cap_*',
      '--slot',
      SLOT,
      '--sink',
      `jsonl:${join(dir, 'out', '{table}.jsonl')}`,
      '--checkpoint',
      join(dir, 'cp', '{schema}.{table}.json'),
      '--parallelism',
      '2',
      '--batch-rows',
      '2000',
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
  return { child, stderr: () => err };
}

function phaseOf(table: string): 'snapshot' | 'changes' | null {
  const path = join(dir, 'cp', `public.${table}.json`);
  if (!existsSync(path)) return null;
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { checkpoint: { phase: 'snapshot' | 'changes' } }).checkpoint.phase;
  } catch {
    return null;
  }
}

/** Persistent replication slots on the server (a capture's added table uses a temporary one for its snapshot). */
async function persistentSlots(): Promise<string[]> {
  const rows = await server.query<{ slot_name: string }>('SELECT slot_name FROM pg_replication_slots WHERE NOT temporary ORDER BY 1');
  return rows.map((r) => r.slot_name);
}

test(
  '20 tables from one slot under load, kill -9 during the snapshots and while streaming, a table added by pattern: every file folds to its table',
  { timeout: 300_000 },
  async () => {
    const tables = Array.from({ length: TABLES }, (_, i) => tableName(i));
    const busy = tables.slice(0, BUSY);
    const writers = [startWriter(() => busy), startWriter(() => busy)];
    const log: string[] = [];
    const slotSamples = new Set<string>();
    const sampler = setInterval(() => {
      void persistentSlots().then(
        (slots) => slotSamples.add(JSON.stringify(slots)),
        () => {},
      );
    }, 100);
    try {
      // kill -9 twice while the initial snapshots run
      for (let kill = 0; kill < 2; kill++) {
        const run = startSync();
        await waitFor(() => tables.some((t) => phaseOf(t) !== null) || run.child.exitCode !== null, 60_000, 'a first commit');
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 500));
        assert.equal(run.child.exitCode, null, run.stderr().slice(-3000));
        const streaming = tables.filter((t) => phaseOf(t) === 'changes').length;
        assert.ok(streaming < tables.length, 'killed while snapshots were still running');
        log.push(`kill -9 with ${streaming} tables streaming`);
        run.child.kill('SIGKILL');
        await exited(run.child);
      }
      // kill -9 three times while streaming
      for (let kill = 0; kill < 3; kill++) {
        const run = startSync();
        await waitFor(() => tables.every((t) => phaseOf(t) === 'changes') || run.child.exitCode !== null, 120_000, 'every table streaming');
        assert.equal(run.child.exitCode, null, run.stderr().slice(-3000));
        await new Promise((r) => setTimeout(r, 300 + Math.random() * 1200));
        run.child.kill('SIGKILL');
        await exited(run.child);
        log.push('kill -9 while streaming');
        if (kill === 0) {
          // a new table matching the pattern, written to from now on: the next start adds it
          await createTable('cap_new', 5000);
          tables.push('cap_new');
          busy.push('cap_new');
        }
      }
    } finally {
      const ops = await Promise.all(writers.map((w) => w.stop()));
      log.push(`writers: ${ops.join(' + ')} transactions`);
    }
    // catch up, then stop gracefully
    const last = startSync();
    await waitFor(() => tables.every((t) => phaseOf(t) === 'changes') || last.child.exitCode !== null, 120_000, 'every table streaming');
    await new Promise((r) => setTimeout(r, 4000));
    last.child.kill('SIGTERM');
    await exited(last.child);
    clearInterval(sampler);
    assert.equal(last.child.exitCode, 0, last.stderr().slice(-3000));

    // before the first start there is none; from then on exactly the capture's
    for (const sample of slotSamples)
      assert.ok(sample === '[]' || sample === JSON.stringify([SLOT]), `only the capture's slot, ever: ${[...slotSamples].join(' ')}`);
    assert.deepEqual(await persistentSlots(), [SLOT]);
    for (const t of tables) {
      const rows = await server.query<Record<string, unknown>>(
        `SELECT id::text AS id, name, amount::text AS amount, note FROM public.${t}`,
      );
      const folded = foldJsonl(join(dir, 'out', `${t}.jsonl`));
      assert.deepEqual(folded.problems.slice(0, 5), [], `${t}: no (position, key) twice, positions in order`);
      const got = sortedRows(folded.rows.values()).map((r) => ({ id: r['id'], name: r['name'], amount: r['amount'], note: r['note'] }));
      assert.deepEqual(got, sortedRows(rows), `${t} folds to the table; ${log.join('; ')}`);
    }
    console.log(log.join('; '));
  },
);
