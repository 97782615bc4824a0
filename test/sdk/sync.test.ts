import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordBatch } from 'apache-arrow';
import { MemoryStore, MemorySource } from '../../src/sources/memory/index.js';
import { MemorySink } from '../../src/sinks/memory.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import { sync, type KillPoint } from '../../src/sdk/sync.js';
import { MemoryCheckpointStore, storedCheckpoint } from '../../src/sdk/checkpoint-store.js';
import { ConnectorError, definite } from '../../src/sdk/errors.js';
import type { Sink } from '../../src/sdk/sink.js';
import type { ReferenceTableSource } from '../../src/sdk/source.js';
import { standardDescriptor, standardRow } from '../helpers/tables.js';

function seededStore(rows = 40): MemoryStore {
  const store = new MemoryStore(standardDescriptor());
  store.insert(Array.from({ length: rows }, (_, i) => standardRow(BigInt(i + 1))));
  return store;
}

/** Deterministic pseudo-random writes: updates, inserts, deletes, key changes. */
function mutate(store: MemoryStore, step: number): void {
  const id = BigInt((step * 7919) % 60) + 1n;
  const existing = store.currentRows().some((r) => r[0] === id);
  store.transaction((tx) => {
    if (!existing) tx.insert(standardRow(id, step));
    else if (step % 5 === 0) tx.delete(id);
    else tx.update(standardRow(id, step));
    if (step % 11 === 0) {
      const id2 = id + 1000n;
      if (!store.currentRows().some((r) => r[0] === id2)) tx.insert(standardRow(id2, step));
    }
  });
}

function expectedState(store: MemoryStore): ReferenceTable {
  const t = new ReferenceTable();
  const s = new MemorySource(store);
  return Object.assign(t, {
    load: async () => {
      let b;
      while ((b = await s.pollSnapshot())) t.apply(b);
      await s.close();
    },
  });
}

async function stateOf(store: MemoryStore) {
  const t = expectedState(store) as ReferenceTable & { load(): Promise<void> };
  await t.load();
  return t.toJSON();
}

class Crash extends Error {}

for (const point of ['after-write', 'after-flush', 'after-save', 'after-commit'] as KillPoint[]) {
  test(`kill at ${point}: restarts never lose or double-apply a change`, async () => {
    const store = seededStore();
    const sink = new MemorySink();
    const appliedPositions = new Map<string, number>();
    sink.table.on('change', (c) => {
      if (c.position) appliedPositions.set(c.position, (appliedPositions.get(c.position) ?? 0) + 1);
    });
    const checkpoints = new MemoryCheckpointStore();
    let step = 0;
    for (let crash = 0; crash < 12; crash++) {
      let seen = 0;
      const killAt = 1 + (crash % 4);
      const run = sync({
        source: () => new MemorySource(store, { batchRows: 7, maxWaitMs: 5 }),
        sinks: [sink],
        checkpoints,
        closeSinks: false,
        commitEvery: { rows: 10, ms: 5 },
        killPoint: (p) => {
          if (p === point && ++seen === killAt) throw new Crash(`killed at ${p}`);
        },
      });
      // concurrent writes while the run is going, until it crashes
      let settled = false;
      run.done.then(
        () => (settled = true),
        () => (settled = true),
      );
      for (let i = 0; i < 500 && !settled; i++) {
        mutate(store, step++);
        await new Promise((r) => setTimeout(r, 2));
      }
      await assert.rejects(run.done, (e: unknown) => ConnectorError.is(e) && /killed at/.test((e as Error).message));
    }
    // final clean run until caught up
    const final = sync({
      source: () => new MemorySource(store, { batchRows: 7, maxWaitMs: 5 }),
      sinks: [sink],
      checkpoints,
      commitEvery: { rows: 10, ms: 5 },
      until: () => sink.table.lastPosition !== null && sink.table.lastPosition >= `${store.seq.toString(16).padStart(16, '0')}/`,
    });
    const result = await final.done;
    assert.equal(result.stoppedBy, 'until');
    assert.deepEqual(sink.table.toJSON(), await stateOf(store));
    const doubles = [...appliedPositions].filter(([, n]) => n > 1);
    assert.deepEqual(doubles, [], 'a change was applied twice');
    assert.ok(appliedPositions.size > 0);
  });
}

test('a transient error reconnects with backoff and resumes from the last commit', async () => {
  const store = seededStore(100);
  const sink = new MemorySink();
  let created = 0;
  const run = sync({
    source: () => {
      created++;
      return new MemorySource(store, { batchRows: 10, maxWaitMs: 5 });
    },
    sinks: [sink],
    commitEvery: { rows: 20, ms: 10 },
    retry: { initialDelayMs: 5, maxDelayMs: 20 },
  });
  const retries: string[] = [];
  run.on('retry', (r) => retries.push(r.error.code));
  await new Promise((r) => setTimeout(r, 30));
  store.interrupt();
  for (let i = 0; i < 20; i++) mutate(store, i);
  await new Promise((r) => setTimeout(r, 30));
  store.interrupt();
  await new Promise((r) => setTimeout(r, 60));
  run.stop();
  const result = await run.done;
  assert.ok(created >= 2, `source created ${created} times`);
  assert.ok(retries.includes('CONNECTION_LOST'));
  assert.ok(result.retries >= 1);
  assert.deepEqual(sink.table.toJSON(), await stateOf(store));
});

test('a definite error stops the run with its code and closes the sinks', async () => {
  const store = seededStore(5);
  let closed = false;
  const sink: Sink = {
    name: 'probe',
    write: async () => {},
    flush: async () => {},
    close: async () => {
      closed = true;
    },
  };
  const failing = (): ReferenceTableSource => {
    const inner = new MemorySource(store);
    return Object.assign(Object.create(inner), {
      capabilities: inner.capabilities,
      pollChanges: async () => {
        throw definite('SCHEMA_INCOMPATIBLE', 'column amount changed type', { table: 'public.items' });
      },
    });
  };
  const run = sync({ source: failing, sinks: [sink] });
  await assert.rejects(run.done, (e: unknown) => ConnectorError.is(e, 'SCHEMA_INCOMPATIBLE') && e.table === 'public.items');
  assert.ok(closed);
});

test('transient errors without a factory stop with a hint to pass one', async () => {
  const store = seededStore(5);
  const source = new MemorySource(store, { maxWaitMs: 5 });
  const run = sync({ source, sinks: [new MemorySink()] });
  await new Promise((r) => setTimeout(r, 20));
  store.interrupt();
  await assert.rejects(
    run.done,
    (e: unknown) => ConnectorError.is(e, 'CONNECTION_LOST') && e.kind === 'definite' && /factory/.test(e.hint ?? ''),
  );
});

test('a failing sink is detached and reported while the others continue; reconcile brings it back', async () => {
  const store = seededStore(30);
  const healthy = new MemorySink();
  const flaky = new MemorySink(new ReferenceTable(), 'flaky');
  let broken = true;
  let writes = 0;
  const originalWrite = flaky.write.bind(flaky);
  flaky.write = async (batch: RecordBatch) => {
    if (broken && ++writes === 2) throw new Error('disk full');
    return originalWrite(batch);
  };
  const checkpoints = new MemoryCheckpointStore();
  const run = sync({
    source: () => new MemorySource(store, { batchRows: 5, maxWaitMs: 5 }),
    sinks: [healthy, flaky],
    checkpoints,
    commitEvery: { rows: 5, ms: 5 },
    onSinkFault: 'detach',
  });
  const faults: string[] = [];
  run.on('sink-fault', (f) => faults.push(`${f.sink}:${f.error.code}:${f.error.message}`));
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(faults.length, 1);
  assert.match(faults[0]!, /^flaky:SINK_FAILED:.*disk full/);
  assert.deepEqual(run.progress.detachedSinks, ['flaky']);
  const commitsWhileDetached = checkpoints.history.length;
  for (let i = 0; i < 10; i++) mutate(store, i);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(checkpoints.history.length, commitsWhileDetached, 'no checkpoint is committed past a detached sink');
  assert.deepEqual(healthy.table.toJSON(), await stateOf(store), 'the attached sink keeps receiving changes');
  broken = false;
  await run.reconcile(flaky);
  assert.deepEqual(run.progress.detachedSinks, []);
  for (let i = 10; i < 20; i++) mutate(store, i);
  await new Promise((r) => setTimeout(r, 50));
  run.stop();
  await run.done;
  assert.ok(checkpoints.history.length > commitsWhileDetached, 'commits resume once the sink is reconciled');
  const expected = await stateOf(store);
  assert.deepEqual(healthy.table.toJSON(), expected);
  assert.deepEqual(flaky.table.toJSON(), expected);
});

test('with onSinkFault detach, every sink failing stops the run with ALL_SINKS_FAILED', async () => {
  const store = seededStore(5);
  const bad: Sink = {
    name: 'bad',
    write: async () => {
      throw new Error('nope');
    },
    flush: async () => {},
    close: async () => {},
  };
  await assert.rejects(sync({ source: () => new MemorySource(store), sinks: [bad], onSinkFault: 'detach' }).done, (e: unknown) =>
    ConnectorError.is(e, 'ALL_SINKS_FAILED'),
  );
});

test('by default a definite sink failure stops the run naming the sink, and nothing past it is committed', async () => {
  const store = seededStore(20);
  const checkpoints = new MemoryCheckpointStore();
  const healthy = new MemorySink();
  let writes = 0;
  const bad: Sink = {
    name: 'bad',
    write: async () => {
      if (++writes === 3) throw definite('MESSAGE_TOO_LARGE', 'record too large');
    },
    flush: async () => {},
    close: async () => {},
  };
  const run = sync({
    source: () => new MemorySource(store, { batchRows: 4 }),
    sinks: [healthy, bad],
    checkpoints,
    commitEvery: { rows: 4, ms: 1 },
  });
  await assert.rejects(run.done, (e: unknown) => ConnectorError.is(e, 'MESSAGE_TOO_LARGE') && /sink bad/.test((e as Error).message));
  assert.deepEqual(run.progress.detachedSinks, []);
  // Two batches were written to both sinks and committed; the failing third one never was.
  assert.equal(checkpoints.history.length, 2);
  assert.deepEqual((checkpoints.history.at(-1)!.checkpoint.position as { offset: number }).offset, 8);
});

test('stopAfterSnapshot commits the snapshot and stops; a later run continues with changes only', async () => {
  const store = seededStore(25);
  const checkpoints = new MemoryCheckpointStore();
  const sink = new MemorySink();
  const first = await sync({
    source: () => new MemorySource(store, { batchRows: 4 }),
    sinks: [sink],
    checkpoints,
    stopAfterSnapshot: true,
    closeSinks: false,
  }).done;
  assert.equal(first.stoppedBy, 'snapshot');
  assert.equal(first.snapshotRows, 25);
  assert.equal(checkpoints.history.at(-1)?.checkpoint.phase, 'changes');
  store.update([standardRow(3n, 99)]);
  const second = sync({
    source: () => new MemorySource(store, { maxWaitMs: 5 }),
    sinks: [sink],
    checkpoints,
    until: (p) => p.changeRows >= 1,
  });
  const result = await second.done;
  assert.equal(result.snapshotRows, 0);
  assert.equal(result.changeRows, 1);
  assert.equal(sink.table.get(3n)?.name, 'name-3-99');
});

test('an invalid stored checkpoint stops before any poll with CHECKPOINT_INVALID', async () => {
  const store = seededStore(5);
  const checkpoints = new MemoryCheckpointStore();
  await checkpoints.save(
    storedCheckpoint({ version: 1, connector: 'postgres', table: 'public.items', phase: 'changes', position: { lsn: '0/1' } }),
  );
  await assert.rejects(
    sync({ source: () => new MemorySource(store), sinks: [new MemorySink()], checkpoints }).done,
    (e: unknown) => ConnectorError.is(e, 'CHECKPOINT_INVALID') && /connector "postgres"/.test((e as Error).message),
  );
});

/** A sink that holds writes until flush and loses them when its server goes away (as Kafka's). */
class OutageSink implements Sink {
  readonly name = 'outage';
  readonly durable = new ReferenceTable();
  private pending: RecordBatch[] = [];
  down = false;
  resets = 0;
  async write(batch: RecordBatch): Promise<void> {
    if (this.down) throw new ConnectorError('CONNECTION_LOST', 'server went away', { kind: 'transient' });
    this.pending.push(batch);
  }
  async flush(): Promise<void> {
    if (this.down) throw new ConnectorError('CONNECTION_LOST', 'server went away', { kind: 'transient' });
    for (const b of this.pending) this.durable.apply(b);
    this.pending = [];
  }
  async reset(): Promise<void> {
    this.resets++;
    if (this.down) throw new ConnectorError('CONNECTION_REFUSED', 'still away', { kind: 'transient' });
    this.pending = [];
  }
  async close(): Promise<void> {}
}

test('a sink with reset() failing transiently is retried, not detached: the runner replays from the last checkpoint', async () => {
  const store = seededStore(30);
  const sink = new OutageSink();
  const retries: string[] = [];
  const run = sync({
    source: () => new MemorySource(store, { batchRows: 4, maxWaitMs: 5 }),
    sinks: [sink],
    checkpoints: new MemoryCheckpointStore(),
    commitEvery: { rows: 8, ms: 10 },
    retry: { initialDelayMs: 5, maxDelayMs: 20, maxAttempts: 100 },
  });
  run.on('retry', (e) => retries.push(e.error.code));
  const faults: string[] = [];
  run.on('sink-fault', (f) => faults.push(f.sink));
  for (let i = 0; i < 10; i++) mutate(store, i);
  await new Promise((r) => setTimeout(r, 50));
  sink.down = true;
  for (let i = 10; i < 30; i++) mutate(store, i);
  await new Promise((r) => setTimeout(r, 100));
  sink.down = false;
  for (let i = 30; i < 40; i++) mutate(store, i);
  await new Promise((r) => setTimeout(r, 150));
  run.stop();
  await run.done;
  assert.ok(retries.length > 0 && sink.resets > 0, `retries ${retries.length}, resets ${sink.resets}`);
  assert.ok(
    retries.every((c) => c === 'CONNECTION_LOST' || c === 'CONNECTION_REFUSED'),
    retries.join(','),
  );
  assert.deepEqual(faults, []);
  assert.deepEqual(sink.durable.toJSON(), await stateOf(store));
});

test('with onSinkFault detach, a transient failure of a sink without reset() detaches it', async () => {
  const store = seededStore(5);
  const healthy = new MemorySink();
  const flaky: Sink = {
    name: 'no-reset',
    write: async () => {
      throw new ConnectorError('CONNECTION_LOST', 'gone', { kind: 'transient' });
    },
    flush: async () => {},
    close: async () => {},
  };
  const run = sync({ source: () => new MemorySource(store, { maxWaitMs: 5 }), sinks: [healthy, flaky], onSinkFault: 'detach' });
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(run.progress.detachedSinks, ['no-reset']);
  run.stop();
  await run.done;
  assert.deepEqual(healthy.table.toJSON(), await stateOf(store));
});

test('by default a transient failure of a sink without reset() is retried from the last checkpoint, not detached', async () => {
  const store = seededStore(12);
  const healthy = new MemorySink();
  let failures = 2;
  const flakyTable = new ReferenceTable();
  const flaky: Sink = {
    name: 'no-reset',
    write: async (batch) => {
      if (failures > 0) {
        failures--;
        throw new ConnectorError('CONNECTION_LOST', 'gone', { kind: 'transient' });
      }
      flakyTable.apply(batch);
    },
    flush: async () => {},
    close: async () => {},
  };
  const retries: string[] = [];
  const run = sync({
    source: () => new MemorySource(store, { maxWaitMs: 5, batchRows: 4 }),
    sinks: [healthy, flaky],
    retry: { initialDelayMs: 1, maxDelayMs: 5 },
  });
  run.on('retry', (r) => retries.push(r.error.code));
  await new Promise((r) => setTimeout(r, 80));
  run.stop();
  await run.done;
  assert.deepEqual(retries, ['CONNECTION_LOST', 'CONNECTION_LOST']);
  assert.deepEqual(run.progress.detachedSinks, []);
  assert.deepEqual(flakyTable.toJSON(), await stateOf(store));
});

test('a stop before the first snapshot batch saves no checkpoint, so the next run sends snapshotStart', async () => {
  const store = seededStore(5);
  const checkpoints = new MemoryCheckpointStore();
  const starts: boolean[] = [];
  const probe: Sink = {
    name: 'probe',
    snapshotStart: async (i) => void starts.push(i.restart),
    write: async () => {},
    flush: async () => {},
    close: async () => {},
  };
  const first = sync({ source: () => new MemorySource(store), sinks: [probe], checkpoints });
  first.stop('signal');
  const result = await first.done;
  assert.equal(result.snapshotRows, 0);
  assert.equal(await checkpoints.load(), null, 'no snapshot-phase checkpoint before any row');
  const second = await sync({ source: () => new MemorySource(store), sinks: [probe], checkpoints, stopAfterSnapshot: true }).done;
  assert.equal(second.snapshotRows, 5);
  assert.equal(starts.length, 2, 'each run started the snapshot');
  assert.equal((await checkpoints.load())!.checkpoint.phase, 'changes');
});

/** A run into an OutageSink with fast retries that give up after `giveUpAfterMs`; counts its retries. */
function outageRun(giveUpAfterMs: number, commitRows: number) {
  const store = seededStore(10);
  const sink = new OutageSink();
  const counted = { attempts: 0 };
  const run = sync({
    source: () => new MemorySource(store, { batchRows: 4, maxWaitMs: 5 }),
    sinks: [sink],
    checkpoints: new MemoryCheckpointStore(),
    commitEvery: { rows: commitRows, ms: 5 },
    retry: { initialDelayMs: 2, maxDelayMs: 4, giveUpAfterMs },
  });
  run.on('retry', () => counted.attempts++);
  return { store, sink, run, counted };
}

test('once streaming, a transient outage is retried for giveUpAfterMs (not a fixed count), then RETRIES_EXHAUSTED says how long', async () => {
  const { store, sink, run, counted } = outageRun(400, 4);
  await new Promise((r) => setTimeout(r, 60));
  const downAt = Date.now();
  sink.down = true;
  mutate(store, 1);
  const error = await run.done.then(
    () => null,
    (e: unknown) => e,
  );
  const elapsed = Date.now() - downAt;
  assert.ok(ConnectorError.is(error, 'RETRIES_EXHAUSTED'), String(error));
  assert.match((error as Error).message, /reconnect attempts over \d+ s/);
  assert.ok(counted.attempts > 10, `kept retrying past the old limit of 10 attempts (${counted.attempts})`);
  assert.ok(elapsed >= 400 && elapsed < 3000, `gave up after ${elapsed} ms`);
});

test('a commit between failures starts the retry budget over', async () => {
  const { store, sink, run, counted } = outageRun(150, 1);
  await new Promise((r) => setTimeout(r, 40));
  // three outages of 100 ms each, 300 ms in all, with commits in between: never exhausted
  for (let i = 0; i < 3; i++) {
    sink.down = true;
    mutate(store, i);
    await new Promise((r) => setTimeout(r, 100));
    sink.down = false;
    await new Promise((r) => setTimeout(r, 60));
  }
  run.stop();
  await run.done;
  assert.ok(counted.attempts > 3, `${counted.attempts} retries`);
  assert.deepEqual(sink.durable.toJSON(), await stateOf(store));
});
