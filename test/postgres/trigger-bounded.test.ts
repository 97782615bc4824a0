/**
 * The change table of trigger capture stays bounded under steady load: a sync (the runner,
 * committing every 500 ms) reads a table written by two clients for 60 seconds, with a
 * transaction that stays open for 10 seconds in the middle. The change table never holds more
 * than a few seconds of changes, does not grow from the first third of the run to the last,
 * and is empty again soon after the writes stop; so is the table of recorded epochs.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import { MemorySink } from '../../src/sinks/memory.js';
import { MemoryCheckpointStore } from '../../src/sdk/checkpoint-store.js';
import { sync } from '../../src/sdk/sync.js';

const LOAD_MS = Number(process.env.REFSTREAM_BOUNDED_LOAD_MS ?? 60_000);
let server: TestPostgres;

before(async () => {
  server = await startPostgres({ walLevel: 'replica' });
});
after(async () => {
  await server?.stop();
});

async function count(sql: string): Promise<number> {
  const [row] = await server.query<{ n: string }>(sql);
  return Number(row!.n);
}

test(
  `the change table stays bounded during ${LOAD_MS / 1000} s of writes and empties after them`,
  { timeout: LOAD_MS + 120_000 },
  async () => {
    await server.query(`CREATE TABLE steady (id int8 PRIMARY KEY, n int8 NOT NULL, note text)`);
    await server.query(`INSERT INTO steady SELECT g, 0, 'row ' || g FROM generate_series(1, 5000) g`);
    const memory = new MemorySink();
    const run = sync({
      source: () =>
        new PostgresSource({ connectionString: server.connectionString, table: 'steady', capture: 'trigger', installTriggers: true }),
      sinks: [memory],
      checkpoints: new MemoryCheckpointStore(),
      commitEvery: { ms: 500 },
    });
    const until = Date.now() + LOAD_MS;
    let written = 0;
    const writer = async (offset: number) => {
      const c = new pg.Client({ connectionString: server.connectionString });
      await c.connect();
      let next = 1_000_000 * (offset + 1);
      try {
        while (Date.now() < until) {
          const id = 1 + Math.floor(Math.random() * 5000);
          if (Math.random() < 0.8) await c.query('UPDATE steady SET n = n + 1 WHERE id = $1', [id]);
          else await c.query(`INSERT INTO steady VALUES ($1, 0, 'new')`, [next++]);
          written++;
        }
      } finally {
        await c.end();
      }
    };
    const long = async () => {
      await new Promise((r) => setTimeout(r, LOAD_MS / 3));
      const c = new pg.Client({ connectionString: server.connectionString });
      await c.connect();
      await c.query('BEGIN');
      await c.query(`UPDATE steady SET note = 'long' WHERE id = 1`);
      await new Promise((r) => setTimeout(r, Math.min(10_000, LOAD_MS / 6)));
      await c.query('COMMIT');
      await c.end();
    };
    const samples: { at: number; changes: number; epochs: number }[] = [];
    const sampler = (async () => {
      await new Promise((r) => setTimeout(r, 3000)); // the triggers are installed at start
      while (Date.now() < until) {
        samples.push({
          at: Date.now(),
          changes: await count('SELECT count(*)::text AS n FROM refstream.changes_public_steady'),
          epochs: await count('SELECT count(*)::text AS n FROM refstream.epochs_public_steady'),
        });
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    try {
      await Promise.all([writer(0), writer(1), long(), sampler]);
      const rate = written / (LOAD_MS / 1000);
      // after the writes: everything is read, committed and deleted within a few seconds
      let after = Infinity;
      for (let i = 0; i < 50 && after > 0; i++) {
        await new Promise((r) => setTimeout(r, 200));
        after = await count('SELECT count(*)::text AS n FROM refstream.changes_public_steady');
      }
      const max = Math.max(...samples.map((s) => s.changes));
      const third = Math.floor(samples.length / 3);
      const early = Math.max(...samples.slice(0, third).map((s) => s.changes));
      const late = Math.max(...samples.slice(-third).map((s) => s.changes));
      const epochs = Math.max(...samples.map((s) => s.epochs));
      const earlyEpochs = Math.max(...samples.slice(0, third).map((s) => s.epochs));
      const lateEpochs = Math.max(...samples.slice(-third).map((s) => s.epochs));
      console.log(
        `${written} writes (${rate.toFixed(0)}/s); change table rows: max ${max}, first third max ${early}, last third max ${late}, ${after} after the writes; epochs table rows max ${epochs} (first third ${earlyEpochs}, last third ${lateEpochs})`,
      );
      assert.ok(written > 1000, `${written} writes`);
      assert.ok(max <= rate * 5 + 1000, `the change table held ${max} rows, more than 5 s of writes (${rate.toFixed(0)}/s)`);
      assert.ok(late <= early * 2 + 1000, `the change table grew from ${early} rows (first third) to ${late} (last third)`);
      assert.equal(after, 0, 'empty once everything is committed');
      assert.ok(
        lateEpochs <= earlyEpochs * 2 + 200,
        `the epochs table grew from ${earlyEpochs} rows (first third) to ${lateEpochs} (last third)`,
      );
    } finally {
      run.stop();
      await run.done.catch(() => undefined);
    }
    const expected = await count('SELECT count(*)::text AS n FROM steady');
    assert.equal(memory.table.size, expected);
  },
);
