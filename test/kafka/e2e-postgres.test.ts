/**
 * End to end: Postgres → sync → KafkaSink (checkpoint in Kafka) → kcat, across a kill -9 of
 * the sync process. The topic folded by key (last value wins, tombstones delete) must equal
 * the table once writes stop.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startKafkaTestBroker, startPostgres, type KafkaTestBroker, type TestPostgres } from '../../src/testing/index.js';
import { foldUpsert, kcatRead } from './helpers.js';
import { exited, startSyncFixture, waitFor } from '../helpers/process.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/sync-postgres-to-kafka.ts', import.meta.url));
let pg: TestPostgres;
let broker: KafkaTestBroker;

before(async () => {
  [pg, broker] = await Promise.all([startPostgres(), startKafkaTestBroker({ topics: ['customers:3', 'checkpoints:1'] })]);
  await pg.query(`create table public.customers (
    id bigint primary key, name text not null, amount numeric(12,2) not null,
    updated_at timestamptz not null, active boolean not null, note text)`);
  await pg.query(`insert into public.customers
    select i, 'customer ' || i, i * 1.25, timestamptz '2024-01-01 00:00:00.123456+00' + i * interval '1 second', i % 2 = 0, case when i % 3 = 0 then null else 'note ' || i end
    from generate_series(1, 300) i`);
});
after(async () => {
  await Promise.all([pg?.stop(), broker?.stop()]);
});

function startSync() {
  return startSyncFixture(FIXTURE, [
    pg.connectionString,
    'public.customers',
    'e2e_slot',
    broker.bootstrapServers,
    'customers',
    'checkpoints',
  ]);
}

/** The table as the sink renders it: key JSON → value JSON. */
async function expectedState(): Promise<Map<string, unknown>> {
  const rows = await pg.query<Record<string, unknown>>(`select id::text as id, name, amount::text as amount,
      to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as updated_at, active, note
    from public.customers`);
  return new Map(rows.map((r) => [`{"id":"${r.id}"}`, r]));
}

async function writeSome(round: number): Promise<void> {
  await pg.query(`update public.customers set name = 'round ${round} ' || id, amount = amount + 1 where id % 7 = ${round % 7}`);
  await pg.query(`delete from public.customers where id % 31 = ${round % 31}`);
  await pg.query(
    `insert into public.customers values (${1000 + round}, 'new ${round}', ${round}.5, now(), true, null) on conflict do nothing`,
  );
}

test('Postgres → sync → Kafka survives kill -9 of the sync process; the topic folds to the table', { timeout: 90_000 }, async () => {
  const first = startSync();
  await waitFor(() => first.commits() >= 1, 30_000, 'the first commit');
  for (let round = 0; round < 10; round++) await writeSome(round);
  await waitFor(() => first.commits() >= 4, 20_000, 'more commits');
  first.child.kill('SIGKILL'); // no flush, no commit, no slot cleanup
  await exited(first.child);

  for (let round = 10; round < 20; round++) await writeSome(round);
  const second = startSync();
  const expected = await expectedState();
  // Caught up when the topic folds to the table.
  let folded = new Map<string, string>();
  await waitFor(
    async () => {
      folded = foldUpsert(await kcatRead(broker.bootstrapServers, 'customers'));
      return folded.size === expected.size && [...expected.keys()].every((k) => folded.has(k));
    },
    40_000,
    'the topic to catch up',
  );
  second.child.kill('SIGTERM'); // graceful: finish, commit, close
  await exited(second.child);
  assert.equal(second.child.exitCode, 0);

  const records = await kcatRead(broker.bootstrapServers, 'customers');
  // The restarted process resumed from the checkpoint kept in Kafka: no second snapshot.
  const controls = await kcatRead(broker.bootstrapServers, 'customers.refstream-control');
  assert.equal(controls.filter((r) => r.key === 'snapshot-start').length, 1);
  folded = foldUpsert(records);
  assert.deepEqual([...folded.keys()].sort(), [...expected.keys()].sort());
  for (const [key, value] of folded) assert.deepEqual(JSON.parse(value), expected.get(key), key);
});
