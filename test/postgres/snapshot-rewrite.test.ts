/**
 * A table rewritten (VACUUM FULL) between an interrupted snapshot and its resume: the recorded
 * ctids mean nothing in the new storage, so the snapshot starts over instead of skipping rows.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { sync } from '../../src/sdk/sync.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import { MemorySink } from '../../src/sinks/memory.js';
import type { RecordBatch } from 'apache-arrow';
import type { SourceCheckpoint } from '../../src/sdk/checkpoint.js';
import { storedCheckpoint, type CheckpointStore, type StoredCheckpoint } from '../../src/sdk/checkpoint-store.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import { PG_VERSIONS, drainSnapshot, jsonRows, uniqueName } from './helpers.js';

const ROWS = 3000;

for (const version of PG_VERSIONS)
  describe(`postgres ${version}: snapshot resume after a table rewrite`, () => {
    let pg: TestPostgres;
    before(async () => {
      pg = await startPostgres({ version });
    });
    after(() => pg.stop());

    const make = (table: string, slot: string) =>
      new PostgresSource({ connectionString: pg.connectionString, table, slot, publication: `p_${slot}`, batchRows: 200, maxWaitMs: 200 });

    /** Reads one snapshot batch and returns the checkpoint after it (the "crash"). */
    const interrupted = async (table: string, slot: string): Promise<{ cp: SourceCheckpoint; ids: string[]; batch: RecordBatch }> => {
      const first = make(table, slot);
      try {
        const batch = (await first.pollSnapshot())!;
        const ids = jsonRows(batch).map((r) => r[0] as string);
        return { cp: JSON.parse(JSON.stringify(first.checkpoint())), ids, batch };
      } finally {
        await first.close();
      }
    };

    it('VACUUM FULL while a snapshot is interrupted: the resumed source starts the snapshot over and delivers every row', async () => {
      const t = uniqueName('rewrite');
      await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, v text NOT NULL)`);
      await pg.query(`INSERT INTO ${t} SELECT g, repeat('v', 50) FROM generate_series(1, ${ROWS}) g`);
      await pg.query(`UPDATE ${t} SET v = v`); // dead versions at the front, live ones behind them
      const slot = uniqueName('s');
      const { cp } = await interrupted(t, slot);
      await pg.query(`VACUUM FULL ${t}`);
      const second = make(t, slot);
      try {
        await second.restore(cp);
        const ids = (await drainSnapshot(second)).flatMap(jsonRows).map((r) => r[0] as string);
        assert.equal(new Set(ids).size, ROWS, 'every row delivered by the new snapshot');
        assert.equal(second.restartsSnapshot(), true, 'the source reports that the snapshot started over');
      } finally {
        await second.close({ dropSlot: true });
      }
    });

    it('a resume without a rewrite still continues where it stopped', async () => {
      const t = uniqueName('norewrite');
      await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, v text NOT NULL)`);
      await pg.query(`INSERT INTO ${t} SELECT g, repeat('v', 50) FROM generate_series(1, ${ROWS}) g`);
      const slot = uniqueName('s');
      const { cp, ids: firstIds } = await interrupted(t, slot);
      const second = make(t, slot);
      try {
        await second.restore(cp);
        const ids = (await drainSnapshot(second)).flatMap(jsonRows).map((r) => r[0] as string);
        assert.equal(second.restartsSnapshot(), false);
        assert.equal(ids.length + firstIds.length, ROWS);
      } finally {
        await second.close({ dropSlot: true });
      }
    });

    it('a rewrite between restore and the first poll fails the attempt with the transient TABLE_REWRITTEN; the retry starts over', async () => {
      const t = uniqueName('rewritelate');
      await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, v text NOT NULL)`);
      await pg.query(`INSERT INTO ${t} SELECT g, repeat('v', 50) FROM generate_series(1, ${ROWS}) g`);
      await pg.query(`UPDATE ${t} SET v = v`);
      const slot = uniqueName('s');
      const { cp } = await interrupted(t, slot);
      const second = make(t, slot);
      try {
        await second.restore(cp);
        assert.equal(second.restartsSnapshot(), false, 'no rewrite yet when restored');
        await pg.query(`VACUUM FULL ${t}`);
        await assert.rejects(second.pollSnapshot(), (e: unknown) => ConnectorError.is(e, 'TABLE_REWRITTEN') && e.kind === 'transient');
      } finally {
        await second.close();
      }
      const third = make(t, slot);
      try {
        await third.restore(cp);
        assert.equal(third.restartsSnapshot(), true);
        const ids = (await drainSnapshot(third)).flatMap(jsonRows).map((r) => r[0] as string);
        assert.equal(new Set(ids).size, ROWS);
      } finally {
        await third.close({ dropSlot: true });
      }
    });

    it('a partition rewritten while the snapshot is interrupted restarts the snapshot', async () => {
      const t = uniqueName('rewritepart');
      await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, v text NOT NULL) PARTITION BY RANGE (id)`);
      await pg.query(`CREATE TABLE ${t}_a PARTITION OF ${t} FOR VALUES FROM (0) TO (${ROWS / 2})`);
      await pg.query(`CREATE TABLE ${t}_b PARTITION OF ${t} FOR VALUES FROM (${ROWS / 2}) TO (${ROWS + 1})`);
      await pg.query(`INSERT INTO ${t} SELECT g, repeat('v', 50) FROM generate_series(1, ${ROWS}) g`);
      await pg.query(`UPDATE ${t} SET v = v`);
      const slot = uniqueName('s');
      const { cp } = await interrupted(t, slot);
      await pg.query(`VACUUM FULL ${t}_a`);
      await pg.query(`VACUUM FULL ${t}_b`);
      const second = make(t, slot);
      try {
        await second.restore(cp);
        const ids = (await drainSnapshot(second)).flatMap(jsonRows).map((r) => r[0] as string);
        assert.equal(new Set(ids).size, ROWS, 'every row delivered by the new snapshot');
      } finally {
        await second.close({ dropSlot: true });
      }
    });

    it('under the runner, the restart reaches the sinks as a snapshot start (restart: true) and the table is complete', async () => {
      const t = uniqueName('rewriterun');
      await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, v text NOT NULL)`);
      await pg.query(`INSERT INTO ${t} SELECT g, repeat('v', 50) FROM generate_series(1, ${ROWS}) g`);
      await pg.query(`UPDATE ${t} SET v = v`);
      const slot = uniqueName('s');
      const { cp, ids, batch } = await interrupted(t, slot);
      // the sink holds what the interrupted attempt delivered; one of those rows is deleted since
      const table = new ReferenceTable();
      table.apply(batch);
      await pg.query(`DELETE FROM ${t} WHERE id = $1`, [ids[0]]);
      await pg.query(`VACUUM FULL ${t}`);
      let saved: StoredCheckpoint | null = storedCheckpoint(cp);
      const store: CheckpointStore = { load: async () => saved, save: async (c) => void (saved = c) };
      const starts: boolean[] = [];
      const run = sync({ source: () => make(t, slot), sinks: [new MemorySink(table)], checkpoints: store, stopAfterSnapshot: true });
      run.on('snapshot-start', (info) => starts.push(info.restart));
      const result = await run.done;
      assert.equal(result.stoppedBy, 'snapshot');
      assert.deepEqual(starts, [true]);
      assert.equal(table.size, ROWS - 1, 'every row of the table, the deleted one not');
      assert.equal(table.has(BigInt(ids[0]!)), false, 'the row deleted while stopped is gone from the sink');
      await pg.query(`SELECT pg_drop_replication_slot($1)`, [slot]);
    });
  });
