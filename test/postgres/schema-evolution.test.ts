/**
 * The schema changes real migrations make, followed by the change stream without a stop:
 * columns added, dropped, renamed and widened, alone and together in one transaction. After
 * each change the batches carry the table's new columns (with their attnum as
 * `refstream.column_id`), and the folded output equals the table.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordBatch } from 'apache-arrow';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { METADATA } from '../../src/sdk/batch.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import type { PostgresSource } from '../../src/connectors/postgres/index.js';
import { PG_VERSIONS, drainSnapshot, sourceFor, uniqueName } from './helpers.js';

/** The table's columns as the batches should carry them: name, attnum, format_type. */
async function tableColumns(pg: TestPostgres, table: string): Promise<Array<[string, string, string]>> {
  const rows = await pg.query<{ name: string; attnum: number; type: string }>(
    `SELECT attname AS name, attnum, format_type(atttypid, atttypmod) AS type FROM pg_attribute
      WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [table],
  );
  return rows.map((r) => [r.name, String(r.attnum), r.type]);
}

function batchColumns(batch: RecordBatch): Array<[string, string, string]> {
  return batch.schema.fields
    .filter((f) => !f.name.startsWith('_'))
    .map((f) => [f.name, f.metadata.get(METADATA.columnId) ?? '?', f.metadata.get(METADATA.sourceType) ?? '?']);
}

/** Polls until a batch arrives whose rows include `marker` (the id of a row written after the DDL). */
async function pollUntilRow(source: PostgresSource, state: ReferenceTable, marker: bigint, batches: RecordBatch[]): Promise<RecordBatch> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`row ${marker} did not arrive`);
    const b = await source.pollChanges();
    if (!b) continue;
    batches.push(b);
    state.apply(b);
    if (state.has(marker)) return b;
  }
}

async function tableJson(pg: TestPostgres, table: string): Promise<unknown[]> {
  const rows = await pg.query<{ j: Record<string, unknown> }>(`SELECT to_jsonb(t) AS j FROM ${table} t ORDER BY id`);
  return rows.map((r) => r.j);
}

/** The ReferenceTable's rows rendered like to_jsonb (numbers as numbers where they fit). */
function stateJson(state: ReferenceTable): unknown[] {
  return state
    .toJSON()
    .map((r) =>
      Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v])),
    )
    .sort((a, b) => Number(a['id']) - Number(b['id']));
}

for (const version of PG_VERSIONS) {
  describe(`postgres ${version}: schema changes followed by the stream`, () => {
    let pg: TestPostgres;
    before(async () => {
      pg = await startPostgres({ version });
    });
    after(async () => {
      await pg?.stop();
    });

    it('add, drop, rename, widen (int → bigint, varchar(20) → text, numeric(8,2) → numeric(12,2)), then several in one transaction: each batch has the new columns and the fold equals the table', async () => {
      const t = `public.${uniqueName('regions')}`;
      await pg.query(`CREATE TABLE ${t} (id int PRIMARY KEY, code text, name varchar(20) NOT NULL, pop int, share numeric(8,2))`);
      await pg.query(`INSERT INTO ${t} SELECT g, 'c' || g, 'region ' || g, g * 1000, g / 10.0 FROM generate_series(1, 20) g`);
      const source = sourceFor(pg, t);
      const state = new ReferenceTable();
      const batches: RecordBatch[] = [];
      const warnings: string[] = [];
      try {
        for (const b of await drainSnapshot(source)) state.apply(b);
        const steps: Array<[string, string]> = [
          [
            `ALTER TABLE ${t} ADD COLUMN area numeric(10,1)`,
            `INSERT INTO ${t} (id, code, name, pop, share, area) VALUES (101, 'x', 'added', 5, 1.5, 12.5)`,
          ],
          [`ALTER TABLE ${t} DROP COLUMN code`, `INSERT INTO ${t} (id, name, pop, share, area) VALUES (102, 'dropped', 6, 2.5, 1)`],
          [
            `ALTER TABLE ${t} RENAME COLUMN name TO label`,
            `UPDATE ${t} SET label = label || '!' WHERE id IN (1, 102); INSERT INTO ${t} (id, label) VALUES (103, 'renamed')`,
          ],
          [`ALTER TABLE ${t} ALTER COLUMN pop TYPE bigint`, `INSERT INTO ${t} (id, label, pop) VALUES (104, 'widened', 9007199254740993)`],
          [`ALTER TABLE ${t} ALTER COLUMN label TYPE text`, `INSERT INTO ${t} (id, label) VALUES (105, repeat('long ', 10))`],
          [
            `ALTER TABLE ${t} ALTER COLUMN share TYPE numeric(12,2)`,
            `INSERT INTO ${t} (id, label, share) VALUES (106, 'wider share', 1234567.25)`,
          ],
          [
            `BEGIN; ALTER TABLE ${t} RENAME COLUMN label TO title; ALTER TABLE ${t} DROP COLUMN area; ALTER TABLE ${t} ADD COLUMN note text; COMMIT`,
            `INSERT INTO ${t} (id, title, note) VALUES (107, 'together', 'n'); DELETE FROM ${t} WHERE id = 2`,
          ],
        ];
        for (const [i, [ddl, dml]] of steps.entries()) {
          await pg.query(ddl);
          await pg.query(dml);
          const last = await pollUntilRow(source, state, BigInt(101 + i), batches);
          assert.deepEqual(batchColumns(last), await tableColumns(pg, t), `step ${i + 1}: ${ddl}`);
          assert.deepEqual(stateJson(state), await tableJson(pg, t), `step ${i + 1}: the fold equals the table`);
        }
        // a rename kept the column's identity
        const ids = batches.map((b) =>
          b.schema.fields.find((f) => ['name', 'label', 'title'].includes(f.name))?.metadata.get(METADATA.columnId),
        );
        assert.equal(new Set(ids.filter(Boolean)).size, 1, 'name, label and title are one column');
        const cp = source.checkpoint() as unknown as { position: { columns: unknown[][] } };
        assert.deepEqual(
          cp.position.columns.map((c) => c[0]),
          (await tableColumns(pg, t)).map((c) => c[0]),
          'the checkpoint records the new columns',
        );
        void warnings;
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('a renamed key column, a dropped key column and a narrowed type stop with SCHEMA_INCOMPATIBLE naming the column', async () => {
      for (const [ddl, column] of [
        [(t: string) => `ALTER TABLE ${t} RENAME COLUMN id TO region_id`, 'id'],
        [(t: string) => `ALTER TABLE ${t} ALTER COLUMN name TYPE varchar(5)`, 'name'],
        [(t: string) => `ALTER TABLE ${t} ALTER COLUMN pop TYPE int2`, 'pop'],
      ] as const) {
        const t = `public.${uniqueName('narrow')}`;
        await pg.query(`CREATE TABLE ${t} (id int PRIMARY KEY, name varchar(20) NOT NULL, pop int)`);
        await pg.query(`INSERT INTO ${t} VALUES (1, 'one', 1)`);
        const source = sourceFor(pg, t);
        try {
          await drainSnapshot(source);
          await pg.query(ddl(t));
          await pg.query(`UPDATE ${t} SET pop = 2`);
          const deadline = Date.now() + 10_000;
          let error: unknown = null;
          while (error === null && Date.now() < deadline) await source.pollChanges().catch((e: unknown) => (error = e));
          assert.ok(ConnectorError.is(error, 'SCHEMA_INCOMPATIBLE') && error.kind === 'definite', `${ddl(t)}: ${String(error)}`);
          assert.match((error as Error).message, new RegExp(`\\b${column}\\b`));
        } finally {
          await source.close({ dropSlot: true });
        }
      }
    });
  });
}
