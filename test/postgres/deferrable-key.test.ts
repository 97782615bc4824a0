/**
 * A DEFERRABLE primary key (followable only under REPLICA IDENTITY FULL): `UPDATE t SET id =
 * id + 1` decodes as 1→2, 2→3, 3→4, and delivering each key change as delete + insert folds to
 * {4} while the table holds {2, 3, 4}. Such keys are refused with a definite error.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { Fold, PG_VERSIONS, drainSnapshot, pollChanges, sourceFor, uniqueName } from './helpers.js';

const isDeferrable = (e: unknown) =>
  ConnectorError.is(e, 'SCHEMA_INCOMPATIBLE') &&
  e.kind === 'definite' &&
  /DEFERRABLE/.test(e.message) &&
  /ADD PRIMARY KEY/.test(e.hint ?? '');

for (const version of PG_VERSIONS) {
  describe(`postgres ${version}: deferrable primary keys`, () => {
    let pg: TestPostgres;
    before(async () => {
      pg = await startPostgres({ version });
    });
    after(() => pg.stop());

    it('a DEFERRABLE primary key under REPLICA IDENTITY FULL is refused before any row is delivered', async () => {
      const t = uniqueName('defer');
      await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY DEFERRABLE, v text)`);
      await pg.query(`ALTER TABLE ${t} REPLICA IDENTITY FULL`);
      await pg.query(`INSERT INTO ${t} VALUES (1, 'a'), (2, 'b'), (3, 'c')`);
      const source = sourceFor(pg, t);
      try {
        await assert.rejects(source.pollSnapshot(), isDeferrable);
        const [{ n }] = await pg.query<{ n: string }>(`SELECT count(*)::text AS n FROM pg_replication_slots WHERE slot_name = $1`, [
          source.config.slotName,
        ]);
        assert.equal(n, '0', 'no slot was created');
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('a primary key re-created as DEFERRABLE while streaming stops the stream before a key shift is delivered', async () => {
      const t = uniqueName('defer_late');
      await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, v text)`);
      await pg.query(`ALTER TABLE ${t} REPLICA IDENTITY FULL`);
      await pg.query(`INSERT INTO ${t} VALUES (1, 'a'), (2, 'b'), (3, 'c')`);
      const source = sourceFor(pg, t);
      const fold = new Fold();
      try {
        for (const b of await drainSnapshot(source)) fold.snapshot(b);
        await pg.query(`ALTER TABLE ${t} DROP CONSTRAINT ${t}_pkey, ADD PRIMARY KEY (id) DEFERRABLE`);
        await pg.query(`UPDATE ${t} SET id = id + 1`);
        // without the check the key shift arrives as del1 ins2 del2 ins3 del3 ins4 and folds to {4}
        let error: unknown = null;
        try {
          for (const r of await pollChanges(source, 6)) fold.change(r);
        } catch (e) {
          error = e;
        }
        assert.ok(
          isDeferrable(error),
          `expected SCHEMA_INCOMPATIBLE; the key shift was delivered and folds to {${[...fold.rows.keys()].join(', ')}}: ${String(error)}`,
        );
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('a one-shot snapshot of a table with a DEFERRABLE key works (it follows no changes)', async () => {
      const t = uniqueName('defer_once');
      await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY DEFERRABLE, v text)`);
      await pg.query(`INSERT INTO ${t} VALUES (1, 'a'), (2, 'b')`);
      const source = sourceFor(pg, t, { mode: 'snapshot-only' });
      try {
        const rows = (await drainSnapshot(source)).reduce((n, b) => n + b.numRows, 0);
        assert.equal(rows, 2);
      } finally {
        await source.close();
      }
    });
  });
}
