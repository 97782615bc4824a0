/**
 * High availability as a user deploys it: three replicas of the built `refstream sync --ha`
 * (separate processes) with a Postgres table sink and the Postgres checkpoint store, under a
 * pgbench load. The leader is killed with kill -9 twice: another replica leads, and the first
 * change made after the kill is in the target within 10 s (default lease). Then the leader is
 * paused (SIGSTOP) for longer than the lease; a third replica takes over; after SIGCONT the
 * paused one commits no row and no checkpoint, acknowledges no WAL, and waits as a standby.
 *
 * Evidence comes from the databases, not from the replicas' own words: a deferred trigger on
 * the target records the epoch of every committed sink transaction (from its session's
 * application_name) at commit time; a trigger on the checkpoint table records every saved
 * checkpoint's epoch; the slot's confirmed_flush_lsn is sampled against the stored checkpoint.
 * At the end the target equals the source row for row.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type TestPostgres } from '../../src/testing/index.js';
import { ensureBuiltCli } from '../helpers/built-cli.js';
import { exited, waitFor } from '../helpers/process.js';
import { pgbenchMissing, startPgbench, type Pgbench } from '../helpers/pgbench.js';
import {
  auditCheckpoints,
  checkpointEpochs,
  checkpointSavesSince,
  currentLease,
  serverNow,
  startReplica as spawnReplica,
  watchConfirmedWal,
  writeLoadScript,
  type Replica,
} from '../helpers/ha-replicas.js';

const ROWS = 20_000;
const SLOT = 'refstream_public_items';
let server: TestPostgres;
let dir = '';

before(async () => {
  ensureBuiltCli();
  server = await startPostgres({ settings: { max_wal_senders: 10, max_replication_slots: 10 } });
  dir = mkdtempSync(join(tmpdir(), 'refstream-ha-'));
  await server.query(`CREATE TABLE public.items (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2) NOT NULL, note text)`);
  await server.query(`INSERT INTO public.items SELECT g, 'name ' || g, g * 0.25, NULL FROM generate_series(1, ${ROWS}) g`);
  await server.query('CREATE SCHEMA copy');
  await auditCheckpoints(server);
});
after(async () => {
  await server?.stop();
});

function startReplica(id: string): Replica {
  return spawnReplica(
    id,
    [
      '--source',
      server.connectionString,
      '--table',
      'public.items',
      '--sink',
      `${server.connectionString}#copy.items`,
      '--checkpoint',
      server.connectionString,
    ],
    dir,
  );
}

const lease = () => currentLease(server);

async function targetHas(id: number): Promise<boolean> {
  return (await server.query(`SELECT 1 FROM copy.items WHERE id = $1`, [id])).length === 1;
}

async function count(table: string): Promise<number> {
  return Number((await server.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`))[0]!.n);
}

/** Writes a marker row and waits until the target has it: the time of the first change after a failure. */
async function markerVisibleAfter(start: number, marker: number, timeoutMs: number): Promise<number> {
  await server.query(`INSERT INTO public.items VALUES ($1, 'marker', 0, NULL)`, [marker]);
  await waitFor(() => targetHas(marker), timeoutMs, `marker ${marker} in the target`, 50);
  return Date.now() - start;
}

test(
  'three replicas under load: kill -9 and SIGSTOP of the leader, fenced takeover within 10 s, the target equals the source',
  { timeout: 400_000, skip: pgbenchMissing() },
  async () => {
    const replicas = new Map<string, Replica>();
    const walViolations: string[] = [];
    for (const id of ['r1', 'r2', 'r3']) replicas.set(id, startReplica(id));
    let pgbench: Pgbench | null = null;
    let wal: ReturnType<typeof watchConfirmedWal> | null = null;
    const log: string[] = [];
    try {
      await waitFor(
        async () => (await count('copy.items').catch(() => 0)) === ROWS && (await lease()) !== null,
        120_000,
        'the snapshot in the target',
      );
      // every committed sink transaction from now on is recorded with its session's name (epoch) at commit time
      await server.query(`CREATE TABLE copy.audit (txid bigint PRIMARY KEY, app text NOT NULL, at timestamptz NOT NULL)`);
      await server.query(`CREATE FUNCTION copy.audit_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
          INSERT INTO copy.audit VALUES (txid_current(), current_setting('application_name'), clock_timestamp()) ON CONFLICT DO NOTHING;
          RETURN NULL; END $$`);
      await server.query(
        `CREATE CONSTRAINT TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON copy.items DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION copy.audit_fn()`,
      );
      // the slot is never confirmed past the stored checkpoint
      wal = watchConfirmedWal(server, SLOT);
      pgbench = startPgbench(server, writeLoadScript(dir, 'public.items', 25_000), { clients: 2, rate: 200 });

      // kill -9 the leader twice
      const takeovers: number[] = [];
      for (let kill = 1; kill <= 2; kill++) {
        await new Promise((r) => setTimeout(r, 2000 + Math.random() * 2000));
        const before = (await lease())!;
        const leader = replicas.get(before.holder)!;
        leader.child.kill('SIGKILL');
        const killedAt = Date.now();
        const ms = await markerVisibleAfter(killedAt, 1_000_000 + kill, 20_000);
        const now = (await lease())!;
        takeovers.push(ms);
        log.push(
          `kill -9 ${before.holder} (epoch ${before.epoch}): ${now.holder} leads with epoch ${now.epoch}; first change visible after ${ms} ms`,
        );
        assert.notEqual(now.holder, before.holder, 'another replica leads');
        assert.ok(now.epoch > before.epoch, 'with a newer epoch');
        await exited(leader.child);
        replicas.delete(leader.id);
        const fresh = `${leader.id}-${kill}`;
        replicas.set(fresh, startReplica(fresh)); // as an orchestrator restarts a pod, under a new name
      }
      for (const ms of takeovers) assert.ok(ms <= 10_000, `takeover after kill -9 took ${ms} ms (bound 10 s): ${log.join('; ')}`);

      // SIGSTOP the leader for longer than the lease: a third replica takes over; SIGCONT
      await new Promise((r) => setTimeout(r, 3000));
      const paused = (await lease())!;
      const zombie = replicas.get(paused.holder)!;
      zombie.child.kill('SIGSTOP');
      const stoppedAt = Date.now();
      const ms = await markerVisibleAfter(stoppedAt, 1_000_010, 20_000);
      const successor = (await lease())!;
      log.push(
        `SIGSTOP ${paused.holder} (epoch ${paused.epoch}): ${successor.holder} leads with epoch ${successor.epoch}; first change visible after ${ms} ms`,
      );
      assert.notEqual(successor.holder, paused.holder);
      await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - stoppedAt))));
      const resumedAt = await serverNow(server);
      const stderrBefore = zombie.stderr().length;
      zombie.child.kill('SIGCONT');
      await waitFor(() => /"event":"standby"/.test(zombie.stderr().slice(stderrBefore)), 20_000, 'the resumed replica to stand by');
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal(zombie.child.exitCode, null, 'the resumed replica keeps running as a standby');
      const afterResume = zombie.stderr().slice(stderrBefore);
      assert.match(afterResume, /"event":"lease-lost"/, 'it learnt that it lost the lease');
      assert.equal((await lease())!.holder, successor.holder, 'the successor still leads');

      const zombieEpoch = `e${paused.epoch}`;
      const lateRows = await server.query<{ n: string }>(`SELECT count(*)::text AS n FROM copy.audit WHERE app LIKE $1 AND at >= $2`, [
        `% ${zombieEpoch}`,
        resumedAt,
      ]);
      assert.equal(lateRows[0]!.n, '0', 'the paused replica committed no row after it resumed');
      assert.equal(
        await checkpointSavesSince(server, paused.epoch, resumedAt),
        0,
        'the paused replica saved no checkpoint after it resumed',
      );
      // the successor ended the paused replica's walsender to take the slot: the paused one holds no connection to acknowledge WAL on
      const successorLog = replicas.get(successor.holder)!.stderr();
      assert.match(successorLog, /"code":"TAKEN_OVER"/, 'the successor took the slot over from the paused replica');

      // catch up, then compare
      await pgbench.stop();
      pgbench = null;
      await waitFor(
        async () => {
          const [diff] = await server.query<{ n: string }>(
            `SELECT count(*)::text AS n FROM (SELECT * FROM public.items EXCEPT SELECT * FROM copy.items UNION ALL SELECT * FROM copy.items EXCEPT SELECT * FROM public.items) d`,
          );
          return diff!.n === '0';
        },
        60_000,
        'the target to equal the source',
        250,
      );
      assert.equal(await count('copy.items'), await count('public.items'));
    } finally {
      walViolations.push(...((await wal?.stop()) ?? []));
      await pgbench?.stop();
      for (const r of replicas.values()) {
        if (r.child.exitCode === null && r.child.signalCode === null) {
          r.child.kill('SIGCONT');
          r.child.kill('SIGTERM');
        }
      }
      await Promise.all([...replicas.values()].map((r) => exited(r.child)));
    }
    for (const r of replicas.values()) assert.equal(r.child.exitCode, 0, `${r.id} stops cleanly: ${r.stderr().slice(-1500)}`);

    // over the whole run: commits of the sink and checkpoint saves in epoch order, WAL never confirmed past a checkpoint
    const sinkEpochs = (await server.query<{ app: string }>(`SELECT app FROM copy.audit ORDER BY at, txid`)).map((r) =>
      Number(/ e(\d+)$/.exec(r.app)?.[1] ?? NaN),
    );
    assert.ok(sinkEpochs.length > 0 && sinkEpochs.every(Number.isFinite), 'every sink commit came from a fenced session');
    const sinkDrops = sinkEpochs.filter((e, i) => i > 0 && e < sinkEpochs[i - 1]!);
    assert.deepEqual(sinkDrops, [], 'no sink commit of an older epoch after a newer one');
    const cpEpochs = await checkpointEpochs(server);
    assert.ok(
      cpEpochs.every((e, i) => i === 0 || e >= cpEpochs[i - 1]!),
      `checkpoint epochs only increase: ${[...new Set(cpEpochs)].join(' → ')}`,
    );
    assert.ok(new Set(cpEpochs).size >= 4, `four leaders saved checkpoints: ${[...new Set(cpEpochs)].join(', ')}`);
    assert.deepEqual(walViolations, []);
    console.log(log.join('\n'));
  },
);
