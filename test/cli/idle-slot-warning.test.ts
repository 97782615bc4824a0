/**
 * `refstream sync` warns at start about other refstream slots that no sync reads and that keep
 * WAL (built CLI, real PostgreSQL): an abandoned slot retaining more than --warn-retained-bytes
 * is named with its size; its own slot, slots of other software and slots below the threshold
 * are not; 0 turns the warning off.
 */
import { test, before, after } from 'node:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/index.js';
import { ensureBuiltCli, runBuiltCli } from '../helpers/built-cli.js';

let pg: TestPostgres;
const checkpoint = join(mkdtempSync(join(tmpdir(), 'refstream-idle-warning-')), 'cp.json');

before(async () => {
  ensureBuiltCli();
  pg = await startPostgres();
  await pg.query('CREATE TABLE public.live (id int8 PRIMARY KEY, v text)');
  await pg.query("INSERT INTO public.live SELECT g, 'v' || g FROM generate_series(1, 10) g");
  await pg.query("SELECT pg_create_logical_replication_slot('refstream_public_abandoned', 'pgoutput')");
  await pg.query("SELECT pg_create_logical_replication_slot('someone_elses_slot', 'pgoutput')");
  // WAL the two slots now retain: a few MB
  await pg.query('CREATE TABLE public.churn (id int8, pad text)');
  await pg.query("INSERT INTO public.churn SELECT g, repeat('x', 200) FROM generate_series(1, 30000) g");
});
after(async () => {
  await pg?.stop();
});

interface Event {
  event: string;
  code?: string;
  message?: string;
}

async function startWarnings(...extra: string[]): Promise<Event[]> {
  const result = await runBuiltCli([
    'sync',
    '--source',
    pg.connectionString,
    '--table',
    'public.live',
    '--sink',
    'memory',
    '--duration',
    '2',
    '--log-format',
    'json',
    '--checkpoint',
    checkpoint,
    ...extra,
  ]);
  assert.equal(result.code, 0, result.err);
  const events = result.err
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Event);
  return events.filter((e) => e.event === 'warning' && e.code === 'IDLE_SLOT_RETAINS_WAL');
}

test('an abandoned refstream slot retaining more than the threshold is named at start, with its size', { timeout: 60_000 }, async () => {
  const [retained] = await pg.query<{ bytes: string }>(
    "SELECT (pg_current_wal_lsn() - restart_lsn)::text AS bytes FROM pg_replication_slots WHERE slot_name = 'refstream_public_abandoned'",
  );
  assert.ok(Number(retained!.bytes) > 2_000_000, `the slot retains ${retained!.bytes} bytes`);
  const warnings = await startWarnings('--warn-retained-bytes', '1000000');
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.match(warnings[0]!.message!, /refstream_public_abandoned .*inactive and retains \d+\.\d MiB of WAL/);
  assert.match(warnings[0]!.message!, /refstream drop/);
  assert.ok(!warnings[0]!.message!.includes('someone_elses_slot'));
});

test(
  'no warning below the threshold (default 1 GiB) or with --warn-retained-bytes 0; the sync’s own slot never counts',
  { timeout: 60_000 },
  async () => {
    assert.deepEqual(await startWarnings(), []);
    assert.deepEqual(await startWarnings('--warn-retained-bytes', '0'), []);
    // the own slot (inactive between runs, retaining the churn below) is not reported
    await pg.query("SELECT pg_drop_replication_slot('refstream_public_abandoned')");
    await pg.query("INSERT INTO public.churn SELECT g, repeat('y', 200) FROM generate_series(1, 30000) g");
    assert.deepEqual(await startWarnings('--warn-retained-bytes', '1000'), []);
  },
);
