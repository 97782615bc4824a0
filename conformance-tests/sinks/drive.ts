/**
 * Drives a sink the way the sync runner does (src/sdk/sync.ts): snapshot start, batches in
 * order, snapshot complete, `flush` then `checkpointState` at each commit, `close` at the end.
 * A crash is modelled as the runner handles it: a new process (the old instance is closed,
 * as its connections would be severed, and a new one restored from the last commit) or a
 * transient retry (the same instance is `reset` and restored). Either way the batches after
 * the last commit are delivered again, with the positions they had.
 */
import type { JsonValue } from '../../src/sdk/checkpoint.js';
import type { Sink } from '../../src/sdk/sink.js';
import { describeError, fail } from '../assert.js';
import { divergence } from './compare.js';
import { describeStep, ExpectedTable, type Step } from './stream.js';
import type { SinkCheckContext } from './types.js';

/** How a crash is survived: a new process, or the same process retrying after a transient error. */
export type CrashMode = 'new-instance' | 'same-instance';

/** When a delivery commits and crashes. Step counts are 1-based: `3` means after the third step. */
export interface DeliveryPlan {
  /** Commit (flush, then read the sink's checkpoint state) after these step counts. */
  commitsAfter?: Iterable<number>;
  /** Flush without saving a checkpoint after these step counts (a crash between flush and save). */
  flushesAfter?: Iterable<number>;
  /** Crash once after each of these step counts, then replay from the last commit. */
  crashes?: Iterable<[number, CrashMode]>;
  /** A restored mid-snapshot commit resumes there (a source with midSnapshotResume) instead of restarting the snapshot. */
  midSnapshotResume?: boolean;
  /** Read back and compare after every commit (only meaningful without crashes). */
  compareAtCommits?: boolean;
  /** Leave the sink open at the end (flushed, not closed). */
  leaveOpen?: boolean;
}

/** What a delivery did (evidence for notes). */
export interface DeliveryStats {
  commits: number;
  crashes: number;
  replayedSteps: number;
}

async function call(what: string, op: () => Promise<unknown> | unknown): Promise<void> {
  try {
    await op();
  } catch (error) {
    fail(`${what} rejected: ${describeError(error)}`);
  }
}

/** Reads the destination back and fails with the first diverging key when it differs from `expected`. */
export async function expectStored(ctx: SinkCheckContext, expected: ExpectedTable, when: string): Promise<void> {
  let stored;
  try {
    stored = await ctx.harness.readBack();
  } catch (error) {
    return fail(`harness.readBack() ${when} rejected: ${describeError(error)}`);
  }
  const problem = divergence(stored, expected, ctx.target.quirks);
  if (problem !== null) fail(`${when}: ${problem}`);
}

/** Applies one step to a sink. */
export async function applyStep(sink: Sink, steps: readonly Step[], index: number, restart?: boolean): Promise<void> {
  const step = steps[index]!;
  const where = describeStep(steps, index);
  switch (step.kind) {
    case 'snapshot-start':
      return call(`snapshotStart() at ${where}`, () => sink.snapshotStart?.({ restart: restart ?? step.restart }));
    case 'snapshot-complete':
      return call(`snapshotComplete() at ${where}`, () => sink.snapshotComplete?.());
    default:
      return call(`write() at ${where}`, () => sink.write(step.batch));
  }
}

/** The step count a restored commit resumes at, and whether the snapshot restarts there. */
function resumePoint(steps: readonly Step[], committedAt: number, midSnapshotResume: boolean): { index: number; restartSnapshot: boolean } {
  let start = -1;
  for (let i = committedAt - 1; i >= 0; i--) {
    const kind = steps[i]!.kind;
    if (kind === 'snapshot-complete') break;
    if (kind === 'snapshot-start') {
      start = i;
      break;
    }
  }
  if (start < 0 || midSnapshotResume) return { index: committedAt, restartSnapshot: false };
  return { index: start, restartSnapshot: true };
}

/**
 * Delivers `steps` to sinks of the harness following `plan`; ends with a flush and (unless
 * `leaveOpen`) `close()`. Returns the last sink instance and what happened.
 */
export async function deliver(
  ctx: SinkCheckContext,
  steps: readonly Step[],
  plan: DeliveryPlan = {},
): Promise<{ sink: Sink; stats: DeliveryStats }> {
  const commitsAfter = new Set(plan.commitsAfter ?? []);
  const crashes = new Map(plan.crashes ?? []);
  const flushesAfter = new Set(plan.flushesAfter ?? []);
  const stats: DeliveryStats = { commits: 0, crashes: 0, replayedSteps: 0 };
  let sink = await ctx.createSink();
  let committed: { at: number; state: JsonValue | null } | null = null;
  let snapshotDelivered = false;
  let restartOverride: boolean | undefined;
  let reached = 0;
  let i = 0;
  while (i < steps.length) {
    if (i < reached) stats.replayedSteps++;
    await applyStep(sink, steps, i, steps[i]!.kind === 'snapshot-start' ? restartOverride : undefined);
    if (steps[i]!.kind === 'snapshot-start') restartOverride = undefined;
    if (steps[i]!.kind === 'snapshot') snapshotDelivered = true;
    i++;
    reached = Math.max(reached, i);
    if (commitsAfter.has(i)) {
      await call(`flush() after ${describeStep(steps, i - 1)}`, () => sink.flush());
      let state: JsonValue | null = null;
      await call('checkpointState()', () => {
        state = sink.checkpointState?.() ?? null;
      });
      committed = { at: i, state };
      stats.commits++;
      if (plan.compareAtCommits)
        await expectStored(ctx, ExpectedTable.of(steps.slice(0, i)), `after flush() at ${describeStep(steps, i - 1)}`);
    }
    if (flushesAfter.has(i)) await call(`flush() after ${describeStep(steps, i - 1)}`, () => sink.flush());
    const mode = crashes.get(i);
    if (mode === undefined) continue;
    crashes.delete(i);
    stats.crashes++;
    const where = `after a crash at ${describeStep(steps, i - 1)} (${mode === 'new-instance' ? 'new sink instance' : 'same instance, reset()'}, last commit after step ${committed?.at ?? 'none'})`;
    if (mode === 'new-instance') {
      await sink.close().catch(() => undefined);
      sink = await ctx.createSink();
    } else {
      const current = sink;
      await call(`reset() ${where}`, () => current.reset?.());
    }
    const current = sink;
    if (committed !== null) {
      const state = committed.state;
      await call(`restore() ${where}`, () => current.restore?.(state));
      const resume = resumePoint(steps, committed.at, plan.midSnapshotResume ?? false);
      i = resume.index;
      restartOverride = resume.restartSnapshot ? true : undefined;
    } else {
      // Nothing committed: the snapshot starts over; the runner knows of earlier output only within one process.
      i = 0;
      restartOverride = mode === 'same-instance' && snapshotDelivered;
    }
  }
  await call(`flush() at the end of the stream`, () => sink.flush());
  if (!plan.leaveOpen) await call('close() at the end of the stream', () => sink.close());
  return { sink, stats };
}
