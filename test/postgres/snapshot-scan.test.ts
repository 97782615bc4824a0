/**
 * Snapshot scans that could start mid-table: a table larger than shared_buffers/4 joins a
 * concurrent synchronized seq scan, which starts at that scan's page and wraps around. A
 * checkpoint taken before the wrap must still resume to every row.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { BatchBuilder } from '../../src/sdk/batch.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { Catalog } from '../../src/connectors/postgres/catalog.js';
import { CopyDecoder } from '../../src/connectors/postgres/copy-decoder.js';
import { CopyOut } from '../../src/connectors/postgres/copy-out.js';
import { PG_VERSIONS, drainSnapshot, jsonRows, sourceFor, uniqueName } from './helpers.js';

const version = PG_VERSIONS[0]!;

describe(`postgres ${version}: snapshot scans under synchronized seq scans`, () => {
  let server: TestPostgres;
  before(async () => {
    // 1 MB of shared buffers: tables over 32 pages take part in synchronized scans
    server = await startPostgres({ version, settings: { shared_buffers: '1MB', max_connections: 40 } });
  });
  after(() => server.stop());

  it('a mid-snapshot checkpoint resumes to every row while another session scans the table', async () => {
    const t = uniqueName('syncscan');
    await server.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, pad text NOT NULL)`);
    await server.query(`INSERT INTO ${t} SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g`);
    await server.query(`VACUUM ANALYZE ${t}`);
    const [{ pages }] = await server.query<{ pages: string }>(`SELECT (pg_relation_size('${t}') / 8192)::text AS pages`);
    assert.ok(Number(pages) > 200, `table has ${pages} pages`);
    // a concurrent scan parked in the middle of the table
    const other = new pg.Client({ connectionString: server.connectionString });
    await other.connect();
    await other.query('BEGIN');
    await other.query(`DECLARE c CURSOR FOR SELECT * FROM ${t}`);
    await other.query('FETCH 12000 FROM c');
    const slot = uniqueName('s');
    const ids: string[] = [];
    try {
      const first = sourceFor(server, t, { slot, publication: `p_${slot}`, batchRows: 1000 });
      let cp;
      try {
        ids.push(...jsonRows((await first.pollSnapshot())!).map((r) => r[0] as string));
        cp = JSON.parse(JSON.stringify(first.checkpoint()));
      } finally {
        await first.close();
      }
      const second = sourceFor(server, t, { slot, publication: `p_${slot}`, batchRows: 1000 });
      try {
        await second.restore(cp);
        for (const b of await drainSnapshot(second)) ids.push(...jsonRows(b).map((r) => r[0] as string));
      } finally {
        await second.close({ dropSlot: true });
      }
    } finally {
      await other.query('ROLLBACK').catch(() => {});
      await other.end();
    }
    assert.equal(new Set(ids).size, ids.length, 'no row twice');
    assert.equal(ids.length, 20000, 'every row delivered');
  });

  it('the COPY decoder refuses a scan whose ctids go back (it would resume past unread rows)', async () => {
    const t = uniqueName('ctidorder');
    await server.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY)`);
    await server.query(`INSERT INTO ${t} SELECT generate_series(1, 50)`);
    const client = new pg.Client({ connectionString: server.connectionString });
    await client.connect();
    try {
      const catalog = new Catalog(client, t);
      const table = await catalog.loadTable({ schema: 'public', name: t });
      const codecs = await catalog.codecs(table.columns, table.display);
      const decode = async (order: string) => {
        const decoder = new CopyDecoder(codecs, true, table.display);
        const builder = new BatchBuilder({ table: table.display, primaryKey: ['id'], fields: codecs.map((c) => c.field) }, 'snapshot');
        for await (const chunk of client.query(
          new CopyOut(`COPY (SELECT ctid, id FROM ${t} ORDER BY id ${order}) TO STDOUT (FORMAT binary)`),
        ) as AsyncIterable<Buffer>) {
          decoder.feed(chunk);
          decoder.decode(builder, 1_000_000, 1 << 30);
        }
        return builder.rows;
      };
      assert.equal(await decode('ASC'), 50);
      await assert.rejects(
        decode('DESC'),
        (e: unknown) => ConnectorError.is(e, 'INTERNAL') && /went back from ctid/.test((e as Error).message),
      );
    } finally {
      await client.end();
    }
  });
});
