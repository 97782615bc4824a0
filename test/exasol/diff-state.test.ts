/**
 * Diff mode state: content-addressed state files let a fresh instance (another process)
 * resume exactly; commit releases only older files; a missing file is CHECKPOINT_EXPIRED, a
 * tampered one CHECKPOINT_INVALID; the LAST_COMMIT gate makes an idle poll one metadata query.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ExasolConnection } from '../../src/connectors/exasol/index.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { startExasolTestServer, type ExasolTestServer } from '../../src/testing/index.js';
import { connect, drainSnapshot, rowsOf, sourceFor } from './helpers.js';

let server: ExasolTestServer;
let admin: ExasolConnection;
const dir = mkdtempSync(join(tmpdir(), 'refstream-exasol-state-'));

before(async () => {
  server = await startExasolTestServer();
  admin = await connect(server);
  await admin.execute('CREATE SCHEMA DS');
  await admin.execute(`CREATE TABLE DS.T (ID DECIMAL(18,0) PRIMARY KEY, V VARCHAR(20))`);
  await admin.execute(`INSERT INTO DS.T VALUES (1, 'a'), (2, 'b'), (3, 'c')`);
});
after(async () => {
  await admin?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const source = (stateDir: string) =>
  sourceFor(server, { schema: 'DS', table: 'T', mode: 'diff', diff: { stateDir }, batchRows: 1, maxWaitMs: 0 });
const files = (stateDir: string) => readdirSync(stateDir).filter((f) => f.endsWith('.diffstate'));

test('a restored checkpoint delivers exactly the remaining changes of its poll; commit releases only older state', async () => {
  const stateDir = join(dir, 'resume');
  const a = source(stateDir);
  await drainSnapshot(a);
  await admin.execute(`UPDATE DS.T SET V = 'a2' WHERE ID = 1`);
  await admin.execute(`DELETE FROM DS.T WHERE ID = 2`);
  await admin.execute(`INSERT INTO DS.T VALUES (4, 'd')`);
  const first = rowsOf([(await a.pollChanges())!]);
  const cp = JSON.parse(JSON.stringify(a.checkpoint()));
  const rest = [...rowsOf([(await a.pollChanges())!]), ...rowsOf([(await a.pollChanges())!])];
  assert.equal(await a.pollChanges(), null);
  await a.close();
  assert.deepEqual([...first, ...rest].map((r) => `${r._change_type} ${r.ID}`).sort(), ['delete 2', 'insert 4', 'update 1']);

  const b = source(stateDir); // as a new process would: nothing but the checkpoint and the directory
  await b.restore(cp);
  const replayed = [...rowsOf([(await b.pollChanges())!]), ...rowsOf([(await b.pollChanges())!])];
  assert.deepEqual(replayed, rest, 'the same rows, values and positions, nothing before them');
  assert.equal(await b.pollChanges(), null);
  assert.equal(files(stateDir).length, 2, 'the snapshot state and the state after the poll');
  await b.commit(b.checkpoint());
  assert.equal(files(stateDir).length, 1, 'the older state was released once a later checkpoint was committed');
  await b.close();
  // a new snapshot (a new run) keeps the old run's files until its own checkpoint is committed
  const c = source(stateDir);
  await drainSnapshot(c);
  assert.equal(files(stateDir).length, 2);
  await c.commit(c.checkpoint());
  assert.equal(files(stateDir).length, 1, "the earlier run's state went with the first commit of the new run");
  await c.close();
});

test('a missing state file is CHECKPOINT_EXPIRED, a tampered one CHECKPOINT_INVALID', async () => {
  const stateDir = join(dir, 'broken');
  const a = source(stateDir);
  await drainSnapshot(a);
  const cp = a.checkpoint();
  await a.close();
  const [file] = files(stateDir);
  const path = join(stateDir, file!);
  const body = readFileSync(path, 'utf8');
  writeFileSync(path, body.replace('"epoch":0', '"epoch":0 '));
  const tampered = source(stateDir);
  await assert.rejects(tampered.restore(cp), (e: unknown) => ConnectorError.is(e, 'CHECKPOINT_INVALID'));
  await tampered.close();
  rmSync(path);
  const gone = source(stateDir);
  await assert.rejects(
    gone.restore(cp),
    (e: unknown) => ConnectorError.is(e, 'CHECKPOINT_EXPIRED') && (e as ConnectorError).kind === 'definite',
  );
  await gone.close();
});

test('LAST_COMMIT gate: polls of an unchanged table run only the metadata query', async () => {
  const a = source(join(dir, 'gate'));
  try {
    await drainSnapshot(a);
    assert.equal(await a.pollChanges(), null); // first poll scans and records LAST_COMMIT
    server.transcript.clear();
    for (let i = 0; i < 3; i++) assert.equal(await a.pollChanges(), null);
    const statements = server.transcript.entries({ channel: 'websocket', direction: 'in' }).map((e) => e.text);
    assert.ok(
      statements.length >= 3 && statements.every((t) => t.includes('LAST_COMMIT')),
      `only LAST_COMMIT queries: ${statements.join(' | ').slice(0, 300)}`,
    );
    await admin.execute(`UPDATE DS.T SET V = 'x' WHERE ID = 3`);
    const change = rowsOf([(await a.pollChanges())!]);
    assert.deepEqual(
      change.map((r) => [r.ID, r.V, r._change_type]),
      [['3', 'x', 'update']],
    );
  } finally {
    await a.close();
  }
});

test('schema changes: without schemaEvolution an added column stops an all-columns source with SCHEMA_INCOMPATIBLE; a projection ignores it', async () => {
  await admin.execute(`CREATE TABLE DS.S (ID DECIMAL(18,0) PRIMARY KEY, V VARCHAR(20))`);
  await admin.execute(`INSERT INTO DS.S VALUES (1, 'a')`);
  const all = sourceFor(server, {
    schema: 'DS',
    table: 'S',
    mode: 'diff',
    diff: { stateDir: join(dir, 'schema-all') },
    maxWaitMs: 0,
    schemaEvolution: false,
  });
  const projected = sourceFor(server, {
    schema: 'DS',
    table: 'S',
    mode: 'diff',
    diff: { stateDir: join(dir, 'schema-proj') },
    columns: ['ID', 'V'],
    maxWaitMs: 0,
  });
  try {
    await drainSnapshot(all);
    await drainSnapshot(projected);
    await admin.execute(`ALTER TABLE DS.S ADD COLUMN EXTRA VARCHAR(10)`);
    await admin.execute(`INSERT INTO DS.S (ID, V) VALUES (2, 'b')`);
    await assert.rejects(
      all.pollChanges(),
      (e: unknown) =>
        ConnectorError.is(e, 'SCHEMA_INCOMPATIBLE') && (e as ConnectorError).kind === 'definite' && /EXTRA/.test((e as Error).message),
    );
    const rows = rowsOf([(await projected.pollChanges())!]);
    assert.deepEqual(
      rows.map((r) => [r.ID, r.V, r._change_type]),
      [['2', 'b', 'insert']],
    );
  } finally {
    await all.close();
    await projected.close();
  }
});
