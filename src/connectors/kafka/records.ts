/**
 * The record format of refstream topics: header names and control records.
 *
 * Keys are the primary key as a JSON object with the key columns in key order (stable bytes,
 * so compaction and partitioning see one key per row). Values are the row as a JSON object
 * in table column order, rendered losslessly as `toJsonValue` does (the JSON Lines sink uses
 * the same rendering); see json-bytes.ts. Control records go to the control topic
 * ({@link ControlRecord}); earlier versions wrote them into the data topic, keyed as
 * {@link controlKey} and {@link legacyControlKey} say, and readers still apply those.
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
 * The control topic of a data topic, where the sink writes its control records:
 * `<topic>.refstream-control`. The data topic itself then holds rows and tombstones only, which
 * every upsert consumer reads without special settings.
 */
export function defaultControlTopic(topic: string): string {
  return `${topic}.refstream-control`;
}

/**
 * A record of the control topic (its value, JSON; key = the kind, so compaction keeps the
 * latest of each kind). `offsets[p]` places it in partition `p` of the data topic: every data
 * record the sink wrote before it is at a lower offset, every later one at this offset or above.
 */
export interface ControlRecord {
  kind: ControlKind;
  /** Qualified table name ('' before the first batch). */
  table: string;
  /** Per data partition (index = partition), the offset the record stands before. */
  offsets: bigint[];
  /** watermark: every row up to this position is below `offsets` (null while only snapshot rows were written); truncate: its position. */
  position?: string | null;
  /** snapshot-start: a random id; truncate: its position. */
  marker?: string;
  /** snapshot-start: true when a snapshot is delivered again. */
  restart?: boolean;
  /** schema: the table schema as a base64 Arrow IPC stream (schema only). */
  schema?: string;
}

const CONTROL_KINDS: ReadonlySet<string> = new Set<ControlKind>(['schema', 'snapshot-start', 'snapshot-complete', 'truncate', 'watermark']);

/** The JSON value of a control-topic record. */
export function encodeControlRecord(record: ControlRecord): string {
  return JSON.stringify({ ...record, offsets: record.offsets.map(String) });
}

/** Reads a control-topic record's value; null when it is not one (an unknown kind is skipped by readers). */
export function decodeControlRecord(value: Buffer | null): ControlRecord | null {
  if (value === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    return null;
  }
  const r = parsed as Partial<Record<keyof ControlRecord, unknown>>;
  if (typeof r !== 'object' || r === null || typeof r.kind !== 'string' || !CONTROL_KINDS.has(r.kind) || !Array.isArray(r.offsets))
    return null;
  if (!r.offsets.every((o) => typeof o === 'string' && /^\d+$/.test(o))) return null;
  return {
    kind: r.kind as ControlKind,
    table: typeof r.table === 'string' ? r.table : '',
    offsets: (r.offsets as string[]).map((o) => BigInt(o)),
    ...(typeof r.position === 'string' || r.position === null ? { position: r.position } : {}),
    ...(typeof r.marker === 'string' ? { marker: r.marker } : {}),
    ...(typeof r.restart === 'boolean' ? { restart: r.restart } : {}),
    ...(typeof r.schema === 'string' ? { schema: r.schema } : {}),
  };
}

/**
 * The headers the same control record had when it was written into the data topic (earlier
 * versions), so readers handle both layouts with one logic.
 */
export function controlHeaders(record: ControlRecord): Record<string, Buffer> {
  const h: Record<string, Buffer> = { [HEADERS.control]: Buffer.from(record.kind) };
  if (record.table !== '') h[HEADERS.table] = Buffer.from(record.table);
  if (typeof record.position === 'string') h[HEADERS.position] = Buffer.from(record.position);
  if (record.marker !== undefined) h[HEADERS.marker] = Buffer.from(record.marker);
  if (record.restart !== undefined) h[HEADERS.restart] = Buffer.from(String(record.restart));
  if (record.schema !== undefined) h[HEADERS.schema] = Buffer.from(record.schema, 'base64');
  return h;
}
