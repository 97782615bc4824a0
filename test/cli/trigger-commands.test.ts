/**
 * The trigger capture commands through the built CLI against a server with `wal_level =
 * replica`: install-triggers (twice), a non-owner refused, sync --capture trigger, status
 * showing the capture and its consumers (text and JSON), drop of one consumer and of the
 * whole capture, and uninstall-triggers asking for --yes without a terminal.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type TestPostgres } from '../../src/testing/index.js';
import type { StatusReport } from '../../src/cli/status.js';
import { ensureBuiltCli, runBuiltCli } from '../helpers/built-cli.js';

let server: TestPostgres;
const dir = mkdtempSync(join(tmpdir(), 'refstream-trigger-cli-'));

before(async () => {
  ensureBuiltCli();
  server = await startPostgres({ walLevel: 'replica' });
  await server.query('CREATE TABLE public.items (id int8 PRIMARY KEY, v text)');
  await server.query("INSERT INTO public.items SELECT g, 'v' || g FROM generate_series(1, 100) g");
});
after(async () => {
  await server?.stop();
});

const cli = (args: string[]) => runBuiltCli(args, { cwd: dir });

function urlAs(user: string): string {
  const url = new URL(server.connectionString);
  url.username = user;
  return url.toString();
}

async function status(): Promise<StatusReport> {
  const result = await cli(['status', '--source', server.connectionString, '--json']);
  assert.equal(result.code, 0, result.err);
  return JSON.parse(result.out) as StatusReport;
}

async function syncFor(consumer: string, seconds = 2): Promise<string> {
  const out = join(dir, `${consumer}.jsonl`);
  const result = await cli([
    'sync',
    '--source',
    server.connectionString,
    '--table',
    'public.items',
    '--capture',
    'trigger',
    '--consumer',
    consumer,
    '--sink',
    `jsonl:${out}`,
    '--checkpoint',
    join(dir, `${consumer}.checkpoint.json`),
    '--duration',
    String(seconds),
    '--log-format',
    'json',
  ]);
  assert.equal(result.code, 0, result.err);
  assert.match(result.err, /"capture":"trigger"/);
  return out;
}

test('install-triggers installs, then finds nothing to change; a role that does not own the table is refused naming the ownership', async () => {
  const first = await cli(['install-triggers', '--source', server.connectionString, '--table', 'public.items']);
  assert.equal(first.code, 0, first.err);
  assert.match(first.out, /trigger capture of public\.items installed: change table refstream\.changes_public_items/);
  const second = await cli(['install-triggers', '--source', server.connectionString, '--table', 'public.items']);
  assert.equal(second.code, 0, second.err);
  assert.match(second.out, /already installed, unchanged/);
  await server.query('CREATE ROLE reader LOGIN');
  await server.query('GRANT SELECT ON public.items TO reader');
  const refused = await cli(['install-triggers', '--source', urlAs('reader'), '--table', 'public.items']);
  assert.equal(refused.code, 3, refused.err);
  assert.match(
    refused.err,
    /PERMISSION_DENIED: role reader may not install trigger capture on public\.items: that needs ownership of the table/,
  );
  const missing = await cli(['install-triggers', '--source', server.connectionString]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /--table is required/);
});

test('sync --capture trigger delivers the table and its changes; status shows the capture and each consumer; drop removes one consumer, then the capture', async () => {
  const a = await syncFor('a');
  await server.query("UPDATE public.items SET v = 'changed' WHERE id <= 10");
  const b = await syncFor('b');
  const lines = (path: string) =>
    readFileSync(path, 'utf8')
      .trim()
      .split('\n')
      .filter((l) => (JSON.parse(l) as { op: string }).op === 'snapshot');
  assert.equal(lines(a).length, 100);
  assert.equal(lines(b).length, 100, 'b snapshots after the update');
  await server.query("UPDATE public.items SET v = 'again' WHERE id <= 5");
  let report = await status();
  const capture = report.triggerCaptures.find((t) => t.table === 'public.items')!;
  assert.ok(capture, JSON.stringify(report.triggerCaptures));
  assert.equal(capture.problem, null);
  assert.deepEqual(
    capture.consumers.map((c) => [c.consumer, c.activePid, c.pendingRows]),
    [
      ['a', null, 15],
      ['b', null, 5],
    ],
  );
  const text = await cli(['status', '--source', server.connectionString, '--table', 'public.items']);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /TRIGGER CAPTURE\s+CHANGE TABLE/);
  assert.match(text.out, /consumer a of public\.items is not running and keeps 15 change rows/);

  const dropB = await cli(['drop', '--source', server.connectionString, '--table', 'public.items', '--consumer', 'b', '--yes']);
  assert.equal(dropB.code, 0, dropB.err);
  assert.match(dropB.out, /dropped consumer b/);
  report = await status();
  assert.deepEqual(
    report.triggerCaptures.find((t) => t.table === 'public.items')!.consumers.map((c) => c.consumer),
    ['a'],
  );
  const refused = await cli(['uninstall-triggers', '--source', server.connectionString, '--table', 'public.items']);
  assert.equal(refused.code, 2, refused.err);
  assert.match(refused.err, /pass --yes/);
  const dropAll = await cli(['drop', '--source', server.connectionString, '--table', 'public.items', '--yes']);
  assert.equal(dropAll.code, 0, dropAll.err);
  assert.match(dropAll.out, /dropped trigger capture \(4 triggers, function, change table\)/);
  report = await status();
  assert.deepEqual(report.triggerCaptures, []);
  const triggers = await server.query(`SELECT tgname FROM pg_trigger WHERE tgrelid = 'public.items'::regclass AND NOT tgisinternal`);
  assert.deepEqual(triggers, []);
});

test('uninstall-triggers --yes removes what install-triggers --trigger-schema --no-notify created, and a second run finds nothing', async () => {
  await server.query('CREATE SCHEMA capture');
  const installed = await cli([
    'install-triggers',
    '--source',
    server.connectionString,
    '--table',
    'public.items',
    '--trigger-schema',
    'capture',
    '--no-notify',
  ]);
  assert.equal(installed.code, 0, installed.err);
  assert.match(installed.out, /change table capture\.changes_public_items.*no notifications/);
  const removed = await cli(['uninstall-triggers', '--source', server.connectionString, '--table', 'public.items', '--yes']);
  assert.equal(removed.code, 0, removed.err);
  assert.match(removed.out, /removed trigger capture of public\.items: 4 triggers/);
  const again = await cli(['uninstall-triggers', '--source', server.connectionString, '--table', 'public.items', '--yes']);
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /no trigger capture on public\.items/);
  const left = await server.query(
    `SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'capture'`,
  );
  assert.deepEqual(left, []);
});
