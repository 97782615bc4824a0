/**
 * Deliberately faulty sources, each a wrapper around the correct memory source with one
 * rule broken. The self-test runs the suite against each and expects the named check to fail.
 */
import { RecordBatch, Schema } from 'apache-arrow';
import { METADATA } from '../../src/sdk/batch.js';
import { parseCheckpoint, type SourceCheckpoint } from '../../src/sdk/checkpoint.js';
import type { PollOptions, ReferenceTableSource, SourceCapabilities } from '../../src/sdk/source.js';
import type { SourceOptions } from '../types.js';
import { DelegatingSource } from './faulty-source.js';
import { rewrite, rowsOf, buildLike } from './rebuild.js';

/** One planted bug. */
export interface Fault {
  /** Short name, e.g. `dropped-change`. */
  name: string;
  /** The rule it breaks. */
  description: string;
  /** The check that must catch it. */
  expect: string;
  /** Capabilities the faulty source declares instead of the memory source's. */
  capabilities?: Partial<SourceCapabilities>;
  /** Wraps a correct source; `options` are those the suite asked for. */
  wrap(inner: ReferenceTableSource, options: SourceOptions): ReferenceTableSource;
}

/** Intervals leaked by the `leaked-timer` fault; the self-test clears them at the end. */
export const leakedTimers: NodeJS.Timeout[] = [];

class DuplicateSnapshotRow extends DelegatingSource {
  private first: RecordBatch | null = null;
  private replayed = false;
  override async pollSnapshot(opts?: PollOptions) {
    const batch = await this.inner.pollSnapshot(opts);
    if (batch && batch.numRows > 0 && !this.first) this.first = rewrite(batch, (rows) => rows.slice(0, 1));
    if (batch === null && this.first && !this.replayed) {
      this.replayed = true;
      return this.first;
    }
    return batch;
  }
}

class DroppedChange extends DelegatingSource {
  private seen = 0;
  override async pollChanges(opts?: PollOptions) {
    const batch = await this.inner.pollChanges(opts);
    if (!batch) return batch;
    return rewrite(batch, (rows) => rows.filter(() => ++this.seen % 5 !== 3));
  }
}

class ReorderedKeyChanges extends DelegatingSource {
  override async pollChanges(opts?: PollOptions) {
    const batch = await this.inner.pollChanges(opts);
    if (!batch) return batch;
    return rewrite(batch, (rows) => {
      const out = [...rows];
      for (let i = 0; i + 1 < out.length; i++) {
        if (String(out[i]!.values[0]) === String(out[i + 1]!.values[0])) {
          [out[i], out[i + 1]] = [out[i + 1]!, out[i]!];
          i++;
        }
      }
      return out;
    });
  }
}

class RestoreIgnoresCheckpoint extends DelegatingSource {
  override async restore(): Promise<void> {}
}

class MidSnapshotRestart extends DelegatingSource {
  override async restore(cp: SourceCheckpoint): Promise<void> {
    const own = this.inner.checkpoint();
    const parsed = parseCheckpoint(cp, { connector: own.connector, table: own.table });
    if (parsed.phase === 'snapshot') return; // starts over
    return this.inner.restore(cp);
  }
}

class NonJsonCheckpoint extends DelegatingSource {
  override checkpoint(): SourceCheckpoint {
    const cp = this.inner.checkpoint();
    return { ...cp, position: { wrapped: cp.position, takenAt: new Date() } as never };
  }
  override restore(cp: SourceCheckpoint): Promise<void> {
    const position = (cp.position as { wrapped?: unknown } | null)?.wrapped;
    return this.inner.restore({ ...cp, position: position as never });
  }
}

class CloseNotIdempotent extends DelegatingSource {
  private closed = false;
  override async close(): Promise<void> {
    if (this.closed) throw new Error('already closed');
    this.closed = true;
    await this.inner.close();
  }
}

class PollsAfterClose extends DelegatingSource {
  private closed = false;
  override async close() {
    this.closed = true;
    await this.inner.close();
  }
  override async pollSnapshot(opts?: PollOptions) {
    return this.closed ? null : this.inner.pollSnapshot(opts);
  }
  override async pollChanges(opts?: PollOptions) {
    return this.closed ? null : this.inner.pollChanges(opts);
  }
}

class ChangesBeforeSnapshot extends DelegatingSource {
  override async pollChanges(opts?: PollOptions) {
    if (!this.inner.isSnapshotComplete()) return null;
    return this.inner.pollChanges(opts);
  }
}

class SchemaDrift extends DelegatingSource {
  private count = 0;
  override async pollSnapshot(opts?: PollOptions) {
    const batch = await this.inner.pollSnapshot(opts);
    if (!batch || ++this.count % 2 === 1) return batch;
    // every second batch: the name column claims another source type
    const drifted = batch.schema.fields.map((f) =>
      f.name === 'name' ? f.clone({ metadata: new Map([[METADATA.sourceType, 'varchar(20)']]) }) : f,
    );
    return new RecordBatch(new Schema(drifted, batch.schema.metadata), batch.data);
  }
}

class DeleteWithoutKey extends DelegatingSource {
  override async pollChanges(opts?: PollOptions) {
    const batch = await this.inner.pollChanges(opts);
    if (!batch) return batch;
    return rewrite(batch, (rows) => rows.map((r) => (r.changeType === 'delete' ? { ...r, values: r.values.map(() => null) } : r)));
  }
}

class DroppedTruncate extends DelegatingSource {
  override async pollChanges(opts?: PollOptions) {
    const batch = await this.inner.pollChanges(opts);
    if (!batch) return batch;
    return rewrite(batch, (rows) => rows.filter((r) => r.changeType !== 'truncate'));
  }
}

class WrongChangeType extends DelegatingSource {
  override async pollChanges(opts?: PollOptions) {
    const batch = await this.inner.pollChanges(opts);
    if (!batch) return batch;
    return rewrite(batch, (rows) => rows.map((r) => (r.changeType === 'update' ? { ...r, changeType: 'insert' as const } : r)));
  }
}

class SwallowedErrors extends DelegatingSource {
  override async pollChanges(opts?: PollOptions) {
    try {
      return await this.inner.pollChanges(opts);
    } catch (error) {
      if ((error as { kind?: string }).kind === 'transient') return null;
      throw error;
    }
  }
}

class IgnoredAbort extends DelegatingSource {
  override pollSnapshot() {
    return this.inner.pollSnapshot();
  }
  override pollChanges() {
    return this.inner.pollChanges();
  }
}

class LeakedTimer extends DelegatingSource {
  constructor(inner: ReferenceTableSource) {
    super(inner);
    leakedTimers.push(setInterval(() => undefined, 60_000));
  }
}

class LossyInt64 extends DelegatingSource {
  private lossy(batch: RecordBatch | null) {
    return (
      batch &&
      rewrite(batch, (rows) =>
        rows.map((r) => ({ ...r, values: [r.values[0] === null ? null : BigInt(Number(r.values[0])), ...r.values.slice(1)] })),
      )
    );
  }
  override async pollSnapshot(opts?: PollOptions) {
    return this.lossy(await this.inner.pollSnapshot(opts));
  }
  override async pollChanges(opts?: PollOptions) {
    return this.lossy(await this.inner.pollChanges(opts));
  }
}

class NullAsEmpty extends DelegatingSource {
  private fill(batch: RecordBatch | null) {
    return (
      batch &&
      rewrite(batch, (rows) =>
        rows.map((r) => (r.changeType === 'delete' ? r : { ...r, values: r.values.map((v, i) => (i === 5 && v === null ? '' : v)) })),
      )
    );
  }
  override async pollSnapshot(opts?: PollOptions) {
    return this.fill(await this.inner.pollSnapshot(opts));
  }
  override async pollChanges(opts?: PollOptions) {
    return this.fill(await this.inner.pollChanges(opts));
  }
}

class StaleCheckpoint extends DelegatingSource {
  private previous: SourceCheckpoint | null = null;
  private current: SourceCheckpoint | null = null;
  private remember() {
    this.previous = this.current;
    this.current = this.inner.checkpoint();
  }
  override async pollChanges(opts?: PollOptions) {
    const batch = await this.inner.pollChanges(opts);
    if (batch) this.remember();
    return batch;
  }
  override checkpoint(): SourceCheckpoint {
    // one change batch behind once changes flow: restoring it replays the last batch
    return this.inner.isSnapshotComplete() && this.previous ? this.previous : this.inner.checkpoint();
  }
}

class AcceptsForeignCheckpoint extends DelegatingSource {
  override restore(cp: SourceCheckpoint): Promise<void> {
    const own = this.inner.checkpoint();
    return this.inner.restore({ ...cp, connector: own.connector, table: own.table });
  }
}

class HidesDeletesClaim extends DelegatingSource {
  override get capabilities(): SourceCapabilities {
    return { ...this.inner.capabilities, deletes: false };
  }
}

class EagerSnapshot extends DelegatingSource {
  private queue: RecordBatch[] | null = null;
  override async pollSnapshot(opts?: PollOptions) {
    // reads the whole table on the first poll and hands it out batch by batch
    if (this.queue === null) {
      this.queue = [];
      for (let b = await this.inner.pollSnapshot(opts); b !== null; b = await this.inner.pollSnapshot(opts)) this.queue.push(b);
    }
    return this.queue.shift() ?? null;
  }
}

class OversizedBatches extends DelegatingSource {
  private buffered: RecordBatch | null = null;
  override async pollSnapshot(opts?: PollOptions) {
    // merges two batches into one, ignoring batchRows
    const a = this.buffered ?? (await this.inner.pollSnapshot(opts));
    this.buffered = null;
    if (!a) return a;
    const b = await this.inner.pollSnapshot(opts);
    if (!b) {
      this.buffered = null;
      return a;
    }
    return buildLike(a, [...rowsOf(a), ...rowsOf(b)]);
  }
}

/** Declares other capabilities than the wrapped source. */
class DeclaringCapabilities extends DelegatingSource {
  constructor(
    inner: ReferenceTableSource,
    private readonly declared: Partial<SourceCapabilities>,
  ) {
    super(inner);
  }
  override get capabilities(): SourceCapabilities {
    return { ...this.inner.capabilities, ...this.declared };
  }
}

/**
 * Behaviours that are bugs only under a stronger claim: declared honestly, the suite must
 * accept them (this proves the relaxed checks are relaxed, not skipped).
 */
export const tolerated: Fault[] = [
  {
    name: 'at-least-once-replays',
    description: 'checkpoints lag one batch (replays after restore), declared exactlyOnce = false',
    expect: '',
    wrap: (s) => new DeclaringCapabilities(new StaleCheckpoint(s), { exactlyOnce: false }),
  },
  {
    name: 'snapshot-restarts',
    description: 'mid-snapshot restore restarts the snapshot, declared midSnapshotResume = false',
    expect: '',
    wrap: (s) => new DeclaringCapabilities(new MidSnapshotRestart(s), { midSnapshotResume: false }),
  },
];

/** The fault catalogue. */
export const faults: Fault[] = [
  {
    name: 'duplicate-snapshot-row',
    description: 'a snapshot row is delivered twice',
    expect: 'SNAP-03',
    wrap: (s) => new DuplicateSnapshotRow(s),
  },
  { name: 'dropped-change', description: 'every fifth change row is lost', expect: 'CHG-05', wrap: (s) => new DroppedChange(s) },
  {
    name: 'reordered-key-changes',
    description: 'consecutive changes of one key are swapped',
    expect: 'CHG-04',
    wrap: (s) => new ReorderedKeyChanges(s),
  },
  {
    name: 'restore-ignores-checkpoint',
    description: 'restore() does nothing: the source starts over',
    expect: 'CKPT-02',
    wrap: (s) => new RestoreIgnoresCheckpoint(s),
  },
  {
    name: 'mid-snapshot-restart',
    description: 'claims midSnapshotResume but restarts the snapshot silently',
    expect: 'CKPT-04',
    wrap: (s) => new MidSnapshotRestart(s),
  },
  { name: 'non-json-checkpoint', description: 'the checkpoint holds a Date', expect: 'CKPT-01', wrap: (s) => new NonJsonCheckpoint(s) },
  { name: 'close-not-idempotent', description: 'a second close() throws', expect: 'LIFE-03', wrap: (s) => new CloseNotIdempotent(s) },
  { name: 'polls-after-close', description: 'polls after close() return null', expect: 'LIFE-04', wrap: (s) => new PollsAfterClose(s) },
  {
    name: 'changes-before-snapshot',
    description: 'pollChanges() before the snapshot returns null',
    expect: 'LIFE-02',
    wrap: (s) => new ChangesBeforeSnapshot(s),
  },
  {
    name: 'schema-drift',
    description: 'every second snapshot batch has other field metadata',
    expect: 'SCH-04',
    wrap: (s) => new SchemaDrift(s),
  },
  { name: 'delete-without-key', description: 'delete rows carry null key columns', expect: 'CHG-03', wrap: (s) => new DeleteWithoutKey(s) },
  {
    name: 'dropped-truncate',
    description: 'truncate rows are left out (truncated rows linger)',
    expect: 'CHG-11',
    wrap: (s) => new DroppedTruncate(s),
  },
  { name: 'wrong-change-type', description: 'updates are labelled insert', expect: 'CHG-02', wrap: (s) => new WrongChangeType(s) },
  { name: 'swallowed-errors', description: 'transient errors become empty polls', expect: 'ERR-02', wrap: (s) => new SwallowedErrors(s) },
  { name: 'ignored-abort', description: 'the abort signal is ignored', expect: 'ABRT-01', wrap: (s) => new IgnoredAbort(s) },
  { name: 'leaked-timer', description: 'a timer outlives close()', expect: 'LIFE-05', wrap: (s) => new LeakedTimer(s) },
  { name: 'lossy-int64', description: 'int64 values pass through a JS number', expect: 'VAL-03', wrap: (s) => new LossyInt64(s) },
  { name: 'null-as-empty', description: 'a null note arrives as an empty string', expect: 'VAL-01', wrap: (s) => new NullAsEmpty(s) },
  {
    name: 'stale-checkpoint',
    description: 'checkpoint() lags one change batch behind (duplicates after restore)',
    expect: 'CKPT-02',
    wrap: (s) => new StaleCheckpoint(s),
  },
  {
    name: 'accepts-foreign-checkpoint',
    description: 'a checkpoint of another table is accepted',
    expect: 'CKPT-07',
    wrap: (s) => new AcceptsForeignCheckpoint(s),
  },
  {
    name: 'false-deletes-claim',
    description: 'declares deletes = false but emits delete rows',
    expect: 'CHG-03N',
    capabilities: { deletes: false },
    wrap: (s) => new HidesDeletesClaim(s),
  },
  {
    name: 'eager-snapshot',
    description: 'the first snapshot poll reads the whole table into memory',
    expect: 'MEM-02',
    wrap: (s) => new EagerSnapshot(s),
  },
  { name: 'oversized-batches', description: 'snapshot batches exceed batchRows', expect: 'SNAP-04', wrap: (s) => new OversizedBatches(s) },
];
