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

export const isolationChecks: readonly SinkCheck[] = [
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
