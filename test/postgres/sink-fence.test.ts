/**
 * The PostgresTableSink's fence (high availability): once a newer epoch claimed the target,
 * a sink of an older epoch commits nothing — neither a later flush nor a transaction it had
 * already open (paused between its check and its COMMIT): the claim ends that session.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { MemoryStore, MemorySource } from '../../src/sources/memory/index.js';
import { PostgresTableSink } from '../../src/connectors/postgres/sink.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { standardDescriptor, standardRow } from '../helpers/tables.js';

let server: TestPostgres;
before(async () => {
  server = await startPostgres();
  await server.query('CREATE SCHEMA fenced');
});
after(async () => {
  await server?.stop();
});

async function snapshotBatch(rows: number, base = 0) {
  const store = new MemoryStore(standardDescriptor('public.items'));
  store.insert(Array.from({ length: rows }, (_, i) => standardRow(BigInt(base + i + 1))));
  const source = new MemorySource(store, { batchRows: rows });
  const batch = await source.pollSnapshot();
  await source.close();
  return batch!;
}

const count = async (table: string) => Number((await server.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`))[0]!.n);

test('a sink of an older epoch commits nothing once a newer epoch claimed the target', async () => {
  const table = 'fenced.items';
  const old = new PostgresTableSink({ connectionString: server.connectionString, table });
  const next = new PostgresTableSink({ connectionString: server.connectionString, table });
  try {
    await old.fence({ group: 'g1', epoch: 1, holder: 'a' });
    await old.write(await snapshotBatch(10));
    await old.flush();
    assert.equal(await count(table), 10);
    // the old leader writes more (not yet committed) …
    await old.write(await snapshotBatch(5, 10));
    // … a new leader claims the target: the old session is ended
    await next.fence({ group: 'g1', epoch: 2, holder: 'b' });
    await assert.rejects(
      old.flush(),
      (e: unknown) => ConnectorError.is(e) && ['LEASE_LOST', 'CONNECTION_LOST'].includes((e as ConnectorError).code),
    );
    assert.equal(await count(table), 10, 'nothing of the old epoch committed');
    // and on a fresh connection its writes are fenced by the row
    await old.reset();
    await old.write(await snapshotBatch(3, 100));
    await assert.rejects(old.flush(), (e: unknown) => ConnectorError.is(e, 'LEASE_LOST'));
    assert.equal(await count(table), 10);
    // the old epoch cannot claim back
    await old.reset();
    await assert.rejects(old.fence({ group: 'g1', epoch: 1, holder: 'a' }), (e: unknown) => ConnectorError.is(e, 'LEASE_LOST'));
    await next.write(await snapshotBatch(3, 200));
    await next.flush();
    assert.equal(await count(table), 13);
  } finally {
    await old.close();
    await next.close();
  }
});

test("a claim ends an older epoch's transaction that already passed its check (paused before COMMIT)", async () => {
  const table = 'fenced.paused';
  const first = new PostgresTableSink({ connectionString: server.connectionString, table });
  await first.fence({ group: 'g2', epoch: 7, holder: 'a' });
  await first.write(await snapshotBatch(2));
  await first.flush();
  await first.close();
  // a session of epoch 7 inside its transaction, after the fence check, before COMMIT
  const { applicationName } = { applicationName: (first as unknown as { fenceRow: { applicationName: string } }).fenceRow.applicationName };
  const zombie = new pg.Client({ connectionString: server.connectionString, application_name: applicationName });
  zombie.on('error', () => {});
  await zombie.connect();
  await zombie.query('BEGIN');
  await zombie.query(`INSERT INTO ${table} (id, name, amount, updated_at, active) VALUES (999, 'zombie', 1, now(), true)`);
  const checked = await zombie.query(`SELECT epoch FROM fenced.refstream_fences WHERE group_name = 'g2' FOR SHARE`);
  assert.equal(Number(checked.rows[0].epoch), 7);
  const next = new PostgresTableSink({ connectionString: server.connectionString, table });
  try {
    const started = Date.now();
    await next.fence({ group: 'g2', epoch: 8, holder: 'b' });
    assert.ok(Date.now() - started < 10_000);
    await assert.rejects(zombie.query('COMMIT'));
    assert.equal(await count(`${table} WHERE id = 999`), 0, 'the paused transaction never committed');
    const fence = await server.query<{ epoch: string }>(`SELECT epoch::text AS epoch FROM fenced.refstream_fences WHERE group_name = 'g2'`);
    assert.equal(fence[0]!.epoch, '8');
  } finally {
    await zombie.end().catch(() => {});
    await next.close();
  }
});
