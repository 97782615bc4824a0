/**
 * Trigger capture follows the schema changes real migrations make, as logical mode does:
 * columns dropped, renamed, widened (int → bigint, varchar(n) → varchar(m), varchar → text) and
 * added, alone and together in one transaction, each with rows changed before and after it.
 * The batches carry the table's new columns (with their attnum as `refstream.column_id`) and
 * the folded output equals the table — also for a reader that is behind (every DDL committed
 * before it reads, so it meets images of each intermediate layout) and for one restored from a
 * checkpoint taken between two DDLs. A key column change and a narrowing stay
 * `SCHEMA_INCOMPATIBLE`.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordBatch } from 'apache-arrow';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { METADATA } from '../../src/sdk/batch.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import type { SourceWarning } from '../../src/sdk/warnings.js';
import { PostgresSource, type PostgresSourceConfig } from '../../src/connectors/postgres/index.js';
import { PG_VERSIONS, drainSnapshot, uniqueName } from './helpers.js';

function triggerSource(server: TestPostgres, table: string, extra: Partial<PostgresSourceConfig> = {}): PostgresSource {
  return new PostgresSource({
    connectionString: server.connectionString,
    table,
    capture: 'trigger',
    installTriggers: true,
    maxWaitMs: 200,
    catalogCheckIntervalMs: 100,
    ...extra,
  });
}

/** The table's delivered columns (generated ones are not): name, attnum, format_type. */
async function tableColumns(server: TestPostgres, table: string): Promise<Array<[string, string, string]>> {
  const rows = await server.query<{ name: string; attnum: number; type: string }>(
    `SELECT attname AS name, attnum, format_type(atttypid, atttypmod) AS type FROM pg_attribute
      WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`,
    [table],
  );
  return rows.map((r) => [r.name, String(r.attnum), r.type]);
}

function batchColumns(batch: RecordBatch): Array<[string, string, string]> {
  return batch.schema.fields
    .filter((f) => !f.name.startsWith('_'))
    .map((f) => [f.name, f.metadata.get(METADATA.columnId) ?? '?', f.metadata.get(METADATA.sourceType) ?? '?']);
}

/** The table's rows as to_jsonb renders them, without generated columns. */
async function tableJson(server: TestPostgres, table: string): Promise<unknown[]> {
  const generated = await server.query<{ name: string }>(
    `SELECT attname AS name FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated <> ''`,
    [table],
  );
  const rows = await server.query<{ j: Record<string, unknown> }>(`SELECT to_jsonb(t) AS j FROM ${table} t ORDER BY id`);
  return rows.map((r) => {
    for (const g of generated) delete r.j[g.name];
    return r.j;
  });
}

/** The ReferenceTable's rows rendered like to_jsonb (numbers as numbers). */
function stateJson(state: ReferenceTable): unknown[] {
  return state
    .toJSON()
    .map((r) =>
      Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v])),
    )
    .sort((a, b) => Number(a['id']) - Number(b['id']));
}

/** Polls until `done` holds after a batch (or a poll with nothing), applying every batch to `state`. */
async function pollUntil(
  source: PostgresSource,
  state: ReferenceTable,
  batches: RecordBatch[],
  done: () => boolean | Promise<boolean>,
  what: string,
): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const b = await source.pollChanges();
    if (b) {
      batches.push(b);
      state.apply(b);
    }
    if (await done()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not reached`);
  }
}

/** Polls until `quietPolls` polls in a row return nothing. */
async function pollQuiet(source: PostgresSource, state: ReferenceTable, batches: RecordBatch[], quietPolls = 3): Promise<void> {
  let quiet = 0;
  const deadline = Date.now() + 30_000;
  while (quiet < quietPolls) {
    if (Date.now() > deadline) throw new Error('the change stream did not go quiet');
    const b = await source.pollChanges();
    if (b === null) quiet++;
    else {
      quiet = 0;
      batches.push(b);
      state.apply(b);
    }
  }
}

for (const version of PG_VERSIONS) {
  describe(`trigger capture on PostgreSQL ${version}: schema changes followed`, () => {
    let server: TestPostgres;
    before(async () => {
      server = await startPostgres({ version, walLevel: 'replica' });
    });
    after(async () => {
      await server?.stop();
    });

    it('drop, rename, int → bigint, varchar(20) → varchar(40) → text, then several in one transaction, with rows changed around each: batches have the new columns and ids, the fold equals the table', async () => {
      const t = `public.${uniqueName('regions')}`;
      await server.query(`CREATE TABLE ${t} (id int PRIMARY KEY, code text, name varchar(20) NOT NULL, pop int, area numeric(10,1))`);
      await server.query(`INSERT INTO ${t} SELECT g, 'c' || g, 'region ' || g, g * 1000, g / 10.0 FROM generate_series(1, 20) g`);
      const warnings: SourceWarning[] = [];
      const source = triggerSource(server, t, { onWarning: (w) => warnings.push(w) });
      const state = new ReferenceTable();
      const batches: RecordBatch[] = [];
      try {
        for (const b of await drainSnapshot(source)) state.apply(b);
        const steps: Array<{ before: string; ddl: string; after: string; change: RegExp }> = [
          {
            before: `UPDATE ${t} SET code = 'before drop' WHERE id = 1`,
            ddl: `ALTER TABLE ${t} DROP COLUMN code`,
            after: `INSERT INTO ${t} (id, name, pop, area) VALUES (101, 'dropped', 6, 2.5)`,
            change: /- code/,
          },
          {
            before: `UPDATE ${t} SET name = 'before rename' WHERE id = 2`,
            ddl: `ALTER TABLE ${t} RENAME COLUMN name TO label`,
            after: `UPDATE ${t} SET label = label || '!' WHERE id IN (3, 101); INSERT INTO ${t} (id, label) VALUES (102, 'renamed')`,
            change: /name → label/,
          },
          {
            before: `UPDATE ${t} SET pop = 2147483647 WHERE id = 4`,
            ddl: `ALTER TABLE ${t} ALTER COLUMN pop TYPE bigint`,
            after: `INSERT INTO ${t} (id, label, pop) VALUES (103, 'widened', 9007199254740993); UPDATE ${t} SET pop = pop + 1 WHERE id = 5`,
            change: /pop integer → bigint/,
          },
          {
            before: `UPDATE ${t} SET label = 'twenty characters..' WHERE id = 6`,
            ddl: `ALTER TABLE ${t} ALTER COLUMN label TYPE varchar(40)`,
            after: `INSERT INTO ${t} (id, label) VALUES (104, 'thirty-nine characters, still fitting')`,
            change: /label character varying\(20\) → character varying\(40\)/,
          },
          {
            before: `DELETE FROM ${t} WHERE id = 7`,
            ddl: `ALTER TABLE ${t} ALTER COLUMN label TYPE text`,
            after: `INSERT INTO ${t} (id, label) VALUES (105, repeat('long ', 20))`,
            change: /label character varying\(40\) → text/,
          },
          {
            before: `UPDATE ${t} SET area = 99.5 WHERE id = 8`,
            ddl: `BEGIN; ALTER TABLE ${t} RENAME COLUMN label TO title; ALTER TABLE ${t} DROP COLUMN area; ALTER TABLE ${t} ADD COLUMN note text; COMMIT`,
            after: `INSERT INTO ${t} (id, title, note) VALUES (106, 'together', 'n'); DELETE FROM ${t} WHERE id = 9; UPDATE ${t} SET note = 'set' WHERE id = 10`,
            change: /label → title[^]*- area; \+ note text|- area; \+ note text[^]*label → title|label → title; - area; \+ note text/,
          },
        ];
        for (const [i, step] of steps.entries()) {
          const what = `step ${i + 1}: ${step.ddl}`;
          const marker = BigInt(101 + i);
          await server.query(step.before);
          await server.query(step.ddl);
          // a poll or two meets the rows written before the DDL (and lets the catalog check run)
          await source.pollChanges().then((b) => b && (batches.push(b), state.apply(b)));
          await new Promise((r) => setTimeout(r, 250));
          await server.query(step.after);
          const expected = await tableColumns(server, t);
          await pollUntil(
            source,
            state,
            batches,
            () => state.has(marker) && JSON.stringify(batchColumns(batches.at(-1)!)) === JSON.stringify(expected),
            what,
          );
          assert.deepEqual(batchColumns(batches.at(-1)!), expected, `${what}: the batches have the table's columns`);
          assert.deepEqual(stateJson(state), await tableJson(server, t), `${what}: the fold equals the table`);
          assert.match(warnings.map((w) => w.message).join('\n'), step.change, `${what}: SCHEMA_CHANGED names the change`);
        }
        assert.ok(
          warnings.every((w) => w.code === 'SCHEMA_CHANGED' && w.table === t),
          JSON.stringify(warnings),
        );
        // one column, one id: name, label and title
        const ids = batches.map((b) =>
          b.schema.fields.find((f) => ['name', 'label', 'title'].includes(f.name))?.metadata.get(METADATA.columnId),
        );
        assert.equal(new Set(ids.filter(Boolean)).size, 1, 'name, label and title are one column');
        const cp = source.checkpoint() as unknown as { position: { columns: unknown[][]; schemaChange?: { what: string } } };
        assert.deepEqual(
          cp.position.columns.map((c) => [c[0], String(c[5])]),
          (await tableColumns(server, t)).map((c) => [c[0], c[1]]),
          'the checkpoint records the new columns with their attnums',
        );
        assert.match(cp.position.schemaChange?.what ?? '', /note/, 'the checkpoint records the last schema change');
      } finally {
        await source.close();
      }
    });

    it('a reader that is behind (every DDL and its rows committed before it reads) and one restored from a checkpoint taken between two DDLs decode each intermediate layout and converge', async () => {
      const t = `public.${uniqueName('behind')}`;
      await server.query(
        `CREATE TABLE ${t} (id int PRIMARY KEY, code text, doubled int GENERATED ALWAYS AS (id * 2) STORED, name varchar(20), pop int, tag varchar(8), extra text)`,
      );
      await server.query(
        `INSERT INTO ${t} (id, code, name, pop, tag, extra) SELECT g, 'c' || g, 'region ' || g, g, 't' || g, 'e' || g FROM generate_series(1, 30) g`,
      );
      const ddls = [
        `ALTER TABLE ${t} DROP COLUMN code`,
        `ALTER TABLE ${t} ALTER COLUMN pop TYPE bigint`,
        `ALTER TABLE ${t} RENAME COLUMN name TO label`,
        `ALTER TABLE ${t} ADD COLUMN note text`,
        `ALTER TABLE ${t} ALTER COLUMN tag TYPE text`,
        `BEGIN; ALTER TABLE ${t} DROP COLUMN extra; ALTER TABLE ${t} ALTER COLUMN label TYPE varchar(30); ALTER TABLE ${t} ADD COLUMN later int; COMMIT`,
      ];
      /** Rows changed in the layout after DDL `i`: an insert, an update, a delete, using only columns every later layout keeps. */
      const dml = async (i: number): Promise<void> => {
        await server.query(`INSERT INTO ${t} (id, pop) VALUES (${200 + i}, ${i >= 2 ? 3_000_000_000 + i : i})`);
        await server.query(`UPDATE ${t} SET pop = pop + 1 WHERE id = ${1 + i}`);
        await server.query(`DELETE FROM ${t} WHERE id = ${20 + i}`);
        // values in a column of the type of one dropped later (extra) and one added later (note)
        if (i <= 5) await server.query(`UPDATE ${t} SET extra = 'extra ${i}' WHERE id = ${10 + i}`);
        if (i >= 4) await server.query(`UPDATE ${t} SET note = 'note ${i}' WHERE id = ${10 + i - 2}`);
      };
      // a reader that is behind: snapshot, then everything committed, then one drain
      const warnings: SourceWarning[] = [];
      const behind = triggerSource(server, t, { onWarning: (w) => warnings.push(w) });
      const restoredFirst = triggerSource(server, t, { consumer: 'restored', onWarning: () => {} });
      const behindState = new ReferenceTable();
      const restoredState = new ReferenceTable();
      const batches: RecordBatch[] = [];
      const restoredBatches: RecordBatch[] = [];
      let restored: PostgresSource | null = null;
      try {
        for (const b of await drainSnapshot(behind)) behindState.apply(b);
        for (const b of await drainSnapshot(restoredFirst)) restoredState.apply(b);
        await dml(0);
        for (const [i, ddl] of ddls.entries()) {
          await server.query(ddl);
          await dml(i + 1);
          if (i === 0) {
            // the second reader reads up to here (after the first DDL), commits its checkpoint and stops, as if killed
            await pollUntil(
              restoredFirst,
              restoredState,
              restoredBatches,
              () => restoredState.has(201n),
              'the restored reader before the kill',
            );
            await pollQuiet(restoredFirst, restoredState, restoredBatches, 1);
            const cp = restoredFirst.checkpoint();
            await restoredFirst.commit(cp);
            await restoredFirst.close();
            restored = triggerSource(server, t, { consumer: 'restored', onWarning: () => {} });
            await restored.restore(cp);
          }
        }
        await pollQuiet(behind, behindState, batches);
        await pollQuiet(restored!, restoredState, restoredBatches);
        const expected = await tableJson(server, t);
        const columns = await tableColumns(server, t);
        assert.deepEqual(stateJson(behindState), expected, 'the reader that was behind: the fold equals the table');
        assert.deepEqual(batchColumns(batches.at(-1)!), columns, 'the reader that was behind: the last batch has the table columns');
        assert.deepEqual(stateJson(restoredState), expected, 'the restored reader: the fold equals the table');
        assert.deepEqual(batchColumns(restoredBatches.at(-1)!), columns, 'the restored reader: the last batch has the table columns');
        // the intermediate layouts were delivered as such: pop as integer, then as bigint
        const popTypes = batches.map((b) => b.schema.fields.find((f) => f.name === 'pop')?.metadata.get(METADATA.sourceType));
        assert.ok(popTypes.includes('integer') && popTypes.at(-1) === 'bigint', JSON.stringify(popTypes));
        const changes = warnings.map((w) => w.message).join('\n');
        for (const line of [
          /- code/,
          /pop integer → bigint/,
          /name → label/,
          /\+ note text/,
          /tag character varying\(8\) → text/,
          /- extra/,
          /\+ later integer/,
        ])
          assert.match(changes, line);
      } finally {
        await behind.close();
        await restoredFirst.close();
        await restored?.close();
      }
    });

    it('a renamed or retyped key column and a narrowed type stop with SCHEMA_INCOMPATIBLE naming the column and saying that trigger capture cannot re-seed', async () => {
      for (const [ddl, column] of [
        [(t: string) => `ALTER TABLE ${t} RENAME COLUMN id TO region_id`, 'id'],
        [(t: string) => `ALTER TABLE ${t} ALTER COLUMN id TYPE bigint`, 'id'],
        [(t: string) => `ALTER TABLE ${t} ALTER COLUMN name TYPE varchar(5)`, 'name'],
        [(t: string) => `ALTER TABLE ${t} ALTER COLUMN pop TYPE int2`, 'pop'],
        [(t: string) => `ALTER TABLE ${t} ALTER COLUMN pop TYPE text`, 'pop'],
      ] as const) {
        const t = `public.${uniqueName('narrow')}`;
        await server.query(`CREATE TABLE ${t} (id int PRIMARY KEY, name varchar(20) NOT NULL, pop int)`);
        await server.query(`INSERT INTO ${t} VALUES (1, 'one', 1)`);
        const source = triggerSource(server, t);
        try {
          await drainSnapshot(source);
          await server.query(`UPDATE ${t} SET name = 'two'`);
          await server.query(ddl(t));
          await server.query(`INSERT INTO ${t} VALUES (2, 'x', 2)`);
          const deadline = Date.now() + 10_000;
          let error: unknown = null;
          while (error === null && Date.now() < deadline) await source.pollChanges().catch((e: unknown) => (error = e));
          assert.ok(ConnectorError.is(error, 'SCHEMA_INCOMPATIBLE') && error.kind === 'definite', `${ddl(t)}: ${String(error)}`);
          assert.match((error as Error).message, new RegExp(`\\b${column}\\b`), ddl(t));
          assert.match((error as ConnectorError).hint ?? '', /cannot re-seed/, ddl(t));
        } finally {
          await source.close();
        }
      }
    });
  });
}
