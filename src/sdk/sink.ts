import type { RecordBatch } from 'apache-arrow';
import type { JsonValue } from './checkpoint.js';
import type { Fence } from './lease.js';

/** Information passed to {@link Sink.snapshotStart}. */
export interface SnapshotStartInfo {
  /**
   * True when the runner knows that output of an earlier attempt exists (a committed
   * checkpoint, or snapshot rows delivered earlier in this run). Sinks whose output outlives
   * the process should treat every snapshot start as a possible restart: the new snapshot
   * replaces all rows written before it.
   */
  restart: boolean;
}

/**
 * A destination of batches. The runner calls `write` for every batch in order, `flush`
 * before each checkpoint is saved (everything written must then be durable), and `close`
 * once. A sink must tolerate replays: after a crash the runner re-delivers batches written
 * after the last committed checkpoint (change rows carry `_position` to detect them).
 *
 * A sink whose output can be cut back to a committed point (a file) makes delivery
 * exactly-once with `checkpointState` and `restore`: the runner stores the state read after
 * each flush in the same checkpoint envelope as the source position, and hands it back through
 * `restore` before the first write of every attempt that resumes from that checkpoint. The
 * runner keys the state by `name`, so the name must be stable across restarts.
 */
export interface Sink {
  /** Human-readable name used in events and logs (no secrets). */
  readonly name: string;
  /** Called before the first snapshot batch of each snapshot attempt. */
  snapshotStart?(info: SnapshotStartInfo): Promise<void>;
  write(batch: RecordBatch): Promise<void>;
  /** Called once the snapshot has been fully written (before the first change batch). */
  snapshotComplete?(): Promise<void>;
  /** Makes everything written so far durable. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /**
   * Optional: after this sink failed with a transient error (its server went away), drop
   * what was not flushed and get ready to write again. A sink with `reset` is not detached
   * on transient errors: the runner backs off, calls `reset`, and replays from the last
   * committed checkpoint (everything after it was never flushed, so nothing is lost).
   */
  reset?(): Promise<void>;
  /**
   * Optional: what this sink holds durably, read right after a successful `flush` and saved
   * atomically with the source checkpoint of the same commit (e.g. a file's durable length).
   * Return `null` when the output has no resumable state (a pipe, a character device, stdout).
   */
  checkpointState?(): JsonValue | null;
  /**
   * Optional: called before the first write of every attempt that resumes from a committed
   * checkpoint (at start-up and after each transient retry), with what `checkpointState`
   * returned at that commit, or `null` when the checkpoint holds no state for this sink (it
   * had none, it was saved by an older refstream, or the sink is new). The sink drops
   * everything written after that state (a file is truncated to its committed length), so the
   * replay that follows is written exactly once. A state that cannot be honoured (the file is
   * shorter than committed) must fail with a definite error, never be repaired silently.
   */
  restore?(state: JsonValue | null): Promise<void>;
  /**
   * Optional, required under high availability (`sync({ ha })`): from now on this sink writes
   * for the lease epoch of `fence`, and makes every write of an older epoch fail. Called when
   * a replica starts leading (and again after each transient retry), before the runner
   * confirms it still holds the lease and before any write. The sink fences off writers of
   * older epochs here (a Postgres table: a fence row they check before committing; Kafka: the
   * transactional producer, which makes the broker fence older producers). A write or flush
   * that finds a newer epoch fails with `LEASE_LOST` and commits nothing. A sink that cannot
   * keep a replica that lost the lease from writing (a file) has no `fence`: `ha` refuses it.
   */
  fence?(fence: Fence): Promise<void>;
}
