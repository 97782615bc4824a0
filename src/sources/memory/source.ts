/**
 * MemorySource: the reference implementation of the source contract, over a
 * {@link MemoryStore}. Connector authors can read it as a template: every rule of
 * the source contract (docs/concepts.md) appears here in its simplest form.
 */
import type { RecordBatch } from 'apache-arrow';
import { z } from 'zod';
import { batchLimitFields } from '../../sdk/batch-limits.js';
import { BatchBuilder, formatPosition } from '../../sdk/batch.js';
import { makeCheckpoint, parseCheckpoint, parsePosition, type SourceCheckpoint } from '../../sdk/checkpoint.js';
import { abortError, definite, throwIfAborted, transient } from '../../sdk/errors.js';
import type { PollOptions, ReferenceTableSource, SourceCapabilities } from '../../sdk/source.js';
import type { MemoryStore } from './store.js';

/** Options of {@link MemorySource}. */
export interface MemorySourceOptions {
  /** Maximum rows per batch (default 10,000). */
  batchRows?: number;
  /** Maximum bytes per batch (default 8 MiB). */
  batchBytes?: number;
  /** How long `pollChanges` waits for a first change (default 100 ms). */
  maxWaitMs?: number;
}

const CONNECTOR = 'memory';

const snapshotPosition = z.object({ snapshotSeq: z.number().int().nonnegative(), offset: z.number().int().nonnegative() }).strict();
const changesPosition = z.object({ seq: z.number().int().nonnegative(), index: z.number().int().min(-1) }).strict();

type Phase =
  { kind: 'snapshot'; snapshotSeq: number; offset: number; rows: unknown[][] | null } | { kind: 'changes'; seq: number; index: number };

const optionsSchema = z
  .object({
    ...batchLimitFields(),
  })
  .strict();

/** A `ReferenceTableSource` reading a {@link MemoryStore}. */
export class MemorySource implements ReferenceTableSource {
  readonly capabilities: SourceCapabilities = Object.freeze({
    changes: 'log',
    deletes: true,
    exactlyOnce: true,
    midSnapshotResume: true,
    transactions: true,
    schemaEvolution: false,
  });

  private readonly options: Required<MemorySourceOptions>;
  private phase: Phase | null = null;
  private started = false;
  private closed = false;
  private interrupted = false;
  private readonly unsubscribeInterrupt: () => void;
  private readonly closeWaiters = new Set<() => void>();

  constructor(
    private readonly store: MemoryStore,
    options: MemorySourceOptions = {},
  ) {
    const parsed = optionsSchema.safeParse(options);
    if (!parsed.success) {
      throw definite(
        'CONFIG_INVALID',
        `invalid MemorySource options: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    this.options = parsed.data;
    this.unsubscribeInterrupt = store.onInterrupt(() => {
      this.interrupted = true;
    });
  }

  private get table(): string {
    return this.store.descriptor.table;
  }

  async pollSnapshot(opts: PollOptions = {}): Promise<RecordBatch | null> {
    this.assertUsable(opts.signal);
    this.started = true;
    if (this.phase === null) this.phase = { kind: 'snapshot', snapshotSeq: this.store.seq, offset: 0, rows: null };
    const phase = this.phase;
    if (phase.kind === 'changes') return null;
    if (phase.rows === null) {
      const rows = this.store.rowsAt(phase.snapshotSeq);
      if (rows === undefined) throw this.expired(phase.snapshotSeq);
      phase.rows = rows;
    }
    if (phase.offset >= phase.rows.length) {
      this.phase = { kind: 'changes', seq: phase.snapshotSeq, index: Number.MAX_SAFE_INTEGER };
      return null;
    }
    const builder = new BatchBuilder(this.store.descriptor, 'snapshot');
    while (phase.offset < phase.rows.length && builder.rows < this.options.batchRows && builder.byteLength < this.options.batchBytes) {
      builder.appendRow(phase.rows[phase.offset]!);
      phase.offset++;
    }
    return builder.finish();
  }

  isSnapshotComplete(): boolean {
    return this.phase?.kind === 'changes';
  }

  async pollChanges(opts: PollOptions = {}): Promise<RecordBatch | null> {
    this.assertUsable(opts.signal);
    const phase = this.phase;
    if (phase === null || phase.kind !== 'changes') {
      throw definite('INVALID_STATE', `pollChanges called before the snapshot of ${this.table} completed`, {
        table: this.table,
        hint: 'call pollSnapshot until it returns null first',
      });
    }
    this.started = true;
    if (phase.seq < this.store.oldestAvailableSeq) throw this.expired(phase.seq);
    let entries = this.store.changesAfter(phase.seq, phase.index, this.options.batchRows);
    if (entries.length === 0) {
      await this.waitForCommit(opts.signal);
      this.assertUsable(opts.signal);
      entries = this.store.changesAfter(phase.seq, phase.index, this.options.batchRows);
      if (entries.length === 0) return null;
    }
    const builder = new BatchBuilder(this.store.descriptor, 'changes');
    for (const entry of entries) {
      if (builder.rows > 0 && builder.byteLength >= this.options.batchBytes) break;
      builder.appendChange(entry.type, entry.values, formatPosition(entry.seq, entry.index));
      phase.seq = entry.seq;
      phase.index = entry.index;
    }
    return builder.finish();
  }

  checkpoint(): SourceCheckpoint {
    const phase = this.phase;
    if (phase === null) return makeCheckpoint(CONNECTOR, this.table, 'snapshot', { snapshotSeq: this.store.seq, offset: 0 });
    if (phase.kind === 'snapshot')
      return makeCheckpoint(CONNECTOR, this.table, 'snapshot', { snapshotSeq: phase.snapshotSeq, offset: phase.offset });
    return makeCheckpoint(CONNECTOR, this.table, 'changes', {
      seq: phase.seq,
      index: phase.index === Number.MAX_SAFE_INTEGER ? -1 : phase.index,
    });
  }

  async restore(checkpoint: SourceCheckpoint): Promise<void> {
    this.assertUsable();
    if (this.started) {
      throw definite('INVALID_STATE', 'restore must be called on a fresh source, before any poll', { table: this.table });
    }
    const cp = parseCheckpoint(checkpoint, { connector: CONNECTOR, table: this.table });
    if (cp.phase === 'snapshot') {
      const p = parsePosition(snapshotPosition, cp);
      if (p.snapshotSeq > this.store.seq) throw this.fromTheFuture(p.snapshotSeq);
      if (p.snapshotSeq < this.store.oldestAvailableSeq) throw this.expired(p.snapshotSeq);
      this.phase = { kind: 'snapshot', snapshotSeq: p.snapshotSeq, offset: p.offset, rows: null };
    } else {
      const p = parsePosition(changesPosition, cp);
      if (p.seq > this.store.seq) throw this.fromTheFuture(p.seq);
      if (p.seq < this.store.oldestAvailableSeq) throw this.expired(p.seq);
      // index -1 means "after the whole transaction seq" (snapshot point)
      this.phase = { kind: 'changes', seq: p.seq, index: p.index < 0 ? Number.MAX_SAFE_INTEGER : p.index };
    }
  }

  async commit(checkpoint: SourceCheckpoint): Promise<void> {
    this.assertUsable();
    const cp = parseCheckpoint(checkpoint, { connector: CONNECTOR, table: this.table });
    if (cp.phase === 'changes') {
      const p = parsePosition(changesPosition, cp);
      this.store.committedSeq = Math.max(this.store.committedSeq, p.seq);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribeInterrupt();
    for (const wake of this.closeWaiters) wake();
    this.closeWaiters.clear();
  }

  private assertUsable(signal?: AbortSignal): void {
    if (this.closed) throw definite('CLOSED', `source of ${this.table} is closed`, { table: this.table });
    throwIfAborted(signal);
    if (this.interrupted) {
      throw transient('CONNECTION_LOST', `connection to the memory store of ${this.table} was interrupted`, {
        table: this.table,
        hint: 'create a new source and restore the last committed checkpoint',
      });
    }
  }

  private waitForCommit(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        this.closeWaiters.delete(done);
        signal?.removeEventListener('abort', onAbort);
      };
      const finish = () => {
        done();
        resolve();
      };
      const onAbort = () => {
        done();
        reject(abortError(signal));
      };
      const unsubscribe = this.store.onCommit(finish);
      this.closeWaiters.add(finish);
      signal?.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(finish, this.options.maxWaitMs);
    });
  }

  private expired(seq: number) {
    return definite(
      'CHECKPOINT_EXPIRED',
      `position ${seq} of ${this.table} is no longer available (history kept from ${this.store.oldestAvailableSeq})`,
      {
        table: this.table,
        hint: 'delete the checkpoint to start over with a new snapshot',
      },
    );
  }

  private fromTheFuture(seq: number) {
    return definite('CHECKPOINT_INVALID', `checkpoint position ${seq} of ${this.table} is ahead of the store (at ${this.store.seq})`, {
      table: this.table,
      hint: 'the checkpoint belongs to another store; delete it to start over',
    });
  }
}
