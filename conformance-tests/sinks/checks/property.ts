/**
 * The generated-sequence property (SINK-11): random change sequences over a small key space
 * (so keys collide), random batch boundaries, commit points, crashes of both kinds and
 * snapshot restarts, each delivered to a fresh destination and compared with the model.
 * Comparisons are final (the destination is read after the last flush), so shrinking costs
 * only the sink's own speed; it is capped by the check's time limit.
 */
import fc from 'fast-check';
import { CheckFailure } from '../../assert.js';
import { makeRow } from '../../test-table.js';
import { deliver, expectStored, type CrashMode } from '../drive.js';
import { ExpectedTable, StreamBuilder, type Step, type StreamChange } from '../stream.js';
import type { SinkCheck, SinkCheckContext } from '../types.js';

type Op = { kind: 'upsert'; id: number; version: number } | { kind: 'delete'; id: number } | { kind: 'truncate' };

interface Scenario {
  seed: number[];
  batchRows: number;
  batches: Op[][];
  /** A snapshot restart (of these keys) before batch `at`. */
  resnapshot: { at: number; ids: number[] } | null;
  commits: boolean[];
  crashes: [number, CrashMode][];
  midSnapshotResume: boolean;
}

const KEYS = 8;

function scenarioArbitrary(truncate: boolean): fc.Arbitrary<Scenario> {
  const id = fc.integer({ min: 1, max: KEYS });
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('upsert' as const), id, version: fc.integer({ min: 1, max: 30 }) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), id }) },
    ...(truncate ? [{ weight: 1, arbitrary: fc.constant({ kind: 'truncate' as const }) }] : []),
  );
  const keys = fc.uniqueArray(id, { maxLength: 6 });
  return fc.record({
    seed: keys,
    batchRows: fc.integer({ min: 1, max: 3 }),
    batches: fc.array(fc.array(op, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 6 }),
    resnapshot: fc.option(fc.record({ at: fc.nat(5), ids: keys }), { nil: null }),
    commits: fc.array(fc.boolean(), { minLength: 32, maxLength: 32 }),
    crashes: fc.array(fc.tuple(fc.integer({ min: 1, max: 32 }), fc.constantFrom<CrashMode>('new-instance', 'same-instance')), {
      maxLength: 2,
    }),
    midSnapshotResume: fc.boolean(),
  });
}

/** The steps of a scenario: operations become inserts or updates by whether the key exists, as a source delivers them. */
export function scenarioSteps(s: Scenario): Step[] {
  const b = new StreamBuilder();
  const present = new Set<number>();
  const snapshot = (ids: number[], restart: boolean) => {
    present.clear();
    for (const i of ids) present.add(i);
    b.fullSnapshot(
      ids.map((i) => makeRow(i)),
      s.batchRows,
      restart,
    );
  };
  snapshot(s.seed, false);
  s.batches.forEach((ops, index) => {
    if (s.resnapshot && s.resnapshot.at === index) snapshot(s.resnapshot.ids, true);
    const changes: StreamChange[] = [];
    for (const op of ops) {
      if (op.kind === 'truncate') {
        changes.push({ type: 'truncate' });
        present.clear();
      } else if (op.kind === 'delete') {
        if (!present.has(op.id)) continue;
        changes.push({ type: 'delete', id: BigInt(op.id) });
        present.delete(op.id);
      } else {
        changes.push({ type: present.has(op.id) ? 'update' : 'insert', row: makeRow(op.id, op.version) });
        present.add(op.id);
      }
    }
    if (changes.length > 0) b.changes(changes);
  });
  return b.steps;
}

function render(s: Scenario): string {
  const ops = s.batches.map((batch) =>
    batch.map((o) => (o.kind === 'truncate' ? 'T' : o.kind === 'delete' ? `-${o.id}` : `${o.id}v${o.version}`)).join(' '),
  );
  return `snapshot [${s.seed.join(',')}] in batches of ${s.batchRows}; batches ${ops.map((o) => `[${o}]`).join(' ')}${s.resnapshot ? `; snapshot restart [${s.resnapshot.ids.join(',')}] before batch ${s.resnapshot.at + 1}` : ''}; commits after steps [${s.commits.flatMap((c, i) => (c ? [i + 1] : [])).join(',')}]; crashes ${JSON.stringify(s.crashes)}${s.midSnapshotResume ? '; mid-snapshot commits resume' : ''}`;
}

async function runScenario(ctx: SinkCheckContext, s: Scenario): Promise<number> {
  const steps = scenarioSteps(s);
  const commitsAfter = s.commits.flatMap((c, i) => (c && i < steps.length ? [i + 1] : []));
  const crashes = new Map(s.crashes.filter(([at]) => at <= steps.length));
  const { stats } = await deliver(ctx, steps, { commitsAfter, crashes, midSnapshotResume: s.midSnapshotResume });
  await expectStored(ctx, ExpectedTable.of(steps), 'at the end of the generated stream');
  return stats.crashes;
}

export const propertyChecks: readonly SinkCheck[] = [
  {
    id: 'SINK-11',
    level: 'MUST',
    category: 'property',
    slow: true,
    rule: 'for any change sequence, batch split, commit points, crashes and snapshot restarts, the destination ends equal to the fold of the stream',
    method:
      'fast-check generates scenarios over 8 keys (upserts, deletes, truncates when supported, an optional snapshot restart, random commits, up to two crashes of either kind, mid-snapshot resume or restart); each run uses a fresh destination and compares readBack() with the model after the last flush. A failure prints the shrunk scenario and the seed.',
    async run(ctx) {
      let runs = 0;
      let crashes = 0;
      const started = Date.now();
      const result = await fc.check(
        fc.asyncProperty(scenarioArbitrary(ctx.capabilities.truncate), async (s) => {
          runs++;
          crashes += await runScenario(runs === 1 ? ctx : await ctx.fresh(), s);
        }),
        {
          seed: ctx.settings.seed,
          numRuns: ctx.settings.numRuns,
          // The runs and the shrinking share the check's time limit; an interrupted shrink reports the smallest failure so far.
          interruptAfterTimeLimit: Math.max(1_000, ctx.settings.timeoutMs * 4 - 5_000),
          markInterruptAsFailure: false,
          endOnFailure: false,
        },
      );
      if (result.failed && result.counterexample) {
        const [scenario] = result.counterexample;
        const cause = result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
        throw new CheckFailure(
          `generated scenario failed after ${result.numShrinks} shrinks${result.interrupted ? ' (shrinking stopped at the time limit)' : ''}: ${render(scenario)} — ${cause}`,
        );
      }
      ctx.note(
        `${runs} generated runs with ${crashes} crashes in ${Date.now() - started} ms${result.interrupted ? ' (stopped at the time limit)' : ''}`,
      );
    },
  },
];
