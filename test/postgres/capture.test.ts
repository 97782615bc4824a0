/**
 * PostgresCapture: many tables from one slot. Each table's source is driven by its own sync
 * runner, as users run them; the folded outputs must equal the tables, the server must hold
 * exactly one slot, and an idle table must not hold the slot back.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordBatch } from 'apache-arrow';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { PostgresCapture, parseLsn } from '../../src/connectors/postgres/index.js';
import { sync, type SyncRun } from '../../src/sdk/sync.js';
import { MemoryCheckpointStore } from '../../src/sdk/checkpoint-store.js';
import type { Sink } from '../../src/sdk/sink.js';
import { batchInfo } from '../../src/sdk/batch.js';
import { PG_VERSIONS, Fold, changeRows, createTestTable, diffStates, eventually, tableState, uniqueName } from './helpers.js';

/** A sink folding what it receives into the test-table state. */
class FoldSink implements Sink {
  readonly name: string;
  readonly fold = new Fold();
  changes = 0;
  constructor(table: string) {
    this.name = `fold:${table}`;
  }
  write(batch: RecordBatch): Promise<void> {
    if (batchInfo(batch).kind === 'snapshot') this.fold.snapshot(batch);
    else
      for (const row of changeRows(batch)) {
        this.fold.change(row);
        this.changes++;
      }
    return Promise.resolve();
  }
  snapshotStart(): Promise<void> {
    this.fold.rows.clear();
    return Promise.resolve();
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

async function writeSome(server: TestPostgres, table: string, from: number, count: number): Promise<void> {
  const client = new pg.Client({ connectionString: server.connectionString });
  await client.connect();
  try {
    for (let i = 0; i < count; i++) {
      const id = from + i;
      await client.query(`INSERT INTO ${table} VALUES ($1, $2, $3, now(), true, NULL)`, [id, `n${id}`, id % 1000]);
      if (i % 3 === 0) await client.query(`UPDATE ${table} SET name = name || '!', amount = amount + 1 WHERE id = $1`, [from + i - 1]);
      if (i % 7 === 0) await client.query(`DELETE FROM ${table} WHERE id = $1`, [from + i - 2]);
    }
  } finally {
    await client.end();
  }
}

async function refstreamSlots(server: TestPostgres): Promise<string[]> {
  const rows = await server.query<{ slot_name: string }>(`SELECT slot_name FROM pg_replication_slots WHERE NOT temporary ORDER BY 1`);
  return rows.map((r) => r.slot_name);
}

for (const version of PG_VERSIONS) {
  describe(`postgres ${version}: capture of many tables from one slot`, () => {
    let server: TestPostgres;
    before(async () => {
      server = await startPostgres({ version });
    });
    after(async () => {
      await server?.stop();
    });

    it('three tables, one slot: each table folds to itself under concurrent writes; an idle table does not hold the slot back', async () => {
      const slot = uniqueName('cap');
      const tables = [uniqueName('a'), uniqueName('b'), uniqueName('idle')].map((t) => `public.${t}`);
      for (const t of tables) {
        await createTestTable(server, t);
        await server.query(`INSERT INTO ${t} SELECT g, 'r' || g, g, now(), true, NULL FROM generate_series(1, 2000) g`);
      }
      const capture = new PostgresCapture({ connectionString: server.connectionString, slot, tables, maxWaitMs: 100 });
      const sinks = tables.map((t) => new FoldSink(t));
      const runs: SyncRun[] = tables.map((t, i) =>
        sync({ source: () => capture.source(t), sinks: [sinks[i]!], checkpoints: new MemoryCheckpointStore(), commitEvery: { ms: 100 } }),
      );
      const failed = Promise.race(runs.map((r) => r.done.then(() => new Promise<never>(() => {}))));
      try {
        await Promise.race([failed, eventually(async () => (await refstreamSlots(server)).length > 0, 20_000, 'the slot')]);
        await Promise.race([failed, Promise.all([writeSome(server, tables[0]!, 10_000, 300), writeSome(server, tables[1]!, 20_000, 300)])]);
        assert.deepEqual(await refstreamSlots(server), [slot], 'exactly one slot on the server');
        for (const [i, t] of tables.entries()) {
          await eventually(
            async () => {
              const d = diffStates(await tableState(server, t), sinks[i]!.fold.rows);
              return d.missing.length + d.extra.length + d.stale.length === 0;
            },
            20_000,
            `${t} to converge`,
          );
        }
        // the busy tables keep committing; the idle one's position moves with the stream, so the slot advances past the busy writes
        const before = parseLsn((await server.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn);
        await writeSome(server, tables[0]!, 30_000, 50);
        await eventually(
          async () => {
            const [row] = await server.query<{ c: string | null }>(
              `SELECT confirmed_flush_lsn::text AS c FROM pg_replication_slots WHERE slot_name = $1`,
              [slot],
            );
            return row?.c != null && parseLsn(row.c) > before;
          },
          20_000,
          'the slot to be confirmed past the later writes although one table had none',
        );
        assert.equal(capture.counters.exports, 1, 'one exported snapshot for the initial set');
        assert.equal(sinks[2]!.changes, 0, 'the idle table received no change');
      } finally {
        for (const run of runs) run.stop();
        await Promise.allSettled(runs.map((r) => r.done));
        await capture.close({ dropSlot: true });
      }
      for (const run of runs) await run.done;
    });

    it('snapshots of many tables run snapshotParallelism at a time, one connection each, all at one exported snapshot', async () => {
      const slot = uniqueName('cap');
      const applicationName = uniqueName('par');
      const tables = Array.from({ length: 6 }, () => `public.${uniqueName('par')}`);
      for (const t of tables) {
        await createTestTable(server, t);
        await server.query(`INSERT INTO ${t} SELECT g, repeat('r', 200), g, now(), true, NULL FROM generate_series(1, 40000) g`);
      }
      const capture = new PostgresCapture({
        connectionString: server.connectionString,
        slot,
        tables,
        snapshotParallelism: 2,
        applicationName,
        batchRows: 1000,
      });
      const sinks = tables.map((t) => new FoldSink(t));
      let most = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const [row] = await server.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'COPY%' AND state = 'active'`,
            [applicationName],
          );
          most = Math.max(most, row!.n);
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      const runs = tables.map((t, i) =>
        sync({ source: () => capture.source(t), sinks: [sinks[i]!], checkpoints: new MemoryCheckpointStore(), commitEvery: { ms: 100 } }),
      );
      try {
        await eventually(async () => runs.every((r) => r.progress.phase === 'changes'), 60_000, 'every snapshot');
        sampling = false;
        await sampler;
        assert.ok(most >= 1 && most <= 2, `at most 2 snapshot reads at a time, saw ${most}`);
        assert.equal(capture.counters.exports, 1, 'one exported snapshot');
        for (const [i, t] of tables.entries()) assert.equal(sinks[i]!.fold.rows.size, 40000, t);
      } finally {
        sampling = false;
        for (const run of runs) run.stop();
        await Promise.allSettled(runs.map((r) => r.done));
        await capture.close({ dropSlot: true });
      }
    });

    it('a definite error stops only its table: the others keep streaming and the slot keeps advancing', async () => {
      const slot = uniqueName('cap');
      const [bad, good, gone] = [uniqueName('bad'), uniqueName('good'), uniqueName('gone')].map((t) => `public.${t}`);
      for (const t of [bad!, good!, gone!]) await createTestTable(server, t);
      const capture = new PostgresCapture({
        connectionString: server.connectionString,
        slot,
        tables: [bad!, good!, gone!],
        maxWaitMs: 100,
      });
      const sinks = [bad!, good!, gone!].map((t) => new FoldSink(t));
      const runs = [bad!, good!, gone!].map((t, i) =>
        sync({ source: () => capture.source(t), sinks: [sinks[i]!], checkpoints: new MemoryCheckpointStore(), commitEvery: { ms: 100 } }),
      );
      try {
        await eventually(async () => runs.every((r) => r.progress.phase === 'changes' && r.progress.commits > 0), 20_000, 'streaming');
        await server.query(`ALTER TABLE ${bad!} ADD COLUMN p point`);
        await server.query(`INSERT INTO ${bad!} VALUES (1, 'x', 1, now(), true, NULL, '(1,2)')`);
        await server.query(`DROP TABLE ${gone!}`);
        await assert.rejects(runs[0]!.done, (e: { code?: string }) => e.code === 'UNSUPPORTED_TYPE');
        await assert.rejects(runs[2]!.done, (e: { code?: string }) => e.code === 'TABLE_DROPPED');
        const status = new Map(capture.status().map((s) => [s.table, s]));
        assert.equal(status.get(bad!)?.error?.code, 'UNSUPPORTED_TYPE');
        assert.equal(status.get(gone!)?.error?.code, 'TABLE_DROPPED');
        assert.equal(status.get(good!)?.error, null);
        const mark = parseLsn((await server.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn);
        await writeSome(server, good!, 1, 200);
        await eventually(
          async () => {
            const d = diffStates(await tableState(server, good!), sinks[1]!.fold.rows);
            return d.missing.length + d.extra.length + d.stale.length === 0;
          },
          20_000,
          `${good!} to converge after the others stopped`,
        );
        await eventually(
          async () => {
            const [row] = await server.query<{ c: string | null }>(
              `SELECT confirmed_flush_lsn::text AS c FROM pg_replication_slots WHERE slot_name = $1`,
              [slot],
            );
            return row?.c != null && parseLsn(row.c) > mark;
          },
          20_000,
          'the slot to advance past the stopped tables',
        );
      } finally {
        for (const run of runs) run.stop();
        await Promise.allSettled(runs.map((r) => r.done));
        await capture.close({ dropSlot: true });
      }
    });

    it('a table added to a running capture under load, then another removed: the added one converges, the removed one leaves the publication', async () => {
      const slot = uniqueName('cap');
      const [busy, added] = [uniqueName('busy'), uniqueName('added')].map((t) => `public.${t}`);
      for (const t of [busy!, added!]) {
        await createTestTable(server, t);
        await server.query(`INSERT INTO ${t} SELECT g, 'r' || g, g, now(), true, NULL FROM generate_series(1, 3000) g`);
      }
      const capture = new PostgresCapture({ connectionString: server.connectionString, slot, tables: [busy!], maxWaitMs: 100 });
      const sinks = new Map([busy!, added!].map((t) => [t, new FoldSink(t)]));
      const runs = new Map<string, SyncRun>();
      const start = (t: string) =>
        runs.set(
          t,
          sync({
            source: () => capture.source(t),
            sinks: [sinks.get(t)!],
            checkpoints: new MemoryCheckpointStore(),
            commitEvery: { ms: 100 },
          }),
        );
      start(busy!);
      let writing = true;
      const writers = Promise.all([
        (async () => {
          for (let i = 0; writing; i += 20) await writeSome(server, busy!, 100_000 + i, 20);
        })(),
        (async () => {
          for (let i = 0; writing; i += 20) await writeSome(server, added!, 200_000 + i, 20);
        })(),
      ]);
      try {
        await eventually(async () => runs.get(busy!)!.progress.commits > 3, 20_000, 'the first table streaming');
        await capture.addTable(added!);
        start(added!);
        await eventually(
          async () => runs.get(added!)!.progress.phase === 'changes' && runs.get(added!)!.progress.commits > 2,
          20_000,
          'the added table streaming',
        );
        await new Promise((r) => setTimeout(r, 500));
        writing = false;
        await writers;
        for (const t of [busy!, added!]) {
          await eventually(
            async () => {
              const d = diffStates(await tableState(server, t), sinks.get(t)!.fold.rows);
              return d.missing.length + d.extra.length + d.stale.length === 0;
            },
            20_000,
            `${t} to converge`,
          );
        }
        await capture.removeTable(busy!);
        await assert.rejects(runs.get(busy!)!.done, (e: { code?: string }) => e.code === 'CLOSED' || e.code === 'CONFIG_INVALID');
        const published = await server.query<{ tablename: string }>('SELECT tablename FROM pg_publication_tables WHERE pubname = $1', [
          slot,
        ]);
        assert.deepEqual(
          published.map((r) => `public.${r.tablename}`),
          [added!],
        );
        assert.deepEqual(capture.tables, [added!]);
        await writeSome(server, added!, 300_000, 30);
        await eventually(
          async () => {
            const d = diffStates(await tableState(server, added!), sinks.get(added!)!.fold.rows);
            return d.missing.length + d.extra.length + d.stale.length === 0;
          },
          20_000,
          'the remaining table to converge',
        );
      } finally {
        writing = false;
        await writers.catch(() => {});
        for (const run of runs.values()) run.stop();
        await Promise.allSettled([...runs.values()].map((r) => r.done));
        await capture.close({ dropSlot: true });
      }
    });

    it('connections cut: every table resumes from its own checkpoint and converges', async () => {
      const slot = uniqueName('cap');
      const tables = [uniqueName('x'), uniqueName('y')].map((t) => `public.${t}`);
      for (const t of tables) await createTestTable(server, t);
      const applicationName = uniqueName('app');
      const capture = new PostgresCapture({ connectionString: server.connectionString, slot, tables, maxWaitMs: 100, applicationName });
      const sinks = tables.map((t) => new FoldSink(t));
      const runs = tables.map((t, i) =>
        sync({
          source: () => capture.source(t),
          sinks: [sinks[i]!],
          checkpoints: new MemoryCheckpointStore(),
          commitEvery: { ms: 50 },
          retry: { initialDelayMs: 50, maxDelayMs: 200 },
        }),
      );
      try {
        await eventually(async () => runs.every((r) => r.progress.phase === 'changes'), 20_000, 'streaming');
        for (let cut = 0; cut < 3; cut++) {
          await Promise.all(tables.map((t, i) => writeSome(server, t, 1000 * (cut + 1) * (i + 1) * 10, 60)));
          await server.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
        }
        for (const [i, t] of tables.entries()) {
          await eventually(
            async () => {
              const d = diffStates(await tableState(server, t), sinks[i]!.fold.rows);
              return d.missing.length + d.extra.length + d.stale.length === 0;
            },
            30_000,
            `${t} to converge after the cuts`,
          );
        }
        assert.ok(
          runs.every((r) => r.progress.retries > 0),
          'every table reconnected',
        );
      } finally {
        for (const run of runs) run.stop();
        await Promise.allSettled(runs.map((r) => r.done));
        await capture.close({ dropSlot: true });
      }
    });
  });
}
