/**
 * Partitioned tables: snapshot per leaf partition (sub-partitions too), changes through the
 * root, exact resume mid-snapshot, the publication's publish_via_partition_root, and
 * partitions attached or detached behind the stream's back.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import type { SourceCheckpoint } from '../../src/sdk/checkpoint.js';
import {
  PG_VERSIONS,
  Fold,
  changeRows,
  diffStates,
  drainSnapshot,
  jsonRows,
  pollChanges,
  pollQuiet,
  tableState,
  uniqueName,
} from './helpers.js';
import type { ChangeRow } from './helpers.js';

const TS = `'2024-05-06 07:08:09.5+00'`;
const COLUMNS =
  'id int8, name text NOT NULL, amount numeric(12,2) NOT NULL, updated_at timestamptz NOT NULL, active bool NOT NULL, note text NULL';

for (const version of PG_VERSIONS) {
  describe(`postgres ${version}: partitioned tables`, () => {
    let pg: TestPostgres;
    before(async () => {
      pg = await startPostgres({ version });
    });
    after(() => pg.stop());

    const make = (table: string, slot: string, extra: Record<string, unknown> = {}) =>
      new PostgresSource({
        connectionString: pg.connectionString,
        table,
        slot,
        publication: `p_${slot}`,
        maxWaitMs: 200,
        catalogCheckIntervalMs: 100,
        ...extra,
      });

    /** `t` by range of id: [0,1000) in t_a, [1000,2000) in t_b (itself hashed in two), the rest in t_rest. */
    const createPartitioned = async (t: string) => {
      await pg.query(`CREATE TABLE ${t} (${COLUMNS}, PRIMARY KEY (id)) PARTITION BY RANGE (id)`);
      await pg.query(`CREATE TABLE ${t}_a PARTITION OF ${t} FOR VALUES FROM (0) TO (1000)`);
      await pg.query(`CREATE TABLE ${t}_b PARTITION OF ${t} FOR VALUES FROM (1000) TO (2000) PARTITION BY HASH (id)`);
      await pg.query(`CREATE TABLE ${t}_b0 PARTITION OF ${t}_b FOR VALUES WITH (MODULUS 2, REMAINDER 0)`);
      await pg.query(`CREATE TABLE ${t}_b1 PARTITION OF ${t}_b FOR VALUES WITH (MODULUS 2, REMAINDER 1)`);
      await pg.query(`CREATE TABLE ${t}_rest PARTITION OF ${t} FOR VALUES FROM (2000) TO (MAXVALUE)`);
    };
    const insert = (t: string, from: number, to: number) =>
      pg.query(`INSERT INTO ${t} SELECT g, 'name ' || g, g % 1000, ${TS}, g % 2 = 0, null FROM generate_series(${from}, ${to}) g`);

    it('snapshots every leaf partition and streams changes through the root, across partitions', async () => {
      const t = uniqueName('parts');
      await createPartitioned(t);
      await insert(t, 1, 3500);
      const source = make(t, uniqueName('s'), { snapshotParallelism: 2, batchRows: 400 });
      try {
        const fold = new Fold();
        for (const b of await drainSnapshot(source)) fold.snapshot(b);
        assert.deepEqual(diffStates(await tableState(pg, t), fold.rows), { missing: [], extra: [], stale: [] });
        // the publication this source created publishes through the root
        const [pub] = await pg.query<{ v: boolean }>(`SELECT pubviaroot AS v FROM pg_publication WHERE pubname = $1`, [
          source.config.publicationName,
        ]);
        assert.equal(pub!.v, true);

        await pg.query(`UPDATE ${t} SET name = 'moved' WHERE id IN (5, 1500, 2500)`);
        await pg.query(`INSERT INTO ${t} VALUES (999999, 'far', 1, ${TS}, true, 'x')`);
        await pg.query(`DELETE FROM ${t} WHERE id IN (6, 1501)`);
        // a new key in another partition: PostgreSQL moves the row (delete + insert)
        await pg.query(`UPDATE ${t} SET id = 9000 WHERE id = 7`);
        const rows = await pollChanges(source, 8);
        assert.deepEqual(
          rows.map((r) => [r.type, r.values[0]]),
          [
            ['update', '5'],
            ['update', '1500'],
            ['update', '2500'],
            ['insert', '999999'],
            ['delete', '6'],
            ['delete', '1501'],
            ['delete', '7'],
            ['insert', '9000'],
          ],
        );
        for (const r of rows) fold.change(r);
        assert.deepEqual(diffStates(await tableState(pg, t), fold.rows), { missing: [], extra: [], stale: [] });

        await pg.query(`TRUNCATE ${t}`);
        const truncated = await pollQuiet(source, 3);
        assert.deepEqual(
          truncated.map((r) => r.type),
          ['truncate'],
          'TRUNCATE of the partitioned table arrives once',
        );
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('a mid-snapshot checkpoint resumes exactly across leaf partitions', async () => {
      const t = uniqueName('partresume');
      const slot = uniqueName('s');
      await createPartitioned(t);
      await insert(t, 1, 4000);
      const first = make(t, slot, { batchRows: 300, snapshotParallelism: 2 });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(...jsonRows((await first.pollSnapshot())!).map((r) => r[0] as string));
      const cp = JSON.parse(JSON.stringify(first.checkpoint())) as SourceCheckpoint & {
        position: { ranges: Array<{ partition?: number }>; partitions: string[] };
      };
      assert.equal(cp.phase, 'snapshot');
      assert.equal(new Set(cp.position.ranges.map((r) => r.partition)).size, 4, 'ranges cover the four leaves');
      assert.equal(cp.position.partitions.length, 5, 'four leaves and one sub-partitioned partition recorded');
      await first.close();
      const second = make(t, slot, { batchRows: 300 });
      try {
        await second.restore(cp);
        for (const b of await drainSnapshot(second)) ids.push(...jsonRows(b).map((r) => r[0] as string));
        assert.equal(ids.length, 4000, 'no row twice, none missing');
        assert.equal(new Set(ids).size, 4000);
      } finally {
        await second.close({ dropSlot: true });
      }
    });

    it('a partition created empty is taken on; one attached with rows or detached stops the source, also on restore', async () => {
      const t = uniqueName('partwatch');
      const slot = uniqueName('s');
      await createPartitioned(t);
      await pg.query(`DROP TABLE ${t}_rest`);
      await insert(t, 1, 50);
      const source = make(t, slot);
      let cp: SourceCheckpoint;
      try {
        await drainSnapshot(source);
        await pg.query(`CREATE TABLE ${t}_c PARTITION OF ${t} FOR VALUES FROM (2000) TO (3000)`);
        await pollQuiet(source, 3); // the watch takes the empty partition on
        await pg.query(`INSERT INTO ${t} VALUES (2001, 'in c', 1, ${TS}, true, null)`);
        assert.deepEqual(
          (await pollChanges(source, 1)).map((r) => [r.type, r.values[0]]),
          [['insert', '2001']],
        );
        cp = source.checkpoint();
        assert.equal((cp.position as { partitions: string[] }).partitions.length, 5, 'the new partition is recorded');

        // a table with rows attached: its rows never appear as changes
        await pg.query(`CREATE TABLE ${t}_d (${COLUMNS}, PRIMARY KEY (id))`);
        await pg.query(`INSERT INTO ${t}_d VALUES (3001, 'hidden', 1, ${TS}, true, null)`);
        await pg.query(`ALTER TABLE ${t} ATTACH PARTITION ${t}_d FOR VALUES FROM (3000) TO (4000)`);
        const error = await pollQuiet(source, 5).then(
          () => null,
          (e: unknown) => e,
        );
        assert.ok(ConnectorError.is(error, 'SCHEMA_INCOMPATIBLE') && error.kind === 'definite', String(error));
        assert.match(error.message, /_d arrived holding rows/);
        assert.match(error.hint ?? '', /new snapshot/);
      } finally {
        await source.close();
      }
      // restarting from the checkpoint taken before does not pretend nothing happened
      const restarted = make(t, slot);
      await assert.rejects(restarted.restore(cp), (e: unknown) => ConnectorError.is(e, 'SCHEMA_INCOMPATIBLE'));
      await restarted.close();
      // nor does detaching: the rows of t_a vanish without deletes
      await pg.query(`ALTER TABLE ${t} DETACH PARTITION ${t}_d`);
      const again = make(t, slot);
      await again.restore(cp); // as the checkpoint knew it
      try {
        await pg.query(`ALTER TABLE ${t} DETACH PARTITION ${t}_a`);
        await assert.rejects(
          pollQuiet(again, 5),
          (e: unknown) => ConnectorError.is(e, 'SCHEMA_INCOMPATIBLE') && /detached or dropped/.test((e as Error).message),
        );
      } finally {
        await again.close({ dropSlot: true });
      }
    });

    /** Polls changes for `ms`, returning them, or the error the source stopped with. */
    const pollFor = async (source: PostgresSource, ms: number): Promise<{ rows: ChangeRow[]; error: unknown }> => {
      const rows: ChangeRow[] = [];
      const deadline = Date.now() + ms;
      try {
        while (Date.now() < deadline) {
          const b = await source.pollChanges();
          if (b) rows.push(...changeRows(b));
        }
        return { rows, error: null };
      } catch (error) {
        return { rows, error };
      }
    };

    it('a partition truncated on its own stops the source; TRUNCATE of the table and VACUUM FULL do not', async () => {
      const t = uniqueName('parttrunc');
      const slot = uniqueName('s');
      await createPartitioned(t);
      await insert(t, 1, 2500);
      const source = make(t, slot);
      let cp: SourceCheckpoint;
      try {
        await drainSnapshot(source);
        // rewrites keep the rows: new storage, same data
        await pg.query(`VACUUM FULL ${t}_b0`);
        await pg.query(`CLUSTER ${t}_a USING ${t}_a_pkey`);
        let got = await pollFor(source, 1500);
        assert.equal(got.error, null, String(got.error));
        // the table's TRUNCATE is published: the new storage of every leaf is explained by it
        await pg.query(`TRUNCATE ${t}`);
        await insert(t, 1, 20);
        got = await pollFor(source, 1500);
        assert.equal(got.error, null, String(got.error));
        assert.deepEqual(
          got.rows.map((r) => r.type),
          ['truncate', ...Array(20).fill('insert')],
        );
        cp = source.checkpoint();
        // a partition truncated alone leaves no trace in the stream: the source must stop
        await pg.query(`TRUNCATE ${t}_a`);
        got = await pollFor(source, 20_000); // returns at the error
        assert.ok(ConnectorError.is(got.error, 'TABLE_TRUNCATED') && got.error.kind === 'definite', String(got.error));
        assert.match(got.error.message, /_a of .* was truncated on its own/);
        assert.match(got.error.hint ?? '', /new snapshot/);
      } finally {
        await source.close();
      }
      // restarting from the checkpoint before does not miss it either
      const restarted = make(t, slot);
      try {
        await restarted.restore(cp);
        const got = await pollFor(restarted, 20_000);
        assert.ok(ConnectorError.is(got.error, 'TABLE_TRUNCATED'), String(got.error));
      } finally {
        await restarted.close({ dropSlot: true });
      }
    });

    it('a partition truncated on its own while the snapshot is read stops the source once it streams', async () => {
      const t = uniqueName('partsnaptrunc');
      await createPartitioned(t);
      await insert(t, 1, 3000);
      const source = make(t, uniqueName('s'), { batchRows: 200 });
      try {
        assert.ok(await source.pollSnapshot());
        await pg.query(`TRUNCATE ${t}_rest`);
        await drainSnapshot(source);
        const got = await pollFor(source, 20_000);
        assert.ok(ConnectorError.is(got.error, 'TABLE_TRUNCATED'), String(got.error));
        assert.match(got.error.message, /_rest of /);
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('a publication that publishes the partitions as separate tables is refused with the fix', async () => {
      const t = uniqueName('partpub');
      const slot = uniqueName('s');
      await createPartitioned(t);
      await pg.query(`CREATE PUBLICATION p_${slot} FOR TABLE ${t}`);
      const source = make(t, slot);
      try {
        await assert.rejects(source.pollSnapshot(), (e: unknown) => {
          assert.ok(ConnectorError.is(e, 'CONFIG_INVALID'), String(e));
          assert.match(e.message, /partitions of .* as separate tables/);
          assert.equal(
            e.hint,
            `ALTER PUBLICATION "p_${slot}" SET (publish_via_partition_root = true); or configure a publication of its own`,
          );
          return true;
        });
      } finally {
        await source.close({ dropSlot: true });
      }
      await pg.query(`ALTER PUBLICATION p_${slot} SET (publish_via_partition_root = true)`);
      const fixed = make(t, slot);
      try {
        await insert(t, 1, 10);
        assert.equal(
          (await drainSnapshot(fixed)).reduce((n, b) => n + b.numRows, 0),
          10,
        );
      } finally {
        await fixed.close({ dropSlot: true });
      }
    });
  });
}
