/**
 * High availability, measured through the built CLI as it is deployed: replicas of
 * `refstream sync --ha` (one process each) with a Postgres table sink and the Postgres
 * checkpoint store, on one server.
 *
 * 1. Takeover time: three replicas under a steady write load (about 200 single-row
 *    transactions per second); the leader is killed with kill -9 `failovers` times (and restarted
 *    under a new name, as an orchestrator would). Takeover = from the kill to the first change
 *    made after the kill being visible in the target. Default lease.
 * 2. Steady-state cost: lease renewals per second (the lease row's updates at the server), and
 *    change throughput of one replica with and without `--ha` on the same committed workload
 *    (`changes` updates, from the first to the last being visible in the target).
 *
 *   npm run build && node --import tsx bench/ha-failover.ts [failovers=12] [changes=500000]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestPostgres } from '../src/testing/postgres.js';
import { createBenchTable, median, percentile, startBenchServer } from './lib/postgres-bench.js';

const failovers = Number(process.argv[2] ?? 12);
const changes = Number(process.argv[3] ?? 500_000);
const cli = join(import.meta.dirname, '..', 'dist', 'cli.js');
const ROWS = 100_000;
const server = await startBenchServer();
const dir = mkdtempSync(join(tmpdir(), 'refstream-ha-bench-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Replica {
  id: string;
  child: ChildProcess;
}

function startReplica(id: string, target: string, ha: boolean, table = 'public.items'): Replica {
  const args = ['sync', '--source', server.connectionString, '--table', table, '--sink', `${server.connectionString}#${target}`];
  args.push('--checkpoint', `${server.connectionString}#public.cp_${target.replace('.', '_')}`, '--log-format', 'json');
  if (ha) args.push('--ha', '--replica-id', id);
  const child = spawn(process.execPath, [cli, ...args], { cwd: dir, stdio: ['ignore', 'ignore', 'ignore'] });
  return { id, child };
}

async function stop(r: Replica, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (r.child.exitCode !== null || r.child.signalCode !== null) return;
  const exited = new Promise((resolve) => r.child.once('exit', resolve));
  r.child.kill(signal);
  await exited;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

const one = async (sql: string, params: unknown[] = []): Promise<string | null> => {
  const rows = await server.query<Record<string, unknown>>(sql, params);
  const first = rows[0];
  return first ? String(Object.values(first)[0]) : null;
};

async function leaseHolder(): Promise<string | null> {
  return one(`SELECT holder FROM public.refstream_leases WHERE expires_at > clock_timestamp()`).catch(() => null);
}

/** A background writer: single-row upserts at about `perSecond`, until stopped. */
function writeLoad(perSecond: number): { stop: () => Promise<void> } {
  let running = true;
  const done = (async () => {
    let i = 0;
    while (running) {
      const started = Date.now();
      await server.query(`UPDATE public.items SET amount = amount + 1 WHERE id = $1`, [(i++ % ROWS) + 1]);
      await sleep(Math.max(0, 1000 / perSecond - (Date.now() - started)));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
    },
  };
}

async function takeovers(): Promise<number[]> {
  await server.query('CREATE SCHEMA IF NOT EXISTS ha');
  const replicas = new Map<string, Replica>();
  for (const id of ['r1', 'r2', 'r3']) replicas.set(id, startReplica(id, 'ha.items', true));
  await waitFor('the snapshot in the target', async () => (await one(`SELECT count(*) FROM ha.items`)) === String(ROWS), 300_000, 250);
  const load = writeLoad(200);
  const times: number[] = [];
  try {
    for (let n = 1; n <= failovers; n++) {
      await sleep(3000 + Math.random() * 2000);
      const holder = await leaseHolder();
      const leader = holder === null ? undefined : replicas.get(holder);
      if (!leader) throw new Error(`no live lease held by a running replica (holder ${holder})`);
      await stop(leader, 'SIGKILL');
      const killedAt = performance.now();
      const marker = 10_000_000 + n;
      await server.query(`INSERT INTO public.items VALUES ($1, 'marker', 0, now(), true, NULL)`, [marker]);
      await waitFor(`marker ${marker}`, async () => (await one(`SELECT count(*) FROM ha.items WHERE id = $1`, [marker])) === '1', 60_000);
      const ms = performance.now() - killedAt;
      times.push(ms);
      console.log(`  failover ${n}: ${holder} killed, ${await leaseHolder()} leads, first change visible after ${ms.toFixed(0)} ms`);
      replicas.delete(leader.id);
      const fresh = `r${n + 3}`;
      replicas.set(fresh, startReplica(fresh, 'ha.items', true));
    }
  } finally {
    await load.stop();
    await Promise.all([...replicas.values()].map((r) => stop(r)));
  }
  return times;
}

/** Lease renewals per second of a lone leader, counted at the server over `seconds`. */
async function renewalsPerSecond(seconds: number): Promise<number> {
  const r = startReplica('solo', 'ha.items', true);
  try {
    await waitFor('a leader', async () => (await leaseHolder()) === 'solo', 60_000, 100);
    await server.query(`SELECT pg_stat_force_next_flush()`).catch(() => undefined);
    const updates = async () => {
      await server.query(`SELECT pg_stat_force_next_flush()`).catch(() => undefined);
      return Number(await one(`SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'refstream_leases'`));
    };
    const before = await updates();
    await sleep(seconds * 1000);
    return ((await updates()) - before) / seconds;
  } finally {
    await stop(r);
  }
}

/**
 * Changes per second of one replica (with or without --ha) catching up on `changes` committed
 * updates: from its start to the last change visible in the target (startup included).
 */
async function throughput(ha: boolean, target: string): Promise<number> {
  await server.query('CREATE SCHEMA IF NOT EXISTS tp');
  const id = ha ? 'tp-ha' : 'tp';
  let r = startReplica(id, target, ha);
  try {
    const rows = await one(`SELECT count(*) FROM public.items`);
    await waitFor('the snapshot', async () => (await one(`SELECT count(*) FROM ${target}`)) === rows, 300_000, 250);
    await sleep(2000); // a checkpoint after the snapshot
    await stop(r);
    const perTx = 10_000;
    let last = '';
    for (let done = 0; done < changes; done += perTx) {
      last = `tp ${target} ${done}`;
      await server.query(`UPDATE public.items SET name = $3 WHERE id BETWEEN $1 AND $2`, [(done % ROWS) + 1, (done % ROWS) + perTx, last]);
    }
    const started = performance.now();
    r = startReplica(id, target, ha);
    await waitFor('the last change', async () => (await one(`SELECT count(*) FROM ${target} WHERE name = $1`, [last])) !== '0', 600_000);
    return changes / ((performance.now() - started) / 1000);
  } finally {
    await stop(r);
    await dropIdleSlots();
  }
}

/** Each phase starts from its own checkpoint store, so it needs a fresh slot. */
async function dropIdleSlots(): Promise<void> {
  await server.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active`);
}

async function main(server: TestPostgres): Promise<void> {
  await createBenchTable(server, 'public.items', ROWS);
  console.log(`HA failover bench: ${ROWS} rows, ${failovers} failovers, ${changes} changes; ${cpus().length} cores`);
  const times = await takeovers();
  const sorted = [...times].sort((a, b) => a - b);
  console.log(
    `takeover after kill -9 (default lease): median ${median(sorted).toFixed(0)} ms, p90 ${percentile(sorted, 90).toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms over ${times.length}`,
  );
  const renewals = await renewalsPerSecond(20);
  console.log(`lease renewals: ${renewals.toFixed(2)} per second (one lease row update each)`);
  await dropIdleSlots();
  const plain = await throughput(false, 'tp.plain');
  const withHa = await throughput(true, 'tp.ha');
  console.log(
    `change throughput: ${plain.toFixed(0)} changes/s without --ha, ${withHa.toFixed(0)} with --ha (ratio ${(withHa / plain).toFixed(2)})`,
  );
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
}

try {
  await main(server);
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
