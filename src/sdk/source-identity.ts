/**
 * Checkpoints that know where they belong: comparing the source identity a checkpoint
 * recorded with the connected source's, the definite `CHECKPOINT_MISMATCH` that names both
 * sides, and the `CHECKPOINT_UNIDENTIFIED` warning for checkpoints that record none. What an
 * identity consists of, and how a side is described, is the connector's business.
 */
import { definite, type ConnectorError } from './errors.js';
import { reportWarning, type WarningHandler } from './warnings.js';

/** One fact of a source identity, as the checkpoint recorded it and as the connected source has it. */
export interface IdentityFact {
  /** What the fact is, in the message: `cluster`, `database`, `table object id`, … */
  readonly name: string;
  /** `null` when unknown on that side: an unknown fact is not compared. */
  readonly recorded: string | null;
  readonly connected: string | null;
  /** When two values count as the same source (default: equal strings). */
  readonly same?: (recorded: string, connected: string) => boolean;
}

/** The names of the facts that differ (unknown facts never differ). */
export function differingFacts(facts: readonly IdentityFact[]): string[] {
  return facts.filter((f) => f.recorded !== null && f.connected !== null && !(f.same ?? equal)(f.recorded, f.connected)).map((f) => f.name);
}

function equal(a: string, b: string): boolean {
  return a === b;
}

/** How to get going again after a mismatch; the same for every connector. */
export const START_FRESH_HINT =
  'to start fresh here, delete the checkpoint (file or store entry) or pass another --checkpoint; to resume, connect to the source the checkpoint names';

/**
 * The definite `CHECKPOINT_MISMATCH` for a checkpoint taken on another source: it lists what
 * differs and describes both sides (`checkpoint` and `connected` are one-line descriptions).
 */
export function checkpointMismatch(
  table: string,
  differences: readonly string[],
  sides: { checkpoint: string; connected: string },
): ConnectorError {
  return definite(
    'CHECKPOINT_MISMATCH',
    `the checkpoint belongs to another source (${differences.join(', ')} differ${differences.length === 1 ? 's' : ''}): checkpoint: ${sides.checkpoint}; connected: ${sides.connected}`,
    { table, hint: START_FRESH_HINT },
  );
}

/** Throws {@link checkpointMismatch} when any fact differs. */
export function assertSameSource(table: string, facts: readonly IdentityFact[], sides: { checkpoint: string; connected: string }): void {
  const differences = differingFacts(facts);
  if (differences.length > 0) throw checkpointMismatch(table, differences, sides);
}

/**
 * Reports `CHECKPOINT_UNIDENTIFIED`: the checkpoint records no source identity (written by an
 * older refstream) and is used as it is; `connected` describes what the next commit records.
 */
export function warnUnidentified(onWarning: WarningHandler | undefined, table: string, connected: string): void {
  reportWarning(onWarning, {
    code: 'CHECKPOINT_UNIDENTIFIED',
    table,
    message: `the checkpoint does not record which source it belongs to (written by an older refstream); it is used as it is, and the next commit records ${connected}`,
  });
}
