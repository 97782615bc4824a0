/**
 * Checkpoints of trigger capture: where its snapshot stands, or which change rows have been
 * delivered (every transaction visible in the `delivered` snapshot, and of the epoch being
 * read, the rows up to `after`), with the identity of the source they belong to.
 */
import * as z from '../../../sdk/zod.js';
import { definite } from '../../../sdk/errors.js';
import { makeCheckpoint, parseCheckpoint, parsePosition, type JsonValue, type SourceCheckpoint } from '../../../sdk/checkpoint.js';
import { columnsSchema, identitySchema, specsFromJson, specsToJson, type SourceIdentity } from '../checkpoint.js';
import type { SnapshotRange } from '../snapshot.js';
import type { ColumnSpec } from '../types.js';
import { PG_SNAPSHOT_TEXT, parsePgSnapshot, type PgSnapshot } from './pg-snapshot.js';

/** Connector id in checkpoints (the Postgres connector's). */
export const CONNECTOR = 'postgres';

const snapshotText = z.string().check(z.regex(PG_SNAPSHOT_TEXT, 'must be a pg_snapshot like 100:104:101,102'));
const digits = z.string().check(z.regex(/^\d+$/, 'must be a decimal number'));
const rangeSchema = z.strictObject({
  start: z.int().check(z.gte(0)),
  end: z.nullable(z.int().check(z.gte(0))),
  after: z.nullable(z.tuple([z.int().check(z.gte(0)), z.int().check(z.gte(0))])),
  done: z.boolean(),
});

/** Position of a checkpoint taken during the snapshot. */
export const triggerSnapshotPositionSchema = z.strictObject({
  capture: z.literal('trigger'),
  consumer: z.string().check(z.minLength(1)),
  /** `pg_current_snapshot()` of the snapshot: the change rows it does not show come after it. */
  snapshotXids: z.nullable(snapshotText),
  columns: z.nullable(columnsSchema),
  ranges: z.nullable(z.array(rangeSchema)),
  /** Absent only before the source connected (nothing taken yet). */
  key: z.optional(z.array(z.string()).check(z.minLength(1))),
  relfilenode: z.optional(z.int().check(z.gte(0))),
  source: z.optional(identitySchema),
});

/** Position of a checkpoint in the change stream. */
export const triggerChangesPositionSchema = z.strictObject({
  capture: z.literal('trigger'),
  consumer: z.string().check(z.minLength(1)),
  /** Every change of a transaction visible in this snapshot is delivered. */
  delivered: snapshotText,
  /** The epoch being read (transactions visible in it and not in `delivered`), if one is. */
  epoch: z.nullable(snapshotText),
  /** The epoch's last delivered row: its transaction's last sequence number, and its own. */
  after: z.nullable(z.tuple([digits, digits])),
  columns: columnsSchema,
  key: z.array(z.string()).check(z.minLength(1)),
  source: identitySchema,
  /** The last schema change followed (shown by `refstream status`). */
  schemaChange: z.optional(z.strictObject({ at: z.string(), what: z.string() })),
});

export type TriggerSnapshotPosition = z.output<typeof triggerSnapshotPositionSchema>;
export type TriggerChangesPosition = z.output<typeof triggerChangesPositionSchema>;

/** Where the change stream stands. */
export interface ChangeCursor {
  delivered: PgSnapshot;
  epoch: PgSnapshot | null;
  /** `[transaction's last seq, row's seq]` of the last row delivered from `epoch`. */
  after: [bigint, bigint] | null;
}

/** Where the snapshot stands (`xids` null: not taken yet). */
export interface TriggerSnapshotState {
  xids: string | null;
  ranges: SnapshotRange[] | null;
  specs: ColumnSpec[] | null;
  relfilenode?: number | undefined;
}

/** What every checkpoint records besides its position. */
export interface TriggerCheckpointContext {
  table: string;
  consumer: string;
  /** The key the rows are delivered with; `null` before the source connected. */
  key: readonly string[] | null;
  /** Where the source reads from; `null` before it connected. */
  identity: SourceIdentity | null;
}

export function triggerSnapshotCheckpoint(ctx: TriggerCheckpointContext, s: TriggerSnapshotState): SourceCheckpoint {
  return makeCheckpoint(CONNECTOR, ctx.table, 'snapshot', {
    capture: 'trigger',
    consumer: ctx.consumer,
    snapshotXids: s.xids,
    columns: s.specs ? specsToJson(s.specs) : null,
    ranges: s.ranges
      ? s.ranges.map((r) => ({ start: r.start, end: r.end, after: r.after ? [r.after[0], r.after[1]] : null, done: r.done }))
      : null,
    ...(ctx.key ? { key: [...ctx.key] } : {}),
    ...(s.relfilenode !== undefined ? { relfilenode: s.relfilenode } : {}),
    ...(ctx.identity ? { source: { ...ctx.identity } } : {}),
  });
}

export function triggerChangesCheckpoint(
  ctx: TriggerCheckpointContext,
  cursor: ChangeCursor,
  columns: ColumnSpec[],
  schemaChange: { at: string; what: string } | null = null,
): SourceCheckpoint {
  if (ctx.key === null || ctx.identity === null)
    throw definite('INTERNAL', `change checkpoint of ${ctx.table} before connecting`, { table: ctx.table });
  const position: Record<string, JsonValue> = {
    capture: 'trigger',
    consumer: ctx.consumer,
    delivered: cursor.delivered.text,
    epoch: cursor.epoch?.text ?? null,
    after: cursor.after ? [cursor.after[0].toString(), cursor.after[1].toString()] : null,
    columns: specsToJson(columns),
    key: [...ctx.key],
    source: { ...ctx.identity },
    ...(schemaChange ? { schemaChange: { ...schemaChange } } : {}),
  };
  return makeCheckpoint(CONNECTOR, ctx.table, 'changes', position);
}

/** Whether a Postgres checkpoint was written by logical replication capture (it names a slot, or none for a one-shot snapshot). */
function isLogicalCheckpoint(checkpoint: SourceCheckpoint): boolean {
  const position = checkpoint.position;
  return typeof position === 'object' && position !== null && !Array.isArray(position) && 'slot' in position && !('capture' in position);
}

/** Whether a Postgres checkpoint was written by trigger capture. */
export function isTriggerCheckpoint(checkpoint: SourceCheckpoint): boolean {
  if (typeof checkpoint !== 'object' || checkpoint === null) return false; // (restore validates it)
  const position = (checkpoint as { position?: unknown }).position;
  return (
    typeof position === 'object' &&
    position !== null &&
    !Array.isArray(position) &&
    (position as { capture?: unknown }).capture === 'trigger'
  );
}

export type ReadTriggerCheckpoint =
  | { phase: 'snapshot'; position: TriggerSnapshotPosition }
  | { phase: 'changes'; position: TriggerChangesPosition; cursor: ChangeCursor; specs: ColumnSpec[] };

/**
 * Validates a checkpoint for trigger capture of `table`: `CHECKPOINT_INVALID` for another
 * connector or table or a corrupt one, `CHECKPOINT_MISMATCH` for one of logical replication.
 */
export function readTriggerCheckpoint(checkpoint: SourceCheckpoint, table: string): ReadTriggerCheckpoint {
  const cp = parseCheckpoint(checkpoint, { connector: CONNECTOR, table });
  if (isLogicalCheckpoint(cp)) {
    throw definite(
      'CHECKPOINT_MISMATCH',
      `the checkpoint of ${table} was written by logical replication capture (a slot), this source uses trigger capture`,
      {
        table,
        hint: "use capture: 'logical' (CLI --capture logical) to resume it, or delete the checkpoint to start over with a new snapshot",
      },
    );
  }
  if (cp.phase === 'snapshot') return { phase: 'snapshot', position: parsePosition(triggerSnapshotPositionSchema, cp) };
  const position = parsePosition(triggerChangesPositionSchema, cp);
  let cursor: ChangeCursor;
  try {
    cursor = {
      delivered: parsePgSnapshot(position.delivered),
      epoch: position.epoch === null ? null : parsePgSnapshot(position.epoch),
      after: position.after === null ? null : [BigInt(position.after[0]), BigInt(position.after[1])],
    };
  } catch (error) {
    throw definite('CHECKPOINT_INVALID', `the checkpoint of ${table} holds a malformed snapshot: ${(error as Error).message}`, {
      table,
      hint: 'pass the object returned by source.checkpoint() unchanged',
    });
  }
  if (cursor.epoch === null && cursor.after !== null) {
    throw definite('CHECKPOINT_INVALID', `the checkpoint of ${table} records a row after no epoch`, {
      table,
      hint: 'pass the object returned by source.checkpoint() unchanged',
    });
  }
  return { phase: 'changes', position, cursor, specs: specsFromJson(position.columns) };
}
