/**
 * ERR: failures are typed (docs/concepts.md#errors): a ConnectorError with a kind and a stable code; a
 * severed connection surfaces as a transient error (never as an empty poll) and a restore
 * from the last checkpoint recovers.
 */
import { ConnectorError } from '../../src/sdk/errors.js';
import { check, CheckFailure, describeError, fail, rejection } from '../assert.js';
import { makeRows } from '../test-table.js';
import { catchUp, consumerFor, defineCheck, NEEDS_CHANGES, storedCheckpoint, writerFor } from './helpers.js';

const CODE = /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/;

/** Problems with the shape of an error a source rejected with. */
function errorShapeProblems(error: unknown, what: string): string[] {
  if (!ConnectorError.is(error)) return [`${what}: ${describeError(error)} is not a ConnectorError`];
  const problems: string[] = [];
  if (error.kind !== 'transient' && error.kind !== 'definite') problems.push(`${what}: kind ${JSON.stringify(error.kind)}`);
  if (!CODE.test(String(error.code))) problems.push(`${what}: code ${JSON.stringify(error.code)} is not SCREAMING_SNAKE`);
  if (!error.message) problems.push(`${what}: empty message`);
  try {
    JSON.stringify(error.toJSON());
  } catch {
    problems.push(`${what}: toJSON() is not serialisable`);
  }
  return problems;
}

export const errorChecks = [
  defineCheck({
    id: 'ERR-01',
    level: 'MUST',
    category: 'errors',
    rule: 'Every rejection is a ConnectorError (recognised by `ConnectorError.is`) with kind `transient|definite`, a SCREAMING_SNAKE code and a message.',
    method: 'Provokes INVALID_STATE, CHECKPOINT_INVALID and CLOSED and inspects each error.',
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(2));
      const problems: string[] = [];
      const a = await ctx.createSource();
      problems.push(
        ...errorShapeProblems(await rejection(a.pollChanges(), 'pollChanges() before the snapshot'), 'pollChanges() before the snapshot'),
      );
      await a.close();
      problems.push(
        ...errorShapeProblems(await rejection(a.pollSnapshot(), 'pollSnapshot() after close()'), 'pollSnapshot() after close()'),
      );
      const b = await ctx.createSource();
      const bad = await rejection(
        (async () => {
          await b.restore({ version: 1, connector: '\u0000none', table: '\u0000none', phase: 'changes', position: null });
          await b.pollSnapshot();
        })(),
        'restoring a foreign checkpoint',
      );
      problems.push(...errorShapeProblems(bad, 'restore() of a foreign checkpoint'));
      check(problems.length === 0, problems.join('; '));
    },
  }),
  defineCheck({
    id: 'ERR-02',
    level: 'MUST',
    category: 'errors',
    rule: 'A severed connection surfaces as a transient ConnectorError (or is recovered transparently), never as silent empty polls; a fresh instance restored from the last checkpoint converges.',
    method:
      'After the snapshot and a checkpoint, `harness.interrupt()`, then two inserts; polls until a marker written after them arrives (silence limit: 20 times the latency of a marker before the interrupt, at least 1 s, at most 5 s and `convergeMs`); then restores the checkpoint into a fresh instance and reads to the table.',
    requires: NEEDS_CHANGES,
    needsHarness: ['interrupt'],
    async run(ctx) {
      const writer = writerFor(ctx);
      await writer.insert(makeRows(3));
      const a = await consumerFor(ctx, { maxWaitMs: 100 });
      await catchUp(a, writer, ctx);
      const cp = a.source.checkpoint();
      const view = a.view.clone();
      await ctx.harness.interrupt!();
      await writer.insert(makeRows(2, 10));
      // a correct source errs on its next poll or delivers the new rows; silence lasting many
      // times as long as this source took to deliver a marker while healthy means it swallowed the failure
      const healthy = a.markerLatencyMs ?? 100;
      const silenceMs = Math.min(5_000, ctx.settings.convergeMs, Math.max(1_000, 20 * healthy));
      let surfaced: unknown;
      let recovered = false;
      try {
        await a.awaitMarker(writer, () => 'the failure was swallowed', undefined, silenceMs);
        recovered = true;
      } catch (error) {
        if (error instanceof CheckFailure) fail(`after interrupt() polls returned no error and no new rows: ${error.message}`);
        surfaced = error;
      }
      if (surfaced !== undefined) {
        check(
          ConnectorError.is(surfaced) && surfaced.kind === 'transient',
          () => `after interrupt() the poll rejected with ${describeError(surfaced)}, expected a transient ConnectorError`,
        );
        ctx.note(`surfaced ${surfaced.code}`);
      } else {
        check(recovered, 'after interrupt() polls returned no error and no new rows: the failure was swallowed');
        const diff = a.view.divergenceReport(writer.expected);
        check(diff === '', () => `after interrupt() the source recovered transparently but its rows differ: ${diff}`);
        ctx.note('recovered transparently');
      }
      await a.source.close();
      const b = await consumerFor(ctx, {}, view.clone());
      await b.source.restore(storedCheckpoint(cp));
      await catchUp(b, writer, ctx);
      b.assertNoViolations();
    },
  }),
];
