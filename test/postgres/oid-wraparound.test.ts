/**
 * A cluster whose OID counter is past 2^31 (`pg_resetwal -o 3000000000`): table, type and
 * partition OIDs do not fit a signed int4. Changes must still be delivered, and the slot
 * never confirmed past changes that were not.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { parseLsn } from '../../src/connectors/postgres/index.js';
import { resetwalServer, drainSnapshot, jsonRows, pollChanges, sourceFor, uniqueName } from './helpers.js';

const { version: VERSION, skip } = resetwalServer('OID wraparound');

describe(`postgres ${VERSION}: OIDs past 2^31`, { skip }, () => {
  let pg: TestPostgres;
  before(async () => {
    pg = await startPostgres({ version: VERSION, oidStart: 3_000_000_000 });
  });
  after(() => pg?.stop());

  it('streams the changes of a table, an enum column and a partitioned table whose OIDs exceed 2^31', async () => {
    const t = uniqueName('bigoid');
    const e = uniqueName('mood');
    await pg.query(`CREATE TYPE ${e} AS ENUM ('sad', 'ok', 'happy')`);
    await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, mood ${e} NOT NULL)`);
    const [{ oid }] = await pg.query<{ oid: string }>(`SELECT '${t}'::regclass::oid::text AS oid`);
    assert.ok(Number(oid) > 2 ** 31, `table oid ${oid} is past 2^31`);
    await pg.query(`INSERT INTO ${t} VALUES (1, 'ok')`);
    const source = sourceFor(pg, t);
    try {
      const snap = (await drainSnapshot(source)).flatMap(jsonRows);
      assert.deepEqual(snap, [['1', 'ok']]);
      await pg.query(`INSERT INTO ${t} VALUES (2, 'happy')`);
      await pg.query(`UPDATE ${t} SET mood = 'sad' WHERE id = 1`);
      await pg.query(`DELETE FROM ${t} WHERE id = 2`);
      const rows = await pollChanges(source, 3);
      assert.deepEqual(
        rows.map((r) => [r.type, ...r.values]),
        [
          ['insert', '2', 'happy'],
          ['update', '1', 'sad'],
          ['delete', '2', null],
        ],
      );
      const cp = source.checkpoint();
      await source.commit(cp);
      assert.equal(parseLsn((cp.position as { lsn: string }).lsn) > 0n, true);
    } finally {
      await source.close({ dropSlot: true });
    }
  });

  it('a partitioned table with partitions past 2^31 snapshots, checkpoints and restores', async () => {
    const t = uniqueName('bigpart');
    await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, v text) PARTITION BY RANGE (id)`);
    await pg.query(`CREATE TABLE ${t}_a PARTITION OF ${t} FOR VALUES FROM (0) TO (100)`);
    await pg.query(`CREATE TABLE ${t}_b PARTITION OF ${t} FOR VALUES FROM (100) TO (200)`);
    await pg.query(`INSERT INTO ${t} SELECT g, 'v' || g FROM generate_series(1, 150) g`);
    const slot = uniqueName('s');
    const first = sourceFor(pg, t, { slot, publication: `p_${slot}`, batchRows: 10 });
    const seen: string[] = [];
    seen.push(...jsonRows((await first.pollSnapshot())!).map((r) => r[0] as string));
    const cp = JSON.parse(JSON.stringify(first.checkpoint()));
    await first.close();
    const second = sourceFor(pg, t, { slot, publication: `p_${slot}`, batchRows: 10 });
    try {
      await second.restore(cp);
      for (const b of await drainSnapshot(second)) seen.push(...jsonRows(b).map((r) => r[0] as string));
      assert.equal(new Set(seen).size, 150);
      await pg.query(`UPDATE ${t} SET v = 'x' WHERE id IN (5, 150)`);
      const rows = await pollChanges(second, 2);
      assert.deepEqual(rows.map((r) => [r.type, ...r.values]).sort(), [
        ['update', '150', 'x'],
        ['update', '5', 'x'],
      ]);
    } finally {
      await second.close({ dropSlot: true });
    }
  });

  it('idle commits do not confirm the slot past changes that were not delivered', async () => {
    const t = uniqueName('bigidle');
    await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY)`);
    const source = sourceFor(pg, t);
    try {
      await drainSnapshot(source);
      await pg.query(`INSERT INTO ${t} VALUES (7)`);
      const [{ lsn: afterInsert }] = await pg.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      const delivered: string[] = [];
      const deadline = Date.now() + 5000;
      while (delivered.length === 0 && Date.now() < deadline) {
        const b = await source.pollChanges();
        if (b) delivered.push(...jsonRows(b).map((r) => r[0] as string));
        await source.commit(source.checkpoint());
      }
      const confirmed = parseLsn((source.checkpoint().position as { lsn: string }).lsn);
      // either the insert arrived, or the position stayed before it
      assert.ok(delivered.includes('7') || confirmed < parseLsn(afterInsert), `position ${confirmed} passed the undelivered insert`);
      assert.deepEqual(delivered, ['7']);
    } finally {
      await source.close({ dropSlot: true });
    }
  });
});
