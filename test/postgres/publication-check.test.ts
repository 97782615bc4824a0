/**
 * A publication the user provides must publish the whole table: every kind of change, every
 * row (no row filter), every column (no column list), through the root for a partitioned
 * table. It is checked at every start and while streaming.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import { PG_VERSIONS, drainSnapshot, pollChanges, uniqueName } from './helpers.js';

const version = PG_VERSIONS.find((v) => v >= 15) ?? PG_VERSIONS[0]!;

describe(`postgres ${version}: provided publications are verified`, () => {
  let pg: TestPostgres;
  before(async () => {
    pg = await startPostgres({ version });
  });
  after(() => pg.stop());

  const make = (table: string, publication: string, slot = uniqueName('s')) =>
    new PostgresSource({
      connectionString: pg.connectionString,
      table,
      slot,
      publication,
      createPublication: false,
      maxWaitMs: 100,
      catalogCheckIntervalMs: 100,
    });

  const table = async () => {
    const t = uniqueName('pubchk');
    await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, region text, v text)`);
    await pg.query(`INSERT INTO ${t} VALUES (1, 'eu', 'a'), (2, 'us', 'b')`);
    return t;
  };

  const expectInvalid = (error: unknown, pattern: RegExp, hint: RegExp) => {
    assert.ok(ConnectorError.is(error, 'CONFIG_INVALID'), `expected CONFIG_INVALID, got ${String(error)}`);
    assert.equal((error as ConnectorError).kind, 'definite');
    assert.match((error as Error).message, pattern);
    assert.match((error as ConnectorError).hint ?? '', hint);
  };

  it(
    'a row filter is refused at start with the ALTER PUBLICATION that removes it',
    { skip: version < 15 ? 'row filters need PostgreSQL 15' : false },
    async () => {
      const t = await table();
      await pg.query(`CREATE PUBLICATION p_${t} FOR TABLE ${t} WHERE (region = 'eu')`);
      const source = make(t, `p_${t}`);
      try {
        const error = await drainSnapshot(source).then(
          () => null,
          (e: unknown) => e,
        );
        expectInvalid(error, /row filter/, new RegExp(`ALTER PUBLICATION "p_${t}" SET TABLE|DROP TABLE .*ADD TABLE`));
      } finally {
        await source.close({ dropSlot: true });
      }
    },
  );

  it('a column list is refused at start', { skip: version < 15 ? 'column lists need PostgreSQL 15' : false }, async () => {
    const t = await table();
    await pg.query(`CREATE PUBLICATION p_${t} FOR TABLE ${t} (id, region)`);
    const source = make(t, `p_${t}`);
    try {
      const error = await drainSnapshot(source).then(
        () => null,
        (e: unknown) => e,
      );
      expectInvalid(error, /column list/, /ALTER PUBLICATION/);
    } finally {
      await source.close({ dropSlot: true });
    }
  });

  it('publish flags changed while streaming stop the stream (TRUNCATE would be dropped silently)', async () => {
    const t = await table();
    await pg.query(`CREATE PUBLICATION p_${t} FOR TABLE ${t}`);
    const source = make(t, `p_${t}`);
    try {
      await drainSnapshot(source);
      await pg.query(`INSERT INTO ${t} VALUES (3, 'eu', 'c')`);
      await pollChanges(source, 1);
      await pg.query(`ALTER PUBLICATION p_${t} SET (publish = 'insert, update, delete')`);
      const error = await (async () => {
        const deadline = Date.now() + 5000;
        while (Date.now() < deadline) await source.pollChanges();
        return null;
      })().catch((e: unknown) => e);
      expectInvalid(error, /does not publish every kind of change/, /publish = 'insert, update, delete, truncate'/);
    } finally {
      await source.close({ dropSlot: true });
    }
  });

  it(
    'a row filter added while stopped is refused when the stream restarts from a checkpoint',
    { skip: version < 15 ? 'row filters need PostgreSQL 15' : false },
    async () => {
      const t = await table();
      await pg.query(`CREATE PUBLICATION p_${t} FOR TABLE ${t}`);
      const slot = uniqueName('s');
      const first = make(t, `p_${t}`, slot);
      await drainSnapshot(first);
      const cp = JSON.parse(JSON.stringify(first.checkpoint()));
      await first.close();
      await pg.query(`ALTER PUBLICATION p_${t} SET TABLE ${t} WHERE (region = 'eu')`);
      const second = make(t, `p_${t}`, slot);
      try {
        await second.restore(cp);
        const error = await second.pollChanges().then(
          () => null,
          (e: unknown) => e,
        );
        expectInvalid(error, /row filter/, /ALTER PUBLICATION/);
      } finally {
        await second.close({ dropSlot: true });
      }
    },
  );
});
