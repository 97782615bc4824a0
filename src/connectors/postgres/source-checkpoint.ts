/**
 * The checkpoints of a `PostgresSource`: built from where its snapshot or change stream
 * stands, and read back into that state by `restore` and `commit`. The position schemas
 * themselves are in checkpoint.ts.
 */
import { makeCheckpoint, parseCheckpoint, parsePosition, type JsonValue, type SourceCheckpoint } from '../../sdk/checkpoint.js';
import { definite } from '../../sdk/errors.js';
import { formatLsn, parseLsn } from './lsn.js';
import type { ChangePosition } from './change-reader.js';
import type { ColumnSpec } from './types.js';
import {
  changesPositionSchema,
  snapshotPositionSchema,
  specsFromJson,
  specsToJson,
  type ChangesPosition,
  type SnapshotPosition,
  type SourceIdentity,
} from './checkpoint.js';
import type { SnapshotState } from './snapshot-phase.js';

/** Connector id in checkpoints. */
export const POSTGRES_CONNECTOR = 'postgres';

/** What every checkpoint records besides its position. */
export interface CheckpointContext {
  /** The qualified table name. */
  table: string;
  /** The replication slot, `null` for a one-shot snapshot. */
  slot: string | null;
  /** The key the delivered rows are keyed on, once connected. */
  key: readonly string[] | null;
  /** Where the source reads from, once connected. */
  identity: SourceIdentity | null;
}

/** A snapshot in progress (or not yet begun: every field `null`). */
export function snapshotCheckpoint(ctx: CheckpointContext, s: SnapshotState): SourceCheckpoint {
  return makeCheckpoint(POSTGRES_CONNECTOR, ctx.table, 'snapshot', {
    slot: ctx.slot,
    ...snapshotFields(s),
    ...extras(ctx),
  });
}

/** Where a snapshot stands, as checkpoints record it (a table's snapshot, or a re-seed's). */
function snapshotFields(s: SnapshotState) {
  return {
    snapshotLsn: s.lsn === null ? null : formatLsn(s.lsn),
    snapshotXids: s.xids,
    columns: s.specs ? specsToJson(s.specs) : null,
    ranges: s.ranges
      ? s.ranges.map((r) => ({
          start: r.start,
          end: r.end,
          after: r.after ? [r.after[0], r.after[1]] : null,
          done: r.done,
          ...(r.partition ? { partition: r.partition } : {}),
        }))
      : null,
    ...(s.partitions ? { partitions: [...s.partitions] } : {}),
    ...(s.relfilenode !== undefined ? { relfilenode: s.relfilenode } : {}),
  };
}

/** Records that a one-shot snapshot completed; there is no stream position. */
export function completedOneShotCheckpoint(ctx: CheckpointContext, columns: ColumnSpec[], partitions: string[] | null): SourceCheckpoint {
  return makeCheckpoint(POSTGRES_CONNECTOR, ctx.table, 'changes', {
    slot: null,
    lsn: null,
    skip: 0,
    columns: specsToJson(columns),
    ...(partitions ? { partitions: [...partitions] } : {}),
    ...extras(ctx),
  });
}

/** A table re-seeding itself in its stream: the rows delivered since `at`, and its new snapshot. */
export interface ReseedProgress {
  delivered: number;
  snapshot: SnapshotState;
}

/**
 * A position in the change stream, with the columns and partitions as of that position; during
 * a re-seed, the position is where it began and `reseed` how far it got.
 */
export function changesCheckpoint(
  ctx: CheckpointContext,
  position: ChangePosition,
  columns: ColumnSpec[],
  partitions: string[] | null,
  reseed: ReseedProgress | null = null,
  schemaChange: { at: string; what: string } | null = null,
): SourceCheckpoint {
  return makeCheckpoint(POSTGRES_CONNECTOR, ctx.table, 'changes', {
    slot: ctx.slot,
    lsn: formatLsn(position.lsn),
    skip: position.skip,
    columns: specsToJson(columns),
    ...(partitions ? { partitions: [...partitions] } : {}),
    ...(reseed ? { reseed: { delivered: reseed.delivered, ...snapshotFields(reseed.snapshot) } } : {}),
    ...(schemaChange ? { schemaChange: { ...schemaChange } } : {}),
    ...extras(ctx),
  });
}

function extras(ctx: CheckpointContext): { key?: JsonValue; source?: JsonValue } {
  return {
    ...(ctx.key ? { key: [...ctx.key] } : {}),
    ...(ctx.identity ? { source: { ...ctx.identity } } : {}),
  };
}

/** A validated checkpoint of this connector and table, with its phase's position. */
export type ReadCheckpoint = { phase: 'snapshot'; position: SnapshotPosition } | { phase: 'changes'; position: ChangesPosition };

/** Validates `checkpoint` (`CHECKPOINT_INVALID` / `CHECKPOINT_MISMATCH` for another connector or table). */
export function readCheckpoint(checkpoint: SourceCheckpoint, table: string): ReadCheckpoint {
  const cp = parseCheckpoint(checkpoint, { connector: POSTGRES_CONNECTOR, table });
  return cp.phase === 'snapshot'
    ? { phase: 'snapshot', position: parsePosition(snapshotPositionSchema, cp) }
    : { phase: 'changes', position: parsePosition(changesPositionSchema, cp) };
}

/** The snapshot a checkpoint recorded as in progress, or `null` when none had begun. */
export function snapshotStateOf(snap: SnapshotPosition): SnapshotState | null {
  if (snap.snapshotLsn === null || snap.ranges === null) return null;
  return {
    lsn: parseLsn(snap.snapshotLsn),
    xids: snap.snapshotXids,
    ranges: snap.ranges.map((r) => ({ ...r, after: r.after ? [r.after[0], r.after[1]] : null })),
    specs: snap.columns ? specsFromJson(snap.columns) : null,
    partitions: snap.partitions ?? null,
    relfilenode: snap.relfilenode,
  };
}

/** Where the change stream resumes, with the columns and partitions as of there (and a re-seed in progress). */
export function changeStartOf(
  changes: ChangesPosition,
  table: string,
): {
  start: ChangePosition;
  specs: ColumnSpec[];
  partitions: string[] | null;
  reseed: ReseedProgress | null;
  schemaChange: { at: string; what: string } | null;
} {
  if (changes.lsn === null)
    throw definite('CHECKPOINT_INVALID', `the checkpoint of ${table} has no stream position`, {
      table,
      hint: 'pass the object returned by source.checkpoint() unchanged',
    });
  return {
    start: { lsn: parseLsn(changes.lsn), skip: changes.skip },
    specs: specsFromJson(changes.columns),
    partitions: changes.partitions ?? null,
    reseed: changes.reseed
      ? {
          delivered: changes.reseed.delivered,
          snapshot: snapshotStateOf({ ...changes.reseed, slot: null }) ?? {
            lsn: null,
            xids: null,
            ranges: null,
            specs: null,
            partitions: null,
          },
        }
      : null,
    schemaChange: changes.schemaChange ?? null,
  };
}
