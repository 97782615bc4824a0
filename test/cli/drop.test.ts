/**
 * `refstream drop` through the built CLI against a real PostgreSQL: removes the slot and the
 * publication a sync created, is idempotent, refuses a slot a running sync holds, refuses to
 * act unasked without a terminal, and never drops a publication refstream did not create.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { startPostgres, type TestPostgres } from '../../src/testing/index.js';
import { main } from '../../src/cli/main.js';
import { ensureBuiltCli, runBuiltCli, spawnCli } from '../helpers/built-cli.js';
import { exited, waitFor } from '../helpers/process.js';

let pg: TestPostgres;
const dir = mkdtempSync(join(tmpdir(), 'refstream-drop-'));

before(async () => {
  ensureBuiltCli();
  pg = await startPostgres();
  for (const t of ['a', 'b', 'c', 'd', 'e']) {
    await pg.query(`CREATE TABLE public.${t} (id int8 PRIMARY KEY, v text)`);
    await pg.query(`INSERT INTO public.${t} SELECT g, 'v' || g FROM generate_series(1, 20) g`);
  }
});
after(async () => {
  await pg?.stop();
});

const slotExists = async (slot: string) => (await pg.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot])).length > 0;
const publicationExists = async (pub: string) => (await pg.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [pub])).length > 0;

/** A short sync that leaves its slot and publication behind, as a stopped sync does. */
async function syncOnce(table: string): Promise<void> {
  const result = await runBuiltCli([
    'sync',
    '--source',
    pg.connectionString,
    '--table',
    table,
    '--sink',
    'memory',
    '--checkpoint',
    join(dir, `${table}.cp.json`),
    '--duration',
    '1',
    '--log-format',
    'json',
  ]);
  assert.equal(result.code, 0, result.err);
}

const drop = (...args: string[]) => runBuiltCli(['drop', '--source', pg.connectionString, ...args]);

test('drop --yes removes the slot and the publication a sync created; a second drop has nothing to do', async () => {
  await syncOnce('public.a');
  assert.ok(await slotExists('refstream_public_a'));
  assert.ok(await publicationExists('refstream_public_a'));
  const first = await drop('--table', 'public.a', '--yes');
  assert.equal(first.code, 0, first.err);
  assert.match(first.out, /dropped replication slot refstream_public_a/);
  assert.match(first.out, /dropped publication refstream_public_a/);
  assert.equal(await slotExists('refstream_public_a'), false);
  assert.equal(await publicationExists('refstream_public_a'), false);
  const again = await drop('--table', 'public.a', '--yes');
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /nothing to drop for public\.a: no replication slot refstream_public_a, no publication refstream_public_a/);
});

test('drop refuses a slot a running sync holds and names its pid; nothing is dropped', async () => {
  const child = spawnCli([
    'sync',
    '--source',
    pg.connectionString,
    '--table',
    'public.b',
    '--sink',
    'memory',
    '--checkpoint',
    join(dir, 'b.cp.json'),
    '--log-format',
    'json',
  ]);
  child.stdout!.resume();
  child.stderr!.resume();
  try {
    await waitFor(
      async () => (await pg.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'refstream_public_b' AND active")).length > 0,
      30_000,
      'the sync to hold its slot',
    );
    const [{ active_pid: pid }] = (await pg.query<{ active_pid: number }>(
      "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'refstream_public_b'",
    )) as [{ active_pid: number }];
    const refused = await drop('--table', 'public.b', '--yes');
    assert.equal(refused.code, 1, refused.out + refused.err);
    assert.match(refused.err, new RegExp(`refstream_public_b is in use by the process with pid ${pid}: stop the sync of public\\.b`));
    assert.ok(await slotExists('refstream_public_b'));
    assert.ok(await publicationExists('refstream_public_b'));
  } finally {
    child.kill('SIGTERM');
    await exited(child);
  }
  const after = await drop('--table', 'public.b', '--yes');
  assert.equal(after.code, 0, after.err);
  assert.equal(await slotExists('refstream_public_b'), false);
});

test('drop without --yes and without a terminal refuses with the usage exit code and drops nothing', async () => {
  await syncOnce('public.c');
  const refused = await drop('--table', 'public.c');
  assert.equal(refused.code, 2, refused.out + refused.err);
  assert.match(refused.err, /refusing to drop without confirmation: stdin is not a terminal; pass --yes/);
  assert.ok(await slotExists('refstream_public_c'));
  assert.ok(await publicationExists('refstream_public_c'));
});

test('on a terminal drop asks first: "n" keeps everything, "y" drops', async () => {
  await syncOnce('public.d');
  const run = async (answer: boolean) => {
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (c) => (out += c));
    const questions: string[] = [];
    const code = await main(['drop', '--source', pg.connectionString, '--table', 'public.d'], {
      stdout,
      stderr: new PassThrough(),
      env: {},
      interactive: true,
      confirm: async (q) => {
        questions.push(q);
        return answer;
      },
    });
    return { code, out, questions };
  };
  const no = await run(false);
  assert.equal(no.code, 0);
  assert.deepEqual(no.questions, ['Drop these? [y/N] ']);
  assert.match(no.out, /replication slot refstream_public_d \(inactive, keeps [\d,]+ bytes of WAL\)[\s\S]*nothing dropped/);
  assert.ok(await slotExists('refstream_public_d'));
  const yes = await run(true);
  assert.equal(yes.code, 0);
  assert.equal(await slotExists('refstream_public_d'), false);
  assert.equal(await publicationExists('refstream_public_d'), false);
});

test('a publication refstream did not create is kept, also under its default name', async () => {
  await pg.query('CREATE PUBLICATION refstream_public_e FOR TABLE public.e');
  await syncOnce('public.e'); // uses the existing publication, creates only the slot
  const result = await drop('--table', 'public.e', '--yes');
  assert.equal(result.code, 0, result.err);
  assert.match(result.out, /dropped replication slot refstream_public_e/);
  assert.match(result.out, /kept: publication refstream_public_e was not created by refstream/);
  assert.equal(await slotExists('refstream_public_e'), false);
  assert.ok(await publicationExists('refstream_public_e'));
  const again = await drop('--table', 'public.e');
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /nothing to drop for public\.e: .*publication refstream_public_e is kept/);
});

test('drop names missing flags', async () => {
  const noTable = await runBuiltCli(['drop', '--source', pg.connectionString]);
  assert.equal(noTable.code, 2);
  assert.match(noTable.err, /--table is required/);
  const badSlot = await drop('--table', 'public.a', '--slot', 'Bad-Name');
  assert.equal(badSlot.code, 2);
  assert.match(badSlot.err, /--slot: replication slot names contain only/);
});
