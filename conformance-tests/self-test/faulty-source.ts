/**
 * A source that delegates everything to a correct one; faults override single methods.
 */
import type { RecordBatch } from 'apache-arrow';
import type { SourceCheckpoint } from '../../src/sdk/checkpoint.js';
import type { PollOptions, ReferenceTableSource, SourceCapabilities } from '../../src/sdk/source.js';

export class DelegatingSource implements ReferenceTableSource {
  constructor(protected readonly inner: ReferenceTableSource) {}

  get capabilities(): SourceCapabilities {
    return this.inner.capabilities;
  }
  pollSnapshot(opts?: PollOptions): Promise<RecordBatch | null> {
    return this.inner.pollSnapshot(opts);
  }
  isSnapshotComplete(): boolean {
    return this.inner.isSnapshotComplete();
  }
  pollChanges(opts?: PollOptions): Promise<RecordBatch | null> {
    return this.inner.pollChanges(opts);
  }
  checkpoint(): SourceCheckpoint {
    return this.inner.checkpoint();
  }
  restore(checkpoint: SourceCheckpoint): Promise<void> {
    return this.inner.restore(checkpoint);
  }
  commit(checkpoint: SourceCheckpoint): Promise<void> {
    return this.inner.commit ? this.inner.commit(checkpoint) : Promise.resolve();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
