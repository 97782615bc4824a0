import type { RecordBatch } from 'apache-arrow';

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
}
