/**
 * PostgresCheckpointStore as an operator meets it: a restart of the checkpoint server during a
 * run, a server whose synchronous_commit is off, a table another role created first, and a
 * host that refuses or never answers.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { sync } from '../../src/sdk/sync.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import { MemorySink } from '../../src/sinks/memory.js';
import { storedCheckpoint } from '../../src/sdk/checkpoint-store.js';
import { CHECKPOINT_VERSION } from '../../src/sdk/checkpoint.js';
import { PostgresCheckpointStore, PostgresSource } from '../../src/connectors/postgres/index.js';
import { createTestTable, eventually, uniqueName } from './helpers.js';

/** The error a callback rejects with (fails when it resolves). */
async function errorOf(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  assert.fail('expected an error');
}

const sample = storedCheckpoint({
  version: CHECKPOINT_VERSION,
  connector: 'test',
  table: 'public.t',
  phase: 'changes',
  position: { n: 1 },
});

describe('PostgresCheckpointStore', () => {
  let source: TestPostgres;
  let store: TestPostgres;
  before(async () => {
    [source, store] = await Promise.all([startPostgres(), startPostgres({ settings: { synchronous_commit: 'off' } })]);
  });
  after(async () => {
    await Promise.all([source?.stop(), store?.stop()]);
  });

  it('a run keeps committing after the checkpoint server restarts', async () => {
    const table = uniqueName('restart_cp');
    await createTestTable(source, table);
    await source.query(`INSERT INTO ${table} SELECT g, 'n' || g, g, now(), true, null FROM generate_series(1, 100) g`);
    const checkpoints = new PostgresCheckpointStore({ connectionString: store.connectionString, id: `public.${table}` });
    const slot = uniqueName('s');
    const run = sync({
      source: () =>
        new PostgresSource({ connectionString: source.connectionString, table, slot, publication: `p_${slot}`, maxWaitMs: 200 }),
      sinks: [new MemorySink(new ReferenceTable())],
      checkpoints,
      commitEvery: { ms: 100 },
      // a slow restart must not use up the retry budget (10 attempts without a commit)
      retry: { initialDelayMs: 100, maxDelayMs: 2000 },
    });
    try {
      await eventually(async () => run.progress.phase === 'changes' && run.progress.commits > 0, 15_000, 'the snapshot to be committed');
      await store.shutdown('fast');
      await source.query(`INSERT INTO ${table} VALUES (1001, 'during', 1, now(), true, null)`);
      await new Promise((r) => setTimeout(r, 1500));
      await store.restart();
      const commitsAfterRestart = run.progress.commits;
      await source.query(`INSERT INTO ${table} VALUES (1002, 'after', 1, now(), true, null)`);
      await eventually(
        async () => run.progress.commits > commitsAfterRestart && run.progress.changeRows >= 2,
        20_000,
        'a commit after the restart',
      );
      const [row] = await store.query<{ lsn: string }>(
        `SELECT checkpoint->'checkpoint'->'position'->>'lsn' AS lsn FROM public.refstream_checkpoints WHERE id = $1`,
        [`public.${table}`],
      );
      assert.equal(row?.lsn, (run.progress.lastCheckpoint!.position as { lsn: string }).lsn, 'the last commit is in the restarted server');
      run.stop();
      const result = await run.done;
      assert.equal(result.stoppedBy, 'stop');
    } finally {
      run.stop();
      await run.done.catch(() => {});
      await checkpoints.close();
      await source.query(`SELECT pg_drop_replication_slot($1)`, [slot]).catch(() => {});
    }
  });

  it('saves with synchronous_commit on although the server default is off', async () => {
    const cpTable = uniqueName('durable_cp');
    await store.query(
      `CREATE TABLE ${cpTable} (id text PRIMARY KEY, checkpoint jsonb NOT NULL, saved_at timestamptz NOT NULL DEFAULT now())`,
    );
    await store.query(`CREATE TABLE ${cpTable}_seen (setting text)`);
    await store.query(
      `CREATE FUNCTION ${cpTable}_note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO ${cpTable}_seen VALUES (current_setting('synchronous_commit')); RETURN NEW; END $$`,
    );
    await store.query(`CREATE TRIGGER note BEFORE INSERT OR UPDATE ON ${cpTable} FOR EACH ROW EXECUTE FUNCTION ${cpTable}_note()`);
    const [server] = await store.query<{ s: string }>(`SELECT current_setting('synchronous_commit') AS s`);
    assert.equal(server!.s, 'off', 'the server default is off');
    const checkpoints = new PostgresCheckpointStore({ connectionString: store.connectionString, table: cpTable, id: 'public.t' });
    try {
      await checkpoints.save(sample);
      await checkpoints.save(sample);
      assert.deepEqual((await checkpoints.load())?.checkpoint, sample.checkpoint);
    } finally {
      await checkpoints.close();
    }
    const seen = await store.query<{ setting: string }>(`SELECT setting FROM ${cpTable}_seen`);
    // (an upsert of an existing row fires the insert and the update trigger)
    assert.ok(seen.length >= 2, `the trigger ran: ${JSON.stringify(seen)}`);
    assert.deepEqual(new Set(seen.map((r) => r.setting)), new Set(['on']));
  });

  it('refuses an existing checkpoint table that another role owns', async () => {
    const cpTable = uniqueName('foreign_cp');
    await store.query(`CREATE ROLE ${cpTable}_owner`);
    await store.query(
      `CREATE TABLE ${cpTable} (id text PRIMARY KEY, checkpoint jsonb NOT NULL, saved_at timestamptz NOT NULL DEFAULT now())`,
    );
    await store.query(`ALTER TABLE ${cpTable} OWNER TO ${cpTable}_owner`);
    const checkpoints = new PostgresCheckpointStore({ connectionString: store.connectionString, table: cpTable, id: 'public.t' });
    try {
      for (const call of [() => checkpoints.load(), () => checkpoints.save(sample)]) {
        const failure = await errorOf(call);
        assert.ok(ConnectorError.is(failure), String(failure));
        assert.equal(failure.code, 'PERMISSION_DENIED');
        assert.equal(failure.kind, 'definite');
        assert.match(failure.message, new RegExp(`owned by role ${cpTable}_owner`));
        assert.match(failure.hint ?? '', /OWNER TO "postgres"/);
      }
      assert.deepEqual(await store.query(`SELECT * FROM ${cpTable}`), [], 'nothing was written');
      await store.query(`ALTER TABLE ${cpTable} OWNER TO postgres`);
      await checkpoints.save(sample);
      assert.deepEqual((await checkpoints.load())?.checkpoint, sample.checkpoint, 'usable once owned');
    } finally {
      await checkpoints.close();
    }
  });

  it('load maps a refused connection to a transient ConnectorError', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const checkpoints = new PostgresCheckpointStore({ connectionString: `postgres://app:s3cret@127.0.0.1:${port}/x`, id: 'public.t' });
    const failure = await errorOf(() => checkpoints.load());
    await checkpoints.close();
    assert.ok(ConnectorError.is(failure), String(failure));
    assert.equal(failure.code, 'CONNECTION_REFUSED');
    assert.equal(failure.kind, 'transient');
  });

  it('a host that accepts but never answers fails within the connect timeout instead of hanging', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const checkpoints = new PostgresCheckpointStore({
      connectionString: `postgres://app@127.0.0.1:${port}/x`,
      id: 'public.t',
      connectTimeoutMs: 500,
    });
    const started = Date.now();
    try {
      const failure = await Promise.race([
        errorOf(() => checkpoints.load()),
        new Promise((r) => setTimeout(() => r('still waiting after 10 s'), 10_000).unref()),
      ]);
      assert.ok(ConnectorError.is(failure), String(failure));
      assert.equal(failure.kind, 'transient', failure.message);
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    } finally {
      await checkpoints.close();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
