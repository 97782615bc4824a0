/**
 * The model-based crash/restore property (PROP-01, PROP-02).
 *
 * Each run starts from a seeded table (so that checkpoints fall inside the snapshot), then
 * interleaves writes, polls, checkpoints, commits and crashes. A crash abandons the source
 * (it is closed, as a dead process's connections would be) and restores a fresh instance from
 * any saved checkpoint not older than the last commit; the consumer's view goes back to the
 * one saved with that checkpoint, or to empty when a mid-snapshot checkpoint restarts the
 * snapshot. At the end everything is read: the fold must equal the table, and under
 * `exactlyOnce` nothing may have been delivered twice.
 */
import fc from 'fast-check';
import type { SourceCheckpoint } from '../../src/sdk/checkpoint.js';
import type { ReferenceTableSource, SourceCapabilities } from '../../src/sdk/source.js';
import { CheckFailure, describeError } from '../assert.js';
import { Consumer, TableWriter } from '../drive.js';
import { makeRow } from '../test-table.js';
import type { CheckContext, ConformanceTarget, TableHarness } from '../types.js';
import { DeliveredView } from '../view.js';
import { renderScenario, scenarioArbitrary, type Scenario } from './commands.js';

interface Saved {
  checkpoint: SourceCheckpoint;
  view: DeliveredView;
}

/** What the runs exercised (reported as evidence that the property is not vacuous). */
export interface PropertyStats {
  commands: number;
  batches: number;
  checkpoints: number;
  restores: number;
  midSnapshotRestores: number;
}

export function emptyStats(): PropertyStats {
  return { commands: 0, batches: 0, checkpoints: 0, restores: 0, midSnapshotRestores: 0 };
}

/** Runs one scenario against a fresh table; throws a CheckFailure describing the first problem. */
export async function runScenario(
  harness: TableHarness,
  caps: SourceCapabilities,
  scenario: Scenario,
  batchRows: number,
  convergeMs = 10_000,
  stats: PropertyStats = emptyStats(),
  target: Pick<ConformanceTarget, 'quirks' | 'extraColumns'> = {},
): Promise<void> {
  const writer = new TableWriter(harness, target.quirks);
  const extras = target.extraColumns ? { extraColumns: target.extraColumns } : {};
  const options = { batchRows, maxWaitMs: 5 };
  const opened: ReferenceTableSource[] = [];
  const open = async (): Promise<ReferenceTableSource> => {
    const source = await harness.createSource(options);
    opened.push(source);
    return source;
  };
  const freshView = () => new DeliveredView({ exactlyOnce: caps.exactlyOnce });
  let step = 'seeding the table';
  try {
    await writer.insert(scenario.seed.map((r) => makeRow(r.id, r.version)));
    let consumer = new Consumer(await open(), caps, { batchRows, convergeMs, ...extras });
    const saved: Saved[] = [];
    let committed = -1;
    for (const [i, command] of scenario.commands.entries()) {
      step = `command ${i} (${command.kind})`;
      stats.commands++;
      switch (command.kind) {
        case 'write': {
          const key = String(command.id);
          if (command.version === null) {
            if (writer.expected.has(key)) await writer.delete([BigInt(command.id)]);
          } else if (writer.expected.has(key)) await writer.update([makeRow(command.id, command.version)]);
          else await writer.insert([makeRow(command.id, command.version)]);
          break;
        }
        case 'poll': {
          const batch = consumer.source.isSnapshotComplete() ? await consumer.pollChanges() : await consumer.pollSnapshot();
          if (batch) stats.batches++;
          break;
        }
        case 'checkpoint':
          stats.checkpoints++;
          saved.push({
            checkpoint: JSON.parse(JSON.stringify(consumer.source.checkpoint())) as SourceCheckpoint,
            view: consumer.view.clone(),
          });
          break;
        case 'commit':
          if (saved.length > 0 && typeof consumer.source.commit === 'function') {
            await consumer.source.commit(saved.at(-1)!.checkpoint);
            committed = saved.length - 1;
          }
          break;
        case 'crash': {
          await consumer.source.close();
          const restorable = saved.slice(Math.max(committed, 0));
          const source = await open();
          if (restorable.length === 0) {
            consumer = new Consumer(source, caps, { batchRows, convergeMs, ...extras }, freshView());
            break;
          }
          const chosen = restorable[command.pick % restorable.length]!;
          await source.restore(structuredClone(chosen.checkpoint));
          stats.restores++;
          if (chosen.checkpoint.phase === 'snapshot') stats.midSnapshotRestores++;
          const restarts = chosen.checkpoint.phase === 'snapshot' && !caps.midSnapshotResume;
          consumer = new Consumer(source, caps, { batchRows, convergeMs, ...extras }, restarts ? freshView() : chosen.view.clone());
          break;
        }
      }
      if (consumer.view.violations.length > 0) throw new CheckFailure(consumer.view.violations.slice(0, 2).join('; '));
    }
    step = 'the final read';
    if (!consumer.source.isSnapshotComplete()) await consumer.drainSnapshot();
    await consumer.converge(writer, caps.deletes ? undefined : (key) => writer.deleted.has(key));
    consumer.assertNoViolations();
  } catch (error) {
    const message = error instanceof CheckFailure ? error.message : `${describeError(error)}`;
    throw new CheckFailure(`${step}: ${message}`);
  } finally {
    for (const source of opened) await source.close().catch(() => undefined);
  }
}

/** The shrink time cap: the setting, or for `'auto'` the time `numRuns` runs take at `msPerRun` (at least 0.5 s). */
export function shrinkBudget(setting: number | 'auto', msPerRun: number, numRuns: number): number {
  if (setting !== 'auto') return setting;
  return Math.max(500, Math.round(msPerRun * numRuns));
}

/**
 * Checks the property with fast-check under the run's seed and `numRuns`; on failure,
 * reports the shrunk scenario, the seed and the replay path.
 */
export async function checkCrashRestoreProperty(ctx: CheckContext, batchRows: number): Promise<void> {
  const { seed, numRuns } = ctx.settings;
  const started = Date.now();
  let shrinkMs = 0;
  let runs = 0;
  let shrinkRuns = 0;
  let firstFailureAt: number | undefined;
  let capped = false;
  const stats = emptyStats();
  const property = fc.asyncProperty(scenarioArbitrary(), async (scenario) => {
    if (ctx.signal.aborted) return; // out of time: stop cheaply, the runner reports the timeout
    if (firstFailureAt !== undefined) {
      // shrink budget used up: the remaining candidates count as passing, so the search
      // ends with the shortest failing scenario found so far
      if (Date.now() - firstFailureAt > shrinkMs) {
        capped = true;
        return;
      }
      shrinkRuns++;
    } else runs++;
    const harness = await ctx.target.setup();
    try {
      await runScenario(harness, ctx.capabilities, scenario, batchRows, ctx.settings.convergeMs, stats, ctx.target);
    } catch (error) {
      if (firstFailureAt === undefined) {
        firstFailureAt = Date.now();
        shrinkMs = shrinkBudget(ctx.settings.shrinkMs, (firstFailureAt - started) / runs, numRuns);
      }
      throw error;
    } finally {
      await harness.teardown();
    }
  });
  // the time budget bounds shrinking too: a failing history is reported as far as it shrank
  const result = await fc.check(property, {
    seed,
    numRuns,
    interruptAfterTimeLimit: ctx.settings.timeoutMs * 2,
    markInterruptAsFailure: false,
  });
  if (result.failed) {
    const scenario = result.counterexample?.[0];
    const cause = result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
    const shrinkTime = firstFailureAt === undefined ? 0 : Date.now() - firstFailureAt;
    const shrinking = capped
      ? `shrinking stopped at the ${shrinkMs} ms cap after ${shrinkRuns} runs: the shortest failing scenario found so far`
      : `shrunk in ${shrinkRuns} runs (${shrinkTime} ms)`;
    throw new CheckFailure(
      `${cause} — scenario (${scenario?.commands.length ?? 0} commands): ${scenario ? renderScenario(scenario) : '(none)'}; failed at run ${runs} of ${numRuns}, ${shrinking}; seed ${result.seed}, path "${result.counterexamplePath}"`,
    );
  }
  if (result.interrupted)
    ctx.note(`stopped after ${result.numRuns} of ${numRuns} runs: time budget of ${ctx.settings.timeoutMs * 2} ms used up`);
  ctx.note(
    `${runs} runs with batchRows = ${batchRows}, seed ${seed}: ${stats.commands} commands, ${stats.batches} batches, ${stats.checkpoints} checkpoints, ${stats.restores} restores (${stats.midSnapshotRestores} mid-snapshot)`,
  );
}
