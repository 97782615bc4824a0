/**
 * High availability in the library against a real PostgreSQL: a leader takes the replication
 * slot (and a trigger capture consumer's lock) from a refstream reader that still holds it —
 * as a paused replica would — once its lease is confirmed, and never from a reader that is
 * not refstream's. The target table then equals the source.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { sync } from '../../src/sdk/sync.js';
import { PostgresCheckpointStore, PostgresSource, PostgresTableSink } from '../../src/connectors/postgres/index.js';
import type { SourceWarning } from '../../src/sdk/warnings.js';
import { createTestTable, eventually, pollChanges, tableState, uniqueName } from './helpers.js';

describe('high availability: taking over from a reader that lost the lease', () => {
  let server: TestPostgres;
  before(async () => {
    server = await startPostgres();
    await server.query('CREATE SCHEMA copy');
  });
  after(async () => {
    await server?.stop();
  });

  const insert = (table: string, from: number, n: number) =>
    server.query(`INSERT INTO ${table} SELECT g, 'n' || g, g, now(), true, null FROM generate_series(${from}, ${from + n - 1}) g`);

  async function holder(slot: string): Promise<number | null> {
    const rows = await server.query<{ pid: number | null }>('SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1', [
      slot,
    ]);
    return rows[0]?.pid ?? null;
  }

  for (const capture of ['logical', 'trigger'] as const) {
    it(`${capture}: the leader ends the stale holder and syncs; the old reader's session is gone`, async () => {
      const table = uniqueName(`ha_${capture}`);
      await createTestTable(server, table);
      await insert(table, 1, 50);
      const slot = uniqueName('s');
      const config = {
        connectionString: server.connectionString,
        table,
        maxWaitMs: 100,
        ...(capture === 'logical'
          ? { slot, publication: `p_${slot}` }
          : { capture: 'trigger' as const, installTriggers: true, pollIntervalMs: 100 }),
      };
      // a reader that holds the slot / the consumer, then stops reading (a paused replica)
      const stale = new PostgresSource(config);
      while (await stale.pollSnapshot());
      await insert(table, 1000, 1);
      await pollChanges(stale, 1);
      const stalePid = capture === 'logical' ? await holder(slot) : null;
      if (capture === 'logical') assert.ok(stalePid, 'the stale reader holds the slot');

      const warnings: SourceWarning[] = [];
      const store = new PostgresCheckpointStore({ connectionString: server.connectionString, id: table });
      const target = `copy.${table}`;
      const run = sync({
        source: () => new PostgresSource({ ...config, onWarning: (w) => warnings.push(w) }),
        sinks: [new PostgresTableSink({ connectionString: server.connectionString, table: target })],
        checkpoints: store,
        commitEvery: { ms: 100 },
        ha: { group: table, replicaId: 'leader', leaseMs: 2000 },
      });
      try {
        // the snapshot goes through its own temporary slot: the stream starts once it is committed
        await eventually(async () => run.progress.phase === 'changes' && run.progress.commits > 0, 30_000, 'the change phase');
        await insert(table, 2000, 20);
        await eventually(
          async () => (await tableState(server, target).catch(() => new Map())).size === 71,
          30_000,
          'the target to catch up',
        );
        assert.ok(
          warnings.some((w) => w.code === 'TAKEN_OVER'),
          `a takeover was reported: ${warnings.map((w) => w.code).join(', ')}`,
        );
        if (capture === 'logical') {
          const now = await holder(slot);
          assert.ok(now !== null && now !== stalePid, 'the leader holds the slot now');
        }
        assert.deepEqual(await tableState(server, target), await tableState(server, table));
      } finally {
        run.stop();
        await run.done;
        await stale.close().catch(() => {});
        await store.close();
      }
    });
  }

  it('a slot held by a reader that is not refstream is left alone (SLOT_IN_USE)', async () => {
    const table = uniqueName('ha_foreign');
    await createTestTable(server, table);
    const slot = uniqueName('s');
    await server.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    await server.query(`CREATE PUBLICATION p_${slot} FOR TABLE ${table}`);
    const foreign = new pg.Client({
      connectionString: server.connectionString,
      replication: 'database',
      application_name: 'someone-else',
    } as pg.ClientConfig);
    await foreign.connect();
    foreign.on('error', () => {});
    // START_REPLICATION never completes as a query: it stays streaming
    void (foreign as unknown as { query(sql: string): Promise<unknown> })
      .query(`START_REPLICATION SLOT ${slot} LOGICAL 0/0 (proto_version '1', publication_names 'p_${slot}')`)
      .catch(() => {});
    await eventually(async () => (await holder(slot)) !== null, 10_000, 'the foreign reader to hold the slot');
    const foreignPid = await holder(slot);
    const store = new PostgresCheckpointStore({ connectionString: server.connectionString, id: table });
    const codes: string[] = [];
    const run = sync({
      source: () =>
        new PostgresSource({ connectionString: server.connectionString, table, slot, publication: `p_${slot}`, maxWaitMs: 100 }),
      sinks: [new PostgresTableSink({ connectionString: server.connectionString, table: `copy.${table}` })],
      checkpoints: store,
      commitEvery: { ms: 100 },
      retry: { initialDelayMs: 50, maxDelayMs: 100 },
      ha: { group: table, replicaId: 'leader', leaseMs: 2000 },
    });
    run.on('retry', ({ error }) => codes.push(error.code));
    try {
      await eventually(async () => codes.includes('SLOT_IN_USE'), 30_000, 'SLOT_IN_USE');
      assert.equal(await holder(slot), foreignPid, 'the foreign reader still holds the slot');
    } finally {
      run.stop();
      await run.done.catch(() => {});
      await foreign.end().catch(() => {});
      await store.close();
    }
  });
});
