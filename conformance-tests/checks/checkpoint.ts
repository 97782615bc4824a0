/**
 * CKPT: checkpoints (docs/concepts.md#checkpoints): plain versioned JSON; restoring the latest or an
 * older one resumes without loss (and without duplicates under `exactlyOnce`); mid-snapshot
 * checkpoints resume or restart as declared; bad checkpoints are rejected.
 */
import { isDeepStrictEqual } from 'node:util';
import { CHECKPOINT_VERSION, sourceCheckpointSchema, type SourceCheckpoint } from '../../src/sdk/checkpoint.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import type { ReferenceTableSource } from '../../src/sdk/source.js';
import { check, CheckFailure, describeError, fail } from '../assert.js';
import type { Consumer } from '../drive.js';
import { makeRow, makeRows } from '../test-table.js';
import type { CheckContext, SourceOptions } from '../types.js';
import type { DeliveredChange, DeliveredView } from '../view.js';
import { catchUp, consumerFor, defineCheck, lingering, NEEDS_CHANGES, storedCheckpoint, writerFor } from './helpers.js';

/** Problems with a checkpoint value (empty when it is plain, versioned JSON). */
function checkpointProblems(cp: unknown): string[] {
  if (cp !== null && typeof cp === 'object' && typeof (cp as { then?: unknown }).then === 'function')
    return ['checkpoint() returned a promise; it must be synchronous'];
  let text: string;
  try {
    text = JSON.stringify(cp);
  } catch (error) {
    return [`checkpoint() is not JSON-serialisable: ${describeError(error)}`];
  }
  if (text === undefined) return ['checkpoint() returned undefined'];
  const problems: string[] = [];
  if (!isDeepStrictEqual(JSON.parse(text), cp))
    problems.push(`checkpoint() does not survive a JSON round trip (it holds non-JSON values): ${text.slice(0, 160)}`);
  try {
    structuredClone(cp);
  } catch (error) {
    problems.push(`checkpoint() cannot be structured-cloned: ${describeError(error)}`);
  }
  const parsed = sourceCheckpointSchema.safeParse(JSON.parse(text));
  if (!parsed.success)
    problems.push(
      `the checkpoint envelope is malformed: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}`,
    );
  else if (parsed.data.version !== CHECKPOINT_VERSION)
    problems.push(`checkpoint version ${parsed.data.version}, expected ${CHECKPOINT_VERSION}`);
  return problems;
}

/** Takes a checkpoint and fails unless it is well-formed and in `phase`. */
function takeCheckpoint(source: ReferenceTableSource, phase: 'snapshot' | 'changes', when: string): SourceCheckpoint {
  const cp = source.checkpoint();
  const problems = checkpointProblems(cp);
  check(problems.length === 0, () => `${when}: ${problems.join('; ')}`);
  check(cp.phase === phase, `${when}: checkpoint phase is ${cp.phase}, expected ${phase}`);
  return cp;
}

/** A fresh source restored from the JSON text of `cp`, with a consumer continuing `view`. */
async function restored(
  ctx: CheckContext,
  cp: SourceCheckpoint,
  view: DeliveredView | undefined,
  options: SourceOptions = {},
): Promise<Consumer> {
  const consumer = await consumerFor(ctx, options, view?.clone());
  await consumer.source.restore(storedCheckpoint(cp));
  return consumer;
}

/** The change rows a consumer received after the view it started from. */
function changesAfter(consumer: Consumer, startedWith: DeliveredView): DeliveredChange[] {
  return consumer.view.changes.slice(startedWith.changes.length);
}

function sameChanges(a: DeliveredChange[], b: DeliveredChange[]): boolean {
  return isDeepStrictEqual(
    a.map((c) => [c.position, c.changeType, c.key, c.row]),
    b.map((c) => [c.position, c.changeType, c.key, c.row]),
  );
}

/**
 * Restores `bad` into a fresh source and fails unless `restore` (or, at the latest, the first
 * poll) rejects with a definite `code`.
 */
async function expectRestoreRejected(ctx: CheckContext, bad: unknown, label: string, code: string): Promise<'restore' | 'poll'> {
  const source = await ctx.createSource();
  let stage: 'restore' | 'poll' = 'restore';
  try {
    await source.restore(bad as SourceCheckpoint);
    stage = 'poll';
    const batch = await source.pollSnapshot();
    if (source.isSnapshotComplete()) await source.pollChanges();
    fail(`${label} was accepted: restore() resolved and polling returned ${batch === null ? 'null' : 'a batch'}`);
  } catch (error) {
    if (error instanceof CheckFailure) throw error;
    check(ConnectorError.is(error, code), () => `${label}: ${stage}() rejected with ${describeError(error)}, expected definite ${code}`);
    check(error.kind === 'definite', `${label}: ${code} is ${error.kind}, expected definite`);
  } finally {
    await source.close();
  }
  return stage;
}

export const checkpointChecks = [
  defineCheck({
    id: 'CKPT-01',
    level: 'MUST',
    category: 'checkpoint',
    rule: '`checkpoint()` is synchronous and returns plain, versioned JSON (envelope version/connector/table/phase/position) that survives JSON and structuredClone round trips.',
    method:
      'Takes checkpoints before any poll, mid-snapshot (batch size 1) and after the snapshot; validates each against the envelope schema and the phase.',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(3));
      const consumer = await consumerFor(ctx, { batchRows: 1 });
      const initial = takeCheckpoint(consumer.source, 'snapshot', 'before any poll');
      await consumer.pollSnapshot();
      takeCheckpoint(consumer.source, 'snapshot', 'after the first snapshot batch');
      await consumer.drainSnapshot();
      const done = takeCheckpoint(consumer.source, 'changes', 'after the snapshot');
      check(done.connector === initial.connector && done.table === initial.table, 'connector or table changed between checkpoints');
      const table = consumer.batches[0]?.table;
      check(
        table === undefined || done.table === table,
        `checkpoint table ${done.table} differs from the batches' refstream.table ${table}`,
      );
      ctx.note(`checkpoint ${JSON.stringify(done).slice(0, 200)}`);
    },
  }),
  defineCheck({
    id: 'CKPT-02',
    level: 'MUST',
    category: 'checkpoint',
    rule: 'Restoring the latest checkpoint in a fresh instance resumes with exactly the next change: no loss, and no duplicate under `exactlyOnce`.',
    method:
      'Snapshot and changes in batches of 2, checkpoint, close; more writes; a fresh instance restores the checkpoint (after a JSON round trip): it must be in the change phase and its fold continue the old one to the table.',
    verifies: ['exactlyOnce'],
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(5));
      // batches of 2 put the checkpoint after several change batches, not just one
      const a = await consumerFor(ctx, { batchRows: 2 });
      await catchUp(a, writer, ctx);
      if (ctx.capabilities.changes !== 'none') {
        await writer.insert(makeRows(3, 10));
        await writer.update([makeRow(1, 1)]);
        await writer.update([makeRow(10, 1), makeRow(11, 1)]);
        await catchUp(a, writer, ctx);
      }
      const cp = takeCheckpoint(a.source, 'changes', 'after the snapshot and changes');
      const view = a.view.clone();
      await a.source.close();
      const b = await restored(ctx, cp, view);
      check(b.source.isSnapshotComplete(), 'after restoring a change-phase checkpoint isSnapshotComplete() is false');
      const again = await b.pollSnapshot();
      check(again === null, 'after restoring a change-phase checkpoint pollSnapshot() delivered a batch');
      if (ctx.capabilities.changes === 'none') return;
      await writer.update([makeRow(2, 1), makeRow(10, 1)]);
      await writer.insert(makeRows(2, 20));
      if (ctx.capabilities.deletes) await writer.delete([3n]);
      await b.converge(writer, lingering(ctx, writer));
      b.assertNoViolations();
      if (ctx.capabilities.exactlyOnce) {
        const lastBefore = view.changes.at(-1)?.position;
        const first = changesAfter(b, view)[0];
        check(
          lastBefore === undefined || first === undefined || first.position > lastBefore,
          `the first change after restore (${first?.position}) is not after the checkpoint's last change (${lastBefore})`,
        );
      }
    },
  }),
  defineCheck({
    id: 'CKPT-03',
    level: 'MUST',
    category: 'checkpoint',
    rule: 'Restoring an older checkpoint converges; a log-based exactly-once source replays exactly the changes delivered after it.',
    method:
      'Checkpoints after the snapshot, then two rounds of writes are read; a fresh instance restores the first checkpoint and must deliver the same change rows (log + exactlyOnce) or at least converge.',
    requires: NEEDS_CHANGES,
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(3));
      const a = await consumerFor(ctx);
      await catchUp(a, writer, ctx);
      const cp = takeCheckpoint(a.source, 'changes', 'after the snapshot');
      const view = a.view.clone();
      await writer.insert(makeRows(2, 10));
      await writer.update([makeRow(1, 1), makeRow(10, 1)]);
      await catchUp(a, writer, ctx);
      await writer.update([makeRow(1, 2)]);
      if (ctx.capabilities.deletes) await writer.delete([2n]);
      await catchUp(a, writer, ctx);
      await a.source.close();
      const b = await restored(ctx, cp, view);
      await b.converge(writer, lingering(ctx, writer));
      b.assertNoViolations();
      if (ctx.capabilities.changes === 'log' && ctx.capabilities.exactlyOnce) {
        const original = changesAfter(a, view);
        const replayed = changesAfter(b, view);
        check(
          sameChanges(original, replayed),
          `after restoring the older checkpoint the source delivered ${replayed.length} change rows where ${original.length} were delivered after it originally (or they differ)`,
        );
      }
    },
  }),
  defineCheck({
    id: 'CKPT-04',
    level: 'MUST',
    category: 'checkpoint',
    rule: 'A source declaring `midSnapshotResume` resumes a mid-snapshot checkpoint where it stopped: no row lost, none repeated under `exactlyOnce`, the snapshot not restarted.',
    method:
      'Twenty rows, batch size 1: checkpoint after 7 batches, close; update a read and an unread row and insert one; restore into a fresh instance and read on to the table.',
    requires: { midSnapshotResume: true },
    verifies: ['midSnapshotResume'],
    counterpart: 'CKPT-04N',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(20));
      const a = await consumerFor(ctx, { batchRows: 1 });
      for (let i = 0; i < 7; i++) await a.pollSnapshot();
      const cp = takeCheckpoint(a.source, 'snapshot', 'after 7 of 20 snapshot batches');
      const view = a.view.clone();
      await a.source.close();
      if (ctx.capabilities.changes !== 'none') {
        await writer.update([makeRow(1, 1), makeRow(15, 1)]);
        await writer.insert([makeRow(100)]);
      }
      const b = await restored(ctx, cp, view, { batchRows: 1 });
      check(!b.source.isSnapshotComplete(), 'after restoring a mid-snapshot checkpoint isSnapshotComplete() is true');
      await catchUp(b, writer, ctx);
      b.assertNoViolations();
      const diff = b.view.diff(writer.expected, lingering(ctx, writer));
      check(diff.length === 0, () => `after resuming the snapshot: ${diff.join('; ')}`);
      const resumedRows = b.view.snapshotRows - view.snapshotRows;
      check(resumedRows < 20, `the restored source delivered ${resumedRows} snapshot rows: it restarted the snapshot instead of resuming`);
      ctx.note(`${view.snapshotRows} rows before the checkpoint, ${resumedRows} after restore`);
    },
  }),
  defineCheck({
    id: 'CKPT-04N',
    level: 'MUST',
    category: 'checkpoint',
    rule: 'A source without `midSnapshotResume` restarts the snapshot from a mid-snapshot checkpoint: every row again, none skipped silently.',
    method:
      'Twenty rows, batch size 1: checkpoint after 7 batches, close; a fresh instance restores it and must deliver the whole table in its snapshot.',
    requires: { midSnapshotResume: false },
    counterpart: 'CKPT-04',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(20));
      const a = await consumerFor(ctx, { batchRows: 1 });
      for (let i = 0; i < 7; i++) await a.pollSnapshot();
      const cp = takeCheckpoint(a.source, 'snapshot', 'after 7 of 20 snapshot batches');
      await a.source.close();
      const b = await restored(ctx, cp, undefined, { batchRows: 1 });
      check(!b.source.isSnapshotComplete(), 'after restoring a mid-snapshot checkpoint isSnapshotComplete() is true');
      await b.drainSnapshot();
      b.assertNoViolations();
      const diff = b.view.diff(writer.expected);
      check(diff.length === 0, () => `the restarted snapshot is not the whole table: ${diff.join('; ')}`);
    },
  }),
  defineCheck({
    id: 'CKPT-05',
    level: 'MUST',
    category: 'checkpoint',
    rule: 'Restoring the same checkpoint twice gives the same output.',
    method:
      'Restores one mid-snapshot and one change-phase checkpoint into two fresh instances each; the delivered rows (and, for log sources, change rows with positions) must be equal.',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(6));
      const a = await consumerFor(ctx, { batchRows: 2 });
      await a.pollSnapshot();
      const mid = takeCheckpoint(a.source, 'snapshot', 'after one snapshot batch');
      await catchUp(a, writer, ctx);
      const late = takeCheckpoint(a.source, 'changes', 'after the snapshot');
      const lateView = a.view.clone();
      await a.source.close();
      if (ctx.capabilities.changes !== 'none') {
        await writer.insert(makeRows(3, 10));
        await writer.update([makeRow(1, 1), makeRow(10, 1)]);
      }
      const snapshots: string[][] = [];
      for (let i = 0; i < 2; i++) {
        const b = await restored(ctx, mid, undefined, { batchRows: 2 });
        await b.drainSnapshot();
        snapshots.push(b.batches.flatMap((x) => x.rows.map((r) => `${r.key}:${JSON.stringify(r.row)}`)).sort());
        await b.source.close();
      }
      check(isDeepStrictEqual(snapshots[0], snapshots[1]), 'two restores of one mid-snapshot checkpoint delivered different snapshot rows');
      if (ctx.capabilities.changes === 'none') return;
      const runs: Consumer[] = [];
      for (let i = 0; i < 2; i++) {
        const b = await restored(ctx, late, lateView);
        await b.converge(writer, lingering(ctx, writer));
        b.assertNoViolations();
        await b.source.close();
        runs.push(b);
      }
      if (ctx.capabilities.changes === 'log') {
        check(
          sameChanges(changesAfter(runs[0]!, lateView), changesAfter(runs[1]!, lateView)),
          'two restores of one change-phase checkpoint delivered different change rows',
        );
      }
    },
  }),
  defineCheck({
    id: 'CKPT-06',
    level: 'MUST',
    category: 'checkpoint',
    rule: 'A corrupt checkpoint is rejected with a definite `CHECKPOINT_INVALID`, never taken as a fresh start.',
    method:
      'Restores null, text, a number, an array, `{}`, an unknown version, a bad phase and a garbage position into fresh instances; `restore` (or at the latest the first poll) must reject.',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(2));
      const a = await consumerFor(ctx);
      await a.drainSnapshot();
      const cp = takeCheckpoint(a.source, 'changes', 'after the snapshot');
      await a.source.close();
      const variants: [string, unknown][] = [
        ['null', null],
        ['a string', 'not a checkpoint'],
        ['a number', 42],
        ['an array', [cp]],
        ['an empty object', {}],
        ['version 999', { ...cp, version: 999 }],
        ['version as text', { ...cp, version: String(cp.version) }],
        ['phase "sideways"', { ...cp, phase: 'sideways' }],
        ['a garbage position', { ...cp, position: { '\u0000garbage': [[]] } }],
        ['a position of the wrong type', { ...cp, position: typeof cp.position === 'string' ? { wrong: true } : '\u0000not-a-position' }],
      ];
      const late: string[] = [];
      for (const [label, bad] of variants) {
        if ((await expectRestoreRejected(ctx, bad, `a checkpoint that is ${label}`, 'CHECKPOINT_INVALID')) === 'poll') late.push(label);
      }
      if (late.length > 0) ctx.note(`rejected only at the first poll: ${late.join(', ')}`);
    },
  }),
  defineCheck({
    id: 'CKPT-07',
    level: 'MUST',
    category: 'checkpoint',
    rule: 'A checkpoint of another connector or another table is rejected with a definite `CHECKPOINT_INVALID`.',
    method: 'Restores a valid checkpoint with `connector` or `table` replaced into fresh instances.',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(2));
      const a = await consumerFor(ctx);
      await a.drainSnapshot();
      const cp = takeCheckpoint(a.source, 'changes', 'after the snapshot');
      await a.source.close();
      await expectRestoreRejected(
        ctx,
        { ...cp, connector: `${cp.connector}-other` },
        'a checkpoint of another connector',
        'CHECKPOINT_INVALID',
      );
      await expectRestoreRejected(ctx, { ...cp, table: `${cp.table}_other` }, 'a checkpoint of another table', 'CHECKPOINT_INVALID');
    },
  }),
  defineCheck({
    id: 'CKPT-08',
    level: 'MUST',
    category: 'checkpoint',
    rule: "`commit(cp)` accepts the source's checkpoints and never releases past the last committed one: that checkpoint stays restorable; an older one converges or is rejected with `CHECKPOINT_EXPIRED`.",
    method:
      'Commits two successive checkpoints; fresh instances restore the last committed one (must converge) and the one before (must converge or reject with definite CHECKPOINT_EXPIRED).',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(3));
      const a = await consumerFor(ctx);
      if (typeof a.source.commit !== 'function') ctx.skip('the source has no commit() (it holds nothing upstream)');
      await catchUp(a, writer, ctx);
      const cp1 = takeCheckpoint(a.source, 'changes', 'after the snapshot');
      const view1 = a.view.clone();
      await a.source.commit!(cp1);
      if (ctx.capabilities.changes !== 'none') {
        await writer.insert(makeRows(2, 10));
        await catchUp(a, writer, ctx);
      }
      const cp2 = takeCheckpoint(a.source, 'changes', 'after more changes');
      const view2 = a.view.clone();
      await a.source.commit!(cp2);
      if (ctx.capabilities.changes !== 'none') {
        await writer.update([makeRow(1, 1)]);
        await catchUp(a, writer, ctx);
      }
      await a.source.close();
      const b = await restored(ctx, cp2, view2);
      await catchUp(b, writer, ctx);
      b.assertNoViolations();
      await b.source.close();
      const c = await consumerFor(ctx, {}, view1.clone());
      try {
        await c.source.restore(storedCheckpoint(cp1));
        await catchUp(c, writer, ctx);
        c.assertNoViolations();
        ctx.note('the checkpoint before the last committed one is still restorable');
      } catch (error) {
        if (error instanceof CheckFailure) throw error;
        check(
          ConnectorError.is(error, 'CHECKPOINT_EXPIRED') && error.kind === 'definite',
          () => `restoring an older checkpoint failed with ${describeError(error)}, expected convergence or definite CHECKPOINT_EXPIRED`,
        );
        ctx.note('the checkpoint before the last committed one is rejected as expired');
      }
    },
  }),
];
