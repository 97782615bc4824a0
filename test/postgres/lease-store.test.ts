/**
 * Leases and fenced checkpoint saves in PostgreSQL (high availability): replicas racing for a
 * lease get one epoch each, expiry follows the server's clock, a save under an older epoch
 * writes nothing, a save racing a takeover is ordered before it (the new leader loads it) or
 * fails, and a sync without --ha cannot overwrite a checkpoint kept under a lease.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { storedCheckpoint } from '../../src/sdk/checkpoint-store.js';
import { CHECKPOINT_VERSION } from '../../src/sdk/checkpoint.js';
import { PostgresCheckpointStore } from '../../src/connectors/postgres/index.js';

const cp = (n: number) =>
  storedCheckpoint({ version: CHECKPOINT_VERSION, connector: 'test', table: 'public.t', phase: 'changes', position: { n } });

describe('PostgresLeaseStore and fenced checkpoint saves', () => {
  let server: TestPostgres;
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await server?.stop();
  });

  it('racing replicas: one epoch per acquisition, the lease expires by the server clock, a holder renews and releases', async () => {
    const store = new PostgresCheckpointStore({ connectionString: server.connectionString, id: 'race' });
    const stores = Array.from({ length: 5 }, () => store.leaseStore());
    try {
      const results = await Promise.all(stores.map((s, i) => s.acquire('race', `r${i}`, 400)));
      const winners = results.filter((r) => r.acquired);
      assert.equal(winners.length, 1, 'one replica wins');
      assert.equal(winners[0]!.lease.epoch, 1);
      for (const r of results.filter((x) => !x.acquired)) {
        assert.equal(r.lease.holder, winners[0]!.lease.holder);
        assert.ok(r.lease.expiresInMs > 0 && r.lease.expiresInMs <= 400);
      }
      const winner = results.indexOf(winners[0]!);
      const fence = { group: 'race', epoch: 1, holder: `r${winner}` };
      assert.equal(await stores[winner]!.renew(fence, 400), true);
      const other = (winner + 1) % 5;
      assert.equal((await stores[other]!.acquire('race', `r${other}`, 400)).acquired, false, 'renewed: still held');
      await new Promise((r) => setTimeout(r, 500));
      const after = await stores[other]!.acquire('race', `r${other}`, 400);
      assert.deepEqual([after.acquired, after.lease.epoch], [true, 2], 'expired: taken with the next epoch');
      assert.equal(await stores[winner]!.renew(fence, 400), false, 'the old holder cannot renew a newer epoch');
      await stores[other]!.release({ group: 'race', epoch: 2, holder: `r${other}` });
      const third = await stores[winner]!.acquire('race', `r${winner}`, 400);
      assert.deepEqual([third.acquired, third.lease.epoch], [true, 3], 'released: taken at once');
      const listed = await stores[0]!.list();
      assert.deepEqual(
        listed.map((l) => [l.group, l.epoch, l.holder]),
        [['race', 3, `r${winner}`]],
      );
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await store.close();
    }
  });

  it('a save under an older epoch writes nothing; epochs of saves never go down', async () => {
    const store = new PostgresCheckpointStore({ connectionString: server.connectionString, id: 'fenced' });
    const leases = store.leaseStore();
    try {
      const a = await leases.acquire('fenced', 'a', 100);
      const fenceA = { group: 'fenced', epoch: a.lease.epoch, holder: 'a' };
      await store.save(cp(1), fenceA);
      assert.equal((await store.load())!.epoch, fenceA.epoch);
      await new Promise((r) => setTimeout(r, 150));
      const b = await leases.acquire('fenced', 'b', 10_000);
      assert.ok(b.acquired);
      const fenceB = { group: 'fenced', epoch: b.lease.epoch, holder: 'b' };
      await assert.rejects(store.save(cp(2), fenceA), (e: unknown) => ConnectorError.is(e, 'LEASE_LOST'));
      assert.deepEqual((await store.load())!.checkpoint.position, { n: 1 }, 'the zombie wrote nothing');
      await store.save(cp(3), fenceB);
      const loaded = await store.load();
      assert.deepEqual([loaded!.checkpoint.position, loaded!.epoch], [{ n: 3 }, fenceB.epoch]);
      // a sync without --ha must not overwrite it
      await assert.rejects(store.save(cp(4)), (e: unknown) => ConnectorError.is(e, 'CONFIG_INVALID') && /--ha/.test((e as Error).message));
    } finally {
      await leases.close();
      await store.close();
    }
  });

  it('a save racing a takeover: committed before it (and loaded by the new leader) or refused', async () => {
    const store = new PostgresCheckpointStore({ connectionString: server.connectionString, id: 'racing-save' });
    const leases = store.leaseStore();
    const blocker = new pg.Client({ connectionString: server.connectionString });
    await blocker.connect();
    try {
      const a = await leases.acquire('racing', 'a', 50);
      const fenceA = { group: 'racing', epoch: a.lease.epoch, holder: 'a' };
      await store.save(cp(1), fenceA);
      await new Promise((r) => setTimeout(r, 80));
      // hold the takeover open inside a transaction: the zombie's save must wait for it
      await blocker.query('BEGIN');
      const taken = await blocker.query(
        `UPDATE public.refstream_leases SET epoch = epoch + 1, holder = 'b', expires_at = clock_timestamp() + interval '10 s' WHERE group_name = 'racing' AND expires_at <= clock_timestamp() RETURNING epoch`,
      );
      assert.equal(taken.rowCount, 1);
      const save = store.save(cp(2), fenceA);
      const outcome = save.then(
        () => 'saved',
        (e: unknown) => (ConnectorError.is(e, 'LEASE_LOST') ? 'lost' : String(e)),
      );
      await new Promise((r) => setTimeout(r, 200));
      let settled = false;
      void outcome.then(() => (settled = true));
      await new Promise((r) => setImmediate(r));
      assert.equal(settled, false, 'the save waits for the takeover to end');
      await blocker.query('COMMIT');
      assert.equal(await outcome, 'lost', 'after the takeover committed, the older epoch writes nothing');
      assert.deepEqual((await store.load())!.checkpoint.position, { n: 1 });
    } finally {
      await blocker.end();
      await leases.close();
      await store.close();
    }
  });
});
