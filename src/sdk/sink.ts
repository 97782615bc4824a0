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
}
