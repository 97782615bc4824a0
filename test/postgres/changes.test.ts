/**
 * The change stream: every change kind, key changes, TOAST, truncate, schema changes,
 * transaction boundaries and batch limits.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { parsePositionString } from '../../src/sdk/batch.js';
import { PG_VERSIONS, changeRows, createTestTable, drainSnapshot, pollChanges, pollQuiet, sourceFor, uniqueName } from './helpers.js';

const TS = `'2024-05-06 07:08:09.5+00'`;
const TS_JSON = '2024-05-06T07:08:09.500000Z';
/** Incompressible text large enough to be stored out of line (TOAST). */
const TOASTED = `(SELECT string_agg(md5(random()::text || g::text), '') FROM generate_series(1, 1500) g)`;

for (const version of PG_VERSIONS) {
  describe(`postgres ${version}: changes`, () => {
    let pg: TestPostgres;
    before(async () => {
      pg = await startPostgres({ version });
    });
    after(() => pg.stop());

    it('delivers insert, update, delete and truncate in commit order with ordered positions', async () => {
      const t = uniqueName('kinds');
      await createTestTable(pg, t);
      await pg.query(`INSERT INTO ${t} VALUES (1, 'one', 1.00, ${TS}, true, null)`);
      const source = sourceFor(pg, t);
      try {
        assert.equal(
          (await drainSnapshot(source)).reduce((n, b) => n + b.numRows, 0),
          1,
        );
        assert.equal(source.isSnapshotComplete(), true);
        assert.equal(await source.pollSnapshot(), null);
        await pg.query(`INSERT INTO ${t} VALUES (2, 'two', 2.50, ${TS}, false, 'n2')`);
        await pg.query(`UPDATE ${t} SET name = 'uno', amount = amount + 0.01 WHERE id = 1`);
        await pg.query(`DELETE FROM ${t} WHERE id = 2`);
        await pg.query(
          `BEGIN; INSERT INTO ${t} VALUES (3, 'three', 3, ${TS}, true, null); UPDATE ${t} SET note = 'x' WHERE id = 3; COMMIT`,
        );
        await pg.query(`TRUNCATE ${t}`);
        const rows = await pollChanges(source, 6);
        assert.deepEqual(
          rows.map((r) => [r.type, r.values]),
          [
            ['insert', ['2', 'two', '2.50', TS_JSON, false, 'n2']],
            ['update', ['1', 'uno', '1.01', TS_JSON, true, null]],
            ['delete', ['2', null, null, null, null, null]],
            ['insert', ['3', 'three', '3.00', TS_JSON, true, null]],
            ['update', ['3', 'three', '3.00', TS_JSON, true, 'x']],
            ['truncate', [null, null, null, null, null, null]],
          ],
        );
        const positions = rows.map((r) => r.position);
        assert.deepEqual([...positions].sort(), positions, 'string order equals stream order');
        assert.equal(new Set(positions).size, positions.length);
        // the two changes of one transaction share the commit LSN, indexes 0 and 1
        assert.equal(parsePositionString(positions[3]!).major, parsePositionString(positions[4]!).major);
        assert.deepEqual([parsePositionString(positions[3]!).minor, parsePositionString(positions[4]!).minor], [0, 1]);
        assert.deepEqual(await pollQuiet(source, 2), []);
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('change batches carry the metadata and change columns of the batch conventions', async () => {
      const t = uniqueName('meta');
      await createTestTable(pg, t);
      const source = sourceFor(pg, t);
      try {
        await drainSnapshot(source);
        await pg.query(`INSERT INTO ${t} VALUES (1, 'one', 1, ${TS}, true, null)`);
        let batch = null;
        while (!batch) batch = await source.pollChanges();
        const fields = batch.schema.fields;
        assert.deepEqual(
          fields.map((f) => f.name),
          ['id', 'name', 'amount', 'updated_at', 'active', 'note', '_change_type', '_position'],
        );
        assert.equal(String(fields[6]!.type), 'Dictionary<Int8, Utf8>');
        assert.equal(String(fields[7]!.type), 'Utf8');
        assert.equal(batch.schema.metadata.get('refstream.kind'), 'changes');
        assert.equal(batch.schema.metadata.get('refstream.table'), `public.${t}`);
        assert.equal(fields[3]!.metadata.get('refstream.source_type'), 'timestamp with time zone');
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('an update that changes the primary key is a delete of the old key and an insert of the new one', async () => {
      const t = uniqueName('keychange');
      await createTestTable(pg, t);
      await pg.query(`INSERT INTO ${t} VALUES (1, 'one', 1, ${TS}, true, 'keep')`);
      const source = sourceFor(pg, t);
      try {
        await drainSnapshot(source);
        await pg.query(`UPDATE ${t} SET id = 10 WHERE id = 1`);
        const rows = await pollChanges(source, 2);
        assert.deepEqual(
          rows.map((r) => [r.type, r.values]),
          [
            ['delete', ['1', null, null, null, null, null]],
            ['insert', ['10', 'one', '1.00', TS_JSON, true, 'keep']],
          ],
        );
        assert.ok(rows[0]!.position < rows[1]!.position);
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('a key change splits across batches of one row and still resumes exactly', async () => {
      const t = uniqueName('keychange1');
      await createTestTable(pg, t);
      await pg.query(`INSERT INTO ${t} VALUES (1, 'one', 1, ${TS}, true, null)`);
      const source = sourceFor(pg, t, { batchRows: 1 });
      try {
        await drainSnapshot(source);
        await pg.query(`UPDATE ${t} SET id = 2 WHERE id = 1`);
        let first = null;
        while (!first) first = await source.pollChanges();
        assert.equal(first.numRows, 1);
        assert.equal(changeRows(first)[0]!.type, 'delete');
        const second = await source.pollChanges();
        assert.equal(second!.numRows, 1);
        assert.equal(changeRows(second!)[0]!.type, 'insert');
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('REPLICA IDENTITY DEFAULT: an update leaving a TOASTed column unchanged delivers the value read by key (toast: lookup)', async () => {
      const t = uniqueName('toast_default');
      await createTestTable(pg, t);
      await pg.query(`INSERT INTO ${t} VALUES (1, 'one', 1, ${TS}, true, ${TOASTED})`);
      const [{ note }] = await pg.query<{ note: string }>(`SELECT note FROM ${t} WHERE id = 1`);
      const source = sourceFor(pg, t);
      try {
        await drainSnapshot(source);
        await pg.query(`UPDATE ${t} SET name = 'changed' WHERE id = 1`);
        const rows = await pollChanges(source, 1);
        assert.equal(rows[0]!.type, 'update');
        assert.equal(rows[0]!.values[1], 'changed');
        assert.equal(rows[0]!.values[5], note);
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('REPLICA IDENTITY FULL: unchanged TOASTed values are merged from the old tuple, never null', async () => {
      const t = uniqueName('toast_full');
      await createTestTable(pg, t);
      await pg.query(`ALTER TABLE ${t} REPLICA IDENTITY FULL`);
      await pg.query(`INSERT INTO ${t} VALUES (1, 'one', 1, ${TS}, true, ${TOASTED})`);
      const [{ note }] = await pg.query<{ note: string }>(`SELECT note FROM ${t} WHERE id = 1`);
      const source = sourceFor(pg, t);
      try {
        await drainSnapshot(source);
        await pg.query(`UPDATE ${t} SET name = 'changed' WHERE id = 1`);
        await pg.query(`UPDATE ${t} SET id = 5 WHERE id = 1`);
        await pg.query(`DELETE FROM ${t} WHERE id = 5`);
        const rows = await pollChanges(source, 4);
        assert.deepEqual(
          rows.map((r) => r.type),
          ['update', 'delete', 'insert', 'delete'],
        );
        assert.equal(rows[0]!.values[1], 'changed');
        assert.equal(rows[0]!.values[5], note);
        assert.equal(rows[2]!.values[0], '5');
        assert.equal(rows[2]!.values[5], note);
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('a large transaction is split across batches in order, bounded by batchRows', async () => {
      const t = uniqueName('bigtx');
      await createTestTable(pg, t);
      const source = sourceFor(pg, t, { batchRows: 100 });
      try {
        await drainSnapshot(source);
        await pg.query(`INSERT INTO ${t} SELECT g, 'n' || g, g, ${TS}, true, null FROM generate_series(1, 1000) g`);
        const sizes: number[] = [];
        const rows = [];
        while (rows.length < 1000) {
          const b = await source.pollChanges();
          if (!b) continue;
          sizes.push(b.numRows);
          rows.push(...changeRows(b));
        }
        assert.ok(
          sizes.every((n) => n <= 100),
          `batch sizes ${sizes}`,
        );
        assert.deepEqual(
          rows.map((r) => Number(r.values[0])),
          Array.from({ length: 1000 }, (_, i) => i + 1),
        );
        const majors = new Set(rows.map((r) => parsePositionString(r.position).major));
        assert.equal(majors.size, 1);
        assert.deepEqual(
          rows.map((r) => parsePositionString(r.position).minor),
          Array.from({ length: 1000 }, (_, i) => i),
        );
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('generated columns are left out of snapshot and changes alike (pgoutput does not send them)', async () => {
      const t = uniqueName('generated');
      await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, a int4, doubled int4 GENERATED ALWAYS AS (a * 2) STORED, b text)`);
      await pg.query(`INSERT INTO ${t} (id, a, b) VALUES (1, 1, 'x')`);
      const source = sourceFor(pg, t);
      try {
        const [batch] = await drainSnapshot(source);
        assert.deepEqual(
          batch!.schema.fields.map((f) => f.name),
          ['id', 'a', 'b'],
        );
        await pg.query(`UPDATE ${t} SET a = 5 WHERE id = 1`);
        assert.deepEqual((await pollChanges(source, 1))[0]!.values, ['1', 5, 'x']);
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('changes of other tables are not delivered', async () => {
      const t = uniqueName('mine');
      const other = uniqueName('other');
      await createTestTable(pg, t);
      await createTestTable(pg, other);
      const source = sourceFor(pg, t);
      try {
        await drainSnapshot(source);
        await pg.query(
          `BEGIN; INSERT INTO ${other} VALUES (1, 'o', 1, ${TS}, true, null); INSERT INTO ${t} VALUES (7, 'm', 1, ${TS}, true, null); COMMIT`,
        );
        await pg.query(`INSERT INTO ${other} VALUES (2, 'o', 1, ${TS}, true, null)`);
        const rows = await pollQuiet(source, 3);
        assert.deepEqual(
          rows.map((r) => [r.type, r.values[0]]),
          [['insert', '7']],
        );
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('an added nullable column evolves the schema: the next batch has the new column', async () => {
      const t = uniqueName('addcol');
      await createTestTable(pg, t);
      const source = sourceFor(pg, t);
      try {
        await drainSnapshot(source);
        await pg.query(`INSERT INTO ${t} VALUES (1, 'one', 1, ${TS}, true, null)`);
        await pg.query(`ALTER TABLE ${t} ADD COLUMN extra int4`);
        await pg.query(`INSERT INTO ${t} VALUES (2, 'two', 2, ${TS}, true, null, 42)`);
        const batches = [];
        let rows = 0;
        while (rows < 2) {
          const b = await source.pollChanges();
          if (b) {
            batches.push(b);
            rows += b.numRows;
          }
        }
        assert.equal(batches.length, 2, 'a schema change starts a new batch');
        assert.equal(batches[0]!.schema.fields.length, 8);
        assert.deepEqual(batches[1]!.schema.fields.map((f) => f.name).slice(0, 7), [
          'id',
          'name',
          'amount',
          'updated_at',
          'active',
          'note',
          'extra',
        ]);
        assert.equal(String(batches[1]!.schema.fields[6]!.type), 'Int32');
        assert.deepEqual(changeRows(batches[1]!)[0]!.values, ['2', 'two', '2.00', TS_JSON, true, null, 42]);
        // the checkpoint remembers the new columns
        const cp = source.checkpoint() as unknown as { position: { columns: unknown[] } };
        assert.equal(cp.position.columns.length, 7);
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('with schemaEvolution off, an added column is SCHEMA_INCOMPATIBLE naming the column', async () => {
      const t = uniqueName('addcol_off');
      await createTestTable(pg, t);
      const source = sourceFor(pg, t, { schemaEvolution: false });
      try {
        await drainSnapshot(source);
        await pg.query(`ALTER TABLE ${t} ADD COLUMN extra int4`);
        await pg.query(`INSERT INTO ${t} VALUES (2, 'two', 2, ${TS}, true, null, 42)`);
        await assert.rejects(
          pollChanges(source, 1),
          (e: unknown) => ConnectorError.is(e, 'SCHEMA_INCOMPATIBLE') && /extra/.test(e.message) && e.table === `public.${t}`,
        );
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('a changed column type that is no widening (a numeric scale) is SCHEMA_INCOMPATIBLE naming the column and both types', async () => {
      const t = uniqueName('retype');
      await createTestTable(pg, t);
      const source = sourceFor(pg, t);
      try {
        await drainSnapshot(source);
        await pg.query(`ALTER TABLE ${t} ALTER COLUMN amount TYPE numeric(14,4)`);
        await pg.query(`INSERT INTO ${t} VALUES (2, 'two', 2, ${TS}, true, null)`);
        await assert.rejects(
          pollChanges(source, 1),
          (e: unknown) => ConnectorError.is(e, 'SCHEMA_INCOMPATIBLE') && /amount/.test(e.message) && /numeric\(14,4\)/.test(e.message),
        );
      } finally {
        await source.close({ dropSlot: true });
      }
    });
  });
}
