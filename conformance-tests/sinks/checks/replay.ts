/**
 * Sink checks of replays (SINK-08, SINK-09): after a crash the runner delivers again every
 * batch after the last committed checkpoint, with the positions they had; the destination
 * must end exactly as if each batch had been delivered once.
 */
import { makeRow, makeRows } from '../../test-table.js';
import { deliver, expectStored, type CrashMode, type DeliveryPlan } from '../drive.js';
import { ExpectedTable, StreamBuilder, type Step } from '../stream.js';
import type { SinkCheck, SinkCheckContext } from '../types.js';

/** A snapshot in three batches (steps 1–5), then six change batches (steps 6–11). */
function replayStream(): Step[] {
  return new StreamBuilder()
    .fullSnapshot(makeRows(6, 1), 2)
    .changes([
      { type: 'update', row: makeRow(1, 1) },
      { type: 'insert', row: makeRow(7) },
    ])
    .changes([
      { type: 'delete', id: 2n },
      { type: 'update', row: makeRow(3, 1) },
    ])
    .changes([
      { type: 'insert', row: makeRow(2, 2) },
      { type: 'update', row: makeRow(3, 2) },
    ])
    .changes([
      { type: 'update', row: makeRow(7, 1) },
      { type: 'delete', id: 4n },
    ])
    .changes([
      { type: 'update', row: makeRow(1, 2) },
      { type: 'insert', row: makeRow(8) },
    ])
    .changes([
      { type: 'update', row: makeRow(8, 1) },
      { type: 'update', row: makeRow(5, 1) },
    ]).steps;
}

interface Scenario {
  name: string;
  plan: (mode: CrashMode) => DeliveryPlan;
}

const SCENARIOS: readonly Scenario[] = [
  { name: 'crash mid-snapshot, the snapshot restarts', plan: (m) => ({ commitsAfter: [3], crashes: [[4, m]] }) },
  { name: 'crash mid-snapshot, the snapshot resumes', plan: (m) => ({ commitsAfter: [3], crashes: [[4, m]], midSnapshotResume: true }) },
  { name: 'crash with uncommitted change batches', plan: (m) => ({ commitsAfter: [5, 7], crashes: [[9, m]] }) },
  {
    name: 'crash after a flush whose checkpoint was not saved',
    plan: (m) => ({ commitsAfter: [5], flushesAfter: [8], crashes: [[9, m]] }),
  },
  { name: 'crash before the first commit', plan: (m) => ({ crashes: [[6, m]] }) },
  {
    name: 'two crashes, the second during the replay',
    plan: (m) => ({
      commitsAfter: [6],
      crashes: [
        [7, m],
        [9, m],
      ],
    }),
  },
];

async function runScenarios(ctx: SinkCheckContext, mode: CrashMode): Promise<void> {
  const steps = replayStream();
  const expected = ExpectedTable.of(steps);
  let replayed = 0;
  for (const [i, scenario] of SCENARIOS.entries()) {
    const run = i === 0 ? ctx : await ctx.fresh();
    try {
      const { stats } = await deliver(run, steps, scenario.plan(mode));
      replayed += stats.replayedSteps;
      await expectStored(run, expected, 'after the replay');
    } catch (error) {
      if (error instanceof Error) error.message = `scenario "${scenario.name}": ${error.message}`;
      throw error;
    }
  }
  ctx.note(`${SCENARIOS.length} crash scenarios, ${replayed} steps delivered again`);
}

export const replayChecks: readonly SinkCheck[] = [
  {
    id: 'SINK-08',
    level: 'MUST',
    category: 'replay',
    rule: 'after a restart from a committed checkpoint (new sink instance, restore(state)), the batches delivered again leave the destination exact',
    method:
      'Six crash scenarios on fresh destinations (mid-snapshot with restart and with resume, uncommitted batches, a flush whose checkpoint was not saved, no commit yet, two crashes): the old instance is closed, a new one restored with the committed checkpointState(), and everything after the commit delivered again; then readBack() must equal the fold of the stream.',
    async run(ctx) {
      await runScenarios(ctx, 'new-instance');
    },
  },
  {
    id: 'SINK-09',
    level: 'MUST',
    category: 'replay',
    rule: 'after a transient retry in the same process (reset(), restore(state)), the batches delivered again leave the destination exact',
    method: 'The SINK-08 scenarios with the same instance: reset() when the sink has it, restore() with the committed state, replay.',
    async run(ctx) {
      await runScenarios(ctx, 'same-instance');
    },
  },
];
