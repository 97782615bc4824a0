/**
 * ADD COLUMN with a default fills the rows already in the table without any change event (a
 * fast default lives in the catalog; a volatile one rewrites the table). Evolving the schema
 * would leave those rows null downstream, so the source stops with a definite error instead.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { PG_VERSIONS, drainSnapshot, pollChanges, sourceFor, uniqueName } from './helpers.js';

const filledBy = (column: string) => (e: unknown) =>
  ConnectorError.is(e, 'SCHEMA_INCOMPATIBLE') &&
  e.kind === 'definite' &&
  new RegExp(`column ${column} was added`).test(e.message) &&
  /new snapshot/.test(e.hint ?? '');

for (const version of PG_VERSIONS) {
  describe(`postgres ${version}: columns added with a default`, () => {
    let pg: TestPostgres;
    before(async () => {
      pg = await startPostgres({ version });
    });
    after(() => pg.stop());

    const table = async (prefix: string, rows = 5): Promise<string> => {
      const t = uniqueName(prefix);
      await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, v int4)`);
      if (rows > 0) await pg.query(`INSERT INTO ${t} SELECT g, g FROM generate_series(1, ${rows}) g`);
      return t;
    };

    it('a constant default (fast default, no rewrite) is SCHEMA_INCOMPATIBLE instead of leaving older rows null', async () => {
      const t = await table('fastdef');
      const source = sourceFor(pg, t);
      try {
        await drainSnapshot(source);
        await pg.query(`ALTER TABLE ${t} ADD COLUMN active bool NOT NULL DEFAULT true`);
        const [{ missing }] = await pg.query<{ missing: boolean }>(
          `SELECT atthasmissing AS missing FROM pg_attribute WHERE attrelid = '${t}'::regclass AND attname = 'active'`,
        );
        assert.equal(missing, true, 'PostgreSQL stored the default as a missing value (no rewrite)');
        await pg.query(`UPDATE ${t} SET v = 100 WHERE id = 1`);
        await assert.rejects(pollChanges(source, 1), filledBy('active'));
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('a constant default on a partitioned table (kept in the leaves) is SCHEMA_INCOMPATIBLE', async () => {
      const t = uniqueName('fastdefpart');
      await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, v int4) PARTITION BY RANGE (id)`);
      await pg.query(`CREATE TABLE ${t}_a PARTITION OF ${t} FOR VALUES FROM (0) TO (100)`);
      await pg.query(`INSERT INTO ${t} SELECT g, g FROM generate_series(1, 5) g`);
      const source = sourceFor(pg, t);
      try {
        await drainSnapshot(source);
        await pg.query(`ALTER TABLE ${t} ADD COLUMN active bool NOT NULL DEFAULT true`);
        await pg.query(`UPDATE ${t} SET v = 100 WHERE id = 1`);
        await assert.rejects(pollChanges(source, 1), filledBy('active'));
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('a volatile default (table rewrite) is SCHEMA_INCOMPATIBLE', async () => {
      const t = await table('voldef');
      const source = sourceFor(pg, t);
      try {
        await drainSnapshot(source);
        const [{ before: was }] = await pg.query<{ before: string }>(`SELECT pg_relation_filenode('${t}')::text AS before`);
        await pg.query(`ALTER TABLE ${t} ADD COLUMN token uuid DEFAULT gen_random_uuid()`);
        const [{ now }] = await pg.query<{ now: string }>(`SELECT pg_relation_filenode('${t}')::text AS now`);
        assert.notEqual(now, was, 'PostgreSQL rewrote the table');
        await pg.query(`INSERT INTO ${t} (id, v) VALUES (6, 6)`);
        await assert.rejects(pollChanges(source, 1), filledBy('token'));
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('an added identity column (rewrite) is SCHEMA_INCOMPATIBLE', async () => {
      const t = await table('identcol');
      const source = sourceFor(pg, t);
      try {
        await drainSnapshot(source);
        await pg.query(`ALTER TABLE ${t} ADD COLUMN seq int8 GENERATED ALWAYS AS IDENTITY`);
        await pg.query(`DELETE FROM ${t} WHERE id = 2`);
        await assert.rejects(pollChanges(source, 1), filledBy('seq'));
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('a column added without a default and given one in a later transaction still evolves (older rows are null in PostgreSQL too)', async () => {
      const t = await table('latedef');
      const source = sourceFor(pg, t);
      try {
        await drainSnapshot(source);
        await pg.query(`ALTER TABLE ${t} ADD COLUMN note text`);
        await pg.query(`ALTER TABLE ${t} ALTER COLUMN note SET DEFAULT 'n/a'`);
        await pg.query(`INSERT INTO ${t} (id, v) VALUES (6, 6)`);
        const rows = await pollChanges(source, 1);
        assert.deepEqual(
          rows.map((r) => [r.type, r.values]),
          [['insert', ['6', 6, 'n/a']]],
        );
        const [{ nulls }] = await pg.query<{ nulls: string }>(`SELECT count(*)::text AS nulls FROM ${t} WHERE note IS NULL`);
        assert.equal(nulls, '5', 'the older rows are null upstream as well');
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('a constant default on a table that holds no row evolves the schema', async () => {
      const t = await table('emptydef', 0);
      const source = sourceFor(pg, t);
      try {
        await drainSnapshot(source);
        await pg.query(`ALTER TABLE ${t} ADD COLUMN active bool NOT NULL DEFAULT true`);
        await pg.query(`INSERT INTO ${t} (id, v) VALUES (1, 1)`);
        const rows = await pollChanges(source, 1);
        assert.deepEqual(
          rows.map((r) => [r.type, r.values]),
          [['insert', ['1', 1, true]]],
        );
      } finally {
        await source.close({ dropSlot: true });
      }
    });
  });
}
