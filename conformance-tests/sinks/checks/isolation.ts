/**
 * Failure isolation (SINK-10): the sink runs beside a failing one in a real `sync()` run. With
 * `onSinkFault: 'detach'` the failing sink is reported and detached while this one keeps
 * receiving; with `'stop'` the run ends naming the failing sink, and a restart replays into
 * a new instance of this sink what the stopped run never committed.
 */
import type { RecordBatch } from 'apache-arrow';
import { MemoryCheckpointStore } from '../../../src/sdk/checkpoint-store.js';
import { ConnectorError, definite } from '../../../src/sdk/errors.js';
import type { Sink } from '../../../src/sdk/sink.js';
import { sync, type SyncOptions } from '../../../src/sdk/sync.js';
import { MemorySink } from '../../../src/sinks/memory.js';
import { MemorySource, MemoryStore } from '../../../src/sources/memory/index.js';
import { check, describeError, fail } from '../../assert.js';
import { testTableDescriptor } from '../../targets/test-table-descriptor.js';
import { makeRow, makeRows } from '../../test-table.js';
import { expectStored } from '../drive.js';
import { ExpectedTable, StreamBuilder } from '../stream.js';
import type { SinkCheck, SinkCheckContext } from '../types.js';

const NEIGHBOUR = 'failing-neighbour';

/** A sink that fails (definite) on its `failOnWrite`-th write. */
class FailingSink implements Sink {
  readonly name = NEIGHBOUR;
  private writes = 0;
  constructor(private readonly failOnWrite: number) {}
  async write(_batch: RecordBatch): Promise<void> {
    if (++this.writes >= this.failOnWrite) throw definite('SINK_FAILED', 'planted failure of the neighbouring sink');
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

const INITIAL = makeRows(5, 1);
const CHANGES = 3;

/** A memory table with the initial rows; the changes are written once its snapshot is complete. */
function table(): { store: MemoryStore; writeChanges: () => void; expected: ExpectedTable } {
  const store = new MemoryStore(testTableDescriptor('conformance.sink_test'));
  store.insert(INITIAL);
  const writeChanges = () => {
    store.update([makeRow(2, 1)]);
    store.delete([3n]);
    store.insert([makeRow(9)]);
  };
  const expected = ExpectedTable.of(
    new StreamBuilder().fullSnapshot(INITIAL).changes([
      { type: 'update', row: makeRow(2, 1) },
      { type: 'delete', id: 3n },
      { type: 'insert', row: makeRow(9) },
    ]).steps,
  );
  return { store, writeChanges, expected };
}

function runOptions(store: MemoryStore, sinks: Sink[], extra: Partial<SyncOptions>): SyncOptions {
  return {
    source: () => new MemorySource(store, { maxWaitMs: 5 }),
    sinks,
    commitEvery: { rows: 1 },
    until: (p) => p.changeRows >= CHANGES,
    retry: { initialDelayMs: 1, maxDelayMs: 10, startupAttempts: 1 },
    ...extra,
  };
}

async function detachMode(ctx: SinkCheckContext): Promise<void> {
  const { store, writeChanges, expected } = table();
  const sink = await ctx.createSink();
  const run = sync(runOptions(store, [sink, new FailingSink(2)], { onSinkFault: 'detach' }));
  const faults: string[] = [];
  run.on('sink-fault', ({ sink: name }) => faults.push(name));
  run.on('snapshot-complete', writeChanges);
  try {
    await run.done;
  } catch (error) {
    fail(`with onSinkFault: 'detach', the run failed instead of continuing with this sink: ${describeError(error)}`);
  }
  check(
    faults.length === 1 && faults[0] === NEIGHBOUR,
    `with onSinkFault: 'detach', sink-fault events named [${faults.join(', ')}], expected only ${NEIGHBOUR}`,
  );
  await expectStored(ctx, expected, "after a run with onSinkFault: 'detach' in which the neighbouring sink failed");
}

async function stopMode(ctx: SinkCheckContext): Promise<void> {
  const { store, writeChanges, expected } = table();
  const checkpoints = new MemoryCheckpointStore();
  const first = await ctx.createSink();
  const run = sync(runOptions(store, [first, new FailingSink(2)], { onSinkFault: 'stop', checkpoints }));
  const faults: string[] = [];
  run.on('sink-fault', ({ sink: name }) => faults.push(name));
  run.on('snapshot-complete', writeChanges);
  let stopped: unknown = null;
  try {
    await run.done;
  } catch (error) {
    stopped = error;
  }
  check(stopped !== null, "with onSinkFault: 'stop', the run went on although the neighbouring sink failed");
  check(
    ConnectorError.is(stopped) && stopped.message.includes(NEIGHBOUR),
    () => `with onSinkFault: 'stop', the run ended with ${describeError(stopped)}, which does not name ${NEIGHBOUR}`,
  );
  check(faults.length === 1 && faults[0] === NEIGHBOUR, `sink-fault events named [${faults.join(', ')}], expected only ${NEIGHBOUR}`);
  // The restart: a new process with a new instance of this sink and a repaired neighbour.
  const second = await ctx.createSink();
  const restart = sync(runOptions(store, [second, new FailingSink(Number.POSITIVE_INFINITY)], { onSinkFault: 'stop', checkpoints }));
  try {
    await restart.done;
  } catch (error) {
    fail(`the restart after the stopped run failed: ${describeError(error)}`);
  }
  await expectStored(ctx, expected, "after a run stopped by the neighbouring sink (onSinkFault: 'stop') and its restart");
}

export const isolationChecks: SinkCheck[] = [
  {
    id: 'SINK-10',
    level: 'MUST',
    category: 'isolation',
    rule: "a failing neighbour is reported by name; with onSinkFault: 'detach' this sink keeps receiving, with 'stop' a restart replays into it what was not committed",
    method:
      "Runs sync() from an in-memory source into this sink and a sink that fails on its second write. 'detach': the run completes, one sink-fault event names the neighbour, readBack() holds the whole table. 'stop': the run rejects naming the neighbour; a restart from the same checkpoint store with a new instance of this sink completes and readBack() holds the whole table.",
    async run(ctx) {
      await detachMode(ctx);
      await stopMode(await ctx.fresh());
    },
  },
];

/**
 * Wraps the sink under test: before its first write of a change batch (in each attempt) the
 * destination is interrupted once; the wrapper also tells when the last change was written.
 */
function interruptingSink(inner: Sink, interrupt: () => Promise<void>, lastId: bigint): Sink & { sawLast: boolean } {
  let interrupted = false;
  const wrapper: Sink & { sawLast: boolean } = {
    name: inner.name,
    sawLast: false,
    async write(batch: RecordBatch) {
      if (!interrupted && batch.schema.fields.some((f) => f.name === '_change_type')) {
        interrupted = true;
        await interrupt();
      }
      await inner.write(batch);
      const ids = batch.getChild('id')?.toArray() as ArrayLike<bigint> | undefined;
      if (ids && Array.from(ids).includes(lastId)) wrapper.sawLast = true;
    },
    flush: () => inner.flush(),
    close: () => inner.close(),
  };
  if (inner.snapshotStart) wrapper.snapshotStart = (info) => inner.snapshotStart!(info);
  if (inner.snapshotComplete) wrapper.snapshotComplete = () => inner.snapshotComplete!();
  if (inner.checkpointState) wrapper.checkpointState = () => inner.checkpointState!();
  if (inner.reset)
    wrapper.reset = () => {
      wrapper.sawLast = false;
      return inner.reset!();
    };
  if (inner.restore)
    wrapper.restore = (state) => {
      wrapper.sawLast = false;
      return inner.restore!(state);
    };
  return wrapper;
}

isolationChecks.push({
  id: 'SINK-12',
  level: 'MUST',
  category: 'isolation',
  needsHarness: ['interrupt'],
  rule: 'a transient failure of the destination surfaces as a transient ConnectorError: the runner retries (reset, restore, replay) and the destination ends exact',
  method:
    "Runs sync() from an in-memory source into this sink and a MemorySink; right before this sink's first change batch the harness's interrupt() hook severs the destination. The run must complete (a definite failure stops it and fails the check) and readBack() must hold the whole table. Needs the optional interrupt() hook.",
  async run(ctx) {
    const interrupt = ctx.harness.interrupt!.bind(ctx.harness);
    const { store, writeChanges, expected } = table();
    const sink = interruptingSink(await ctx.createSink(), interrupt, 9n);
    let stop = false;
    const run = sync({
      ...runOptions(store, [sink, new MemorySink()], { onSinkFault: 'stop' }),
      // Stop once the last change is committed in this sink (a commit that failed does not count).
      until: () => stop,
    });
    const retries: string[] = [];
    run.on('retry', ({ error }) => retries.push(describeError(error)));
    run.on('snapshot-complete', writeChanges);
    run.on('commit', () => {
      if (sink.sawLast) stop = true;
    });
    try {
      await run.done;
    } catch (error) {
      fail(
        `the run stopped after the destination was interrupted instead of retrying: ${describeError(error)} (a lost connection must be a transient ConnectorError)`,
      );
    }
    ctx.note(
      retries.length > 0 ? `the runner retried ${retries.length} times: ${retries[0]}` : 'the sink recovered without a runner retry',
    );
    await expectStored(ctx, expected, 'after the interrupted run');
  },
});
