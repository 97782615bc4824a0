/**
 * A one-shot snapshot (`mode: 'snapshot-only'`) reads a whole table with the table form of
 * COPY when it can (no resume point is needed): it must deliver exactly what the resumable
 * query form delivers — the table's own rows only (no inheritance children), every leaf of a
 * partitioned table, text-only columns, and a definite PERMISSION_DENIED where row-level
 * security would hide rows.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { PostgresSource, type PostgresSourceConfig } from '../../src/connectors/postgres/index.js';
import { PG_VERSIONS, drainSnapshot, jsonRows, sourceFor, uniqueName } from './helpers.js';

const version = PG_VERSIONS[0]!;

describe(`postgres ${version}: one-shot snapshots`, () => {
  let pg: TestPostgres;
  before(async () => {
    pg = await startPostgres({ version });
  });
  after(() => pg.stop());

  async function rowsOf(source: PostgresSource): Promise<unknown[][]> {
    try {
      const rows = (await drainSnapshot(source)).flatMap(jsonRows);
      return rows.sort((a, b) => String(a[0]).localeCompare(String(b[0]), undefined, { numeric: true }));
    } finally {
      await source.close({ dropSlot: true });
    }
  }
  const oneShot = (table: string, extra: Partial<PostgresSourceConfig> = {}) =>
    new PostgresSource({ connectionString: pg.connectionString, table, mode: 'snapshot-only', batchRows: 700, ...extra });

  it('delivers the same rows as the resumable snapshot: own rows only, all types, text-only columns', async () => {
    const t = uniqueName('oneshot');
    await pg.query(
      `CREATE TABLE ${t} (id int8 PRIMARY KEY, name text, amount numeric(12,2), at timestamptz, ok bool, tags text[], addr inet, span int4range)`,
    );
    await pg.query(`INSERT INTO ${t} SELECT g, CASE WHEN g % 4 = 0 THEN NULL ELSE 'n' || g END, g / 3.0, timestamptz '2020-01-01' + g * interval '1 minute', g % 2 = 0,
      ARRAY['a', g::text], ('10.0.' || (g % 200) || '.1/24')::inet, int4range(g, g + 5) FROM generate_series(1, 3000) g`);
    // an inheritance child: its rows are not the table's
    await pg.query(`CREATE TABLE ${t}_child () INHERITS (${t})`);
    await pg.query(`INSERT INTO ${t}_child (id, name) VALUES (999999, 'child row')`);
    const resumable = await rowsOf(sourceFor(pg, t, { unknownTypes: 'text', batchRows: 700 }));
    assert.equal(resumable.length, 3000);
    assert.deepEqual(await rowsOf(oneShot(t, { unknownTypes: 'text' })), resumable, 'text-only columns (query form)');
    await pg.query(`ALTER TABLE ${t} DROP COLUMN addr, DROP COLUMN span`);
    const plain = await rowsOf(oneShot(t));
    assert.deepEqual(
      plain,
      resumable.map((r) => r.slice(0, 6)),
      'table form',
    );
    assert.ok(!plain.some((r) => r[0] === '999999'), 'no row of the child table');
    assert.deepEqual((await pg.query(`SELECT slot_name FROM pg_replication_slots`)).length, 0);
  });

  it('reads every leaf of a partitioned table', async () => {
    const t = uniqueName('oneshotpart');
    await pg.query(`CREATE TABLE ${t} (id int8, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region)`);
    await pg.query(`CREATE TABLE ${t}_eu PARTITION OF ${t} FOR VALUES IN ('eu')`);
    await pg.query(`CREATE TABLE ${t}_us PARTITION OF ${t} FOR VALUES IN ('us') PARTITION BY RANGE (id)`);
    await pg.query(`CREATE TABLE ${t}_us_low PARTITION OF ${t}_us FOR VALUES FROM (0) TO (1000)`);
    await pg.query(`CREATE TABLE ${t}_us_high PARTITION OF ${t}_us FOR VALUES FROM (1000) TO (MAXVALUE)`);
    await pg.query(`INSERT INTO ${t} SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END FROM generate_series(1, 2500) g`);
    const rows = await rowsOf(oneShot(t));
    assert.equal(rows.length, 2500);
    assert.deepEqual(
      rows.map((r) => Number(r[0])),
      Array.from({ length: 2500 }, (_, i) => i + 1),
    );
  });

  it('row-level security that would hide rows is a definite PERMISSION_DENIED', async () => {
    const t = uniqueName('oneshotrls');
    await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, v text)`);
    await pg.query(`INSERT INTO ${t} SELECT g, 'v' FROM generate_series(1, 30) g`);
    await pg.query(`ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY`);
    await pg.query(`CREATE POLICY few ON ${t} USING (id < 10)`);
    await pg.query(`CREATE ROLE ${t}_reader LOGIN`);
    await pg.query(`GRANT SELECT ON ${t} TO ${t}_reader`);
    const source = oneShot(t, { connectionString: pg.connectionString.replace('postgres://postgres@', `postgres://${t}_reader@`) });
    const error = await rowsOf(source).then(
      (rows) => new Error(`the snapshot delivered ${rows.length} of 30 rows`),
      (e: unknown) => e,
    );
    assert.ok(ConnectorError.is(error, 'PERMISSION_DENIED'), String(error));
  });
});
