/**
 * Row-level security: a snapshot read by a role whose policies hide rows would be partial,
 * while the stream publishes every row's changes. The snapshot must fail instead.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import { PG_VERSIONS, drainSnapshot, jsonRows, uniqueName } from './helpers.js';

const version = PG_VERSIONS[0]!;

describe(`postgres ${version}: row-level security`, () => {
  let pg: TestPostgres;
  let t: string;
  before(async () => {
    pg = await startPostgres({ version });
    t = uniqueName('rls');
    await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, v text)`);
    await pg.query(`INSERT INTO ${t} SELECT g, 'v' FROM generate_series(1, 30) g`);
    await pg.query(`ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY`);
    await pg.query(`CREATE POLICY few ON ${t} USING (id < 10)`);
    await pg.query(`CREATE PUBLICATION p_${t} FOR TABLE ${t}`);
    await pg.query(`CREATE ROLE rls_reader LOGIN REPLICATION`);
    await pg.query(`CREATE ROLE rls_bypass LOGIN REPLICATION BYPASSRLS`);
    await pg.query(`GRANT SELECT ON ${t} TO rls_reader, rls_bypass`);
  });
  after(() => pg.stop());

  const as = (role: string) =>
    new PostgresSource({
      connectionString: pg.connectionString.replace('postgres://postgres@', `postgres://${role}@`),
      table: t,
      slot: uniqueName('s'),
      publication: `p_${t}`,
      createPublication: false,
      maxWaitMs: 200,
    });

  it('a role whose policies hide rows gets a definite PERMISSION_DENIED naming BYPASSRLS, not a partial snapshot', async () => {
    const source = as('rls_reader');
    try {
      let rows = 0;
      const error = await drainSnapshot(source).then(
        (batches) => {
          rows = batches.reduce((n, b) => n + b.numRows, 0);
          return null;
        },
        (e: unknown) => e,
      );
      assert.ok(error !== null, `the snapshot delivered ${rows} of 30 rows without an error`);
      assert.ok(ConnectorError.is(error, 'PERMISSION_DENIED'), String(error));
      assert.equal((error as ConnectorError).kind, 'definite');
      assert.match((error as ConnectorError).hint ?? '', /BYPASSRLS/);
      assert.match((error as ConnectorError).hint ?? '', /owner/);
    } finally {
      await source.close({ dropSlot: true });
    }
  });

  it('a role with BYPASSRLS reads every row', async () => {
    const source = as('rls_bypass');
    try {
      const ids = (await drainSnapshot(source)).flatMap(jsonRows).map((r) => r[0]);
      assert.equal(ids.length, 30);
    } finally {
      await source.close({ dropSlot: true });
    }
  });
});
