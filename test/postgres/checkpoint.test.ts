/**
 * Checkpoints: exact resume mid-snapshot (one and several workers) and mid-transaction,
 * snapshot/stream consistency under writes, invalid and expired checkpoints, commit →
 * confirmed_flush_lsn, the idle keepalive frontier, abort signals, close, and the
 * Postgres checkpoint store.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { PostgresCheckpointStore, PostgresSource, parseLsn } from '../../src/connectors/postgres/index.js';
import type { SourceCheckpoint } from '../../src/sdk/checkpoint.js';
import { storedCheckpoint } from '../../src/sdk/checkpoint-store.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import {
  PG_VERSIONS,
  Fold,
  changeRows,
  createTestTable,
  diffStates,
  drainSnapshot,
  eventually,
  jsonRows,
  pollChanges,
  pollQuiet,
  tableState,
  uniqueName,
} from './helpers.js';

const TS = `'2024-05-06 07:08:09.5+00'`;

function lsnOf(cp: SourceCheckpoint): bigint {
  return parseLsn((cp.position as { lsn: string }).lsn);
}

for (const version of PG_VERSIONS) {
  describe(`postgres ${version}: checkpoints`, () => {
    let pg: TestPostgres;
    before(async () => {
      pg = await startPostgres({ version });
    });
    after(() => pg.stop());

    const make = (table: string, slot: string, extra: Record<string, unknown> = {}) =>
      new PostgresSource({ connectionString: pg.connectionString, table, slot, publication: `p_${slot}`, maxWaitMs: 200, ...extra });

    const confirmedFlush = async (slot: string) => {
      const [row] = await pg.query<{ lsn: string }>(
        'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      return parseLsn(row!.lsn);
    };

    it('a mid-snapshot checkpoint resumes exactly at the next unread row (one worker)', async () => {
      const t = uniqueName('snapresume');
      const slot = uniqueName('s');
      await createTestTable(pg, t);
      await pg.query(`INSERT INTO ${t} SELECT g, 'n' || g, g, ${TS}, true, null FROM generate_series(1, 5000) g`);
      const first = make(t, slot, { batchRows: 500 });
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push(...jsonRows((await first.pollSnapshot())!).map((r) => r[0] as string));
      const cp = first.checkpoint();
      assert.equal(cp.phase, 'snapshot');
      await first.close();
      const second = make(t, slot, { batchRows: 500 });
      try {
        await second.restore(JSON.parse(JSON.stringify(cp)));
        assert.equal(second.isSnapshotComplete(), false);
        for (const b of await drainSnapshot(second)) ids.push(...jsonRows(b).map((r) => r[0] as string));
        assert.equal(ids.length, 5000, 'no row twice, none missing');
        assert.equal(new Set(ids).size, 5000);
      } finally {
        await second.close({ dropSlot: true });
      }
    });

    it('parallel ctid ranges share one snapshot and resume mid-snapshot (another parallelism) exactly once under updates', async () => {
      const t = uniqueName('parallel');
      const slot = uniqueName('s');
      await createTestTable(pg, t);
      await pg.query(`INSERT INTO ${t} SELECT g, 'name ' || g, g, ${TS}, g % 2 = 0, repeat('n', g % 50) FROM generate_series(1, 30000) g`);
      const first = make(t, slot, { batchRows: 1000, snapshotParallelism: 3 });
      const fold = new Fold();
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        const b = (await first.pollSnapshot())!;
        fold.snapshot(b);
        ids.push(...jsonRows(b).map((r) => r[0] as string));
      }
      const cp = first.checkpoint() as SourceCheckpoint & { position: { ranges: unknown[] } };
      assert.ok(cp.position.ranges.length > 3, 'table split into several ctid ranges');
      // writes after the snapshot point must arrive as changes, not be lost
      await pg.query(`UPDATE ${t} SET name = 'changed' WHERE id % 1000 = 0`);
      await first.close();
      const second = make(t, slot, { batchRows: 1000, snapshotParallelism: 2 });
      try {
        await second.restore(cp);
        const before = ids.length;
        for (const b of await drainSnapshot(second)) {
          fold.snapshot(b);
          ids.push(...jsonRows(b).map((r) => r[0] as string));
        }
        assert.ok(
          ids.length <= 30000,
          `the snapshot resumed instead of restarting (${before} rows before the checkpoint, ${ids.length - before} after)`,
        );
        // rows changed after the original snapshot point are not snapshot rows again: no key twice
        assert.equal(new Set(ids).size, ids.length, 'no snapshot row delivered twice');
        const changed = await pollQuiet(second, 3);
        for (const r of changed) fold.change(r);
        assert.equal(changed.filter((r) => r.type === 'update').length, 30, 'the 30 updates arrive as changes');
        const diff = diffStates(await tableState(pg, t), fold.rows);
        assert.deepEqual(diff, { missing: [], extra: [], stale: [] });
      } finally {
        await second.close({ dropSlot: true });
      }
    });

    it('snapshot and stream have no gap and no overlap under concurrent writes', async () => {
      const t = uniqueName('consistent');
      const slot = uniqueName('s');
      await createTestTable(pg, t);
      await pg.query(`INSERT INTO ${t} SELECT g, 'n' || g, g, ${TS}, true, null FROM generate_series(1, 3000) g`);
      const source = make(t, slot, { batchRows: 200 });
      const table = new ReferenceTable();
      let stop = false;
      let n = 0;
      const writer = (async () => {
        while (!stop) {
          n++;
          await pg.query(
            `BEGIN; UPDATE ${t} SET amount = amount + 1 WHERE id = ${1 + (n % 3000)}; DELETE FROM ${t} WHERE id = ${1 + ((n * 7) % 3000)}; INSERT INTO ${t} VALUES (${10000 + n}, 'new', 1, ${TS}, false, 'w') ON CONFLICT DO NOTHING; COMMIT`,
          );
        }
      })();
      try {
        for (let b = await source.pollSnapshot(); b; b = await source.pollSnapshot()) table.apply(b);
        for (let i = 0; i < 5; i++) {
          const b = await source.pollChanges();
          if (b) table.apply(b);
        }
        stop = true;
        await writer;
        for (let quiet = 0; quiet < 3;) {
          const b = await source.pollChanges();
          if (b) table.apply(b);
          else quiet++;
        }
        const expected = await tableState(pg, t);
        const actual = new Map(
          table.toJSON().map((r) => {
            const v = Object.values(r);
            return [v[0] as string, v];
          }),
        );
        assert.deepEqual(diffStates(expected, actual), { missing: [], extra: [], stale: [] });
        assert.ok(n > 5, 'writes happened during the run');
      } finally {
        stop = true;
        await writer;
        await source.close({ dropSlot: true });
      }
    });

    it('a mid-transaction checkpoint resumes with exactly the next change of that transaction', async () => {
      const t = uniqueName('midtx');
      const slot = uniqueName('s');
      await createTestTable(pg, t);
      const first = make(t, slot, { batchRows: 100 });
      await drainSnapshot(first);
      await pg.query(`INSERT INTO ${t} SELECT g, 'n' || g, g, ${TS}, true, null FROM generate_series(1, 1000) g`);
      await pg.query(`INSERT INTO ${t} VALUES (5000, 'after', 1, ${TS}, true, null)`);
      const seen: string[] = [];
      const positions: string[] = [];
      while (seen.length < 300) {
        const b = await first.pollChanges();
        if (b) {
          for (const r of changeRows(b)) {
            seen.push(r.values[0] as string);
            positions.push(r.position);
          }
        }
      }
      const cp = first.checkpoint();
      assert.equal((cp.position as { skip: number }).skip, 300);
      await first.commit(cp);
      await first.close();
      // close() resolves once the server has let go of the slot: a new reader can start at once
      const [held] = await pg.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      assert.equal(held!.active, false);
      const second = make(t, slot, { batchRows: 100 });
      try {
        await second.restore(cp);
        for (const r of await pollChanges(second, 701)) {
          seen.push(r.values[0] as string);
          positions.push(r.position);
        }
        assert.deepEqual(seen, [...Array.from({ length: 1000 }, (_, i) => String(i + 1)), '5000']);
        assert.deepEqual([...positions].sort(), positions);
        assert.equal(new Set(positions).size, positions.length);
        assert.deepEqual(await pollQuiet(second, 2), []);
      } finally {
        await second.close({ dropSlot: true });
      }
    });

    it('restoring a change checkpoint delivers every later change exactly once', async () => {
      const t = uniqueName('restore');
      const slot = uniqueName('s');
      await createTestTable(pg, t);
      const first = make(t, slot);
      await drainSnapshot(first);
      await pg.query(`INSERT INTO ${t} VALUES (1, 'a', 1, ${TS}, true, null)`);
      await pollChanges(first, 1);
      const cp = first.checkpoint();
      await pg.query(`INSERT INTO ${t} VALUES (2, 'b', 1, ${TS}, true, null)`);
      await pollChanges(first, 1); // delivered but not checkpointed: must come again
      await first.close();
      await pg.query(`UPDATE ${t} SET name = 'c' WHERE id = 1`);
      const second = make(t, slot);
      try {
        await second.restore(cp);
        assert.equal(second.isSnapshotComplete(), true);
        assert.equal(await second.pollSnapshot(), null);
        const rows = await pollQuiet(second, 3);
        assert.deepEqual(
          rows.map((r) => [r.type, r.values[0], r.values[1]]),
          [
            ['insert', '2', 'b'],
            ['update', '1', 'c'],
          ],
        );
      } finally {
        await second.close({ dropSlot: true });
      }
    });

    it('rejects checkpoints of another table or connector, and corrupt ones, with CHECKPOINT_INVALID (another slot: CHECKPOINT_MISMATCH)', async () => {
      const t = uniqueName('invalid');
      await createTestTable(pg, t);
      const slot = uniqueName('s');
      const good = {
        version: 1,
        connector: 'postgres',
        table: `public.${t}`,
        phase: 'changes',
        position: { slot, lsn: '0/0', skip: 0, columns: [] },
      } as const;
      const cases: unknown[] = [
        { ...good, table: 'public.other' },
        { ...good, connector: 'exasol' },
        { ...good, position: { ...good.position, lsn: 'nonsense' } },
        { ...good, version: 99 },
        '{not json',
        { ...good, position: { ...good.position, extra: 1 } },
      ];
      for (const cp of cases) {
        const source = make(t, slot);
        await assert.rejects(
          source.restore(cp as SourceCheckpoint),
          (e: unknown) => ConnectorError.is(e, 'CHECKPOINT_INVALID') && e.kind === 'definite',
          JSON.stringify(cp),
        );
        await source.close();
      }
      const otherSlot = make(t, slot);
      await assert.rejects(
        otherSlot.restore({ ...good, position: { ...good.position, slot: 'another_slot' } } as unknown as SourceCheckpoint),
        (e: unknown) => ConnectorError.is(e, 'CHECKPOINT_MISMATCH') && e.kind === 'definite',
      );
      await otherSlot.close();
    });

    it('commit confirms the checkpoint LSN within 2 s, never more; an older checkpoint is then CHECKPOINT_EXPIRED', async () => {
      const t = uniqueName('commit');
      const slot = uniqueName('s');
      await createTestTable(pg, t);
      const source = make(t, slot);
      try {
        await drainSnapshot(source);
        const cp0 = source.checkpoint();
        await pg.query(`INSERT INTO ${t} VALUES (1, 'a', 1, ${TS}, true, null)`);
        await pollChanges(source, 1);
        const cp1 = source.checkpoint();
        await pg.query(`INSERT INTO ${t} VALUES (2, 'b', 1, ${TS}, true, null)`);
        await pollChanges(source, 1);
        const cp2 = source.checkpoint();
        assert.ok(lsnOf(cp2) > lsnOf(cp1) && lsnOf(cp1) > lsnOf(cp0));
        // nothing committed yet: the slot stays at or before the snapshot point
        await new Promise((r) => setTimeout(r, 1200));
        assert.ok((await confirmedFlush(slot)) <= lsnOf(cp0));
        const started = Date.now();
        await source.commit(cp1);
        await eventually(async () => (await confirmedFlush(slot)) === lsnOf(cp1), 2000, 'confirmed_flush_lsn to reach the checkpoint');
        assert.ok(Date.now() - started < 2000);
        await new Promise((r) => setTimeout(r, 1200)); // status updates keep reporting cp1, not more
        assert.equal(await confirmedFlush(slot), lsnOf(cp1));
        await source.close();
        const stale = make(t, slot);
        await stale.restore(cp0);
        await assert.rejects(stale.pollChanges(), (e: unknown) => ConnectorError.is(e, 'CHECKPOINT_EXPIRED') && e.kind === 'definite');
        await stale.close();
        const fresh = make(t, slot);
        await fresh.restore(cp1);
        const rows = await pollChanges(fresh, 1);
        assert.equal(rows[0]!.values[0], '2');
        await fresh.close({ dropSlot: true });
      } finally {
        await source.close({ dropSlot: true }).catch(() => {});
      }
    });

    it('an idle table does not pin WAL: with unrelated writes, a committed idle checkpoint follows the server', async () => {
      const t = uniqueName('idle');
      const busy = uniqueName('busy');
      const slot = uniqueName('s');
      await createTestTable(pg, t);
      await pg.query(`CREATE TABLE ${busy} (id serial PRIMARY KEY, payload text)`);
      const source = make(t, slot);
      try {
        await drainSnapshot(source);
        const before = lsnOf(source.checkpoint());
        for (let i = 0; i < 20; i++) await pg.query(`INSERT INTO ${busy} (payload) SELECT repeat('x', 1000) FROM generate_series(1, 100)`);
        const [{ lsn: serverLsn }] = await pg.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
        await eventually(
          async () => {
            assert.equal(await source.pollChanges(), null);
            return lsnOf(source.checkpoint()) >= parseLsn(serverLsn);
          },
          10_000,
          'the idle checkpoint to pass the unrelated writes',
        );
        const cp = source.checkpoint();
        assert.ok(lsnOf(cp) > before);
        await source.commit(cp);
        await eventually(async () => (await confirmedFlush(slot)) >= parseLsn(serverLsn), 2000, 'the slot to follow');
        // and the idle checkpoint resumes correctly
        await source.close();
        await pg.query(`INSERT INTO ${t} VALUES (1, 'a', 1, ${TS}, true, null)`);
        const next = make(t, slot);
        await next.restore(cp);
        assert.deepEqual(
          (await pollChanges(next, 1)).map((r) => r.values[0]),
          ['1'],
        );
        await next.close({ dropSlot: true });
      } finally {
        await source.close();
      }
    });

    it('an abort signal ends a pending poll promptly with AbortError and the source stays usable', async () => {
      const t = uniqueName('abort');
      const slot = uniqueName('s');
      await createTestTable(pg, t);
      const source = make(t, slot, { maxWaitMs: 10_000 });
      try {
        const aborted = new AbortController();
        aborted.abort();
        await assert.rejects(source.pollSnapshot({ signal: aborted.signal }), { name: 'AbortError' });
        await drainSnapshot(source);
        const controller = new AbortController();
        const started = Date.now();
        setTimeout(() => controller.abort(), 100);
        await assert.rejects(source.pollChanges({ signal: controller.signal }), { name: 'AbortError' });
        assert.ok(Date.now() - started < 1000, 'abort is prompt');
        await pg.query(`INSERT INTO ${t} VALUES (1, 'a', 1, ${TS}, true, null)`);
        const b = await source.pollChanges();
        assert.equal(changeRows(b!)[0]!.values[0], '1');
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('pollChanges before the snapshot completes is INVALID_STATE; close releases everything and is idempotent', async () => {
      const t = uniqueName('close');
      const slot = uniqueName('s');
      await createTestTable(pg, t);
      await pg.query(`INSERT INTO ${t} SELECT g, 'n', 1, ${TS}, true, null FROM generate_series(1, 100) g`);
      const source = make(t, slot, { batchRows: 10, applicationName: 'refstream_close_test' });
      await assert.rejects(source.pollChanges(), (e: unknown) => ConnectorError.is(e, 'INVALID_STATE'));
      await source.pollSnapshot(); // mid-snapshot: workers, holder and catalog connections are open
      const open = await pg.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'refstream_close_test'`);
      assert.ok((open[0]!.n as number) >= 2);
      await source.close();
      await source.close();
      await eventually(
        async () =>
          (await pg.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'refstream_close_test'`))[0]!.n === 0,
        10_000,
        'every connection to close',
      );
      await assert.rejects(source.pollSnapshot(), (e: unknown) => ConnectorError.is(e, 'CLOSED'));
      await assert.rejects(source.pollChanges(), (e: unknown) => ConnectorError.is(e, 'CLOSED'));
      const [slotRow] = await pg.query(`SELECT active FROM pg_replication_slots WHERE slot_name = $1`, [slot]);
      assert.equal(slotRow!.active, false);
      await source.close({ dropSlot: true });
      assert.equal((await pg.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = $1`, [slot])).length, 0);
      // no temporary slot is left behind either
      assert.equal((await pg.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name LIKE 'refstream_tmp_%'`)).length, 0);
    });

    it('close() during a pending poll rejects it with CLOSED and never completes the snapshot', async () => {
      const t = uniqueName('closepending');
      const slot = uniqueName('s');
      await createTestTable(pg, t);
      await pg.query(`INSERT INTO ${t} SELECT g, 'n', 1, ${TS}, true, null FROM generate_series(1, 1000) g`);
      // close at several points of the first poll (connecting, exporting, reading)
      for (const delay of [0, 5, 15, 40]) {
        const source = make(t, slot, { batchRows: 100, applicationName: 'refstream_close_pending' });
        const pending = source.pollSnapshot().then(
          (batch) => batch,
          (e: unknown) => e,
        );
        await new Promise((r) => setTimeout(r, delay));
        await source.close();
        const settled = await pending;
        // a poll that finished before close() returns its batch; one interrupted by it rejects with CLOSED
        assert.ok(
          ConnectorError.is(settled, 'CLOSED') || (settled !== null && !(settled instanceof Error)),
          `pending pollSnapshot settled with ${String(settled)}`,
        );
        assert.equal(source.isSnapshotComplete(), false);
        assert.equal(source.checkpoint().phase, 'snapshot');
        await eventually(
          async () =>
            (await pg.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'refstream_close_pending'`))[0]!.n ===
            0,
          10_000,
          'every connection to close',
        );
      }

      const second = make(t, slot, { maxWaitMs: 5000 });
      await drainSnapshot(second);
      const waiting = second.pollChanges().then(
        () => null,
        (e: unknown) => e,
      );
      await new Promise((r) => setTimeout(r, 200));
      await second.close({ dropSlot: true });
      const second2 = await waiting;
      assert.ok(ConnectorError.is(second2, 'CLOSED'), `pending pollChanges settled with ${String(second2)}`);
    });

    it('PostgresCheckpointStore saves, loads and clears checkpoints in a table it creates', async () => {
      const store = new PostgresCheckpointStore({
        connectionString: pg.connectionString,
        table: 'refstream."Checkpoints"',
        id: 'public.t',
      });
      await pg.query('CREATE SCHEMA IF NOT EXISTS refstream');
      try {
        assert.equal(await store.load(), null);
        const cp: SourceCheckpoint = {
          version: 1,
          connector: 'postgres',
          table: 'public.t',
          phase: 'changes',
          position: { lsn: '0/1', n: [1, 'x'] },
        };
        await store.save(storedCheckpoint(cp, { 'jsonl:/out/t.jsonl': { bytes: 7 } }));
        assert.deepEqual(await store.load(), storedCheckpoint(cp, { 'jsonl:/out/t.jsonl': { bytes: 7 } }));
        await store.save(storedCheckpoint({ ...cp, position: { lsn: '0/2' } }));
        assert.deepEqual((await store.load())!.checkpoint.position, { lsn: '0/2' });
        // A row written before sink states existed (a bare source checkpoint) still loads.
        await pg.query(`UPDATE refstream."Checkpoints" SET checkpoint = $1::jsonb WHERE id = 'public.t'`, [JSON.stringify(cp)]);
        assert.deepEqual(await store.load(), storedCheckpoint(cp));
        await store.clear();
        assert.equal(await store.load(), null);
      } finally {
        await store.close();
      }
    });
  });
}
