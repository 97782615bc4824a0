/**
 * The commands of the model-based crash/restore property, their generators, and a
 * readable rendering for failure reports.
 */
import fc from 'fast-check';

/** Upsert of row `id` at `version`, or its delete when `version` is null. */
export type WriteCommand = { kind: 'write'; id: number; version: number | null };
/** One `pollSnapshot` (while the snapshot runs) or `pollChanges`. */
export type PollCommand = { kind: 'poll' };
/** Saves the checkpoint together with the consumer's view (as a checkpoint store would). */
export type CheckpointCommand = { kind: 'checkpoint' };
/** Commits the latest saved checkpoint. */
export type CommitCommand = { kind: 'commit' };
/** Abandons the source and restores a fresh one from saved checkpoint `pick` (modulo the restorable ones). */
export type CrashCommand = { kind: 'crash'; pick: number };

export type Command = WriteCommand | PollCommand | CheckpointCommand | CommitCommand | CrashCommand;

/** A run: rows in the table before the source starts, then the commands. */
export interface Scenario {
  seed: { id: number; version: number }[];
  commands: Command[];
}

/** Keys are drawn from a small space so that writes hit seeded and snapshotted rows. */
const KEYS = 12;

const write = fc.record({
  kind: fc.constant('write' as const),
  id: fc.integer({ min: 1, max: KEYS }),
  version: fc.option(fc.integer({ min: 1, max: 1000 }), { freq: 4 }),
});

/** Generates scenarios; crash and checkpoint are weighted up, since that is where the bugs hide. */
export function scenarioArbitrary(maxCommands = 30): fc.Arbitrary<Scenario> {
  const command: fc.Arbitrary<Command> = fc.oneof(
    { weight: 4, arbitrary: write },
    { weight: 5, arbitrary: fc.constant<PollCommand>({ kind: 'poll' }) },
    { weight: 2, arbitrary: fc.constant<CheckpointCommand>({ kind: 'checkpoint' }) },
    { weight: 1, arbitrary: fc.constant<CommitCommand>({ kind: 'commit' }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('crash' as const), pick: fc.nat(20) }) },
  );
  return fc.record({
    seed: fc.uniqueArray(fc.record({ id: fc.integer({ min: 1, max: KEYS }), version: fc.constant(0) }), {
      selector: (r) => r.id,
      maxLength: 10,
    }),
    commands: fc.array(command, { minLength: 4, maxLength: maxCommands, size: 'max' }),
  });
}

/** A compact text of a scenario, e.g. `seed [1,4] | w1=7 poll cp crash#0 w4=del`. */
export function renderScenario(s: Scenario): string {
  const parts = s.commands.map((c) => {
    switch (c.kind) {
      case 'write':
        return `w${c.id}=${c.version === null ? 'del' : c.version}`;
      case 'poll':
        return 'poll';
      case 'checkpoint':
        return 'cp';
      case 'commit':
        return 'commit';
      case 'crash':
        return `crash#${c.pick}`;
    }
  });
  return `seed [${s.seed.map((r) => r.id).join(',')}] | ${parts.join(' ')}`;
}
