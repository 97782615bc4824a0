/**
 * The checkpoint codec of KafkaReferenceTableSource: the stream state a checkpoint restores
 * (next offset, highest position and watermark per partition, last truncate, how far each
 * partition applied the control topic), its JSON form,
 * and the identity of the source it was taken on (cluster id, topic), checked before a
 * checkpoint is applied.
 */
import * as z from '../../sdk/zod.js';
import type { JsonValue } from '../../sdk/checkpoint.js';
import { assertSameSource, warnUnidentified } from '../../sdk/source-identity.js';
import type { WarningHandler } from '../../sdk/warnings.js';

/** Stream state after a batch: what a checkpoint taken after it restores. */
export interface StreamState {
  offsets: Map<number, bigint>;
  high: Map<number, string>;
  frontier: Map<number, string>;
  truncatedAt: string | null;
  /**
   * Per partition, the next control-topic offset whose record it has not applied yet. Absent
   * for a partition read before its control topic was (control records placed at or below
   * its read position then count as applied).
   */
  control: Map<number, bigint>;
}

export function emptyState(): StreamState {
  return { offsets: new Map(), high: new Map(), frontier: new Map(), truncatedAt: null, control: new Map() };
}

export function cloneState(s: StreamState): StreamState {
  return {
    offsets: new Map(s.offsets),
    high: new Map(s.high),
    frontier: new Map(s.frontier),
    truncatedAt: s.truncatedAt,
    control: new Map(s.control),
  };
}

/** Where a checkpoint was taken. No broker address or credential: the cluster id names the cluster. */
export const identitySchema = z.strictObject({
  /** `cluster_id` of the Metadata response; null when the brokers report none. */
  clusterId: z.nullable(z.string().check(z.minLength(1))),
  topic: z.string(),
});

/** See {@link identitySchema}. */
export type KafkaSourceIdentity = z.output<typeof identitySchema>;

/** The change-phase position stored in checkpoints. */
export const changePositionSchema = z.strictObject({
  topic: z.string(),
  /** Next offset to read, per partition (decimal strings). */
  offsets: z.record(z.string(), z.string().check(z.regex(/^\d+$/))),
  /** Highest `refstream-position` seen per partition (replays at or below are dropped). */
  high: z.record(z.string(), z.string()),
  /** Highest watermark read per partition (the partition holds nothing older unread). */
  frontier: z.record(z.string(), z.string()),
  /** Position of the last truncate applied. */
  truncatedAt: z.nullable(z.string()),
  /** The table schema as a base64 Arrow IPC stream (so a restore needs no schema record). */
  schema: z.nullable(z.string()),
  /** Next control-topic offset per partition (decimal strings); absent before the control topic existed. */
  control: z.optional(z.record(z.string(), z.string().check(z.regex(/^\d+$/)))),
  /** Absent in checkpoints of refstream versions that did not record it. */
  source: z.optional(identitySchema),
});

/**
 * The snapshot-phase position: where it was taken, or `null` (taken before the source
 * connected, or by an older refstream). The snapshot restarts either way.
 */
export const snapshotPositionSchema = z.nullable(z.strictObject({ source: identitySchema }));

export type ChangePosition = z.output<typeof changePositionSchema>;

/** The change-phase position of `state`; `schema` is the base64 IPC schema, if known. */
export function encodeChangePosition(
  topic: string,
  state: StreamState,
  schema: string | null,
  identity: KafkaSourceIdentity | null,
): JsonValue {
  const position: ChangePosition = {
    topic,
    offsets: Object.fromEntries([...state.offsets].map(([p, o]) => [String(p), o.toString()])),
    high: Object.fromEntries([...state.high].map(([p, h]) => [String(p), h])),
    frontier: Object.fromEntries([...state.frontier].map(([p, h]) => [String(p), h])),
    truncatedAt: state.truncatedAt,
    schema,
    ...(state.control.size > 0 ? { control: Object.fromEntries([...state.control].map(([p, o]) => [String(p), o.toString()])) } : {}),
    ...(identity !== null ? { source: { ...identity } } : {}),
  };
  return position;
}

/** The snapshot-phase position (see {@link snapshotPositionSchema}). */
export function encodeSnapshotPosition(identity: KafkaSourceIdentity | null): JsonValue {
  return identity === null ? null : { source: { ...identity } };
}

/** The stream state a change position restores. */
export function decodeStreamState(position: ChangePosition): StreamState {
  return {
    offsets: new Map(Object.entries(position.offsets).map(([p, o]) => [Number(p), BigInt(o)])),
    high: new Map(Object.entries(position.high).map(([p, h]) => [Number(p), h])),
    frontier: new Map(Object.entries(position.frontier).map(([p, h]) => [Number(p), h])),
    truncatedAt: position.truncatedAt,
    control: new Map(Object.entries(position.control ?? {}).map(([p, o]) => [Number(p), BigInt(o)])),
  };
}

function describe(identity: KafkaSourceIdentity, brokers?: string): string {
  const at = brokers === undefined ? '' : ` (brokers ${brokers})`;
  return `cluster ${identity.clusterId ?? '(unknown)'}${at}, topic ${identity.topic}`;
}

/** The identity restored against, once connected. */
export interface ConnectedKafkaSource {
  table: string;
  identity: KafkaSourceIdentity;
  /** The configured bootstrap servers (named in messages only). */
  brokers: string;
}

/**
 * Fails with definite `CHECKPOINT_MISMATCH` unless the checkpoint was taken on the connected
 * cluster and topic; the message names both sides. A checkpoint without identity (older
 * refstream) is accepted; `warn` reports it as `CHECKPOINT_UNIDENTIFIED`, which callers ask
 * for only where the checkpoint resumes something.
 */
export function checkIdentity(
  recorded: KafkaSourceIdentity | undefined,
  connected: ConnectedKafkaSource,
  options: { warn: boolean; onWarning: WarningHandler | undefined },
): void {
  const mine = connected.identity;
  if (recorded === undefined) {
    if (options.warn) warnUnidentified(options.onWarning, connected.table, describe(mine));
    return;
  }
  assertSameSource(
    connected.table,
    [
      { name: 'cluster', recorded: recorded.clusterId, connected: mine.clusterId },
      { name: 'topic', recorded: recorded.topic, connected: mine.topic },
    ],
    { checkpoint: describe(recorded), connected: describe(mine, connected.brokers) },
  );
}

/** The definite `CHECKPOINT_MISMATCH` for a position of another topic (known before connecting). */
export function assertSameTopic(recordedTopic: string, topic: string, table: string): void {
  assertSameSource(table, [{ name: 'topic', recorded: recordedTopic, connected: topic }], {
    checkpoint: `topic ${recordedTopic}`,
    connected: `topic ${topic}`,
  });
}
