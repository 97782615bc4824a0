/**
 * Checkpoints know where they belong: the identity they record (server, database, table oid,
 * slot, publication), the mismatch error, old checkpoints without identity, the one-shot
 * snapshot mode, and invalidated slots (error, or re-snapshot on request).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { PostgresSource, type PostgresSourceConfig } from '../../src/connectors/postgres/index.js';
import type { SourceCheckpoint } from '../../src/sdk/checkpoint.js';
import { MemoryCheckpointStore } from '../../src/sdk/checkpoint-store.js';
import type { SnapshotStartInfo } from '../../src/sdk/sink.js';
import { sync } from '../../src/sdk/sync.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import type { SourceWarning } from '../../src/sdk/warnings.js';
import { MemorySink } from '../../src/sinks/memory.js';
import { PG_VERSIONS, createTestTable, diffStates, drainSnapshot, eventually, pollQuiet, tableState, uniqueName } from './helpers.js';

interface Identity {
  system: string;
  timeline: number;
  database: string;
  tableOid: string;
  publication: string | null;
}

function identityOf(cp: SourceCheckpoint): Identity {
  return (cp.position as unknown as { source: Identity }).source;
}

/** A MemorySink that records the snapshotStart calls it gets. */
class RecordingSink extends MemorySink {
  readonly starts: SnapshotStartInfo[] = [];
  override async snapshotStart(info: SnapshotStartInfo): Promise<void> {
    this.starts.push(info);
    await super.snapshotStart(info);
  }
}

async function insertRows(pg: TestPostgres, table: string, from: number, to: number): Promise<void> {
  await pg.query(`INSERT INTO ${table} SELECT g, 'n' || g, g, '2024-01-01 00:00:00+00', true, null FROM generate_series(${from}, ${to}) g`);
}

for (const version of PG_VERSIONS) {
  describe(`postgres ${version}: checkpoint identity`, () => {
    let pg: TestPostgres;
    before(async () => {
      pg = await startPostgres({ version });
      await pg.query('CREATE DATABASE other');
    });
    after(() => pg.stop());

    const config = (table: string, slot: string, extra: Partial<PostgresSourceConfig> = {}): PostgresSourceConfig => ({
      connectionString: pg.connectionString,
      table,
      slot,
      publication: `p_${slot}`,
      maxWaitMs: 200,
      ...extra,
    });
    const otherDb = () => pg.connectionString.replace(/\/[^/]+$/, '/other');

    /** A changes-phase checkpoint of `table`, taken by a source that is then closed (its slot kept). */
    async function streamCheckpoint(table: string, slot: string, connectionString = pg.connectionString): Promise<SourceCheckpoint> {
      const source = new PostgresSource({ ...config(table, slot), connectionString });
      try {
        await drainSnapshot(source);
        await pollQuiet(source, 1);
        const cp = source.checkpoint();
        await source.commit(cp);
        return cp;
      } finally {
        await source.close();
      }
    }

    it('every checkpoint records server, timeline, database, table oid and publication', async () => {
      const t = uniqueName('ident');
      const slot = uniqueName('s');
      await createTestTable(pg, t);
      const [server] = await pg.query<{ system: string; oid: string }>(
        `SELECT system_identifier::text AS system, '${t}'::regclass::oid::text AS oid FROM pg_control_system()`,
      );
      const cp = await streamCheckpoint(t, slot);
      assert.deepEqual(identityOf(cp), {
        system: server!.system,
        timeline: 1,
        database: pg.database,
        tableOid: server!.oid,
        publication: `p_${slot}`,
      });
      await pg.query(`SELECT pg_drop_replication_slot($1)`, [slot]);
    });

    it('a checkpoint of the same table name in another database is CHECKPOINT_MISMATCH naming both sides', async () => {
      const t = uniqueName('otherdb');
      const slot = uniqueName('s');
      await createTestTable(pg, t);
      const other = new (await import('pg')).default.Client({ connectionString: otherDb() });
      await other.connect();
      await other.query(
        `CREATE TABLE ${t} (id int8 PRIMARY KEY, name text NOT NULL, amount numeric(12,2) NOT NULL, updated_at timestamptz NOT NULL, active bool NOT NULL, note text NULL)`,
      );
      try {
        const cp = await streamCheckpoint(t, slot, otherDb());
        const source = new PostgresSource(config(t, slot));
        try {
          await assert.rejects(source.restore(cp), (e: unknown) => {
            assert.ok(ConnectorError.is(e, 'CHECKPOINT_MISMATCH'), String(e));
            assert.equal(e.kind, 'definite');
            assert.match(e.message, /checkpoint: server \d+, database other, /);
            assert.match(e.message, new RegExp(`connected: server \\d+, database ${pg.database}, `));
            assert.match(e.hint!, /delete the checkpoint .* or pass another --checkpoint/);
            return true;
          });
        } finally {
          await source.close();
        }
      } finally {
        await other.query(`SELECT pg_drop_replication_slot($1)`, [slot]);
        await other.end();
      }
    });

    it('a table dropped and re-created under the same name does not take the old checkpoint', async () => {
      const t = uniqueName('recreated');
      const slot = uniqueName('s');
      await createTestTable(pg, t);
      const cp = await streamCheckpoint(t, slot);
      await pg.query(`DROP TABLE ${t}`);
      await createTestTable(pg, t);
      const source = new PostgresSource(config(t, slot));
      try {
        await assert.rejects(
          source.restore(cp),
          (e: unknown) => ConnectorError.is(e, 'CHECKPOINT_MISMATCH') && /table oid differs/.test(e.message),
        );
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('an old checkpoint without identity still resumes, with a CHECKPOINT_UNIDENTIFIED warning', async () => {
      const t = uniqueName('oldformat');
      const slot = uniqueName('s');
      await createTestTable(pg, t);
      await insertRows(pg, t, 1, 3);
      const cp = await streamCheckpoint(t, slot);
      const { source: _identity, ...oldPosition } = cp.position as Record<string, never>;
      const old = { ...cp, position: oldPosition } as SourceCheckpoint;
      await insertRows(pg, t, 4, 5);
      const warnings: SourceWarning[] = [];
      const source = new PostgresSource(config(t, slot, { onWarning: (w) => warnings.push(w) }));
      try {
        await source.restore(old);
        assert.equal(source.isSnapshotComplete(), true);
        const rows = await pollQuiet(source, 3);
        assert.deepEqual(
          rows.map((r) => [r.type, r.values[0]]),
          [
            ['insert', '4'],
            ['insert', '5'],
          ],
        );
        assert.deepEqual(
          warnings.map((w) => w.code),
          ['CHECKPOINT_UNIDENTIFIED'],
        );
        assert.match(warnings[0]!.message, /older refstream/);
        assert.ok(identityOf(source.checkpoint()).system, 'the next checkpoint records the identity');
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it("mode 'snapshot-only' reads the table without creating a slot or publication", async () => {
      const t = uniqueName('oneshot');
      await createTestTable(pg, t);
      await insertRows(pg, t, 1, 2500);
      const source = new PostgresSource({
        connectionString: pg.connectionString,
        table: t,
        mode: 'snapshot-only',
        snapshotParallelism: 2,
        batchRows: 500,
      });
      try {
        const batches = await drainSnapshot(source);
        assert.equal(
          batches.reduce((n, b) => n + b.numRows, 0),
          2500,
        );
        assert.equal(source.capabilities.changes, 'none');
        await assert.rejects(source.pollChanges(), (e: unknown) => ConnectorError.is(e, 'INVALID_STATE'));
        const cp = source.checkpoint();
        assert.equal((cp.position as { slot: unknown }).slot, null);
        assert.equal(identityOf(cp).publication, null);
      } finally {
        await source.close();
      }
      assert.deepEqual(await pg.query(`SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'refstream%'`), []);
      assert.deepEqual(await pg.query(`SELECT pubname FROM pg_publication WHERE pubname LIKE 'refstream%'`), []);
    });

    describe('invalidated slot', () => {
      /** Makes the server invalidate `slot`: little WAL kept for slots, several segments written, a checkpoint. */
      async function invalidate(slot: string): Promise<void> {
        await pg.query(`ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'`);
        await pg.query('SELECT pg_reload_conf()');
        try {
          await pg.query('CREATE TABLE IF NOT EXISTS wal_filler (id serial, v text)');
          await eventually(
            async () => {
              await pg.query(`INSERT INTO wal_filler (v) SELECT repeat('w', 100) FROM generate_series(1, 1000)`);
              await pg.query('SELECT pg_switch_wal()');
              await pg.query('CHECKPOINT');
              const [row] = await pg.query<{ wal_status: string }>('SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1', [
                slot,
              ]);
              return row?.wal_status === 'lost';
            },
            30_000,
            `slot ${slot} to be invalidated`,
          );
        } finally {
          await pg.query('ALTER SYSTEM RESET max_slot_wal_keep_size');
          await pg.query('SELECT pg_reload_conf()');
        }
      }

      it('restoring on an invalidated slot is SLOT_INVALIDATED with a re-snapshot hint', async () => {
        const t = uniqueName('lost');
        const slot = uniqueName('s');
        await createTestTable(pg, t);
        await insertRows(pg, t, 1, 10);
        const cp = await streamCheckpoint(t, slot);
        await invalidate(slot);
        const source = new PostgresSource(config(t, slot));
        try {
          await assert.rejects(source.restore(cp), (e: unknown) => {
            assert.ok(ConnectorError.is(e, 'SLOT_INVALIDATED'), String(e));
            assert.equal(e.kind, 'definite');
            assert.match(e.hint!, /new snapshot/);
            assert.match(e.hint!, /resnapshot/);
            return true;
          });
        } finally {
          await source.close({ dropSlot: true });
        }
      });

      it("with onSlotInvalidated: 'resnapshot' the sync drops the slot, re-snapshots and the sinks equal the table", async () => {
        const t = uniqueName('resnap');
        const slot = uniqueName('s');
        await createTestTable(pg, t);
        await insertRows(pg, t, 1, 200);
        const table = new ReferenceTable();
        const sink = new RecordingSink(table);
        const checkpoints = new MemoryCheckpointStore();
        const first = sync({
          source: () => new PostgresSource(config(t, slot)),
          sinks: [sink],
          checkpoints,
          commitEvery: { ms: 50 },
          closeSinks: false,
        });
        await eventually(async () => first.progress.phase === 'changes' && first.progress.commits > 0, 20_000, 'the first snapshot');
        first.stop();
        await first.done;
        // while stopped: changes the invalidated slot will never deliver
        await pg.query(`DELETE FROM ${t} WHERE id <= 50`);
        await pg.query(`UPDATE ${t} SET name = 'changed' WHERE id > 150`);
        await invalidate(slot);
        const warnings: SourceWarning[] = [];
        const second = sync({
          source: () => new PostgresSource(config(t, slot, { onSlotInvalidated: 'resnapshot', onWarning: (w) => warnings.push(w) })),
          sinks: [sink],
          checkpoints,
          commitEvery: { ms: 50 },
        });
        try {
          await eventually(async () => second.progress.phase === 'changes' && second.progress.commits > 0, 20_000, 'the new snapshot');
          await insertRows(pg, t, 1000, 1009);
          const expected = await tableState(pg, t);
          const actual = () => new Map(table.toJSON().map((r) => [r.id as string, Object.values(r)]));
          await eventually(
            async () => {
              const d = diffStates(expected, actual());
              return d.missing.length + d.extra.length + d.stale.length === 0;
            },
            10_000,
            'the sink to equal the table',
          );
          assert.deepEqual(
            sink.starts.map((s) => s.restart),
            [false, true],
            'the new snapshot replaces the sink content',
          );
          assert.ok(
            warnings.some((w) => w.code === 'SLOT_INVALIDATED'),
            'the re-snapshot is reported',
          );
          const [state] = await pg.query<{ wal_status: string }>('SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1', [
            slot,
          ]);
          assert.notEqual(state?.wal_status, 'lost', 'a new slot');
        } finally {
          second.stop();
          await second.done.catch(() => {});
          await pg.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, [slot]);
        }
      });
    });
  });
}
