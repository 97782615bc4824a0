/**
 * Errors: config validation, server settings, privileges, missing and dropped objects,
 * invalidated slots, identifiers and injection attempts, transient failures.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { PostgresSource, parseQualifiedName } from '../../src/connectors/postgres/index.js';
import { PG_VERSIONS, createTestTable, drainSnapshot, jsonRows, pollChanges, sourceFor, uniqueName } from './helpers.js';

const TS = `'2024-05-06 07:08:09.5+00'`;

function isError(code: string, kind: 'definite' | 'transient' = 'definite', extra?: (e: ConnectorError) => boolean) {
  return (e: unknown) => {
    assert.ok(ConnectorError.is(e), `not a ConnectorError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.kind, kind);
    if (extra) assert.ok(extra(e), `${e.message} / ${e.hint}`);
    return true;
  };
}

describe('postgres config validation (no server)', () => {
  it('lists every problem at once, before any connection, never printing the password', () => {
    assert.throws(
      () =>
        new PostgresSource({
          connectionString: 'postgres://app:s3cret-pw@db.invalid:5432/x',
          table: 'a.b.c',
          slot: 'Bad-Slot',
          batchRows: 0,
          maxWaitMs: -1,
          snapshotParallelism: 1000,
          bogus: true,
        } as never),
      isError('CONFIG_INVALID', 'definite', (e) => {
        for (const key of ['table', 'slot', 'batchRows', 'maxWaitMs', 'snapshotParallelism', 'bogus'])
          assert.match(e.message, new RegExp(key));
        assert.doesNotMatch(e.message + (e.hint ?? '') + JSON.stringify(e), /s3cret/);
        return true;
      }),
    );
    assert.throws(
      () => new PostgresSource({ connection: { host: 'h', port: 70000, password: 'hunter2-pw' }, table: '' }),
      isError('CONFIG_INVALID', 'definite', (e) => /port/.test(e.message) && /table/.test(e.message) && !/hunter2/.test(e.message)),
    );
    assert.throws(
      () => new PostgresSource({ connectionString: 'mysql://u:topsecret@h/db', table: 't' }),
      isError('CONFIG_INVALID', 'definite', (e) => !/topsecret/.test(e.message)),
    );
  });

  it('parses qualified names with quoted parts', () => {
    assert.deepEqual(parseQualifiedName('t'), { schema: 'public', name: 't' });
    assert.deepEqual(parseQualifiedName('Sales.Orders'), { schema: 'sales', name: 'orders' });
    assert.deepEqual(parseQualifiedName('"My Schema.v1"."Weird ""Name"""'), { schema: 'My Schema.v1', name: 'Weird "Name"' });
    assert.equal(parseQualifiedName('a.b.c'), undefined);
    assert.equal(parseQualifiedName('t; DROP TABLE x'), undefined);
    assert.equal(parseQualifiedName('"unterminated'), undefined);
  });
});

for (const version of PG_VERSIONS) {
  describe(`postgres ${version}: errors`, () => {
    let pg: TestPostgres;
    before(async () => {
      pg = await startPostgres({ version });
    });
    after(() => pg.stop());

    const asUser = (user: string) => pg.connectionString.replace('//postgres@', `//${user}@`);

    it('wal_level other than logical is a definite WAL_LEVEL with the setting that fixes it', async () => {
      const replica = await startPostgres({ version, walLevel: 'replica' });
      try {
        await replica.query(`CREATE TABLE t (id int PRIMARY KEY)`);
        const source = new PostgresSource({ connectionString: replica.connectionString, table: 't' });
        await assert.rejects(
          source.pollSnapshot(),
          isError('WAL_LEVEL', 'definite', (e) => /wal_level = logical/.test(e.hint ?? '')),
        );
        await source.close();
      } finally {
        await replica.stop();
      }
    });

    it('missing REPLICATION or SELECT privileges are PERMISSION_DENIED with the statement that fixes them', async () => {
      const t = uniqueName('priv');
      await createTestTable(pg, t);
      await pg.query(`CREATE ROLE norepl LOGIN`);
      await pg.query(`CREATE ROLE noselect LOGIN REPLICATION`);
      const a = new PostgresSource({ connectionString: asUser('norepl'), table: t });
      await assert.rejects(
        a.pollSnapshot(),
        isError('PERMISSION_DENIED', 'definite', (e) => /ALTER ROLE "norepl" WITH REPLICATION/.test(e.hint ?? '')),
      );
      await a.close();
      const b = new PostgresSource({ connectionString: asUser('noselect'), table: t });
      await assert.rejects(
        b.pollSnapshot(),
        isError('PERMISSION_DENIED', 'definite', (e) => new RegExp(`GRANT SELECT ON "public"."${t}" TO "noselect"`).test(e.hint ?? '')),
      );
      await b.close();
    });

    it('structural connection settings (connection: { host, port, user, database }) work like a URL', async () => {
      const t = uniqueName('structural');
      await createTestTable(pg, t);
      await pg.query(`INSERT INTO ${t} VALUES (1, 'a', 1, ${TS}, true, null)`);
      const source = new PostgresSource({
        connection: { host: pg.host, port: pg.port, user: pg.user, database: pg.database },
        table: t,
        slot: uniqueName('s'),
        maxWaitMs: 200,
      });
      try {
        assert.deepEqual(
          (await drainSnapshot(source)).flatMap(jsonRows).map((r) => r[0]),
          ['1'],
        );
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('without a primary key, REPLICA IDENTITY USING INDEX makes that unique index the key', async () => {
      const t = uniqueName('ident');
      await pg.query(`CREATE TABLE ${t} (code text NOT NULL, region int NOT NULL, v text)`);
      await pg.query(`CREATE UNIQUE INDEX ${t}_key ON ${t} (region, code)`);
      await pg.query(`ALTER TABLE ${t} REPLICA IDENTITY USING INDEX ${t}_key`);
      await pg.query(`INSERT INTO ${t} VALUES ('a', 1, 'x'), ('b', 1, 'y')`);
      const source = sourceFor(pg, t);
      try {
        const [batch] = await drainSnapshot(source);
        assert.deepEqual(JSON.parse(batch!.schema.metadata.get('refstream.primary_key')!), ['region', 'code']);
        await pg.query(`UPDATE ${t} SET v = 'x2' WHERE code = 'a'`);
        await pg.query(`UPDATE ${t} SET code = 'c' WHERE code = 'b'`);
        await pg.query(`DELETE FROM ${t} WHERE code = 'a'`);
        const changes = await pollChanges(source, 4);
        assert.deepEqual(
          changes.map((c) => [c.type, c.values]),
          [
            ['update', ['a', 1, 'x2']],
            ['delete', ['b', 1, null]],
            ['insert', ['c', 1, 'y']],
            ['delete', ['a', 1, null]],
          ],
        );
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('a missing table is TABLE_NOT_FOUND; a table without primary key is NO_PRIMARY_KEY', async () => {
      const missing = sourceFor(pg, 'no_such_table');
      await assert.rejects(missing.pollSnapshot(), isError('TABLE_NOT_FOUND'));
      await missing.close();
      const t = uniqueName('nopk');
      await pg.query(`CREATE TABLE ${t} (a int)`);
      const nopk = sourceFor(pg, t);
      await assert.rejects(
        nopk.pollSnapshot(),
        isError('NO_PRIMARY_KEY', 'definite', (e) => /PRIMARY KEY/.test(e.hint ?? '') && /REPLICA IDENTITY USING INDEX/.test(e.hint ?? '')),
      );
      await nopk.close();
    });

    it('without create flags, a missing publication or slot is definite with the statement that creates it', async () => {
      const t = uniqueName('noflags');
      await createTestTable(pg, t);
      const a = sourceFor(pg, t, { createPublication: false });
      await assert.rejects(
        a.pollSnapshot(),
        isError('PUBLICATION_MISSING', 'definite', (e) => /CREATE PUBLICATION/.test(e.hint ?? '')),
      );
      await a.close();
      const partial = `p_inserts_${t}`;
      await pg.query(`CREATE PUBLICATION ${partial} FOR TABLE ${t} WITH (publish = 'insert')`);
      const c = sourceFor(pg, t, { publication: partial });
      await assert.rejects(
        c.pollSnapshot(),
        isError('CONFIG_INVALID', 'definite', (e) => /publish = 'insert, update, delete, truncate'/.test(e.hint ?? '')),
      );
      await c.close();
      const b = sourceFor(pg, t, { createSlot: false });
      await assert.rejects(
        b.pollSnapshot(),
        isError('SLOT_MISSING', 'definite', (e) => /pg_create_logical_replication_slot/.test(e.hint ?? '')),
      );
      await b.close();
    });

    it('a dropped table is TABLE_DROPPED; a dropped publication is PUBLICATION_MISSING', async () => {
      const t = uniqueName('dropped');
      await createTestTable(pg, t);
      const a = sourceFor(pg, t, { catalogCheckIntervalMs: 100 });
      await drainSnapshot(a);
      await pg.query(`DROP TABLE ${t}`);
      await assert.rejects(
        pollChanges(a, 1, 5000),
        isError('TABLE_DROPPED', 'definite', (e) => e.table === `public.${t}`),
      );
      await a.close({ dropSlot: true });

      const t2 = uniqueName('droppub');
      await createTestTable(pg, t2);
      const b = sourceFor(pg, t2, { catalogCheckIntervalMs: 100 });
      await drainSnapshot(b);
      await pg.query(`DROP PUBLICATION ${(b.config as { publicationName: string }).publicationName}`);
      await assert.rejects(pollChanges(b, 1, 5000), isError('PUBLICATION_MISSING'));
      await b.close({ dropSlot: true });
    });

    it('a truncate is delivered as a truncate row (TABLE_TRUNCATED is never raised)', async () => {
      const t = uniqueName('trunc');
      await createTestTable(pg, t);
      await pg.query(`INSERT INTO ${t} VALUES (1, 'a', 1, ${TS}, true, null)`);
      const a = sourceFor(pg, t);
      await drainSnapshot(a);
      await pg.query(`TRUNCATE ${t}`);
      const rows = await pollChanges(a, 1);
      assert.deepEqual(
        rows.map((r) => r.type),
        ['truncate'],
      );
      await a.close({ dropSlot: true });
    });

    it('restoring after the slot was dropped is SLOT_MISSING; an invalidated slot is SLOT_INVALIDATED', async () => {
      const t = uniqueName('slotgone');
      await createTestTable(pg, t);
      const a = sourceFor(pg, t);
      await drainSnapshot(a);
      const cp = a.checkpoint();
      await a.close({ dropSlot: true });
      const b = sourceFor(pg, t, { slot: a.config.slotName, publication: a.config.publicationName });
      await b.restore(cp);
      await assert.rejects(b.pollChanges(), isError('SLOT_MISSING'));
      await b.close();

      // invalidation: cap retained WAL, then write past it while the slot is inactive
      const c = sourceFor(pg, t);
      await drainSnapshot(c);
      const cp2 = c.checkpoint();
      await c.close();
      await pg.query(`ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'`);
      await pg.query(`SELECT pg_reload_conf()`);
      try {
        const filler = uniqueName('filler');
        await pg.query(`CREATE TABLE ${filler} (x text)`);
        for (let i = 0; i < 4; i++) {
          await pg.query(`INSERT INTO ${filler} SELECT repeat(md5(g::text), 40) FROM generate_series(1, 4000) g`);
          await pg.query(`SELECT pg_switch_wal()`);
        }
        await pg.query(`CHECKPOINT`);
        const [state] = await pg.query(`SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1`, [c.config.slotName]);
        assert.equal(state!.wal_status, 'lost');
        const d = sourceFor(pg, t, { slot: c.config.slotName, publication: c.config.publicationName });
        // refused at restore already, before anything is read
        await assert.rejects(
          d.restore(cp2),
          isError('SLOT_INVALIDATED', 'definite', (e) => /pg_drop_replication_slot/.test(e.hint ?? '') && /resnapshot/.test(e.hint ?? '')),
        );
        await d.close({ dropSlot: true });
      } finally {
        await pg.query(`ALTER SYSTEM RESET max_slot_wal_keep_size`);
        await pg.query(`SELECT pg_reload_conf()`);
      }
    });

    it('weird schema, table and column names work; injection attempts fail harmlessly', async () => {
      await pg.query(`CREATE SCHEMA "My Schema.v1"`);
      await pg.query(`CREATE TABLE "My Schema.v1"."Weird ""Name""" ("Key Col" int PRIMARY KEY, "va""l" text, "select" int)`);
      await pg.query(`INSERT INTO "My Schema.v1"."Weird ""Name""" VALUES (1, 'x', 2)`);
      await pg.query(`CREATE TABLE victim (id int PRIMARY KEY)`);
      const slot = uniqueName('s');
      const source = new PostgresSource({
        connectionString: pg.connectionString,
        table: '"My Schema.v1"."Weird ""Name"""',
        slot,
        publication: `pub "; DROP TABLE victim; --`,
        maxWaitMs: 200,
      });
      try {
        const batches = await drainSnapshot(source);
        assert.equal(batches[0]!.schema.metadata.get('refstream.table'), '"My Schema.v1"."Weird ""Name"""');
        assert.deepEqual(
          batches[0]!.schema.fields.map((f) => f.name),
          ['Key Col', 'va"l', 'select'],
        );
        assert.deepEqual(jsonRows(batches[0]!), [[1, 'x', 2]]);
        await pg.query(`UPDATE "My Schema.v1"."Weird ""Name""" SET "va""l" = 'y'`);
        assert.deepEqual((await pollChanges(source, 1))[0]!.values, [1, 'y', 2]);
      } finally {
        await source.close({ dropSlot: true });
      }
      const injected = new PostgresSource({
        connectionString: pg.connectionString,
        table: `"x""; DROP TABLE victim; --"`,
        slot: uniqueName('s'),
      });
      await assert.rejects(injected.pollSnapshot(), isError('TABLE_NOT_FOUND'));
      await injected.close();
      assert.throws(
        () => new PostgresSource({ connectionString: pg.connectionString, table: 't', slot: `x LOGICAL pgoutput; DROP TABLE victim` }),
        isError('CONFIG_INVALID'),
      );
      assert.equal((await pg.query(`SELECT to_regclass('public.victim') IS NOT NULL AS ok`))[0]!.ok, true);
    });

    it('a second reader on a busy slot gets transient SLOT_IN_USE', async () => {
      const t = uniqueName('busy');
      await createTestTable(pg, t);
      const a = sourceFor(pg, t);
      await drainSnapshot(a);
      await a.pollChanges();
      const b = sourceFor(pg, t, { slot: a.config.slotName, publication: a.config.publicationName });
      await b.restore(a.checkpoint());
      await assert.rejects(b.pollChanges(), isError('SLOT_IN_USE', 'transient'));
      await b.close();
      await a.close({ dropSlot: true });
    });

    it('a terminated walsender and a server restart are transient; a restored source continues', async () => {
      const t = uniqueName('transient');
      await createTestTable(pg, t);
      const a = sourceFor(pg, t);
      await drainSnapshot(a);
      await pg.query(`INSERT INTO ${t} VALUES (1, 'a', 1, ${TS}, true, null)`);
      await pollChanges(a, 1);
      const cp = a.checkpoint();
      await pg.query(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1`, [a.config.slotName]);
      await assert.rejects(pollChanges(a, 1, 5000), (e: unknown) => ConnectorError.isTransient(e));
      await a.close();

      const b = sourceFor(pg, t, { slot: a.config.slotName, publication: a.config.publicationName });
      await b.restore(cp);
      await b.pollChanges();
      // A fast shutdown waits until logical clients confirm everything sent; refstream confirms
      // only committed checkpoints, so keep committing (as the sync runner does) while it stops.
      const stopping = pg.shutdown('fast');
      await assert.rejects(
        (async () => {
          for (;;) {
            await b.pollChanges();
            await b.commit(b.checkpoint());
          }
        })(),
        (e: unknown) => ConnectorError.isTransient(e),
      );
      await stopping;
      await b.close();
      await pg.restart();
      await pg.query(`INSERT INTO ${t} VALUES (2, 'b', 1, ${TS}, true, null)`);
      const c = sourceFor(pg, t, { slot: a.config.slotName, publication: a.config.publicationName });
      await c.restore(b.checkpoint());
      assert.deepEqual(
        (await pollChanges(c, 1)).map((r) => r.values[0]),
        ['2'],
      );
      await c.close({ dropSlot: true });
      // connecting to a stopped server is transient as well
      await pg.shutdown('fast');
      const d = sourceFor(pg, t);
      await assert.rejects(d.pollSnapshot(), (e: unknown) => ConnectorError.isTransient(e));
      await d.close();
      await pg.restart();
    });
  });
}
