/**
 * onIncompatibleSchemaChange: 'resnapshot': a change the sinks cannot follow in place (a type
 * narrowed, the primary key changed, a column added with a default) re-seeds the table inside
 * its change stream — a truncate, the table's rows at a new snapshot, then the changes after it
 * — with no gap and no overlap, also when the source restarts from a checkpoint taken in the
 * middle of the re-seed, and for a table of a capture while its neighbour keeps streaming.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordBatch } from 'apache-arrow';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { PostgresCapture, PostgresSource } from '../../src/connectors/postgres/index.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import { batchInfo } from '../../src/sdk/batch.js';
import type { SourceCheckpoint } from '../../src/sdk/checkpoint.js';
import { PG_VERSIONS, changeRows, drainSnapshot, uniqueName } from './helpers.js';

async function tableJson(pg: TestPostgres, table: string, key: string): Promise<string> {
  const rows = await pg.query<{ j: Record<string, unknown> }>(`SELECT to_jsonb(t) AS j FROM ${table} t ORDER BY ${key}`);
  return JSON.stringify(rows.map((r) => sortedKeys(r.j)));
}

function stateJson(state: ReferenceTable, key: string): string {
  const rows = state
    .toJSON()
    .map((r) =>
      Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v])),
    );
  const order = (v: unknown) => (typeof v === 'number' ? v : String(v));
  rows.sort((a, b) => (order(a[key]) < order(b[key]) ? -1 : order(a[key]) > order(b[key]) ? 1 : 0));
  return JSON.stringify(rows.map(sortedKeys));
}

function sortedKeys(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Polls until nothing arrives for `quiet` polls in a row, folding into `state`. */
async function drainQuiet(source: PostgresSource, state: ReferenceTable, batches: RecordBatch[], quiet = 3): Promise<void> {
  for (let idle = 0; idle < quiet;) {
    const b = await source.pollChanges();
    if (b === null) idle++;
    else {
      idle = 0;
      batches.push(b);
      state.apply(b);
    }
  }
}

for (const version of PG_VERSIONS) {
  describe(`postgres ${version}: re-seed on an incompatible schema change`, () => {
    let pg: TestPostgres;
    before(async () => {
      pg = await startPostgres({ version });
    });
    after(async () => {
      await pg?.stop();
    });

    const config = (table: string, slot: string) => ({
      connectionString: pg.connectionString,
      table,
      slot,
      publication: slot,
      maxWaitMs: 100,
      batchRows: 50,
      onIncompatibleSchemaChange: 'resnapshot' as const,
    });

    it('a narrowed type and then a new primary key: a truncate, the rows at a new snapshot, the changes after; restarts from mid-re-seed checkpoints', async () => {
      const t = `public.${uniqueName('reseed')}`;
      const slot = uniqueName('rs');
      await pg.query(`CREATE TABLE ${t} (id int PRIMARY KEY, code varchar(20) NOT NULL UNIQUE, name text)`);
      await pg.query(`INSERT INTO ${t} SELECT g, 'c' || g, 'n' || g FROM generate_series(1, 300) g`);
      let source = new PostgresSource(config(t, slot));
      const state = new ReferenceTable();
      const batches: RecordBatch[] = [];
      try {
        for (const b of await drainSnapshot(source)) state.apply(b);
        await pg.query(`UPDATE ${t} SET name = 'before' WHERE id <= 5`);
        await pg.query(`ALTER TABLE ${t} ALTER COLUMN code TYPE varchar(10)`);
        await pg.query(`UPDATE ${t} SET name = 'after' WHERE id BETWEEN 6 AND 10`);
        // read up to the middle of the re-seed, then restart from that checkpoint (a crash)
        let midway: SourceCheckpoint | null = null;
        while (midway === null) {
          const b = await source.pollChanges();
          if (!b) continue;
          batches.push(b);
          state.apply(b);
          const cp = source.checkpoint() as unknown as { position: { reseed?: { delivered: number } } };
          if ((cp.position.reseed?.delivered ?? 0) > 100) midway = source.checkpoint();
        }
        await source.close();
        await pg.query(`DELETE FROM ${t} WHERE id BETWEEN 11 AND 20`);
        source = new PostgresSource(config(t, slot));
        await source.restore(midway);
        await drainQuiet(source, state, batches);
        assert.equal(await tableJson(pg, t, 'id'), stateJson(state, 'id'), 'the fold equals the table after the re-seed');
        const truncates = batches
          .flatMap((b) => (batchInfo(b).kind === 'changes' ? changeRows(b) : []))
          .filter((r) => r.type === 'truncate');
        assert.equal(truncates.length, 1, 'one truncate for one re-seed, also across the restart');
        // positions never go back
        const positions = batches.flatMap((b) => changeRows(b).map((r) => r.position));
        assert.deepEqual(positions, [...positions].sort(), 'positions in order');

        // a new primary key: rows re-keyed by code
        await pg.query(`ALTER TABLE ${t} DROP CONSTRAINT ${t.split('.')[1]}_pkey, ADD PRIMARY KEY (code)`);
        await pg.query(`UPDATE ${t} SET name = 'rekeyed' WHERE id <= 3`);
        await drainQuiet(source, state, batches);
        assert.deepEqual(state.primaryKey, ['code']);
        assert.equal(await tableJson(pg, t, 'code'), stateJson(state, 'code'), 'the fold equals the table under its new key');
        await pg.query(`UPDATE ${t} SET name = 'later' WHERE id = 100`);
        await drainQuiet(source, state, batches);
        assert.equal(state.get('c100')?.name, 'later');
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('a column added with a default re-seeds the table, so no row stays null', async () => {
      const t = `public.${uniqueName('reseed_default')}`;
      const slot = uniqueName('rsd');
      await pg.query(`CREATE TABLE ${t} (id int PRIMARY KEY, name text)`);
      await pg.query(`INSERT INTO ${t} SELECT g, 'n' || g FROM generate_series(1, 100) g`);
      const source = new PostgresSource(config(t, slot));
      const state = new ReferenceTable();
      try {
        for (const b of await drainSnapshot(source)) state.apply(b);
        await pg.query(`ALTER TABLE ${t} ADD COLUMN active bool NOT NULL DEFAULT true`);
        await pg.query(`INSERT INTO ${t} VALUES (101, 'new', false)`);
        await drainQuiet(source, state, []);
        assert.equal(await tableJson(pg, t, 'id'), stateJson(state, 'id'));
        assert.equal(state.get(1)?.active, true);
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('a table of a capture re-seeds while its neighbour keeps streaming', async () => {
      const [a, b] = [uniqueName('cap_rs'), uniqueName('cap_nb')].map((n) => `public.${n}`);
      await pg.query(`CREATE TABLE ${a!} (id int PRIMARY KEY, v varchar(20))`);
      await pg.query(`CREATE TABLE ${b!} (id int PRIMARY KEY, v text)`);
      await pg.query(`INSERT INTO ${a!} SELECT g, 'a' || g FROM generate_series(1, 200) g`);
      const capture = new PostgresCapture({
        connectionString: pg.connectionString,
        slot: uniqueName('caprs'),
        tables: [a!, b!],
        maxWaitMs: 100,
        onIncompatibleSchemaChange: 'resnapshot',
      });
      const [sa, sb] = [capture.source(a!), capture.source(b!)];
      const [stateA, stateB] = [new ReferenceTable(), new ReferenceTable()];
      try {
        await Promise.all([
          drainSnapshot(sa).then((bs) => bs.forEach((x) => stateA.apply(x))),
          drainSnapshot(sb).then((bs) => bs.forEach((x) => stateB.apply(x))),
        ]);
        let writing = true;
        const writer = (async () => {
          for (let i = 1; writing; i++) {
            await pg.query(`INSERT INTO ${b!} VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v`, [i % 50, `w${i}`]);
            await new Promise((r) => setTimeout(r, 5));
          }
        })();
        const readB = (async () => {
          while (writing) {
            const x = await sb.pollChanges();
            if (x) stateB.apply(x);
          }
        })();
        await pg.query(`ALTER TABLE ${a!} ALTER COLUMN v TYPE varchar(8)`);
        await pg.query(`UPDATE ${a!} SET v = 'x' WHERE id % 10 = 0`);
        await drainQuiet(sa, stateA, []);
        writing = false;
        await Promise.all([writer, readB]);
        await drainQuiet(sb, stateB, []);
        assert.equal(await tableJson(pg, a!, 'id'), stateJson(stateA, 'id'), 'the re-seeded table');
        assert.equal(await tableJson(pg, b!, 'id'), stateJson(stateB, 'id'), 'the neighbour');
      } finally {
        await capture.close({ dropSlot: true });
      }
    });
  });
}
