/**
 * Exasol checkpoints know where they belong: every checkpoint records the configured hosts,
 * the database the login reported, schema, table and the table's object id (never
 * credentials); restoring against another source is CHECKPOINT_MISMATCH naming both sides;
 * old checkpoints without identity resume with a CHECKPOINT_UNIDENTIFIED warning.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ExasolConnection, ExasolSourceConfig } from '../../src/connectors/exasol/index.js';
import type { SourceCheckpoint } from '../../src/sdk/checkpoint.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import type { SourceWarning } from '../../src/sdk/warnings.js';
import { startExasolTestServer, type ExasolTestServer } from '../../src/testing/index.js';
import { connect, drainSnapshot, rowsOf, sourceFor } from './helpers.js';

const PASSWORD = 'pw-Exa-Secret-7781';
const USER = 'refstream_reader';

interface Identity {
  hosts: string[];
  database: string;
  release: string;
  schema: string;
  table: string;
  objectId: string | null;
}

function identityOf(cp: SourceCheckpoint): Identity | undefined {
  return (cp.position as unknown as { source?: Identity }).source;
}

/** The checkpoint as an older refstream wrote it: no `source` in its position. */
function withoutIdentity(cp: SourceCheckpoint): SourceCheckpoint {
  const { source: _source, ...position } = cp.position as Record<string, never>;
  return JSON.parse(JSON.stringify({ ...cp, position })) as SourceCheckpoint;
}

function withIdentity(cp: SourceCheckpoint, change: Partial<Identity>): SourceCheckpoint {
  const position = cp.position as unknown as { source: Identity };
  return JSON.parse(JSON.stringify({ ...cp, position: { ...position, source: { ...position.source, ...change } } })) as SourceCheckpoint;
}

let a: ExasolTestServer;
let b: ExasolTestServer;
let admin: ExasolConnection;
const dir = mkdtempSync(join(tmpdir(), 'refstream-exasol-identity-'));

before(async () => {
  a = await startExasolTestServer({ user: USER, password: PASSWORD, databaseName: 'exa_a' });
  // another server over the same data: the same schema and table, elsewhere and named otherwise
  b = await startExasolTestServer({
    user: USER,
    password: PASSWORD,
    databaseName: 'exa_b',
    postgres: { connectionString: a.postgresConnectionString },
  });
  admin = await connect(a);
  await admin.execute('CREATE SCHEMA IDENT');
  for (const t of ['W', 'D', 'R', 'O']) {
    await admin.execute(`CREATE TABLE IDENT.${t} (ID DECIMAL(18,0) PRIMARY KEY, V VARCHAR(20), SEQ DECIMAL(18,0))`);
    await admin.execute(`INSERT INTO IDENT.${t} VALUES (1, 'a', 1), (2, 'b', 2)`);
  }
});
after(async () => {
  await admin?.close();
  await b?.stop();
  await a?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Extra = Partial<Omit<ExasolSourceConfig, 'user' | 'password'>>;
const watermark = (server: ExasolTestServer, table: string, extra: Extra = {}) =>
  sourceFor(server, { schema: 'IDENT', table, mode: 'watermark', watermark: { column: 'SEQ' }, maxWaitMs: 0, ...extra });
const diff = (server: ExasolTestServer, table: string, extra: Extra = {}) =>
  sourceFor(server, { schema: 'IDENT', table, mode: 'diff', diff: { stateDir: join(dir, table) }, maxWaitMs: 0, ...extra });

/** A changes-phase checkpoint of a source that read the snapshot and is then closed. */
async function changesCheckpoint(source: ReturnType<typeof watermark>): Promise<SourceCheckpoint> {
  try {
    await drainSnapshot(source);
    return JSON.parse(JSON.stringify(source.checkpoint())) as SourceCheckpoint;
  } finally {
    await source.close();
  }
}

describe('exasol: checkpoint identity', () => {
  test('every checkpoint records hosts, database, release, schema, table and object id, and no credentials', async () => {
    const objects = await admin.execute(`SELECT OBJECT_ID FROM EXA_ALL_OBJECTS WHERE ROOT_NAME = 'IDENT' AND OBJECT_NAME = 'W'`);
    assert.equal(objects.resultType, 'resultSet');
    const objectId = String((objects as { resultSet: { data?: unknown[][] } }).resultSet.data![0]![0]);
    const source = watermark(a, 'W');
    try {
      const first = await source.pollSnapshot();
      assert.ok(first, 'the snapshot has rows');
      const snapshot = source.checkpoint();
      while ((await source.pollSnapshot()) !== null);
      const changes = source.checkpoint();
      const expected: Identity = {
        hosts: [`${a.host}:${a.port}`],
        database: 'exa_a',
        release: '8.34.0',
        schema: 'IDENT',
        table: 'W',
        objectId,
      };
      assert.deepEqual(identityOf(snapshot), expected, 'snapshot-phase checkpoint');
      assert.deepEqual(identityOf(changes), expected, 'changes-phase checkpoint');
      for (const cp of [snapshot, changes]) {
        const text = JSON.stringify(cp);
        assert.ok(!text.includes(PASSWORD), 'the password never enters a checkpoint');
        assert.ok(!text.includes(USER), 'nor the user name');
      }
    } finally {
      await source.close();
    }
  });

  test('a checkpoint of another server (other hosts and database) is CHECKPOINT_MISMATCH naming both sides, in either mode and phase', async () => {
    const fromB = [await changesCheckpoint(watermark(b, 'W')), await changesCheckpoint(diff(b, 'D'))];
    const snapshotOfB = watermark(b, 'W');
    await snapshotOfB.pollSnapshot();
    fromB.push(JSON.parse(JSON.stringify(snapshotOfB.checkpoint())) as SourceCheckpoint);
    await snapshotOfB.close();
    assert.equal(fromB[2]!.phase, 'snapshot');
    for (const cp of fromB) {
      const mode = (cp.position as { mode: string }).mode;
      const source = mode === 'diff' ? diff(a, 'D') : watermark(a, 'W');
      try {
        await assert.rejects(source.restore(cp), (e: unknown) => {
          assert.ok(ConnectorError.is(e, 'CHECKPOINT_MISMATCH'), String(e));
          assert.equal(e.kind, 'definite');
          assert.equal(e.table, `IDENT.${mode === 'diff' ? 'D' : 'W'}`);
          assert.match(e.message, /\(host list, database differ\)/);
          assert.ok(e.message.includes(`checkpoint: hosts ${b.host}:${b.port}, database exa_b (Exasol 8.34.0), table IDENT.`), e.message);
          assert.ok(e.message.includes(`connected: hosts ${a.host}:${a.port}, database exa_a (Exasol 8.34.0), table IDENT.`), e.message);
          assert.match(e.hint!, /delete the checkpoint .* or pass another --checkpoint/);
          assert.ok(!e.message.includes(PASSWORD) && !e.hint!.includes(PASSWORD));
          return true;
        });
      } finally {
        await source.close();
      }
    }
  });

  test('a table dropped and re-created under the same name does not take the old checkpoint', async () => {
    const cp = await changesCheckpoint(watermark(a, 'R'));
    await admin.execute('DROP TABLE IDENT.R');
    await admin.execute(`CREATE TABLE IDENT.R (ID DECIMAL(18,0) PRIMARY KEY, V VARCHAR(20), SEQ DECIMAL(18,0))`);
    const source = watermark(a, 'R');
    try {
      await assert.rejects(
        source.restore(cp),
        (e: unknown) => ConnectorError.is(e, 'CHECKPOINT_MISMATCH') && /\(table object id differs\)/.test(e.message),
      );
    } finally {
      await source.close();
    }
  });

  test('an old checkpoint without identity still resumes, with a CHECKPOINT_UNIDENTIFIED warning; the next one records the identity', async () => {
    const cp = await changesCheckpoint(watermark(a, 'O'));
    await admin.execute(`INSERT INTO IDENT.O VALUES (3, 'c', 3)`);
    const warnings: SourceWarning[] = [];
    const source = watermark(a, 'O', { onWarning: (w) => warnings.push(w) });
    try {
      await source.restore(withoutIdentity(cp));
      assert.equal(source.isSnapshotComplete(), true);
      const changes = rowsOf([(await source.pollChanges())!]);
      assert.deepEqual(
        changes.map((r) => r.ID),
        ['3'],
      );
      assert.deepEqual(
        warnings.map((w) => [w.code, w.table]),
        [['CHECKPOINT_UNIDENTIFIED', 'IDENT.O']],
      );
      assert.match(warnings[0]!.message, /older refstream.*next commit records hosts /);
      assert.equal(identityOf(source.checkpoint())?.database, 'exa_a', 'the next checkpoint records the identity');
    } finally {
      await source.close();
    }
    // a snapshot-phase checkpoint resumes nothing: no warning
    const snapshotOnly = watermark(a, 'O', { onWarning: (w) => warnings.push(w) });
    try {
      await snapshotOnly.restore(withoutIdentity({ ...cp, phase: 'snapshot', position: { mode: 'watermark' } }));
      assert.equal(warnings.length, 1);
    } finally {
      await snapshotOnly.close();
    }
  });

  test('host lists that share a host are the same cluster (a node added to the DSN); disjoint ones are not', async () => {
    const cp = await changesCheckpoint(watermark(a, 'W'));
    const grown = watermark(a, 'W');
    try {
      await grown.restore(withIdentity(cp, { hosts: [`${a.host}:${a.port}`, '10.99.0.2:8563'] }));
      assert.equal(grown.isSnapshotComplete(), true);
    } finally {
      await grown.close();
    }
    const moved = watermark(a, 'W');
    try {
      await assert.rejects(
        moved.restore(withIdentity(cp, { hosts: ['10.99.0.2:8563'] })),
        (e: unknown) => ConnectorError.is(e, 'CHECKPOINT_MISMATCH') && /\(host list differs\)/.test(e.message),
      );
    } finally {
      await moved.close();
    }
  });
});
