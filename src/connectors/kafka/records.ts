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

/** The JSON property that marks a control record's key. */
export const CONTROL_KEY_PROPERTY = '__refstream_control';

/** Key of a control record of `kind`: no primary-key column, so it never collides with a row. */
export function controlKey(kind: ControlKind): string {
  return `{"${CONTROL_KEY_PROPERTY}":"${kind}"}`;
}
