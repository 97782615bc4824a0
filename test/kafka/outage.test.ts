/**
 * A Kafka cluster that goes away mid-stream: the sink fails with a transient error, the
 * runner backs off, resets the sink and replays from its last checkpoint, and once the
 * broker is back the topic folds to the table — no sink detached, nothing lost.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { sync } from '../../src/sdk/sync.js';
import { MemoryCheckpointStore } from '../../src/sdk/checkpoint-store.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import { KafkaSink } from '../../src/connectors/kafka/index.js';
import { startKafkaTestBroker, startPostgres, type KafkaTestBroker, type TestPostgres } from '../../src/testing/index.js';
import { foldUpsert, kcatRead } from './helpers.js';
import { waitFor } from '../helpers/process.js';

let pg: TestPostgres;
let broker: KafkaTestBroker;

before(async () => {
  [pg, broker] = await Promise.all([startPostgres(), startKafkaTestBroker({ brokers: 1, topics: ['outage:3'] })]);
  await pg.query(`create table public.items (id bigint primary key, name text not null, qty int not null)`);
  await pg.query(`insert into public.items select i, 'item ' || i, i from generate_series(1, 200) i`);
});
after(async () => {
  await Promise.all([pg?.stop(), broker?.stop()]);
});

async function tableState(): Promise<Map<string, string>> {
  const rows = await pg.query<{ id: string; name: string; qty: number }>('select id::text as id, name, qty from public.items');
  return new Map(rows.map((r) => [`{"id":"${r.id}"}`, JSON.stringify({ id: r.id, name: r.name, qty: r.qty })]));
}

test('the broker goes down and comes back: the runner retries through it and the topic converges', { timeout: 180_000 }, async () => {
  const retries: string[] = [];
  const faults: string[] = [];
  const run = sync({
    source: () => new PostgresSource({ connectionString: pg.connectionString, table: 'public.items', slot: 'outage_slot', maxWaitMs: 100 }),
    sinks: [
      new KafkaSink({
        brokers: broker.brokers,
        topic: 'outage',
        logLevel: 'nothing',
        connectionTimeoutMs: 1000,
        requestTimeoutMs: 3000,
        timeoutMs: 3000,
      }),
    ],
    checkpoints: new MemoryCheckpointStore(),
    commitEvery: { ms: 200 },
    retry: { initialDelayMs: 200, maxDelayMs: 2000, maxAttempts: 40 },
  });
  run.on('retry', (e: { error: { code: string } }) => retries.push(e.error.code));
  run.on('sink-fault', (e: { sink: string }) => faults.push(e.sink));
  const failed = run.done.then(
    () => null,
    (error: unknown) => error,
  );

  await waitFor(() => run.progress.phase === 'changes' && run.progress.commits > 0, 60_000, 'the snapshot');

  let writes = 0;
  const write = async () => {
    writes++;
    await pg.query(`update public.items set qty = qty + 1, name = 'v${writes}' where id = ${1 + (writes % 200)}`);
    if (writes % 7 === 0) await pg.query(`insert into public.items values (${1000 + writes}, 'new ${writes}', ${writes})`);
    if (writes % 11 === 0) await pg.query(`delete from public.items where id = ${1 + ((writes * 3) % 200)}`);
  };
  for (let i = 0; i < 20; i++) await write();

  await broker.brokerDown(1);
  // Writes keep coming while Kafka is away, until the runner has noticed and backed off.
  const downSince = Date.now();
  while (retries.length === 0 && Date.now() - downSince < 90_000) {
    await write();
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(retries.length > 0, 'the runner retried while the broker was down');
  for (let i = 0; i < 20; i++) await write();
  await broker.brokerUp(1);
  for (let i = 0; i < 20; i++) await write();

  const expected = await tableState();
  await waitFor(
    async () => {
      const state = foldUpsert(await kcatRead(broker.bootstrapServers, 'outage'));
      return (
        state.size === expected.size &&
        [...expected].every(([k, v]) => state.get(k) !== undefined && JSON.stringify(JSON.parse(state.get(k)!)) === v)
      );
    },
    90_000,
    'the topic to fold to the table',
    200,
  );
  run.stop();
  assert.equal(await failed, null, 'the run ended without an error');
  assert.deepEqual(faults, [], 'no sink was detached');
  assert.ok(
    retries.every((code) => code === 'CONNECTION_LOST' || code === 'TIMEOUT' || code === 'CONNECTION_REFUSED'),
    `retried on ${retries.join(', ')}`,
  );
});
