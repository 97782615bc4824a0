/**
 * The record format of refstream topics: header names and control records.
 *
 * Keys are the primary key as a JSON object with the key columns in key order (stable bytes,
 * so compaction and partitioning see one key per row). Values are the row as a JSON object
 * in table column order, rendered losslessly as `toJsonValue` does (the JSON Lines sink uses
 * the same rendering); see json-bytes.ts.
 */

/** Header names written by the sink. */
export const HEADERS = {
  /** `_position` of a change row (absent on snapshot rows). */
  position: 'refstream-position',
  /** `snapshot`, `insert`, `update` or `delete`. */
  op: 'refstream-op',
  /** Present (and only present) on control records: its kind. */
  control: 'refstream-control',
  /** Identifier of a clearing control record (snapshot-start, truncate). */
  marker: 'refstream-marker',
  /** Arrow IPC stream (schema only) describing the table, on `schema` control records. */
  schema: 'refstream-schema',
  /** Qualified table name, on control records. */
  table: 'refstream-table',
  /** `true` on a snapshot-start that repeats an interrupted snapshot. */
  restart: 'refstream-snapshot-restart',
  /** `kind` of an Arrow IPC value (`snapshot` or `changes`). */
  kind: 'refstream-kind',
} as const;

/** Kinds of control records. */
export type ControlKind = 'schema' | 'snapshot-start' | 'snapshot-complete' | 'truncate' | 'watermark';

/** The marker that identifies a control record's key (and, in the previous format, its JSON property). */
export const CONTROL_KEY_PROPERTY = '__refstream_control';

/**
 * Key of a control record of `kind`: a JSON array, `["__refstream_control","truncate"]`.
 * No primary-key object has this shape, and no key class with named fields binds to an
 * array, so a lenient deserialiser cannot read it as a row key (an object key without the
 * key columns would bind as `id = 0` to `record Key(long id)`). One key per kind, so log
 * compaction keeps the latest record of each kind in every partition.
 */
export function controlKey(kind: ControlKind): string {
  return `["${CONTROL_KEY_PROPERTY}","${kind}"]`;
}

/** The control key of the previous record format, a JSON object: `{"__refstream_control":"truncate"}` (still read). */
export function legacyControlKey(kind: ControlKind): string {
  return `{"${CONTROL_KEY_PROPERTY}":"${kind}"}`;
}

/**
 * Control records that are not tombstones in the `json` format, so that compaction keeps the
 * latest of each per partition: the markers that clear a partition (rows at lower offsets
 * are gone) and the schema that types the rows.
 */
export const KEPT_CONTROL_KINDS: ReadonlySet<ControlKind> = new Set<ControlKind>(['schema', 'snapshot-start', 'truncate']);
