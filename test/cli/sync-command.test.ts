/**
 * `refstream snapshot` and `refstream sync` against real servers: PostgreSQL and the Exasol
 * protocol test server, into JSON Lines, Arrow, PostgreSQL and Exasol table sinks.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli as cli } from '../helpers/cli.js';
import { ensureBuiltCli, runBuiltCli } from '../helpers/built-cli.js';
import { startExasolTestServer, startPostgres, type ExasolTestServer, type TestPostgres } from '../../src/testing/index.js';

let pg: TestPostgres;
let exa: ExasolTestServer;
const dir = mkdtempSync(join(tmpdir(), 'refstream-cli-'));

before(async () => {
  pg = await startPostgres({ password: 'pg-Secret-1' });
  exa = await startExasolTestServer({ postgres: pg, nodes: 1, password: 'exa-Secret-2' });
  await pg.query(
    `CREATE TABLE public.items (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2), updated_at timestamptz NOT NULL DEFAULT now())`,
  );
  await pg.query(
    `INSERT INTO public.items SELECT g, 'item ' || g, g * 1.5, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' FROM generate_series(1, 50) g`,
  );
  await pg.query('CREATE SCHEMA copy');
});
after(async () => {
  await exa?.stop();
  await pg?.stop();
});

test('snapshot writes every sink once and exits 0; no password reaches the logs', async () => {
  const exasolUrl = `exasol://${exa.user}:${encodeURIComponent(exa.password)}@${exa.host}:${exa.port}?tls=false#SINKS.ITEMS`;
  const { code, err } = await cli([
    'snapshot',
    '--source',
    pg.connectionString,
    '--table',
    'public.items',
    '--sink',
    `jsonl:${join(dir, 'items.jsonl')}`,
    '--sink',
    `arrow:${join(dir, 'items.arrow')}`,
    '--sink',
    `${pg.connectionString}#copy.items`,
    '--sink',
    exasolUrl,
    '--checkpoint',
    join(dir, 'snapshot.cp.json'),
    '--log-format',
    'json',
  ]);
  assert.equal(code, 0, err);
  assert.ok(!err.includes('pg-Secret-1') && !err.includes('exa-Secret-2'), err);
  const events = err
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string; by?: string; snapshotRows?: number });
  assert.equal(events.at(-1)!.event, 'stopped');
  assert.equal(events.at(-1)!.by, 'snapshot');
  const lines = readFileSync(join(dir, 'items.jsonl'), 'utf8').trim().split('\n');
  assert.equal(lines.filter((l) => l.includes('"op":"snapshot"')).length, 50);
  const copied = await pg.query<{ n: string }>(`SELECT count(*)::text AS n FROM copy.items`);
  assert.equal(copied[0]!.n, '50');
  const exasolCopy = await pg.query<{ n: string }>(`SELECT count(*)::text AS n FROM "SINKS"."ITEMS"`);
  assert.equal(exasolCopy[0]!.n, '50');
});

test('sync streams changes until --duration, then resumes from the checkpoint without a new snapshot', async () => {
  const out = join(dir, 'changes.jsonl');
  const args = [
    'sync',
    '--source',
    pg.connectionString,
    '--table',
    'public.items',
    '--slot',
    'cli_sync',
    '--sink',
    `jsonl:${out}`,
    '--checkpoint',
    join(dir, 'sync.cp.json'),
    '--duration',
    '4',
    '--log-format',
    'json',
    '--commit-ms',
    '100',
  ];
  const first = cli(args);
  // wait until the snapshot is out, so the update is a change (not part of the snapshot)
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    let text = '';
    try {
      text = readFileSync(out, 'utf8');
    } catch {
      /* not created yet */
    }
    if (text.split('"op":"snapshot"').length - 1 === 50) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await pg.query(`UPDATE public.items SET name = 'renamed' WHERE id <= 3`);
  assert.equal((await first).code, 0);
  await pg.query(`DELETE FROM public.items WHERE id = 50`);
  const second = await cli(args.map((a) => (a === `jsonl:${out}` ? `jsonl:${out}.2` : a)));
  assert.equal(second.code, 0, second.err);
  const firstLines = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { op: string });
  assert.equal(firstLines.filter((l) => l.op === 'update').length, 3);
  const secondLines = readFileSync(`${out}.2`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { op: string; key: { id: string } });
  assert.equal(secondLines.filter((l) => l.op === 'snapshot').length, 0, 'resumed from the checkpoint: no second snapshot');
  assert.deepEqual(
    secondLines.filter((l) => l.op === 'delete').map((l) => l.key.id),
    ['50'],
  );
});

test('the start event names the config file found in the working directory, the slot, publication and checkpoint in use, without the password', async () => {
  ensureBuiltCli();
  const work = mkdtempSync(join(tmpdir(), 'refstream-cli-cwd-'));
  writeFileSync(join(work, 'refstream.config.json'), JSON.stringify({ slot: 'from_config_file', commitEvery: { ms: 100 } }));
  const { code, err } = await runBuiltCli(
    ['sync', '--source', pg.connectionString, '--table', 'public.items', '--sink', 'memory', '--duration', '2', '--log-format', 'json'],
    { cwd: work },
  );
  assert.equal(code, 0, err);
  const start = err
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((e) => e['event'] === 'start')!;
  assert.equal(start['configFile'], join(work, 'refstream.config.json'));
  assert.equal(start['slot'], 'from_config_file');
  assert.equal(start['publication'], 'refstream_public_items');
  assert.equal(start['checkpoint'], '.refstream/public.items.checkpoint.json');
  assert.match(String(start['source']), /^postgres:\/\/postgres:\*\*\*@/);
  assert.ok(!err.includes('pg-Secret-1'));
  await pg.query(`SELECT pg_drop_replication_slot('from_config_file')`);
});

test('an Exasol source syncs through the CLI (diff mode)', async () => {
  const url = `exasol://${exa.user}:${encodeURIComponent(exa.password)}@${exa.host}:${exa.port}?tls=false&mode=diff&stateDir=${encodeURIComponent(join(dir, 'exa-state'))}`;
  const { code, err } = await cli([
    'snapshot',
    '--source',
    url,
    '--table',
    'SINKS.ITEMS',
    '--sink',
    `jsonl:${join(dir, 'exasol.jsonl')}`,
    '--checkpoint',
    join(dir, 'exa.cp.json'),
    '--log-format',
    'json',
  ]);
  assert.equal(code, 0, err);
  const lines = readFileSync(join(dir, 'exasol.jsonl'), 'utf8').trim().split('\n');
  assert.equal(lines.filter((l) => l.includes('"op":"snapshot"')).length, 50);
});

test('--unknown-types text delivers an inet column as text; without it the run stops with UNSUPPORTED_TYPE and its hint', async () => {
  await pg.query(`CREATE TABLE public.hosts (id int PRIMARY KEY, addr inet)`);
  await pg.query(`INSERT INTO public.hosts VALUES (1, '10.1.2.3/24'), (2, NULL)`);
  const refused = await cli([
    'snapshot',
    '--source',
    pg.connectionString,
    '--table',
    'public.hosts',
    '--sink',
    `jsonl:${join(dir, 'hosts-a.jsonl')}`,
    '--checkpoint',
    join(dir, 'hosts-a.cp.json'),
    '--log-format',
    'json',
  ]);
  assert.equal(refused.code, 3, refused.err);
  assert.match(refused.err, /UNSUPPORTED_TYPE/);
  assert.match(refused.err, /--unknown-types|unknownTypes/);
  const { code, err } = await cli([
    'snapshot',
    '--source',
    pg.connectionString,
    '--table',
    'public.hosts',
    '--unknown-types',
    'text',
    '--sink',
    `jsonl:${join(dir, 'hosts-b.jsonl')}`,
    '--checkpoint',
    join(dir, 'hosts-b.cp.json'),
    '--log-format',
    'json',
  ]);
  assert.equal(code, 0, err);
  const rows = readFileSync(join(dir, 'hosts-b.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { op: string; row: { id: number; addr: string | null } });
  const snapshot = rows.filter((r) => r.op === 'snapshot').map((r) => r.row);
  assert.deepEqual(
    snapshot.sort((a, b) => a.id - b.id),
    [
      { id: 1, addr: '10.1.2.3/24' },
      { id: 2, addr: null },
    ],
  );
  const bad = await cli([
    'snapshot',
    '--source',
    pg.connectionString,
    '--table',
    'public.hosts',
    '--unknown-types',
    'maybe',
    '--sink',
    'jsonl:-',
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--unknown-types: must be 'error' or 'text'/);
});
