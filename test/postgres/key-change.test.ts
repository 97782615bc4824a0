/**
 * A replica identity or primary key change while streaming: pgoutput's old-key tuple then
 * carries other columns, and the key the rows are delivered with would arrive as null. The
 * source must stop with a definite error instead of emitting deletes that name no row.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import { PG_VERSIONS, drainSnapshot, pollChanges, sourceFor, uniqueName } from './helpers.js';

const isKeyChange = (e: unknown) =>
  ConnectorError.is(e, 'SCHEMA_INCOMPATIBLE') && e.kind === 'definite' && /key/.test(e.message) && /new snapshot/.test(e.hint ?? '');

for (const version of PG_VERSIONS) {
  describe(`postgres ${version}: key changes while streaming`, () => {
    let pg: TestPostgres;
    before(async () => {
      pg = await startPostgres({ version });
    });
    after(() => pg.stop());

    const table = async (prefix: string): Promise<string> => {
      const t = uniqueName(prefix);
      await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, email text NOT NULL UNIQUE, v int4)`);
      await pg.query(`INSERT INTO ${t} SELECT g, 'u' || g || '@x', g FROM generate_series(1, 5) g`);
      return t;
    };

    it('REPLICA IDENTITY USING INDEX on another unique index: a later delete is SCHEMA_INCOMPATIBLE, not a delete with a null key', async () => {
      const t = await table('ri_index');
      const source = sourceFor(pg, t);
      try {
        await drainSnapshot(source);
        await pg.query(`UPDATE ${t} SET v = 10 WHERE id = 2`);
        assert.deepEqual(
          (await pollChanges(source, 1)).map((r) => [r.type, r.values[0]]),
          [['update', '2']],
        );
        await pg.query(`ALTER TABLE ${t} REPLICA IDENTITY USING INDEX ${t}_email_key`);
        await pg.query(`DELETE FROM ${t} WHERE id = 1`);
        await assert.rejects(pollChanges(source, 1), isKeyChange);
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('a primary key moved to another column: a later delete is SCHEMA_INCOMPATIBLE', async () => {
      const t = await table('pk_swap');
      const source = sourceFor(pg, t);
      try {
        await drainSnapshot(source);
        await pg.query(`ALTER TABLE ${t} DROP CONSTRAINT ${t}_pkey, ADD PRIMARY KEY (email)`);
        await pg.query(`DELETE FROM ${t} WHERE id = 3`);
        await assert.rejects(pollChanges(source, 1), isKeyChange);
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('a primary key moved under REPLICA IDENTITY FULL is SCHEMA_INCOMPATIBLE too', async () => {
      const t = await table('pk_swap_full');
      await pg.query(`ALTER TABLE ${t} REPLICA IDENTITY FULL`);
      const source = sourceFor(pg, t);
      try {
        await drainSnapshot(source);
        await pg.query(`ALTER TABLE ${t} DROP CONSTRAINT ${t}_pkey, ADD PRIMARY KEY (email)`);
        await pg.query(`DELETE FROM ${t} WHERE id = 3`);
        await assert.rejects(pollChanges(source, 1), isKeyChange);
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('REPLICA IDENTITY FULL with the same primary key keeps streaming: deletes carry the key', async () => {
      const t = await table('ri_full');
      const source = sourceFor(pg, t);
      try {
        await drainSnapshot(source);
        await pg.query(`ALTER TABLE ${t} REPLICA IDENTITY FULL`);
        await pg.query(`DELETE FROM ${t} WHERE id = 4`);
        assert.deepEqual(
          (await pollChanges(source, 1)).map((r) => [r.type, r.values[0]]),
          [['delete', '4']],
        );
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('checkpoints record the key; a key changed while stopped fails the restore with SCHEMA_INCOMPATIBLE', async () => {
      const t = await table('ri_restore');
      const slot = uniqueName('s');
      const make = () =>
        new PostgresSource({ connectionString: pg.connectionString, table: t, slot, publication: `p_${slot}`, maxWaitMs: 200 });
      const first = make();
      let cp;
      try {
        await drainSnapshot(first);
        await pg.query(`UPDATE ${t} SET v = 20 WHERE id = 2`);
        await pollChanges(first, 1);
        cp = JSON.parse(JSON.stringify(first.checkpoint()));
        assert.deepEqual(cp.position.key, ['id'], 'the checkpoint names the key columns');
      } finally {
        await first.close();
      }
      await pg.query(`ALTER TABLE ${t} REPLICA IDENTITY USING INDEX ${t}_email_key`);
      const second = make();
      try {
        await assert.rejects(
          second.restore(cp),
          (e: unknown) => isKeyChange(e) && /\(id\)/.test((e as Error).message) && /\(email\)/.test((e as Error).message),
        );
      } finally {
        await second.close({ dropSlot: true });
      }
    });

    it('a checkpoint restored under the same key resumes', async () => {
      const t = await table('ri_same');
      const slot = uniqueName('s');
      const make = () =>
        new PostgresSource({ connectionString: pg.connectionString, table: t, slot, publication: `p_${slot}`, maxWaitMs: 200 });
      const first = make();
      let cp;
      try {
        await drainSnapshot(first);
        cp = JSON.parse(JSON.stringify(first.checkpoint()));
      } finally {
        await first.close();
      }
      await pg.query(`DELETE FROM ${t} WHERE id = 5`);
      const second = make();
      try {
        await second.restore(cp);
        assert.deepEqual(
          (await pollChanges(second, 1)).map((r) => [r.type, r.values[0]]),
          [['delete', '5']],
        );
      } finally {
        await second.close({ dropSlot: true });
      }
    });
  });
}
