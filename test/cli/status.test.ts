/**
 * `refstream status` through the built CLI against a real PostgreSQL: a slot held by a running
 * `refstream sync` process, the same slot after the sync stopped, and a slot the server
 * invalidated (small max_slot_wal_keep_size, WAL generated past it), which `refstream drop`
 * then removes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type TestPostgres } from '../../src/testing/index.js';
import type { StatusReport } from '../../src/cli/status.js';
import { ensureBuiltCli, runBuiltCli, spawnCli } from '../helpers/built-cli.js';
import { exited, waitFor } from '../helpers/process.js';

let pg: TestPostgres;
const dir = mkdtempSync(join(tmpdir(), 'refstream-status-'));

before(async () => {
  ensureBuiltCli();
  pg = await startPostgres({ password: 'st-Secret-9', settings: { max_slot_wal_keep_size: '1MB' } });
  await pg.query('CREATE TABLE public.live (id int8 PRIMARY KEY, v text)');
  await pg.query("INSERT INTO public.live SELECT g, 'v' || g FROM generate_series(1, 100) g");
  await pg.query('CREATE TABLE public.churn (id serial PRIMARY KEY, pad text)');
});
after(async () => {
  await pg?.stop();
});

async function statusJson(...args: string[]): Promise<StatusReport> {
  const result = await runBuiltCli(['status', '--source', pg.connectionString, '--json', ...args]);
  assert.equal(result.code, 0, result.err);
  assert.ok(!result.out.includes('st-Secret-9') && !result.err.includes('st-Secret-9'));
  return JSON.parse(result.out) as StatusReport;
}

test('status shows an active slot with its pid, then the same slot inactive with the checkpoint beside it', async () => {
  const checkpoint = join(dir, 'live.checkpoint.json');
  const child = spawnCli([
    'sync',
    '--source',
    pg.connectionString,
    '--table',
    'public.live',
    '--sink',
    'memory',
    '--checkpoint',
    checkpoint,
    '--log-format',
    'json',
    '--commit-ms',
    '200',
  ]);
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  child.stdout!.resume();
  try {
    await waitFor(
      async () => (await pg.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'refstream_public_live' AND active")).length > 0,
      30_000,
      `an active slot (sync stderr: ${err})`,
    );
    const [walsender] = await pg.query<{ pid: number }>("SELECT pid FROM pg_stat_replication WHERE application_name = 'refstream'");
    const active = await statusJson();
    const slot = active.slots.find((s) => s.slot === 'refstream_public_live');
    assert.ok(slot, JSON.stringify(active));
    assert.equal(slot.active, true);
    assert.equal(slot.activePid, walsender!.pid);
    assert.equal(slot.plugin, 'pgoutput');
    assert.equal(slot.walStatus, 'reserved');
    assert.equal(typeof slot.retainedBytes, 'number');
    assert.equal(typeof slot.lagBytes, 'number');
    assert.match(slot.confirmedFlushLsn!, /^[0-9A-F]+\/[0-9A-F]+$/);
    const publication = active.publications.find((p) => p.publication === 'refstream_public_live');
    assert.deepEqual(publication, {
      publication: 'refstream_public_live',
      tables: ['public.live'],
      createdByRefstream: true,
      capture: null,
    });
    const human = await runBuiltCli(['status', '--source', pg.connectionString, '--table', 'public.live']);
    assert.equal(human.code, 0, human.err);
    assert.match(human.out, new RegExp(`refstream_public_live\\s+postgres\\s+yes \\(pid ${walsender!.pid}\\)\\s+reserved`));
  } finally {
    child.kill('SIGTERM');
    await exited(child);
  }
  assert.equal(child.exitCode, 0, err);
  await pg.query("INSERT INTO public.live VALUES (1000, 'after stop')");

  const inactive = await statusJson('--table', 'public.live', '--checkpoint', checkpoint);
  assert.equal(inactive.slots.length, 1);
  const slot = inactive.slots[0]!;
  assert.equal(slot.active, false);
  assert.equal(slot.activePid, null);
  assert.equal(slot.lagSeconds, undefined);
  assert.ok(slot.lagBytes! > 0, 'the insert after the stop is not confirmed');
  assert.equal(inactive.checkpoint?.slot, 'refstream_public_live');
  assert.equal(inactive.checkpoint?.phase, 'changes');
  assert.equal(inactive.checkpoint?.table, 'public.live');
  // the slot confirmed exactly what the checkpoint holds
  assert.equal(inactive.checkpoint?.behindConfirmedBytes, 0, JSON.stringify(inactive));
  const human = await runBuiltCli(['status', '--source', pg.connectionString, '--table', 'public.live', '--checkpoint', checkpoint]);
  assert.match(human.out, /refstream_public_live\s+postgres\s+no\s+reserved/);
  assert.match(human.out, /is inactive and keeps .* of WAL; .*refstream drop/);
  assert.match(human.out, new RegExp(`checkpoint ${checkpoint}: public.live, changes at ${inactive.checkpoint!.lsn}`));
});

test('status reports a slot the server invalidated (max_slot_wal_keep_size) as lost', async () => {
  await pg.query("SELECT pg_create_logical_replication_slot('refstream_public_churn', 'pgoutput')");
  await waitFor(
    async () => {
      await pg.query("INSERT INTO public.churn (pad) SELECT repeat('x', 1000) FROM generate_series(1, 500)");
      await pg.query('SELECT pg_switch_wal()');
      await pg.query('CHECKPOINT');
      const [row] = await pg.query<{ wal_status: string }>(
        "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'refstream_public_churn'",
      );
      return row?.wal_status === 'lost';
    },
    60_000,
    'wal_status = lost',
    0,
  );
  const report = await statusJson();
  const slot = report.slots.find((s) => s.slot === 'refstream_public_churn');
  assert.ok(slot, JSON.stringify(report));
  assert.equal(slot.walStatus, 'lost');
  if (pg.version >= 17) assert.equal(slot.invalidationReason, 'wal_removed');
  else assert.equal(slot.invalidationReason, null);
  const human = await runBuiltCli(['status', '--source', pg.connectionString]);
  assert.match(human.out, /! refstream_public_churn is invalidated.*take a new snapshot/);
  // drop removes an invalidated slot like any other inactive one
  const drop = await runBuiltCli(['drop', '--source', pg.connectionString, '--table', 'public.churn', '--yes']);
  assert.equal(drop.code, 0, drop.err);
  assert.equal((await pg.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'refstream_public_churn'")).length, 0);
  assert.equal(
    (await statusJson()).slots.some((s) => s.slot === 'refstream_public_churn'),
    false,
  );
});

test('status names a bad --source and exits with the usage code; an unreachable server exits 3', async () => {
  const missing = await runBuiltCli(['status']);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /--source is required/);
  const wrongScheme = await runBuiltCli(['status', '--source', 'mysql://u:pw@h/db']);
  assert.equal(wrongScheme.code, 2);
  assert.match(wrongScheme.err, /expected a postgres:\/\/ URL/);
  const down = await runBuiltCli(['status', '--source', 'postgres://u:Hidden-7@127.0.0.1:1/db']);
  assert.equal(down.code, 3, down.err);
  assert.ok(!down.err.includes('Hidden-7'), down.err);
});
