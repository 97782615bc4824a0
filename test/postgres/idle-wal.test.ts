/**
 * Idle tables never pin WAL: a synced table without changes keeps its slot's confirmed_flush_lsn
 * close to the server's current WAL while another table of the same database takes 100k
 * changes, and while only another database is written to.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { sync, type SyncRun } from '../../src/sdk/sync.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import { MemorySink } from '../../src/sinks/memory.js';
import { PostgresSource, parseLsn, type PostgresSourceConfig } from '../../src/connectors/postgres/index.js';
import { PG_VERSIONS, eventually } from './helpers.js';

const MiB = 1024 * 1024;
/** "A few MB": the commit interval (1 s) plus the status interval (1 s) of WAL, with margin. */
const LIMIT = 4 * MiB;
/** "Within seconds": one commit interval (1 s) plus status round trips and the sampling step. */
const LAG_SECONDS = 2.5;

/**
 * Inserts `rows` rows into `table` the way a pgbench run writes: small transactions (10 rows)
 * from 4 concurrent clients, paced to `rowsPerSecond` (a busy OLTP rate, not a bulk load).
 * Returns the number of rows written.
 */
async function pgbenchLike(connectionString: string, table: string, rows: number, rowsPerSecond = 10_000): Promise<number> {
  const pgMod = (await import('pg')).default;
  const perTxn = 10;
  const started = Date.now();
  let next = 0;
  let written = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      const client = new pgMod.Client({ connectionString });
      await client.connect();
      try {
        while (next < rows) {
          const first = next;
          next += perTxn;
          const due = started + (first / rowsPerSecond) * 1000;
          if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
          await client.query(
            `INSERT INTO ${table} SELECT g, repeat('b', 40), g FROM generate_series($1::int8, $1::int8 + ${perTxn - 1}) g`,
            [first],
          );
          written += perTxn;
        }
      } finally {
        await client.end();
      }
    }),
  );
  return written;
}

for (const version of PG_VERSIONS) {
  describe(`postgres ${version}: an idle table's slot`, () => {
    let pg: TestPostgres;
    const runs: SyncRun[] = [];
    before(async () => {
      pg = await startPostgres({ version });
      await pg.query('CREATE TABLE idle_a (id int8 PRIMARY KEY, v text)');
      await pg.query("INSERT INTO idle_a SELECT g, 'a' || g FROM generate_series(1, 100) g");
      await pg.query('CREATE TABLE busy_b (id int8 PRIMARY KEY, v text, n int8)');
      await pg.query('CREATE DATABASE other');
    });
    after(async () => {
      for (const run of runs) run.stop();
      await Promise.allSettled(runs.map((r) => r.done));
      await pg.stop();
    });

    function start(table: string, slot: string, extra: Partial<PostgresSourceConfig> = {}): { run: SyncRun; state: ReferenceTable } {
      const state = new ReferenceTable();
      const run = sync({
        source: () => new PostgresSource({ connectionString: pg.connectionString, table, slot, publication: slot, ...extra }),
        sinks: [new MemorySink(state)],
      });
      runs.push(run);
      return { run, state };
    }

    /** Bytes of WAL after the slot's confirmed position. */
    async function unconfirmed(slot: string): Promise<number> {
      const [row] = await pg.query<{ b: string }>(
        'SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::text AS b FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      return Number(row!.b);
    }

    /**
     * Samples the slot every 100 ms while `work` runs: the most WAL it had unconfirmed, and the
     * longest time its confirmed position was behind (how long ago the server's WAL was there).
     */
    async function sampleWhile(slot: string, work: () => Promise<void>): Promise<{ maxBytes: number; maxSeconds: number; text: string }> {
      const history: { at: number; lsn: bigint }[] = [];
      let maxBytes = 0;
      let maxSeconds = 0;
      let done = false;
      const started = Date.now();
      let startLsn = 0n;
      const sample = async () => {
        const [row] = await pg.query<{ current: string; confirmed: string }>(
          `SELECT pg_current_wal_lsn()::text AS current, confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = $1`,
          [slot],
        );
        const now = Date.now();
        const current = parseLsn(row!.current);
        const confirmed = parseLsn(row!.confirmed);
        startLsn ||= current;
        history.push({ at: now, lsn: current });
        maxBytes = Math.max(maxBytes, Number(current - confirmed));
        // the first sample at which the server's WAL had passed the confirmed position
        const passed = history.find((h) => h.lsn > confirmed);
        if (passed) maxSeconds = Math.max(maxSeconds, (now - passed.at) / 1000);
      };
      const sampler = (async () => {
        while (!done) {
          await sample();
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      try {
        await work();
      } finally {
        done = true;
        await sampler;
      }
      const seconds = (Date.now() - started) / 1000;
      const wal = Number(history.at(-1)!.lsn - startLsn);
      const text = `up to ${(maxBytes / MiB).toFixed(2)} MiB and ${maxSeconds.toFixed(1)} s behind the server's WAL while ${(wal / MiB).toFixed(1)} MiB of WAL were written in ${seconds.toFixed(1)} s`;
      console.log(`# ${slot}: ${text}`);
      return { maxBytes, maxSeconds, text };
    }

    it('stays within a few MB of the current WAL while another table takes 100k changes', async () => {
      const a = start('idle_a', 'idle_a_slot');
      const b = start('busy_b', 'busy_b_slot');
      await eventually(async () => a.run.progress.phase === 'changes' && b.run.progress.phase === 'changes', 20_000, 'both snapshots');
      let written = 0;
      const during = await sampleWhile('idle_a_slot', async () => {
        written = await pgbenchLike(pg.connectionString, 'busy_b', 100_000);
      });
      assert.equal(written, 100_000);
      const [{ wal }] = (await pg.query<{ wal: string }>(
        "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::text AS wal FROM pg_replication_slots WHERE slot_name = 'busy_b_slot'",
      )) as [{ wal: string }];
      await eventually(
        async () => b.run.progress.changeRows === 100_000,
        60_000,
        `busy_b's 100k changes (at ${b.run.progress.changeRows}; ${wal} bytes unconfirmed)`,
      );
      assert.ok(during.maxBytes < LIMIT, `idle_a's slot: ${during.text} (limit ${LIMIT / MiB} MiB)`);
      assert.ok(during.maxSeconds < LAG_SECONDS, `idle_a's slot: ${during.text} (limit ${LAG_SECONDS} s)`);
      // after the load: it catches up to within a few kB in a few seconds
      await eventually(
        async () => (await unconfirmed('idle_a_slot')) < 64 * 1024,
        10_000,
        `idle_a's slot to catch up (at ${await unconfirmed('idle_a_slot')} bytes)`,
      );
      assert.equal(a.run.progress.changeRows, 0, 'idle_a received no changes');
      a.run.stop();
      b.run.stop();
      await Promise.all([a.run.done, b.run.done]);
    });

    it('stays within a few MB when only another database is written to', async () => {
      const a = start('idle_a', 'idle_a_slot2');
      await eventually(async () => a.run.progress.phase === 'changes', 20_000, 'the snapshot');
      const other = new URL(pg.connectionString);
      other.pathname = '/other';
      const pgMod = (await import('pg')).default;
      const client = new pgMod.Client({ connectionString: other.toString() });
      await client.connect();
      try {
        await client.query('CREATE TABLE w (id int8 PRIMARY KEY, v text, n int8)');
        const during = await sampleWhile('idle_a_slot2', async () => {
          await pgbenchLike(other.toString(), 'w', 50_000);
        });
        assert.ok(during.maxBytes < LIMIT, `idle_a's slot, writes to another database: ${during.text} (limit ${LIMIT / MiB} MiB)`);
        assert.ok(during.maxSeconds < LAG_SECONDS, `idle_a's slot, writes to another database: ${during.text} (limit ${LAG_SECONDS} s)`);
        await eventually(
          async () => (await unconfirmed('idle_a_slot2')) < 64 * 1024,
          15_000,
          `idle_a's slot to catch up (at ${await unconfirmed('idle_a_slot2')} bytes)`,
        );
      } finally {
        await client.end();
      }
      a.run.stop();
      await a.run.done;
    });
  });
}
