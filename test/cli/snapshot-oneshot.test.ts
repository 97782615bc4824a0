/**
 * `refstream snapshot` through the built CLI (a separate process): whatever ends the process —
 * success, a failing sink, a missing table, kill -9, Ctrl-C — the server keeps no replication
 * slot, no publication and no refstream connection, and no checkpoint is written unless asked.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { exited, waitFor } from '../helpers/process.js';

const CLI = resolve('dist/cli.js');
const BIG_ROWS = 400_000;
let pg: TestPostgres;
const dir = mkdtempSync(join(tmpdir(), 'refstream-snapshot-'));

before(async () => {
  assert.ok(existsSync(CLI), 'build the CLI first: ./node_modules/.bin/tsup');
  pg = await startPostgres();
  await pg.query(`CREATE TABLE public.small (id int8 PRIMARY KEY, name text NOT NULL, note text)`);
  await pg.query(
    `INSERT INTO public.small SELECT g, 'name ' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END FROM generate_series(1, 1000) g`,
  );
  await pg.query(`CREATE TABLE public.big (id int8 PRIMARY KEY, name text NOT NULL, amount numeric(12,2) NOT NULL, note text)`);
  await pg.query(`INSERT INTO public.big SELECT g, repeat('x', 40) || g, g * 0.01, 'note ' || g FROM generate_series(1, ${BIG_ROWS}) g`);
});
after(async () => {
  await pg?.stop();
});

/** Fails unless the server holds nothing of refstream: no slot, no publication, no session. */
async function assertNothingLeft(what: string): Promise<void> {
  // a killed client's backend ends once the server notices the closed socket
  await waitFor(
    async () => (await pg.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'refstream'`)).length === 0,
    10_000,
    `refstream sessions to end after ${what}`,
  );
  assert.deepEqual(await pg.query('SELECT slot_name, temporary FROM pg_replication_slots'), [], `replication slots after ${what}`);
  assert.deepEqual(await pg.query('SELECT pubname FROM pg_publication'), [], `publications after ${what}`);
}

function snapshotArgs(table: string, sink: string, extra: string[] = []): string[] {
  return [CLI, 'snapshot', '--source', pg.connectionString, '--table', table, '--sink', sink, '--log-format', 'json', ...extra];
}

function runSnapshot(args: string[], cwd: string): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr };
}

function snapshotLines(path: string): Array<{ op: string; row: Record<string, string | null> }> {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { op: string; row: Record<string, string | null> })
    .filter((l) => l.op === 'snapshot');
}

test('a successful snapshot writes the table, leaves nothing on the server and writes no checkpoint', async () => {
  const cwd = join(dir, 'success');
  mkdirSync(cwd);
  const out = join(cwd, 'out.jsonl');
  const r = runSnapshot(snapshotArgs('public.small', `jsonl:${out}`), cwd);
  assert.equal(r.status, 0, r.stderr);
  const expected = await pg.query<{ id: string; name: string; note: string | null }>(
    'SELECT id::text AS id, name, note FROM public.small ORDER BY small.id',
  );
  const rows = snapshotLines(out)
    .map((l) => l.row)
    .sort((a, b) => Number(a.id) - Number(b.id));
  assert.deepEqual(
    rows,
    expected.map((e) => ({ id: e.id, name: e.name, note: e.note })),
  );
  assert.equal(existsSync(join(cwd, '.refstream')), false, 'no default checkpoint directory');
  await assertNothingLeft('a successful snapshot');
});

test('a snapshot whose sink cannot be written fails and leaves nothing', async () => {
  const cwd = join(dir, 'bad-sink');
  mkdirSync(join(cwd, 'adir'), { recursive: true });
  const r = runSnapshot(snapshotArgs('public.small', `jsonl:${join(cwd, 'adir')}`), cwd);
  assert.notEqual(r.status, 0, r.stderr);
  assert.ok(statSync(join(cwd, 'adir')).isDirectory());
  await assertNothingLeft('a failing sink');
});

test('a snapshot of a missing table fails with TABLE_NOT_FOUND and leaves nothing', async () => {
  const cwd = join(dir, 'missing');
  mkdirSync(cwd);
  const r = runSnapshot(snapshotArgs('public.does_not_exist', `jsonl:${join(cwd, 'out.jsonl')}`), cwd);
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /TABLE_NOT_FOUND/);
  await assertNothingLeft('a missing table');
});

/** Starts a snapshot of the big table and resolves once some rows are written (mid-snapshot). */
async function startBigSnapshot(cwd: string): Promise<{ child: ChildProcess; out: string }> {
  const out = join(cwd, 'big.jsonl');
  const child = spawn(process.execPath, snapshotArgs('public.big', `jsonl:${out}`, ['--batch-rows', '5000']), {
    cwd,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  await waitFor(() => existsSync(out) && statSync(out).size > 100_000, 30_000, `the snapshot to write rows (${stderr})`, 20);
  assert.equal(child.exitCode, null, `the snapshot finished before it could be interrupted: ${stderr}`);
  return { child, out };
}

test('kill -9 in the middle of a snapshot leaves nothing on the server', async () => {
  const cwd = join(dir, 'kill');
  mkdirSync(cwd);
  const { child, out } = await startBigSnapshot(cwd);
  assert.ok(
    await pg.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'refstream'`).then((r) => r.length > 0),
    'the snapshot holds a session while it runs',
  );
  child.kill('SIGKILL');
  await exited(child);
  assert.equal(child.signalCode, 'SIGKILL');
  assert.ok(snapshotLines(out).length < BIG_ROWS, 'killed before the end');
  await assertNothingLeft('kill -9');
});

test('Ctrl-C in the middle of a snapshot stops it and leaves nothing on the server', async () => {
  const cwd = join(dir, 'sigint');
  mkdirSync(cwd);
  const { child } = await startBigSnapshot(cwd);
  child.kill('SIGINT');
  await exited(child);
  assert.equal(child.exitCode, 0, 'a Ctrl-C is a graceful stop');
  assert.equal(existsSync(join(cwd, '.refstream')), false, 'no default checkpoint directory');
  await assertNothingLeft('Ctrl-C');
});

test('--checkpoint: the snapshot writes one; run again on a completed checkpoint it fails at once with a hint', async () => {
  const cwd = join(dir, 'checkpointed');
  mkdirSync(cwd);
  const cp = join(cwd, 'cp.json');
  const first = runSnapshot(snapshotArgs('public.small', `jsonl:${join(cwd, 'a.jsonl')}`, ['--checkpoint', cp]), cwd);
  assert.equal(first.status, 0, first.stderr);
  const saved = JSON.parse(readFileSync(cp, 'utf8')) as {
    checkpoint: { phase: string; position: { slot: null; source: { database: string } } };
  };
  assert.equal(saved.checkpoint.phase, 'changes');
  assert.equal(saved.checkpoint.position.slot, null);
  assert.equal(saved.checkpoint.position.source.database, 'postgres');
  const started = Date.now();
  const second = runSnapshot(snapshotArgs('public.small', `jsonl:${join(cwd, 'b.jsonl')}`, ['--checkpoint', cp]), cwd);
  assert.equal(second.status, 2, second.stderr);
  assert.ok(Date.now() - started < 20_000, 'does not stream');
  assert.match(second.stderr, /CHECKPOINT_INVALID/);
  assert.match(second.stderr, /delete the checkpoint or pass another --checkpoint/);
  assert.equal(existsSync(join(cwd, 'b.jsonl')), false, 'no output was opened');
  await assertNothingLeft('a second snapshot on a completed checkpoint');
});

test("a sync's checkpoint given to snapshot is refused, not streamed from", async () => {
  const cwd = join(dir, 'sync-checkpoint');
  mkdirSync(cwd);
  const cp = join(cwd, 'sync.cp.json');
  const sync = spawnSync(
    process.execPath,
    [
      CLI,
      'sync',
      '--source',
      pg.connectionString,
      '--table',
      'public.small',
      '--slot',
      'oneshot_sync',
      '--sink',
      `jsonl:${join(cwd, 's.jsonl')}`,
      '--checkpoint',
      cp,
      '--duration',
      '2',
      '--log-format',
      'json',
    ],
    { cwd, encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(sync.status, 0, sync.stderr);
  try {
    const r = runSnapshot(snapshotArgs('public.small', `jsonl:${join(cwd, 'snap.jsonl')}`, ['--checkpoint', cp]), cwd);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /past its snapshot/);
    // a sync's snapshot-phase checkpoint belongs to its slot: a mismatch
    const snapshotPhase = JSON.parse(readFileSync(cp, 'utf8')) as { checkpoint: Record<string, unknown> };
    snapshotPhase.checkpoint.phase = 'snapshot';
    snapshotPhase.checkpoint.position = { slot: 'oneshot_sync', snapshotLsn: null, snapshotXids: null, columns: null, ranges: null };
    writeFileSync(cp, JSON.stringify(snapshotPhase));
    const m = runSnapshot(snapshotArgs('public.small', `jsonl:${join(cwd, 'snap2.jsonl')}`, ['--checkpoint', cp]), cwd);
    assert.equal(m.status, 2, m.stderr);
    assert.match(m.stderr, /CHECKPOINT_MISMATCH/);
  } finally {
    await pg.query(`SELECT pg_drop_replication_slot('oneshot_sync')`);
    await pg.query(`DROP PUBLICATION IF EXISTS refstream_public_small`);
  }
});

test('snapshot refuses --slot and --publication: it uses neither', () => {
  const r = runSnapshot(snapshotArgs('public.small', 'memory', ['--slot', 'x']), dir);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /no replication slot/);
});
