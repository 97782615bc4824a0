import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { MemoryStore, MemorySource } from '../../src/sources/memory/index.js';
import { PostgresTableSink } from '../../src/connectors/postgres/sink.js';
import { MemorySink } from '../../src/sinks/memory.js';
import { sync } from '../../src/sdk/sync.js';
import { MemoryCheckpointStore } from '../../src/sdk/checkpoint-store.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import { standardDescriptor, standardRow } from '../helpers/tables.js';

let server: TestPostgres;
before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
});

const SELECT = (table: string) =>
  `SELECT id::text, name, amount::text, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS updated_at, active, note FROM ${table} ORDER BY id + 0`;

function mutate(store: MemoryStore, step: number) {
  const id = BigInt((step * 31) % 40) + 1n;
  const exists = store.currentRows().some((r) => r[0] === id);
  store.transaction((tx) => {
    if (!exists) tx.insert(standardRow(id, step));
    else if (step % 4 === 0) tx.delete(id);
    else tx.update(standardRow(id, step));
  });
}

test('PostgresTableSink keeps a table equal to the source across restarts, truncate and replays', async () => {
  const store = new MemoryStore(standardDescriptor('public.items'));
  store.insert(Array.from({ length: 30 }, (_, i) => standardRow(BigInt(i + 1))));
  const checkpoints = new MemoryCheckpointStore();
  const memory = new MemorySink();
  let step = 0;
  for (let round = 0; round < 3; round++) {
    const sink = new PostgresTableSink({ connectionString: server.connectionString, table: 'copy.items' });
    if (round === 0) await server.query('CREATE SCHEMA copy');
    const run = sync({
      source: () => new MemorySource(store, { batchRows: 7, maxWaitMs: 5 }),
      sinks: [sink, memory],
      checkpoints,
      commitEvery: { rows: 10, ms: 10 },
    });
    for (let i = 0; i < 40; i++) {
      mutate(store, step++);
      if (round === 1 && i === 20) store.truncate();
      await new Promise((r) => setTimeout(r, 2));
    }
    await new Promise((r) => setTimeout(r, 100));
    run.stop();
    await run.done;
  }
  const rows = await server.query(SELECT('copy.items'));
  const expected = memory.table.toJSON();
  assert.equal(rows.length, expected.length);
  assert.deepEqual(
    rows.map((r) => ({ ...r, id: String(r.id) })),
    [...expected].sort((a, b) => Number(a.id) - Number(b.id)).map((r) => ({ ...r, id: String(r.id) })),
  );
});

test('Postgres → sync → PostgresTableSink copies every common type exactly', async () => {
  await server.query(`CREATE TABLE public.src (
    id bigint PRIMARY KEY, i2 smallint, i4 integer, f4 real, f8 double precision, n numeric(20,4), nu numeric,
    t text, vc varchar(10), b boolean, d date, ts timestamp, tz timestamptz, u uuid, j jsonb, by bytea, arr integer[], iv interval)`);
  await server.query(`INSERT INTO public.src VALUES
    (1, -3, 70000, 1.5, 2.25, 12345678901234.5678, 3.14159265358979323846264338327950288419716939937510, 'tab\there "q" \\ back', 'x', true, '1999-12-31', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.654321+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '\\x00ff10', '{1,NULL,3}', '1 mon 2 days 00:00:03.5'),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`);
  const sink = new PostgresTableSink({ connectionString: server.connectionString, table: 'copy.src' });
  await server.query('CREATE SCHEMA IF NOT EXISTS copy');
  const run = sync({
    source: () => new PostgresSource({ connectionString: server.connectionString, table: 'public.src', slot: 'copy_src' }),
    sinks: [sink],
    stopAfterSnapshot: true,
  });
  await run.done;
  const diff = await server.query(
    `(SELECT * FROM public.src EXCEPT SELECT * FROM copy.src) UNION ALL (SELECT * FROM copy.src EXCEPT SELECT * FROM public.src)`,
  );
  assert.deepEqual(diff, []);
  const count = await server.query<{ n: string }>('SELECT count(*)::text AS n FROM copy.src');
  assert.equal(count[0]!.n, '2');
});

test(
  'the target server restarts mid-stream: the runner resets the sink, replays, and the table converges',
  { timeout: 120_000 },
  async () => {
    const target = await startPostgres();
    try {
      const store = new MemoryStore(standardDescriptor('public.items'));
      store.insert(Array.from({ length: 30 }, (_, i) => standardRow(BigInt(i + 1))));
      const memory = new MemorySink();
      const sink = new PostgresTableSink({ connectionString: target.connectionString, table: 'public.items_copy' });
      const retries: string[] = [];
      const faults: string[] = [];
      const run = sync({
        source: () => new MemorySource(store, { batchRows: 7, maxWaitMs: 5 }),
        sinks: [sink, memory],
        checkpoints: new MemoryCheckpointStore(),
        commitEvery: { rows: 10, ms: 20 },
        retry: { initialDelayMs: 100, maxDelayMs: 500, maxAttempts: 100 },
      });
      run.on('retry', (e) => retries.push(e.error.code));
      run.on('sink-fault', (f) => faults.push(f.sink));
      let step = 100;
      for (let i = 0; i < 20; i++) {
        mutate(store, step++);
        await new Promise((r) => setTimeout(r, 5));
      }
      await target.shutdown('immediate');
      for (let i = 0; i < 20; i++) {
        mutate(store, step++);
        await new Promise((r) => setTimeout(r, 20));
      }
      await target.restart();
      for (let i = 0; i < 20; i++) {
        mutate(store, step++);
        await new Promise((r) => setTimeout(r, 5));
      }
      const deadline = Date.now() + 30_000;
      const expected = () =>
        [...memory.table.toJSON()].sort((a, b) => Number(a.id) - Number(b.id)).map((r) => ({ ...r, id: String(r.id) }));
      let rows: Array<Record<string, unknown>> = [];
      while (Date.now() < deadline) {
        rows = (await target.query(SELECT('public.items_copy')).catch(() => [])).map((r) => ({ ...r, id: String(r.id) }));
        if (JSON.stringify(rows) === JSON.stringify(expected())) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      run.stop();
      await run.done;
      assert.ok(retries.length > 0, 'the runner retried while the target was down');
      assert.deepEqual(faults, [], 'the sink was not detached');
      assert.deepEqual(rows, expected());
    } finally {
      await target.stop();
    }
  },
);
