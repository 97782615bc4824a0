/**
 * A checkpoint resumes only what it was written for, through the built CLI against two real
 * PostgreSQL servers that each hold a table of the same name:
 * - server A's checkpoint file used against server B is a definite CHECKPOINT_MISMATCH (exit 2)
 *   naming both servers, and leaves B, the checkpoint and the output as they were;
 * - one shared Postgres checkpoint store serves both servers' `public.items` under separate
 *   keys, and each restart resumes its own server's position;
 * - an entry written under the table-only key of earlier versions is still found, and when it
 *   belongs to the other server the identity check refuses it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type TestPostgres } from '../../src/testing/index.js';
import { ensureBuiltCli, runBuiltCli } from '../helpers/built-cli.js';

const TABLE = 'public.items';
const SNAPSHOT_MARKER = '{"op":"truncate","key":null,"row":null,"position":null}';
let a: TestPostgres;
let b: TestPostgres;
const dir = mkdtempSync(join(tmpdir(), 'refstream-cp-belongs-'));

async function createItems(server: TestPostgres, first: number): Promise<void> {
  await server.query(`CREATE TABLE ${TABLE} (id int8 PRIMARY KEY, label text NOT NULL)`);
  await server.query(`INSERT INTO ${TABLE} SELECT g, 'item ' || g FROM generate_series($1::int, $1::int + 49) g`, [first]);
}

before(async () => {
  ensureBuiltCli();
  [a, b] = await Promise.all([startPostgres({ password: 'A-secret-77' }), startPostgres({ password: 'B-secret-88' })]);
  await createItems(a, 1);
  await createItems(b, 1001);
});
after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

async function systemId(server: TestPostgres): Promise<string> {
  const [row] = await server.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()');
  return row!.id;
}

/** Runs `refstream sync` for a few seconds; returns its exit code and stderr. */
async function syncFor(
  server: TestPostgres,
  output: string,
  checkpoint: string,
  seconds = 3,
): Promise<{ code: number | null; err: string }> {
  const result = await runBuiltCli(
    [
      'sync',
      '--source',
      server.connectionString,
      '--table',
      TABLE,
      '--sink',
      `jsonl:${output}`,
      '--checkpoint',
      checkpoint,
      '--duration',
      String(seconds),
      '--commit-ms',
      '200',
      '--log-format',
      'json',
    ],
    { cwd: dir },
  );
  for (const secret of ['A-secret-77', 'B-secret-88']) assert.ok(!result.err.includes(secret), 'no password in the output');
  return { code: result.code, err: result.err };
}

/** The ids in a jsonl output, folded (the last record per key wins). */
function foldedIds(path: string): number[] {
  const rows = new Map<string, boolean>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    const record = JSON.parse(line) as { op: string; key: { id: string } | null };
    if (record.op === 'truncate') rows.clear();
    else if (record.op === 'delete') rows.delete(record.key!.id);
    else rows.set(record.key!.id, true);
  }
  return [...rows.keys()].map(Number).sort((x, y) => x - y);
}

function snapshotsIn(path: string): number {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l === SNAPSHOT_MARKER).length;
}

async function refstreamObjects(server: TestPostgres): Promise<string[]> {
  const rows = await server.query<{ name: string }>(
    'SELECT slot_name AS name FROM pg_replication_slots UNION ALL SELECT pubname FROM pg_publication ORDER BY 1',
  );
  return rows.map((r) => r.name);
}

test(
  "server A's checkpoint against server B: CHECKPOINT_MISMATCH naming both servers, and nothing changes anywhere",
  { timeout: 120_000 },
  async () => {
    const output = join(dir, 'a.jsonl');
    const checkpoint = join(dir, 'a.checkpoint.json');
    const first = await syncFor(a, output, checkpoint);
    assert.equal(first.code, 0, first.err);
    assert.equal(foldedIds(output).length, 50);
    const savedCheckpoint = readFileSync(checkpoint, 'utf8');
    const savedOutput = readFileSync(output);
    assert.ok(!savedCheckpoint.includes('A-secret-77'), 'no password in the checkpoint');

    const wrong = await syncFor(b, output, checkpoint);
    assert.equal(wrong.code, 2, wrong.err);
    assert.match(wrong.err, /CHECKPOINT_MISMATCH/);
    assert.ok(wrong.err.includes(await systemId(a)) && wrong.err.includes(await systemId(b)), `both servers named: ${wrong.err}`);
    assert.match(wrong.err, /delete the checkpoint/);
    assert.equal(readFileSync(checkpoint, 'utf8'), savedCheckpoint, 'the checkpoint is unchanged');
    assert.deepEqual(readFileSync(output), savedOutput, 'the output is unchanged');
    assert.deepEqual(await refstreamObjects(b), [], 'no slot or publication left on server B');

    // the one-shot snapshot command refuses it the same way
    const snapshot = await runBuiltCli(
      [
        'snapshot',
        '--source',
        b.connectionString,
        '--table',
        TABLE,
        '--sink',
        `jsonl:${join(dir, 'b-snap.jsonl')}`,
        '--checkpoint',
        checkpoint,
      ],
      { cwd: dir },
    );
    assert.notEqual(snapshot.code, 0, snapshot.err);
    assert.match(snapshot.err, /CHECKPOINT_MISMATCH|past its snapshot/);
    assert.deepEqual(await refstreamObjects(b), []);
  },
);

test(
  'one shared Postgres checkpoint store keeps both servers apart, and each restart resumes its own position',
  { timeout: 120_000 },
  async () => {
    const store = `${a.connectionString}#shared_checkpoints`;
    const outA = join(dir, 'shared-a.jsonl');
    const outB = join(dir, 'shared-b.jsonl');
    assert.equal((await syncFor(a, outA, store)).code, 0);
    assert.equal((await syncFor(b, outB, store)).code, 0);
    const keys = (await a.query<{ id: string }>('SELECT id FROM shared_checkpoints ORDER BY id')).map((r) => r.id);
    assert.equal(keys.length, 2, `two entries: ${keys.join(', ')}`);
    assert.ok(
      keys.every((k) => k.startsWith(`${TABLE}@postgres://`) && !k.includes('secret')),
      keys.join(', '),
    );

    // changes on both servers while stopped; each restart delivers its own and takes no new snapshot
    await a.query(`INSERT INTO ${TABLE} VALUES (51, 'new on A')`);
    await b.query(`DELETE FROM ${TABLE} WHERE id = 1001`);
    const resumedA = await syncFor(a, outA, store);
    const resumedB = await syncFor(b, outB, store);
    assert.equal(resumedA.code, 0, resumedA.err);
    assert.equal(resumedB.code, 0, resumedB.err);
    assert.deepEqual(
      foldedIds(outA),
      Array.from({ length: 51 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      foldedIds(outB),
      Array.from({ length: 49 }, (_, i) => i + 1002),
    );
    assert.equal(snapshotsIn(outA), 1);
    assert.equal(snapshotsIn(outB), 1);
  },
);

test(
  "an entry under the earlier table-only key is found; the other server's is refused by its identity",
  { timeout: 120_000 },
  async () => {
    const store = `${a.connectionString}#legacy_checkpoints`;
    const outA = join(dir, 'legacy-a.jsonl');
    assert.equal((await syncFor(a, outA, store)).code, 0);
    // rewrite the entry as an earlier version keyed it: by table name alone
    await a.query(`UPDATE legacy_checkpoints SET id = $1`, [TABLE]);
    await a.query(`INSERT INTO ${TABLE} VALUES (52, 'after the upgrade')`);
    const resumed = await syncFor(a, outA, store);
    assert.equal(resumed.code, 0, resumed.err);
    assert.equal(snapshotsIn(outA), 1, 'resumed from the table-only entry, no new snapshot');
    assert.ok(foldedIds(outA).includes(52));
    const keys = (await a.query<{ id: string }>('SELECT id FROM legacy_checkpoints ORDER BY id')).map((r) => r.id);
    assert.ok(
      keys.some((k) => k.startsWith(`${TABLE}@`)),
      `saves go to the source-qualified key: ${keys.join(', ')}`,
    );

    // server B finds no entry of its own, falls back to A's table-only entry and refuses it
    const wrong = await syncFor(b, join(dir, 'legacy-b.jsonl'), store);
    assert.equal(wrong.code, 2, wrong.err);
    assert.match(wrong.err, /CHECKPOINT_MISMATCH/);
  },
);
