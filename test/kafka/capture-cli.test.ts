/**
 * Several tables into Kafka through the built CLI: one topic per table by template
 * (`kafka://…/cap.{table}`), exactly-once transactions, and every table's checkpoint in one
 * Kafka checkpoint topic. Killed with kill -9 while streaming and restarted, each topic read
 * with read_committed folds to its table.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startKafkaTestBroker, startPostgres, type KafkaTestBroker, type TestPostgres } from '../../src/testing/index.js';
import { builtCli, ensureBuiltCli } from '../helpers/built-cli.js';
import { exited, waitFor } from '../helpers/process.js';

const run = promisify(execFile);
const TABLES = ['kc_a', 'kc_b', 'kc_c'];
let pg: TestPostgres;
let broker: KafkaTestBroker;

before(async () => {
  ensureBuiltCli();
  [pg, broker] = await Promise.all([
    startPostgres(),
    startKafkaTestBroker({ topics: [{ name: 'cap-checkpoints', config: { 'cleanup.policy': 'compact' } }] }),
  ]);
  for (const t of TABLES) {
    await pg.query(`CREATE TABLE public.${t} (id bigint PRIMARY KEY, name text NOT NULL)`);
    await pg.query(`INSERT INTO public.${t} SELECT g, 'n' || g FROM generate_series(1, 300) g`);
  }
});
after(async () => {
  await Promise.all([pg?.stop(), broker?.stop()]);
});

function startSync(dir: string) {
  const child = spawn(
    process.execPath,
    [
      builtCli,
      'sync',
      '--source',
      pg.connectionString,
      '--table',
      'public.kc_*',
      '--slot',
      'kc',
      '--sink',
      `kafka://${broker.bootstrapServers}/cap.{table}?createTopic=true&transactions=true`,
      '--checkpoint',
      `kafka://${broker.bootstrapServers}/cap-checkpoints`,
      '--commit-ms',
      '100',
      '--log-format',
      'json',
    ],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  return {
    child,
    stderr: () => err,
    commits: (t: string) => err.split('\n').filter((l) => l.includes('"event":"commit"') && l.includes(`"public.${t}"`)).length,
  };
}

/** The topic of `table` read with read_committed and folded by key (control records aside). */
async function folded(table: string): Promise<Map<string, string>> {
  const { stdout } = await run(
    'kcat',
    ['-C', '-b', broker.bootstrapServers, '-t', `cap.${table}`, '-e', '-J', '-q', '-X', 'isolation.level=read_committed'],
    { maxBuffer: 64 << 20 },
  );
  const state = new Map<string, string>();
  for (const line of stdout.split('\n').filter((l) => l.trim() !== '')) {
    const r = JSON.parse(line) as { key: string | null; payload: string | null; headers?: string[] };
    if ((r.headers ?? []).includes('refstream-control')) continue;
    const id = (JSON.parse(r.key!) as { id: string }).id;
    if (r.payload === null) state.delete(id);
    else state.set(id, (JSON.parse(r.payload) as { name: string }).name);
  }
  return state;
}

async function tableState(table: string): Promise<Map<string, string>> {
  const rows = await pg.query<{ id: string; name: string }>(`SELECT id::text AS id, name FROM public.${table}`);
  return new Map(rows.map((r) => [r.id, r.name]));
}

test(
  'three tables into one topic each with transactions, checkpoints in one Kafka topic, kill -9 and restart: each topic folds to its table',
  { timeout: 120_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'refstream-kafka-capture-'));
    const first = startSync(dir);
    await waitFor(() => TABLES.every((t) => first.commits(t) >= 2) || first.child.exitCode !== null, 60_000, 'every table committing');
    assert.equal(first.child.exitCode, null, first.stderr().slice(-3000));
    for (const [i, t] of TABLES.entries()) {
      await pg.query(`UPDATE public.${t} SET name = name || '!' WHERE id % ${i + 2} = 0`);
      await pg.query(`DELETE FROM public.${t} WHERE id % ${i + 5} = 0`);
    }
    await new Promise((r) => setTimeout(r, 300));
    first.child.kill('SIGKILL');
    await exited(first.child);
    for (const t of TABLES) await pg.query(`INSERT INTO public.${t} SELECT g, 'late' || g FROM generate_series(1000, 1100) g`);

    const second = startSync(dir);
    try {
      for (const t of TABLES) {
        const expected = await tableState(t);
        await waitFor(
          async () => {
            const got = await folded(t);
            return got.size === expected.size && [...expected].every(([k, v]) => got.get(k) === v);
          },
          60_000,
          `topic cap.${t} to fold to the table`,
          500,
        );
      }
    } finally {
      second.child.kill('SIGTERM');
      await exited(second.child);
    }
    assert.equal(second.child.exitCode, 0, second.stderr().slice(-3000));
  },
);
