/**
 * Trigger capture (`capture: 'trigger'`) on a server with `wal_level = replica`, where logical
 * replication is impossible: change rows and their conventions, long transactions that commit
 * after shorter ones, commit order against xid order, unchanged large values, several
 * consumers and the change table's cleanup, NOTIFY switched off, and the errors that protect
 * against silent loss (triggers disabled, checkpoints of another consumer or mode, expired
 * checkpoints, a consumer in use).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { PostgresSource, type PostgresSourceConfig } from '../../src/connectors/postgres/index.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import {
  PG_VERSIONS,
  changeRows,
  createTestTable,
  diffStates,
  drainSnapshot,
  Fold,
  jsonRows,
  pollChanges,
  pollQuiet,
  tableState,
  uniqueName,
} from './helpers.js';

function triggerSource(server: TestPostgres, table: string, extra: Partial<PostgresSourceConfig> = {}): PostgresSource {
  return new PostgresSource({
    connectionString: server.connectionString,
    table,
    capture: 'trigger',
    installTriggers: true,
    maxWaitMs: 200,
    ...extra,
  });
}

async function client(server: TestPostgres): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: server.connectionString });
  await c.connect();
  return c;
}

async function changeTableRows(server: TestPostgres, table: string): Promise<number> {
  const [row] = await server.query<{ n: string }>(`SELECT count(*)::text AS n FROM refstream.changes_public_${table}`);
  return Number(row!.n);
}

for (const version of PG_VERSIONS) {
  describe(`trigger capture on PostgreSQL ${version} (wal_level = replica)`, () => {
    let server: TestPostgres;
    before(async () => {
      server = await startPostgres({ version, walLevel: 'replica' });
    });
    after(async () => {
      await server?.stop();
    });

    it('logical capture is impossible on this server, trigger capture delivers inserts, updates, key changes, deletes and truncates', async () => {
      const table = uniqueName('basic');
      await createTestTable(server, table);
      await server.query(
        `INSERT INTO ${table} VALUES (1, 'a', 1.50, '2024-01-01Z', true, NULL), (2, 'b', 2.50, '2024-01-02Z', false, 'n')`,
      );
      const logical = new PostgresSource({ connectionString: server.connectionString, table, slot: uniqueName('s') });
      await assert.rejects(logical.pollSnapshot(), (e: unknown) => ConnectorError.is(e, 'WAL_LEVEL'));
      await logical.close();
      const source = triggerSource(server, table);
      try {
        const snapshot = (await drainSnapshot(source)).flatMap(jsonRows);
        assert.deepEqual(
          snapshot.map((r) => r[0]),
          ['1', '2'],
        );
        await server.query(`INSERT INTO ${table} VALUES (3, 'c', 3.00, '2024-01-03Z', true, NULL)`);
        await server.query(`UPDATE ${table} SET note = 'x' WHERE id = 2`);
        await server.query(`UPDATE ${table} SET id = 10 WHERE id = 1`);
        await server.query(`DELETE FROM ${table} WHERE id = 3`);
        await server.query(`TRUNCATE ${table}`);
        await server.query(`INSERT INTO ${table} VALUES (4, 'd', 4.00, '2024-01-04Z', true, NULL)`);
        const rows = await pollChanges(source, 7);
        assert.deepEqual(
          rows.map((r) => [r.type, r.values[0], r.values[5] ?? null]),
          [
            ['insert', '3', null],
            ['update', '2', 'x'],
            ['delete', '1', null],
            ['insert', '10', null],
            ['delete', '3', null],
            ['truncate', null, null],
            ['insert', '4', null],
          ],
        );
        // a delete carries only the key; a truncate no value at all
        assert.deepEqual(rows[2]!.values, ['1', null, null, null, null, null]);
        assert.deepEqual(rows[5]!.values, [null, null, null, null, null, null]);
        const positions = rows.map((r) => r.position);
        assert.deepEqual([...positions].sort(), positions, 'positions sort in delivery order');
        assert.equal(new Set(positions).size, positions.length);
      } finally {
        await source.close();
      }
    });

    it('snapshot hand-off: a transaction committed before the snapshot is only in it, one open during it only in the changes', async () => {
      const table = uniqueName('handoff');
      await createTestTable(server, table);
      await server.query(`INSERT INTO ${table} VALUES (1, 'before', 1, now(), true, NULL)`);
      const open = await client(server);
      const source = triggerSource(server, table, { installTriggers: false });
      const { installTriggers, parseQualifiedName } = await import('../../src/connectors/postgres/index.js');
      const admin = await client(server);
      try {
        await installTriggers(admin, parseQualifiedName(table)!);
        await server.query(`UPDATE ${table} SET name = 'before, updated' WHERE id = 1`);
        await open.query('BEGIN');
        await open.query(`INSERT INTO ${table} VALUES (2, 'open during the snapshot', 1, now(), true, NULL)`);
        await open.query(`UPDATE ${table} SET name = 'changed by the open one' WHERE id = 1`);
        const snapshot = (await drainSnapshot(source)).flatMap(jsonRows);
        assert.deepEqual(
          snapshot.map((r) => [r[0], r[1]]),
          [['1', 'before, updated']],
        );
        await open.query('COMMIT');
        const rows = await pollChanges(source, 2);
        assert.deepEqual(
          rows.map((r) => [r.type, r.values[0], r.values[1]]),
          [
            ['insert', '2', 'open during the snapshot'],
            ['update', '1', 'changed by the open one'],
          ],
        );
        assert.deepEqual(await pollQuiet(source), [], 'nothing twice, nothing of before the snapshot');
      } finally {
        await open.end();
        await admin.end();
        await source.close();
      }
    });

    it('a long transaction that began first and commits last is delivered after the shorter ones, never skipped', async () => {
      const table = uniqueName('long');
      await createTestTable(server, table);
      const source = triggerSource(server, table);
      const long = await client(server);
      try {
        await drainSnapshot(source);
        await long.query('BEGIN');
        await long.query(`INSERT INTO ${table} VALUES (1, 'long', 1, now(), true, NULL)`); // the smallest xid
        for (let i = 2; i <= 4; i++) await server.query(`INSERT INTO ${table} VALUES (${i}, 'short', 1, now(), true, NULL)`);
        const first = await pollChanges(source, 3);
        assert.deepEqual(
          first.map((r) => r.values[0]),
          ['2', '3', '4'],
        );
        assert.deepEqual(await pollQuiet(source), [], 'nothing of the open transaction');
        await long.query(`UPDATE ${table} SET name = 'long, committed' WHERE id = 1`);
        await long.query('COMMIT');
        const rest = await pollChanges(source, 2);
        assert.deepEqual(
          rest.map((r) => [r.type, r.values[0], r.values[1]]),
          [
            ['insert', '1', 'long'],
            ['update', '1', 'long, committed'],
          ],
        );
        assert.ok(rest[0]!.position > first[2]!.position, 'the long transaction comes after what committed before it');
      } finally {
        await long.end();
        await source.close();
      }
    });

    it("a transaction with a smaller xid that changes a key after a larger-xid transaction committed it is delivered after it (the key's commit order)", async () => {
      const table = uniqueName('order');
      await createTestTable(server, table);
      await server.query(`INSERT INTO ${table} VALUES (1, 'v0', 1, now(), true, NULL)`);
      const source = triggerSource(server, table);
      const older = await client(server);
      const blocker = await client(server);
      try {
        await drainSnapshot(source);
        await older.query('BEGIN');
        const [{ xid: olderXid }] = (await older.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid')).rows as [
          { xid: string },
        ];
        await blocker.query('BEGIN');
        await blocker.query('SELECT pg_current_xact_id()'); // holds the xmin horizon below both
        // a younger transaction changes the key and commits
        await server.query(`UPDATE ${table} SET name = 'v1' WHERE id = 1`);
        // the older one changes it after that and commits
        await older.query(`UPDATE ${table} SET name = 'v2' WHERE id = 1`);
        await older.query('COMMIT');
        const rows = await pollChanges(source, 2);
        assert.deepEqual(
          rows.map((r) => r.values[1]),
          ['v1', 'v2'],
          `the key's changes in commit order (older xid ${olderXid})`,
        );
        await blocker.query('COMMIT');
      } finally {
        await older.end();
        await blocker.end();
        await source.close();
      }
    });

    it('rolled-back transactions and savepoints leave nothing; unchanged large (TOAST) values arrive whole', async () => {
      const table = uniqueName('toast');
      await server.query(`CREATE TABLE ${table} (id int PRIMARY KEY, n int, doc text)`);
      await server.query(`ALTER TABLE ${table} ALTER COLUMN doc SET STORAGE EXTERNAL`);
      const doc = `(SELECT string_agg(md5(g::text), '') FROM generate_series(1, 300) g)`;
      await server.query(`INSERT INTO ${table} VALUES (1, 0, ${doc})`);
      const [{ len }] = await server.query<{ len: number }>(`SELECT length(doc) AS len FROM ${table}`);
      const source = triggerSource(server, table);
      const c = await client(server);
      try {
        await drainSnapshot(source);
        await c.query('BEGIN');
        await c.query(`UPDATE ${table} SET n = 100 WHERE id = 1`);
        await c.query('ROLLBACK');
        await c.query('BEGIN');
        await c.query(`UPDATE ${table} SET n = 1 WHERE id = 1`);
        await c.query('SAVEPOINT s');
        await c.query(`UPDATE ${table} SET n = 200 WHERE id = 1`);
        await c.query('ROLLBACK TO SAVEPOINT s');
        await c.query('COMMIT');
        const rows = await pollChanges(source, 1);
        assert.equal(rows.length, 1);
        assert.equal(rows[0]!.values[1], 1);
        assert.equal((rows[0]!.values[2] as string).length, len, 'the unchanged out-of-line value arrives whole');
        assert.deepEqual(await pollQuiet(source), []);
      } finally {
        await c.end();
        await source.close();
      }
    });

    it('with NOTIFY switched off everywhere (triggers and reader), polling alone converges', async () => {
      const table = uniqueName('nonotify');
      await createTestTable(server, table);
      const { installTriggers, parseQualifiedName } = await import('../../src/connectors/postgres/index.js');
      const admin = await client(server);
      try {
        await installTriggers(admin, parseQualifiedName(table)!, { notify: false });
        const [{ body }] = (
          await admin.query<{ body: string }>(`SELECT prosrc AS body FROM pg_proc WHERE proname = 'capture_public_${table}'`)
        ).rows as [{ body: string }];
        assert.doesNotMatch(body, /pg_notify/);
      } finally {
        await admin.end();
      }
      const source = triggerSource(server, table, { installTriggers: false, notify: false, pollIntervalMs: 100 });
      try {
        await drainSnapshot(source);
        for (let i = 1; i <= 20; i++) await server.query(`INSERT INTO ${table} VALUES (${i}, 'n', 1, '2024-01-01Z', true, NULL)`);
        await server.query(`UPDATE ${table} SET active = false WHERE id <= 10`);
        await server.query(`DELETE FROM ${table} WHERE id > 15`);
        const fold = new Fold();
        const deadline = Date.now() + 10_000;
        const expected = await tableState(server, table);
        while (Date.now() < deadline) {
          const b = await source.pollChanges();
          if (b) for (const r of changeRows(b)) fold.change(r);
          if (JSON.stringify([...fold.rows].sort()) === JSON.stringify([...expected].sort())) break;
        }
        assert.deepEqual(diffStates(expected, fold.rows), { missing: [], extra: [], stale: [] });
      } finally {
        await source.close();
      }
    });

    it('two consumers read independently; change rows are deleted only once both have committed them', async () => {
      const table = uniqueName('consumers');
      await createTestTable(server, table);
      const a = triggerSource(server, table, { consumer: 'a' });
      const b = triggerSource(server, table, { consumer: 'b' });
      try {
        await drainSnapshot(a);
        await drainSnapshot(b);
        for (let i = 1; i <= 50; i++) await server.query(`INSERT INTO ${table} VALUES (${i}, 'x', 1, now(), true, NULL)`);
        const fromA = await pollChanges(a, 50);
        assert.equal(fromA.length, 50);
        await a.commit(a.checkpoint());
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(await changeTableRows(server, table), 50, 'b has not committed: every row stays');
        const fromB = await pollChanges(b, 50);
        // the same changes; positions are each consumer's own (its epochs)
        assert.deepEqual(
          fromB.map((r) => [r.type, r.values]),
          fromA.map((r) => [r.type, r.values]),
        );
        await b.commit(b.checkpoint());
        for (let i = 0; i < 50 && (await changeTableRows(server, table)) > 0; i++) await new Promise((r) => setTimeout(r, 50));
        assert.equal(await changeTableRows(server, table), 0, 'committed by both: deleted');
        // a second reader of one consumer is refused while the first holds it
        const again = triggerSource(server, table, { consumer: 'a' });
        const cp = a.checkpoint();
        await again.restore(cp);
        await assert.rejects(
          again.pollChanges(),
          (e: unknown) => ConnectorError.is(e, 'CONSUMER_IN_USE') && (e as ConnectorError).kind === 'transient',
        );
        await again.close();
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('checkpoints are refused for another consumer, logical capture or after a later commit; disabled triggers stop the stream', async () => {
      const table = uniqueName('refuse');
      await createTestTable(server, table);
      const a = triggerSource(server, table, { consumer: 'a', catalogCheckIntervalMs: 100 });
      try {
        await drainSnapshot(a);
        await server.query(`INSERT INTO ${table} VALUES (1, 'x', 1, now(), true, NULL)`);
        await pollChanges(a, 1);
        const early = a.checkpoint();
        await server.query(`INSERT INTO ${table} VALUES (2, 'x', 1, now(), true, NULL)`);
        await pollChanges(a, 1);
        await a.commit(a.checkpoint());
        const other = triggerSource(server, table, { consumer: 'b' });
        await assert.rejects(
          other.restore(early),
          (e: unknown) => ConnectorError.is(e, 'CHECKPOINT_MISMATCH') && /consumer a/.test((e as Error).message),
        );
        await other.close();
        const logical = new PostgresSource({ connectionString: server.connectionString, table, slot: uniqueName('s') });
        await assert.rejects(
          logical.restore(early),
          (e: unknown) => ConnectorError.is(e, 'CHECKPOINT_MISMATCH') && /trigger capture/.test((e as Error).message),
        );
        await logical.close();
        const stale = triggerSource(server, table, { consumer: 'a' });
        await assert.rejects(
          stale.restore(early),
          (e: unknown) => ConnectorError.is(e, 'CHECKPOINT_EXPIRED') && (e as ConnectorError).kind === 'definite',
        );
        await stale.close();
        await server.query(`ALTER TABLE ${table} DISABLE TRIGGER refstream_capture_update`);
        await new Promise((r) => setTimeout(r, 150));
        await assert.rejects(
          (async () => {
            // under a steady load (every poll finds a new epoch) the catalog check still runs
            const writer = await client(server);
            let writing = true;
            const writes = (async () => {
              for (let i = 100; writing; i++) await writer.query(`INSERT INTO ${table} VALUES (${i}, 'x', 1, now(), true, NULL)`);
            })();
            try {
              for (let i = 0; i < 300; i++) await a.pollChanges();
            } finally {
              writing = false;
              await writes;
              await writer.end();
            }
          })(),
          (e: unknown) => ConnectorError.is(e, 'TRIGGERS_MISSING') && /refstream_capture_update/.test((e as Error).message),
        );
      } finally {
        await a.close();
      }
    });

    it('a consumer removed while it reads is told at its next commit, not left to miss changes', async () => {
      const table = uniqueName('removed');
      await createTestTable(server, table);
      const source = triggerSource(server, table, { consumer: 'gone' });
      try {
        await drainSnapshot(source);
        await server.query(`INSERT INTO ${table} VALUES (1, 'x', 1, now(), true, NULL)`);
        await pollChanges(source, 1);
        await server.query(`DELETE FROM refstream.consumers_public_${table} WHERE consumer = 'gone'`);
        await server.query(`INSERT INTO ${table} VALUES (2, 'x', 1, now(), true, NULL)`);
        await pollChanges(source, 1);
        await assert.rejects(
          source.commit(source.checkpoint()),
          (e: unknown) => ConnectorError.is(e, 'CHECKPOINT_EXPIRED') && /was removed/.test((e as Error).message),
        );
      } finally {
        await source.close();
      }
    });

    it('a checkpoint of a table that was dropped and created again (another oid) is refused with CHECKPOINT_MISMATCH', async () => {
      const table = uniqueName('recreated');
      await createTestTable(server, table);
      const first = triggerSource(server, table);
      await drainSnapshot(first);
      await first.pollChanges();
      const cp = first.checkpoint();
      await first.close();
      await server.query(`DROP TABLE ${table}`);
      await createTestTable(server, table);
      const second = triggerSource(server, table);
      try {
        await assert.rejects(
          second.restore(cp),
          (e: unknown) => ConnectorError.is(e, 'CHECKPOINT_MISMATCH') && /table oid differs/.test((e as Error).message),
        );
      } finally {
        await second.close();
      }
      // the new table's capture starts afresh: the dropped table's consumers keep nothing
      const consumers = await server.query(`SELECT consumer FROM refstream.consumers_public_${table}`);
      assert.deepEqual(consumers, []);
    });

    it('without installTriggers a table without triggers is refused with the command that installs them', async () => {
      const table = uniqueName('missing');
      await createTestTable(server, table);
      const source = triggerSource(server, table, { installTriggers: false });
      await assert.rejects(
        source.pollSnapshot(),
        (e: unknown) => ConnectorError.is(e, 'TRIGGERS_MISSING') && /refstream install-triggers/.test((e as ConnectorError).hint ?? ''),
      );
      await source.close();
    });
  });
}
