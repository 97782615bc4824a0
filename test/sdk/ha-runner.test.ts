/**
 * The runner under high availability with replicas inside one process (`sync({ ha })`): a
 * shared MemoryLeaseStore, one fenced MemoryCheckpointStore, and one MemorySink per replica
 * over one shared table (each checks its own fence on every write). A replica whose lease store
 * stops answering (a cut network) stands down and another leads; when the cut heals, the old
 * leader writes nothing and waits as a standby. The table ends equal to the upstream, and the
 * checkpoints' epochs never go down.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore, MemorySource } from '../../src/sources/memory/index.js';
import { MemorySink } from '../../src/sinks/memory.js';
import { JsonlSink } from '../../src/sinks/jsonl.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import { sync, type SyncRun } from '../../src/sdk/sync.js';
import { FileCheckpointStore, MemoryCheckpointStore } from '../../src/sdk/checkpoint-store.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { Leadership } from '../../src/sdk/leadership.js';
import { MemoryLeaseStore, type Fence, type LeaseStore } from '../../src/sdk/lease.js';
import { standardDescriptor, standardRow } from '../helpers/tables.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function seededStore(rows = 50): MemoryStore {
  const store = new MemoryStore(standardDescriptor());
  store.insert(Array.from({ length: rows }, (_, i) => standardRow(BigInt(i + 1))));
  return store;
}

function mutate(store: MemoryStore, step: number): void {
  const id = BigInt((step * 7919) % 80) + 1n;
  const existing = store.currentRows().some((r) => r[0] === id);
  store.transaction((tx) => {
    if (!existing) tx.insert(standardRow(id, step));
    else if (step % 5 === 0) tx.delete(id);
    else tx.update(standardRow(id, step));
  });
}

async function stateOf(store: MemoryStore) {
  const t = new ReferenceTable();
  const s = new MemorySource(store);
  let b;
  while ((b = await s.pollSnapshot())) t.apply(b);
  await s.close();
  return t.toJSON();
}

/** A lease store whose calls can be made to hang, as over a cut network. */
class Cuttable implements LeaseStore {
  cut = false;
  private waiters: Array<() => void> = [];
  constructor(private readonly inner: MemoryLeaseStore) {}
  private async gate(): Promise<void> {
    while (this.cut) await new Promise<void>((r) => this.waiters.push(r));
  }
  heal(): void {
    this.cut = false;
    for (const w of this.waiters.splice(0)) w();
  }
  async acquire(group: string, holder: string, ttlMs: number) {
    await this.gate();
    return this.inner.acquire(group, holder, ttlMs);
  }
  async renew(fence: Fence, ttlMs: number) {
    await this.gate();
    return this.inner.renew(fence, ttlMs);
  }
  async release(fence: Fence) {
    await this.gate();
    return this.inner.release(fence);
  }
  async read(group: string) {
    await this.gate();
    return this.inner.read(group);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('replicas in one process: one leads, a cut-off leader stands down, the next takes over, the old one writes nothing', async () => {
  const upstream = seededStore();
  const leases = new MemoryLeaseStore();
  const checkpoints = new MemoryCheckpointStore({ leases });
  const table = new ReferenceTable();
  const replicas = ['a', 'b', 'c'].map((id) => {
    const link = new Cuttable(leases);
    const leadership = new Leadership({ leases: link, group: 'items', replicaId: id, leaseMs: 300 });
    const sink = new MemorySink(table, 'memory', { leases });
    let writes = 0;
    const write = sink.write.bind(sink);
    sink.write = async (batch) => {
      await write(batch);
      writes++;
    };
    const run: SyncRun = sync({
      source: () => new MemorySource(upstream, { batchRows: 9, maxWaitMs: 5 }),
      sinks: [sink],
      checkpoints,
      commitEvery: { rows: 10, ms: 20 },
      ha: { leadership },
    });
    const roles: string[] = [];
    run.on('leader', ({ epoch }) => roles.push(`leader ${epoch}`));
    run.on('standby', ({ epoch }) => roles.push(`standby after ${epoch}`));
    return { id, link, leadership, run, roles, writes: () => writes };
  });
  let step = 0;
  const writeFor = async (ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      mutate(upstream, step++);
      await sleep(3);
    }
  };
  const leader = () => replicas.filter((r) => r.leadership.status.role === 'leader');

  await writeFor(400);
  assert.equal(leader().length, 1, 'exactly one leader');
  const first = leader()[0]!;
  first.link.cut = true; // its lease store no longer answers
  const cutAt = Date.now();
  await writeFor(1200);
  const second = leader().find((r) => r !== first);
  assert.ok(second, `another replica leads: ${replicas.map((r) => `${r.id} ${r.roles.join(',')}`).join('; ')}`);
  assert.equal(first.run.progress.phase, 'standby', 'the cut-off leader stood down');
  const writesWhenCut = first.writes();
  first.link.heal();
  await writeFor(600);
  assert.equal(first.writes(), writesWhenCut, 'the old leader wrote nothing after it stood down');
  assert.ok(Date.now() - cutAt > 0);

  // catch up, then stop everyone
  await sleep(300);
  for (const r of replicas) r.run.stop();
  await Promise.all(replicas.map((r) => r.run.done));
  // a shared Leadership belongs to whoever made it: the runs leave it campaigning
  await Promise.all(replicas.map((r) => r.leadership.close()));
  assert.deepEqual(table.toJSON(), await stateOf(upstream));
  const epochs = checkpoints.history.map((h) => h.epoch ?? 0);
  assert.ok(
    epochs.every((e, i) => i === 0 || e >= epochs[i - 1]!),
    `checkpoint epochs only increase: ${epochs.join(',')}`,
  );
  assert.ok(new Set(epochs).size >= 2, `at least two epochs committed: ${[...new Set(epochs)].join(',')}`);
});

test('a stopped leader releases the lease: a standby takes over at once', async () => {
  const upstream = seededStore(20);
  const leases = new MemoryLeaseStore();
  const checkpoints = new MemoryCheckpointStore({ leases });
  const table = new ReferenceTable();
  const make = (id: string) =>
    sync({
      source: () => new MemorySource(upstream, { batchRows: 50, maxWaitMs: 5 }),
      sinks: [new MemorySink(table, 'memory', { leases })],
      checkpoints,
      commitEvery: { rows: 10, ms: 20 },
      ha: { group: 'g', replicaId: id, leaseMs: 10_000 },
    });
  const a = make('a');
  await sleep(100);
  const b = make('b');
  let bLeads = 0;
  b.on('leader', () => (bLeads = Date.now()));
  await sleep(100);
  assert.equal(bLeads, 0, 'b waits while a leads');
  const stoppedAt = Date.now();
  a.stop();
  await a.done;
  for (let i = 0; i < 50 && bLeads === 0; i++) await sleep(50);
  assert.ok(bLeads > 0 && bLeads - stoppedAt < 2000, `b leads ${bLeads - stoppedAt} ms after a stopped (lease 10 s)`);
  mutate(upstream, 1);
  await sleep(200);
  b.stop();
  await b.done;
  assert.deepEqual(table.toJSON(), await stateOf(upstream));
});

test('high availability refuses what cannot be fenced', async () => {
  const upstream = seededStore(5);
  const leases = new MemoryLeaseStore();
  const dir = mkdtempSync(join(tmpdir(), 'refstream-ha-'));
  const unfenced = sync({
    source: () => new MemorySource(upstream),
    sinks: [new JsonlSink({ output: join(dir, 'out.jsonl') })],
    checkpoints: new MemoryCheckpointStore({ leases }),
    ha: { group: 'g', leases },
  });
  await assert.rejects(
    unfenced.done,
    (e: unknown) => ConnectorError.is(e, 'CONFIG_INVALID') && /cannot keep a replica/.test((e as Error).message),
  );
  const fileStore = sync({
    source: () => new MemorySource(upstream),
    sinks: [new MemorySink()],
    checkpoints: new FileCheckpointStore(join(dir, 'cp.json')),
    ha: { group: 'g', leases },
  });
  await assert.rejects(
    fileStore.done,
    (e: unknown) => ConnectorError.is(e, 'CONFIG_INVALID') && /fenced by the lease epoch/.test((e as Error).message),
  );
  const noLeases = sync({
    source: () => new MemorySource(upstream),
    sinks: [new MemorySink()],
    checkpoints: new FileCheckpointStore(join(dir, 'cp.json')),
    ha: { group: 'g' },
  });
  await assert.rejects(noLeases.done, (e: unknown) => ConnectorError.is(e, 'CONFIG_INVALID') && /keeps leases/.test((e as Error).message));
});
