import type { RecordBatch } from 'apache-arrow';
import type { SourceCheckpoint } from './checkpoint.js';
import type { LeaderTerm } from './leadership.js';

/**
 * What a source can promise. The conformance suite verifies every claim, and runs the
 * negative check when a capability is `false`.
 */
export interface SourceCapabilities {
  /** How changes are obtained: from a change log, by polling the table, or not at all. */
  readonly changes: 'log' | 'poll' | 'none';
  /** Whether deletes are observed and emitted as `delete` rows. */
  readonly deletes: boolean;
  /** Restoring a checkpoint resumes with exactly the next change: no loss, no duplicate. */
  readonly exactlyOnce: boolean;
  /** A mid-snapshot checkpoint resumes the snapshot where it stopped (else it restarts). */
  readonly midSnapshotResume: boolean;
  /** Changes of one upstream transaction are delivered together and in commit order. */
  readonly transactions: boolean;
  /** Added nullable columns are delivered as a new schema instead of an error. */
  readonly schemaEvolution: boolean;
}

/** Options of every poll. */
export interface PollOptions {
  /** Aborts a pending poll promptly with an `AbortError`; the source stays usable. */
  signal?: AbortSignal;
}

/**
 * The contract every refstream connector implements (see docs/concepts.md).
 *
 * Lifecycle: `restore` (optional, on a fresh instance) → `pollSnapshot` until `null` →
 * `pollChanges` forever → `close`. `checkpoint()` may be taken between any two polls;
 * `commit(cp)` tells the source `cp` is durable downstream.
 */
export interface ReferenceTableSource {
  /** Claims the conformance suite verifies. Constant for the life of the instance. */
  readonly capabilities: SourceCapabilities;

  /** The next snapshot batch, or `null` once the snapshot is complete. */
  pollSnapshot(opts?: PollOptions): Promise<RecordBatch | null>;

  /** True once `pollSnapshot` has returned `null` (or after restoring into the change phase). */
  isSnapshotComplete(): boolean;

  /**
   * The next change batch, or `null` when no change arrived within `maxWaitMs`.
   * Rejects with definite `INVALID_STATE` before the snapshot is complete.
   */
  pollChanges(opts?: PollOptions): Promise<RecordBatch | null>;

  /** The position after the last batch returned. Synchronous, cheap, JSON-serialisable. */
  checkpoint(): SourceCheckpoint;

  /** Positions a fresh instance at `checkpoint`. Must be called before any poll. */
  restore(checkpoint: SourceCheckpoint): Promise<void>;

  /** Tells the source that `checkpoint` is durably stored downstream, so upstream resources up to it may be released. */
  commit?(checkpoint: SourceCheckpoint): Promise<void>;

  /**
   * True when `restore` could not use its checkpoint and the snapshot starts over (e.g. the
   * change log it pointed into is gone): the runner then sends `snapshotStart({ restart: true })`.
   */
  restartsSnapshot?(): boolean;

  /**
   * Optional, for high availability: the runner leads its replica group with `term` while it
   * uses this source (called on a fresh source, before `restore`). A source whose upstream lets
   * one reader in at a time (a replication slot) may then take that place from a reader still
   * holding it — a replica that lost the lease — once `term.confirm()` resolved. Without this
   * call a source never takes anything from another reader.
   */
  leadWith?(term: LeaderTerm): void;

  /** Releases every connection, timer and child process. Idempotent. */
  close(): Promise<void>;
}

/** Builds a fresh source; the runner calls it again after a transient error. */
export type SourceFactory = () => ReferenceTableSource | Promise<ReferenceTableSource>;

/** Capabilities of a source that promises nothing beyond the snapshot. */
export const MINIMAL_CAPABILITIES: SourceCapabilities = Object.freeze({
  changes: 'none',
  deletes: false,
  exactlyOnce: false,
  midSnapshotResume: false,
  transactions: false,
  schemaEvolution: false,
});
