/**
 * PostgresSource under the SDK runner: `sync()` with a MemorySink and the Postgres checkpoint
 * store, through a terminated walsender (transient: the runner reconnects and restores), ends
 * with the in-memory ReferenceTable equal to the table and the slot at the committed checkpoint.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { sync } from '../../src/sdk/sync.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import { MemorySink } from '../../src/sinks/memory.js';
import { PostgresCheckpointStore, PostgresSource, parseLsn } from '../../src/connectors/postgres/index.js';
import { PG_VERSIONS, createTestTable, diffStates, eventually, tableState } from './helpers.js';

for (const version of PG_VERSIONS) {
  describe(`postgres ${version}: with the sync runner`, () => {
    let pg: TestPostgres;
    before(async () => {
      pg = await startPostgres({ version });
    });
    after(() => pg.stop());

    it('keeps a ReferenceTable equal to the table across a transient failure', async () => {
      await createTestTable(pg, 'accounts');
      await pg.query(`INSERT INTO accounts SELECT g, 'n' || g, g, now(), true, null FROM generate_series(1, 2000) g`);
      const table = new ReferenceTable();
      const checkpoints = new PostgresCheckpointStore({ connectionString: pg.connectionString, id: 'public.accounts' });
      const run = sync({
        source: () => new PostgresSource({ connectionString: pg.connectionString, table: 'accounts', slot: 'runner_slot', batchRows: 300 }),
        sinks: [new MemorySink(table)],
        checkpoints,
        commitEvery: { ms: 100 },
        retry: { initialDelayMs: 50, maxDelayMs: 200 },
      });
      try {
        await eventually(async () => run.progress.phase === 'changes', 10_000, 'the snapshot to complete');
        for (let i = 0; i < 50; i++) {
          await pg.query(`UPDATE accounts SET amount = amount + 1 WHERE id = $1`, [1 + i * 7]);
          await pg.query(`DELETE FROM accounts WHERE id = $1`, [2000 - i]);
          await pg.query(`INSERT INTO accounts VALUES ($1, 'new', 1, now(), false, 'x')`, [10_000 + i]);
          if (i === 20) await pg.query(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'runner_slot'`);
        }
        const expected = await tableState(pg, 'accounts');
        const actual = () => new Map(table.toJSON().map((r) => [r.id as string, Object.values(r)]));
        await eventually(
          async () =>
            diffStates(expected, actual()).stale.length +
              diffStates(expected, actual()).missing.length +
              diffStates(expected, actual()).extra.length ===
            0,
          10_000,
          'the table to converge',
        );
        assert.ok(run.progress.retries >= 1, 'the runner reconnected after the terminated walsender');
        run.stop();
        const result = await run.done;
        assert.equal(result.stoppedBy, 'stop');
        const saved = await checkpoints.load();
        const [slot] = await pg.query<{ lsn: string }>(
          `SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'runner_slot'`,
        );
        assert.equal(
          parseLsn(slot!.lsn),
          parseLsn((saved!.checkpoint.position as { lsn: string }).lsn),
          'the slot is exactly at the committed checkpoint',
        );
      } finally {
        run.stop();
        await run.done.catch(() => {});
        await checkpoints.close();
      }
    });
  });
}
