/**
 * The Postgres checkpoint codec: the zod schemas of the snapshot and change positions, the
 * column list they carry, and the identity of the source a checkpoint belongs to (server,
 * database, table oid, slot, publication), checked before a checkpoint is applied.
 */
import * as z from '../../sdk/zod.js';
import { definite } from '../../sdk/errors.js';
import { reportWarning, type WarningHandler } from '../../sdk/warnings.js';
import { isLsnText } from './lsn.js';
import { RECORDED_PARTITION } from './partitions.js';
import type { ColumnSpec } from './types.js';

const lsnText = z.string().check(z.refine(isLsnText, 'must be an LSN like 16/B374D848'));
const digits = z.string().check(z.regex(/^\d+$/, 'must be a decimal number'));
/** `[name, typeOid, typmod, sourceType, nullable, attnum?]` (attnum: absent in checkpoints of older versions). */
export const columnsSchema = z.array(
  z.union([
    z.tuple([z.string(), z.int(), z.int(), z.string(), z.boolean()]),
    z.tuple([z.string(), z.int(), z.int(), z.string(), z.boolean(), z.int()]),
  ]),
);

/** Where a checkpoint was taken. Restoring it against another source is `CHECKPOINT_MISMATCH`. */
export const identitySchema = z.strictObject({
  /** `system_identifier` of the cluster (unique per initdb; kept by physical standbys). */
  system: z.nullable(digits),
  /** Timeline when the checkpoint was written (changes on promotion). */
  timeline: z.nullable(z.int().check(z.gte(1))),
  database: z.string().check(z.minLength(1)),
  /** The table's oid (a dropped and re-created table gets a new one). */
  tableOid: digits,
  /** `null` for a one-shot snapshot, which uses no publication. */
  publication: z.nullable(z.string()),
});

/** The identity recorded in every checkpoint (see {@link identitySchema}). */
export type SourceIdentity = z.output<typeof identitySchema>;

const rangeSchema = z.strictObject({
  start: z.int().check(z.gte(0)),
  end: z.nullable(z.int().check(z.gte(0))),
  after: z.nullable(z.tuple([z.int().check(z.gte(0)), z.int().check(z.gte(0))])),
  done: z.boolean(),
  /** The leaf partition read, by oid (partitioned tables). */
  partition: z.optional(z.int().check(z.gte(1))),
});

/** A partitioned table's partitions as last seen (see partitions.ts). */
const partitionsSchema = z.optional(z.array(z.string().check(z.regex(RECORDED_PARTITION, 'must be oid@xmin:relfilenode'))));

/**
 * The key columns the delivered rows are keyed on (primary key, or the replica identity index):
 * sinks fold by them, so a resume under another key would mis-key every later change. Absent in
 * checkpoints of refstream versions that did not record it.
 */
const keySchema = z.optional(z.array(z.string()).check(z.minLength(1)));

/** Position of a checkpoint taken during the snapshot. `slot` is `null` for a one-shot snapshot. */
export const snapshotPositionSchema = z.strictObject({
  slot: z.nullable(z.string()),
  snapshotLsn: z.nullable(lsnText),
  snapshotXids: z.nullable(z.string().check(z.regex(/^\d+:\d+:[\d,]*$/))),
  columns: z.nullable(columnsSchema),
  ranges: z.nullable(z.array(rangeSchema)),
  partitions: partitionsSchema,
  key: keySchema,
  /** The table's relfilenode when the snapshot began (plain tables): a rewrite since makes the ctids meaningless. */
  relfilenode: z.optional(z.int().check(z.gte(0))),
  /** Absent in checkpoints of refstream versions that did not record it. */
  source: z.optional(identitySchema),
});

/**
 * Position of a checkpoint in the change stream. A one-shot snapshot's final checkpoint has
 * `slot: null` and `lsn: null`: it records that the snapshot completed, not a stream position.
 */
export const changesPositionSchema = z.strictObject({
  slot: z.nullable(z.string()),
  lsn: z.nullable(lsnText),
  skip: z.int().check(z.gte(0)),
  columns: columnsSchema,
  partitions: partitionsSchema,
  key: keySchema,
  source: z.optional(identitySchema),
  /** The last schema change followed (or re-seed): its position and what changed, for `refstream status`. */
  schemaChange: z.optional(z.strictObject({ at: z.string(), what: z.string() })),
  /** A re-seed in progress (an incompatible schema change): rows delivered since `lsn`/`skip`, and its snapshot. */
  reseed: z.optional(
    z.strictObject({
      delivered: z.int().check(z.gte(0)),
      snapshotLsn: z.nullable(lsnText),
      snapshotXids: z.nullable(z.string().check(z.regex(/^\d+:\d+:[\d,]*$/))),
      columns: z.nullable(columnsSchema),
      ranges: z.nullable(z.array(rangeSchema)),
      partitions: partitionsSchema,
      relfilenode: z.optional(z.int().check(z.gte(0))),
    }),
  ),
});

export type SnapshotPosition = z.output<typeof snapshotPositionSchema>;
export type ChangesPosition = z.output<typeof changesPositionSchema>;
export type ColumnsJson = z.output<typeof columnsSchema>;

export function specsToJson(specs: ColumnSpec[]): ColumnsJson {
  return specs.map((s) =>
    s.attnum === undefined
      ? [s.name, s.typeOid, s.typmod, s.sourceType, s.nullable]
      : [s.name, s.typeOid, s.typmod, s.sourceType, s.nullable, s.attnum],
  );
}

export function specsFromJson(json: ColumnsJson): ColumnSpec[] {
  return json.map(([name, typeOid, typmod, sourceType, nullable, attnum]) => ({
    name,
    typeOid,
    typmod,
    sourceType,
    nullable,
    ...(attnum !== undefined ? { attnum } : {}),
  }));
}

/** What a checkpoint is checked against: the connected source. */
export interface ConnectedSource {
  table: string;
  slot: string | null;
  identity: SourceIdentity;
}

function describe(identity: SourceIdentity | undefined, table: string, slot: string | null): string {
  const parts = identity
    ? [`server ${identity.system ?? '(unknown)'}`, `database ${identity.database}`, `table ${table} (oid ${identity.tableOid})`]
    : [`table ${table}`];
  parts.push(slot === null ? 'no slot (one-shot snapshot)' : `slot ${slot}`);
  if (identity) parts.push(identity.publication === null ? 'no publication' : `publication ${identity.publication}`);
  return parts.join(', ');
}

/**
 * Fails with definite `CHECKPOINT_MISMATCH` unless the checkpoint was taken on the connected
 * server, database, table, slot and publication; the message names both sides. A checkpoint
 * without an identity (older refstream) is accepted with a `CHECKPOINT_UNIDENTIFIED` warning,
 * and a timeline switch (a promoted standby) with a `TIMELINE_CHANGED` warning.
 */
export function checkIdentity(
  recorded: { slot: string | null; source?: SourceIdentity | undefined },
  connected: ConnectedSource,
  onWarning: WarningHandler | undefined,
): void {
  const mine = connected.identity;
  const theirs = recorded.source;
  const differences: string[] = [];
  if (theirs) {
    if (theirs.system !== null && mine.system !== null && theirs.system !== mine.system) differences.push('server');
    if (theirs.database !== mine.database) differences.push('database');
    if (theirs.tableOid !== mine.tableOid) differences.push('table oid');
    if (theirs.publication !== mine.publication) differences.push('publication');
  }
  if (recorded.slot !== connected.slot) differences.push('slot');
  if (differences.length > 0) {
    throw definite(
      'CHECKPOINT_MISMATCH',
      `the checkpoint belongs to another source (${differences.join(', ')} differ${differences.length === 1 ? 's' : ''}): checkpoint: ${describe(theirs, connected.table, recorded.slot)}; connected: ${describe(mine, connected.table, connected.slot)}`,
      {
        table: connected.table,
        hint: 'to start fresh here, delete the checkpoint (file or store entry) or pass another --checkpoint; to resume, connect to the source the checkpoint names',
      },
    );
  }
  if (!theirs) {
    reportWarning(onWarning, {
      code: 'CHECKPOINT_UNIDENTIFIED',
      table: connected.table,
      message: `the checkpoint does not record which server, database and table it belongs to (written by an older refstream); it is used as it is, and the next commit records ${describe(mine, connected.table, connected.slot)}`,
    });
  } else if (theirs.timeline !== null && mine.timeline !== null && theirs.timeline !== mine.timeline) {
    reportWarning(onWarning, {
      code: 'TIMELINE_CHANGED',
      table: connected.table,
      message: `the checkpoint was written on timeline ${theirs.timeline}, the server is on timeline ${mine.timeline} (a standby was promoted); the slot must have been synchronised to the new primary for no change to be lost`,
    });
  }
}
