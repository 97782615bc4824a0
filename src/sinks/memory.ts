import type { RecordBatch } from 'apache-arrow';
import type { Sink, SnapshotStartInfo } from '../sdk/sink.js';
import { ReferenceTable } from '../sdk/table.js';
import { leaseLost, type Fence, type MemoryLeaseStore } from '../sdk/lease.js';

/** Options of {@link MemorySink}. */
export interface MemorySinkOptions {
  /**
   * High availability inside one process (replicas sharing one table): every write checks in
   * the same step that this sink's fence still holds the lease, so a replica that lost it
   * changes nothing. Without it, `fence` only records the epoch: the table is the replica's own.
   */
  leases?: MemoryLeaseStore;
}

/**
 * Folds every batch into a {@link ReferenceTable}: the keyed in-memory state an in-process
 * stream processor joins against. Replays are ignored by position, so the table is exact
 * under the runner's at-least-once delivery.
 */
export class MemorySink implements Sink {
  readonly name: string;
  /** The fence of the term this sink writes for (high availability), if any. */
  private fenced: Fence | null = null;

  constructor(
    /** The state this sink keeps up to date. */
    readonly table: ReferenceTable = new ReferenceTable(),
    name = 'memory',
    private readonly options: MemorySinkOptions = {},
  ) {
    this.name = name;
  }

  /**
   * High availability: writes from now on belong to `fence`'s epoch. A table of its own (no
   * `leases`) lives and dies with this replica's process, so nothing else needs fencing; a
   * table shared by replicas in one process is checked against `leases` on every write.
   */
  async fence(fence: Fence): Promise<void> {
    this.fenced = fence;
    this.checkFence();
  }

  private checkFence(): void {
    const { leases } = this.options;
    if (leases && this.fenced && !leases.holds(this.fenced)) throw leaseLost(this.fenced, `${this.name} was not changed`);
  }

  async snapshotStart(_info: SnapshotStartInfo): Promise<void> {
    this.checkFence();
    // A snapshot from scratch replaces whatever an earlier attempt (maybe in an earlier
    // process, unknown to the runner) left behind.
    this.table.clear();
  }

  async write(batch: RecordBatch): Promise<void> {
    this.checkFence();
    this.table.apply(batch);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}
