import type { RecordBatch } from 'apache-arrow';
import type { Sink, SnapshotStartInfo } from '../sdk/sink.js';
import { ReferenceTable } from '../sdk/table.js';

/**
 * Folds every batch into a {@link ReferenceTable}: the keyed in-memory state an in-process
 * stream processor joins against. Replays are ignored by position, so the table is exact
 * under the runner's at-least-once delivery.
 */
export class MemorySink implements Sink {
  readonly name: string;

  constructor(
    /** The state this sink keeps up to date. */
    readonly table: ReferenceTable = new ReferenceTable(),
    name = 'memory',
  ) {
    this.name = name;
  }

  async snapshotStart(_info: SnapshotStartInfo): Promise<void> {
    // A snapshot from scratch replaces whatever an earlier attempt (maybe in an earlier
    // process, unknown to the runner) left behind.
    this.table.clear();
  }

  async write(batch: RecordBatch): Promise<void> {
    this.table.apply(batch);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}
