/**
 * The sync runner: drives one table from a source into sinks (docs/runner-and-sinks.md).
 *
 * Snapshot, then changes; every batch goes to every attached sink; every `commitEvery` it
 * flushes the sinks, saves the checkpoint and the sinks' states durably in one envelope, and
 * only then calls `source.commit(cp)`. Transient errors re-create the source from its factory
 * and restore the last committed checkpoint into the source and the sinks (so sinks see
 * replays, never gaps); definite errors stop the run with their code.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { RecordBatch } from 'apache-arrow';
import { MemoryCheckpointStore, type CheckpointStore, type StoredCheckpoint } from './checkpoint-store.js';
import type { JsonValue, SourceCheckpoint } from './checkpoint.js';
import { ConnectorError, definite, isAbortError, toConnectorError } from './errors.js';
import type { Sink } from './sink.js';
import type { ReferenceTableSource, SourceFactory } from './source.js';
import type { ReferenceTable } from './table.js';
import { batchInfo } from './batch.js';
import { isLeaseLost, leaseLost, type LeaseStore } from './lease.js';
import { Leadership, type LeaderTerm } from './leadership.js';

/** Points between the steps of a commit where a test can simulate a crash. */
export type KillPoint = 'after-write' | 'after-flush' | 'after-save' | 'after-commit';

/** Options of {@link sync}. */
export interface SyncOptions {
  /** The source, or a factory (needed for reconnecting after transient errors). */
  source: ReferenceTableSource | SourceFactory;
  /** Where batches go. What a failing sink does to the run is set by `onSinkFault`. */
  sinks: Sink[];
  /**
   * What a definite sink failure does (default `'stop'`):
   * - `'stop'`: the run ends with that error (naming the sink) before anything past the
   *   failure is committed, so a restart replays into the repaired sink what it missed.
   *   A transient sink failure fails the attempt: the runner backs off and resumes from the
   *   last committed checkpoint.
   * - `'detach'`: the sink is detached (`sink-fault`) while the others keep receiving
   *   batches, but no checkpoint is committed while any sink is detached (the source releases
   *   nothing it does not hold). `reconcile(sink)` re-attaches it, after which commits resume;
   *   a restart replays from the last checkpoint every sink holds.
   */
  onSinkFault?: 'stop' | 'detach';
  /** Where the last committed checkpoint is kept (default: in memory). */
  checkpoints?: CheckpointStore;
  /** Commit when this many rows were delivered or this much time passed (default 50,000 rows / 1,000 ms). */
  commitEvery?: { rows?: number; ms?: number };
  /**
   * Reconnect policy for transient errors (jittered exponential backoff, `initialDelayMs` 200
   * doubling to `maxDelayMs` 30,000). Until the source has answered a first poll, only
   * `startupAttempts` (3) are made, so a wrong host or a server that is down fails fast. After
   * that the runner keeps trying for `giveUpAfterMs` (default 5 minutes, longer than a managed
   * database's failover or restart) since the first failure without a commit in between, and
   * at most `maxAttempts` times (default: no count limit).
   */
  retry?: { maxAttempts?: number; startupAttempts?: number; initialDelayMs?: number; maxDelayMs?: number; giveUpAfterMs?: number };
  /** Stop once the snapshot is complete and committed (one-shot snapshot). */
  stopAfterSnapshot?: boolean;
  /** Stop (after committing) once this returns true; checked after every poll. */
  until?: (progress: SyncProgress) => boolean;
  /** Aborting stops the run like `stop()`. */
  signal?: AbortSignal;
  /** Stop gracefully on SIGINT/SIGTERM: finish the batch in flight, commit, close. */
  handleSignals?: boolean;
  /**
   * Runner-side state, kept up to date with every delivered batch; `reconcile(sink)`
   * re-seeds a detached sink from it. Defaults to the table of a `MemorySink` among `sinks`.
   */
  state?: ReferenceTable;
  /** Close the sinks when the run ends (default true). */
  closeSinks?: boolean;
  /** Fault injection for tests: throwing here simulates a crash at that point (nothing is closed or committed). */
  killPoint?: (point: KillPoint, progress: SyncProgress) => void;
  /**
   * High availability (docs/operations.md): run as one replica of a group, reading only while
   * this replica holds the group's lease. Needs a checkpoint store with `fencing` (checkpoint
   * saves are compare-and-set on the lease's epoch) and sinks with `fence`; anything else is
   * refused with `CONFIG_INVALID`. A replica that loses the lease stops reading, closes its
   * source (releasing the replication slot), drops what it did not commit, and waits as a
   * standby again; `done` resolves only when the run is stopped.
   */
  ha?: HaOptions;
}

/**
 * How a run takes part in high availability: `{ group, … }` elects with the checkpoint store's
 * leases (the run creates, and at its end closes, the {@link Leadership}); `{ leadership }`
 * shares one (one lease for several tables; its owner closes it).
 */
export type HaOptions =
  | {
      /** The replicas of one sync share a group name. */
      group: string;
      /** This replica's name in the group (default `<hostname>:<pid>`). */
      replicaId?: string;
      /** Lease time in ms (default 4000). */
      leaseMs?: number;
      /** Where the lease lives (default: the checkpoint store's `leaseStore()`). */
      leases?: LeaseStore;
    }
  | { leadership: Leadership };

/** Counters of a run. */
export interface SyncProgress {
  /** `standby`: a replica (high availability) waiting for the lease. */
  phase: 'starting' | 'snapshot' | 'changes' | 'stopped' | 'standby';
  snapshotRows: number;
  changeRows: number;
  batches: number;
  commits: number;
  retries: number;
  lastCheckpoint: SourceCheckpoint | null;
  lastCommitAt: number | null;
  detachedSinks: string[];
}

/** The progress of a run that has not started: nothing delivered, nothing committed. */
export function initialProgress(): SyncProgress {
  return {
    phase: 'starting',
    snapshotRows: 0,
    changeRows: 0,
    batches: 0,
    commits: 0,
    retries: 0,
    lastCheckpoint: null,
    lastCommitAt: null,
    detachedSinks: [],
  };
}

/** Why a run ended. */
export type StopReason = 'stop' | 'signal' | 'abort' | 'snapshot' | 'until';

/** The outcome of a run. */
export interface SyncResult extends SyncProgress {
  stoppedBy: StopReason;
}

/** Events emitted by {@link SyncRun}. */
export interface SyncEvents {
  'snapshot-start': [info: { restart: boolean }];
  batch: [info: { kind: 'snapshot' | 'changes'; rows: number }];
  'snapshot-complete': [info: { rows: number }];
  commit: [info: { checkpoint: SourceCheckpoint; rows: number }];
  /** A sink failed; with `onSinkFault: 'detach'` it is detached, otherwise the run stops with `error`. */
  'sink-fault': [info: { sink: string; error: ConnectorError }];
  'sink-reconciled': [info: { sink: string }];
  retry: [info: { attempt: number; delayMs: number; error: ConnectorError }];
  /** High availability: this replica leads (its writes are fenced by `epoch`). */
  leader: [info: { group: string; epoch: number }];
  /** High availability: this replica lost the lease (or could not confirm it) and waits as a standby again. */
  standby: [info: { group: string; epoch: number; reason: string }];
}

interface AttachedSink {
  sink: Sink;
  attached: boolean;
  /** Failed transiently: `reset()` before the next attempt. */
  needsReset: boolean;
}

const DEFAULT_COMMIT_ROWS = 50_000;
const DEFAULT_COMMIT_MS = 1_000;

/** A running sync. Await `done`; call `stop()` for a graceful end. */
export class SyncRun extends EventEmitter<SyncEvents> {
  /** Resolves when the run ends gracefully; rejects with the ConnectorError that stopped it. */
  readonly done: Promise<SyncResult>;
  readonly progress: SyncProgress = initialProgress();

  private readonly sinks: AttachedSink[];
  private readonly store: CheckpointStore;
  private readonly stopController = new AbortController();
  private stopReason: StopReason | null = null;
  private readonly pendingReconciles: Array<{ sink: AttachedSink; resolve: () => void; reject: (e: unknown) => void }> = [];
  private source: ReferenceTableSource | null = null;
  private snapshotDelivered = false;
  /** Snapshot rows delivered in the current attempt (a snapshot checkpoint before any is not saved). */
  private attemptSnapshotRows = 0;
  private everPolled = false;
  /** The last checkpoint saved or loaded, with the sink states committed with it. */
  private committed: StoredCheckpoint | null = null;
  /** High availability: the term this replica leads in, while it does. */
  private term: LeaderTerm | null = null;

  constructor(private readonly options: SyncOptions) {
    super();
    this.sinks = options.sinks.map((sink) => ({ sink, attached: true, needsReset: false }));
    this.store = options.checkpoints ?? new MemoryCheckpointStore();
    this.done = this.run();
    // The run reports failures through `done`; avoid unhandled-rejection noise when nobody awaits.
    this.done.catch(() => {});
  }

  /** Requests a graceful stop: the batch in flight is finished, committed, and the source closed. */
  stop(reason: StopReason = 'stop'): void {
    if (this.stopReason === null) this.stopReason = reason;
    this.stopController.abort();
  }

  /**
   * Re-attaches a detached sink: it is re-seeded from the runner's state (a snapshot of the
   * current rows) and then fed live changes again.
   */
  reconcile(sink: Sink): Promise<void> {
    const entry = this.sinks.find((s) => s.sink === sink);
    if (!entry) return Promise.reject(definite('INVALID_STATE', `sink ${sink.name} is not part of this run`));
    if (!this.stateTable()) {
      return Promise.reject(
        definite('INVALID_STATE', 'reconcile needs runner state', {
          hint: 'pass `state: new ReferenceTable()` to sync() or include a MemorySink',
        }),
      );
    }
    return new Promise((resolve, reject) => this.pendingReconciles.push({ sink: entry, resolve, reject }));
  }

  private stateTable(): ReferenceTable | undefined {
    if (this.options.state) return this.options.state;
    for (const { sink } of this.sinks) {
      const table = (sink as { table?: unknown }).table;
      if (sink.name.startsWith('memory') && table && typeof (table as ReferenceTable).toArrow === 'function')
        return table as ReferenceTable;
    }
    return undefined;
  }

  private async run(): Promise<SyncResult> {
    const signalHandlers = this.installSignalHandlers();
    const external = this.options.signal;
    const onExternalAbort = () => this.stop('abort');
    external?.addEventListener('abort', onExternalAbort, { once: true });
    if (external?.aborted) this.stop('abort');
    try {
      await this.runWithRetries();
      this.progress.phase = 'stopped';
      if (this.options.closeSinks !== false) await this.closeSinks();
      return { ...this.progress, stoppedBy: this.stopReason ?? 'stop' };
    } catch (error) {
      this.progress.phase = 'stopped';
      if (this.options.closeSinks !== false) await this.closeSinks().catch(() => {});
      throw error;
    } finally {
      external?.removeEventListener('abort', onExternalAbort);
      signalHandlers();
    }
  }

  private installSignalHandlers(): () => void {
    if (!this.options.handleSignals) return () => {};
    const onSignal = () => this.stop('signal');
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    return () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
  }

  private async runWithRetries(): Promise<void> {
    this.checkSinkNames();
    if (this.options.ha) return this.runAsReplica(this.options.ha);
    this.committed = await this.store.load();
    this.progress.lastCheckpoint = this.committed?.checkpoint ?? null;
    await this.attemptWithRetries();
  }

  /**
   * Attempts until the run stops, retrying transient failures from the last committed
   * checkpoint. Under a term (high availability), any failure is first checked against the
   * lease: a replica that no longer holds it stops with `LEASE_LOST`.
   */
  private async attemptWithRetries(): Promise<void> {
    const retry = {
      maxAttempts: Number.POSITIVE_INFINITY,
      startupAttempts: 3,
      initialDelayMs: 200,
      maxDelayMs: 30_000,
      giveUpAfterMs: 300_000,
      ...this.options.retry,
    };
    let attempt = 0;
    /** When the current run of failures (no commit in between) began. */
    let failingSince = 0;
    for (;;) {
      const commitsBefore = this.progress.commits;
      try {
        await this.runAttempt(this.committed);
        return;
      } catch (error) {
        await this.closeSourceQuietly();
        const failure = await this.failureUnderTerm(toConnectorError(error));
        if (failure.kind !== 'transient') throw failure;
        if (typeof this.options.source !== 'function') {
          throw new ConnectorError(failure.code, failure.message, {
            kind: 'definite',
            cause: failure,
            hint: 'pass a source factory (() => new …Source(config)) so the runner can reconnect',
            ...(failure.table !== undefined ? { table: failure.table } : {}),
          });
        }
        if (this.progress.commits > commitsBefore || attempt === 0) {
          attempt = 0;
          failingSince = Date.now();
        }
        attempt++;
        const elapsedMs = Date.now() - failingSince;
        const exhausted = this.everPolled
          ? attempt > retry.maxAttempts || (attempt > 1 && elapsedMs >= retry.giveUpAfterMs)
          : attempt > retry.startupAttempts;
        if (exhausted) {
          const what = this.everPolled
            ? `${attempt - 1} reconnect attempts over ${Math.round(elapsedMs / 1000)} s`
            : `${retry.startupAttempts} reconnect attempts at startup`;
          throw definite('RETRIES_EXHAUSTED', `gave up after ${what}: ${failure.message}`, {
            cause: failure,
            hint: 'check that the upstream server is reachable, then restart',
            ...(failure.table !== undefined ? { table: failure.table } : {}),
          });
        }
        const ceiling = Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** (attempt - 1));
        const delayMs = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
        this.progress.retries++;
        this.emit('retry', { attempt, delayMs, error: failure });
        if (await this.sleepUnlessStopped(delayMs)) return;
      }
    }
  }

  /** Sink states are keyed by name: two sinks with state under one name would overwrite each other. */
  private checkSinkNames(): void {
    const seen = new Set<string>();
    for (const { sink } of this.sinks) {
      if (typeof sink.checkpointState !== 'function') continue;
      if (seen.has(sink.name)) {
        throw definite('CONFIG_INVALID', `two sinks are named ${sink.name}; their checkpoint states would overwrite each other`, {
          hint: 'give every sink its own output (file path)',
        });
      }
      seen.add(sink.name);
    }
  }

  private async runAttempt(stored: StoredCheckpoint | null): Promise<void> {
    await this.resetSinks();
    this.attemptSnapshotRows = 0;
    const term = this.term;
    if (term) {
      // sinks fence off older epochs first, then the lease is confirmed: a replica that lost
      // it in between finds out here, before anything is written
      await this.forEachSink((s) => s.fence!(term.fence));
      await term.confirm();
    }
    // Sinks first: a sink whose committed state cannot be honoured stops the run before any connection.
    if (stored) await this.forEachSink((s) => s.restore?.(stored.sinks[s.name] ?? null) ?? Promise.resolve());
    const committed = stored?.checkpoint ?? null;
    const source = typeof this.options.source === 'function' ? await this.options.source() : this.options.source;
    this.source = source;
    if (term) source.leadWith?.(term);
    if (committed) await source.restore(committed);
    const signal = term ? AbortSignal.any([this.stopController.signal, term.signal]) : this.stopController.signal;
    const commitRows = this.options.commitEvery?.rows ?? DEFAULT_COMMIT_ROWS;
    const commitMs = this.options.commitEvery?.ms ?? DEFAULT_COMMIT_MS;
    let rowsSinceCommit = 0;
    let lastCommit = Date.now();

    if (!source.isSnapshotComplete()) {
      this.progress.phase = 'snapshot';
      const fromScratch =
        committed === null ||
        source.restartsSnapshot?.() === true ||
        (committed.phase === 'snapshot' && !source.capabilities.midSnapshotResume);
      if (fromScratch) {
        const restart = committed !== null || this.snapshotDelivered;
        await this.forEachSink((s) => s.snapshotStart?.({ restart }) ?? Promise.resolve());
        this.stateTable()?.clear();
        this.emit('snapshot-start', { restart });
      }
    } else {
      this.progress.phase = 'changes';
    }

    for (;;) {
      await this.processReconciles();
      if (this.stopReason !== null) break;
      this.checkTerm();
      const inSnapshot = !source.isSnapshotComplete();
      let batch: RecordBatch | null;
      try {
        batch = inSnapshot ? await source.pollSnapshot({ signal }) : await source.pollChanges({ signal });
      } catch (error) {
        if (isAbortError(error) && this.stopReason !== null) break;
        this.checkTerm();
        throw error;
      }
      this.everPolled = true;
      if (batch !== null) {
        await this.deliver(batch);
        rowsSinceCommit += batch.numRows;
        if (inSnapshot) {
          this.progress.snapshotRows += batch.numRows;
          this.attemptSnapshotRows += batch.numRows;
        } else this.progress.changeRows += batch.numRows;
        this.progress.batches++;
        this.emit('batch', { kind: inSnapshot ? 'snapshot' : 'changes', rows: batch.numRows });
        this.options.killPoint?.('after-write', this.progress);
      } else if (inSnapshot) {
        await this.forEachSink((s) => s.snapshotComplete?.() ?? Promise.resolve());
        this.progress.phase = 'changes';
        this.emit('snapshot-complete', { rows: this.progress.snapshotRows });
        await this.commit(source, rowsSinceCommit);
        rowsSinceCommit = 0;
        lastCommit = Date.now();
        if (this.options.stopAfterSnapshot) {
          this.stopReason ??= 'snapshot';
          break;
        }
        continue;
      }
      if (this.options.until?.(this.progress)) this.stopReason ??= 'until';
      if (rowsSinceCommit >= commitRows || Date.now() - lastCommit >= commitMs) {
        await this.commit(source, rowsSinceCommit);
        rowsSinceCommit = 0;
        lastCommit = Date.now();
      }
    }
    // Graceful stop: commit what was delivered, then close.
    await this.commit(source, rowsSinceCommit);
    await this.closeSourceQuietly();
  }

  /** Under a term that has ended (or whose deadline passed): stop with `LEASE_LOST`. */
  private checkTerm(): void {
    const term = this.term;
    if (term && !term.active) throw leaseLost(term.fence, 'the term ended');
  }

  /**
   * Under a term, a failure is what it says only while the lease is still this replica's (a
   * replica that lost it sees errors caused by the new leader: its slot connection ended, its
   * checkpoint expired, its producer fenced): confirmed at the store, else this throws
   * `LEASE_LOST`. A `LEASE_LOST` from a sink while the lease is confirmed (another replica's
   * start fenced this one's producer) is returned, and retried: the next attempt fences again.
   */
  private async failureUnderTerm(failure: ConnectorError): Promise<ConnectorError> {
    const term = this.term;
    if (!term) return failure;
    if (!(await this.stillLeading(term))) throw leaseLost(term.fence, `the lease moved on (then: ${failure.code}: ${failure.message})`);
    return failure;
  }

  /** The term is active and the store confirms it (a store that cannot answer does not confirm). */
  private async stillLeading(term: LeaderTerm): Promise<boolean> {
    if (!term.active) return false;
    try {
      await term.confirm();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * High availability: waits as a standby until this replica holds the lease, runs while it
   * does, and goes back to standby when it loses it, until the run is stopped.
   */
  private async runAsReplica(ha: HaOptions): Promise<void> {
    const leadership = 'leadership' in ha ? ha.leadership : this.ownLeadership(ha);
    const owned = !('leadership' in ha);
    try {
      this.checkFenceable();
      for (;;) {
        this.progress.phase = 'standby';
        let term: LeaderTerm;
        try {
          term = await leadership.acquire(this.stopController.signal);
        } catch (error) {
          if (isAbortError(error) && this.stopReason !== null) return;
          throw error;
        }
        this.term = term;
        this.progress.phase = 'starting';
        this.emit('leader', { group: term.fence.group, epoch: term.epoch });
        try {
          // the previous epoch's last save committed before this term's lease did
          this.committed = await this.store.load();
          this.progress.lastCheckpoint = this.committed?.checkpoint ?? null;
          await this.attemptWithRetries();
          return;
        } catch (error) {
          if (!isLeaseLost(error) && (await this.stillLeading(term))) throw error;
          await this.standDown();
          this.emit('standby', { group: term.fence.group, epoch: term.epoch, reason: toConnectorError(error).message });
        } finally {
          this.term = null;
        }
      }
    } finally {
      if (owned) await leadership.close();
    }
  }

  private ownLeadership(ha: Exclude<HaOptions, { leadership: Leadership }>): Leadership {
    let leases = ha.leases;
    if (!leases) {
      if (typeof this.store.leaseStore !== 'function') {
        throw definite('CONFIG_INVALID', 'high availability needs a checkpoint store that keeps leases', {
          hint: 'use a PostgresCheckpointStore (CLI: --checkpoint postgres://…), or pass ha.leases',
        });
      }
      leases = this.store.leaseStore();
    }
    return new Leadership({
      leases,
      group: ha.group,
      replicaId: ha.replicaId ?? defaultReplicaId(),
      ...(ha.leaseMs !== undefined ? { leaseMs: ha.leaseMs } : {}),
    });
  }

  /** High availability refuses what a replica that lost the lease could still write to. */
  private checkFenceable(): void {
    if (typeof this.options.source !== 'function') {
      throw definite('CONFIG_INVALID', 'high availability needs a source factory: every term of leadership opens a new source', {
        hint: 'pass source: () => new …Source(config)',
      });
    }
    if (this.store.fencing !== true) {
      throw definite('CONFIG_INVALID', 'high availability needs a checkpoint store whose saves are fenced by the lease epoch', {
        hint: 'use a PostgresCheckpointStore (CLI: --checkpoint postgres://…)',
      });
    }
    const unfenced = this.sinks.filter(({ sink }) => typeof sink.fence !== 'function').map(({ sink }) => sink.name);
    if (unfenced.length > 0) {
      throw definite(
        'CONFIG_INVALID',
        `high availability needs sinks that can be fenced; ${unfenced.join(', ')} cannot keep a replica that lost the lease from writing`,
        {
          hint: 'use Postgres table sinks, transactional Kafka sinks (transactions: true) or memory sinks under high availability',
        },
      );
    }
  }

  /** A replica that lost the lease: closes its source, drops what it did not commit, and forgets its position. */
  private async standDown(): Promise<void> {
    await this.closeSourceQuietly();
    for (const entry of this.sinks) {
      if (!entry.attached || typeof entry.sink.reset !== 'function') continue;
      try {
        await entry.sink.reset();
        entry.needsReset = false;
      } catch {
        entry.needsReset = true; // tried again before the next term's first attempt
      }
    }
    this.progress.lastCheckpoint = null;
    this.committed = null;
  }

  private async deliver(batch: RecordBatch): Promise<void> {
    this.stateTable()?.apply(batch);
    if (batchInfo(batch).kind === 'snapshot') this.snapshotDelivered = true;
    await this.forEachSink((s) => s.write(batch));
  }

  /**
   * Flush → save (source checkpoint and sink states in one envelope) → commit. The source
   * never hears of a checkpoint that is not durable in every sink.
   */
  private async commit(source: ReferenceTableSource, rows: number): Promise<void> {
    const checkpoint = source.checkpoint();
    const last = this.progress.lastCheckpoint;
    if (rows === 0 && last !== null && JSON.stringify(last) === JSON.stringify(checkpoint)) return;
    // Stopped before the first snapshot row: a snapshot checkpoint now would make the next run
    // skip `snapshotStart` although this run delivered nothing worth resuming.
    if (last === null && checkpoint.phase === 'snapshot' && this.attemptSnapshotRows === 0) return;
    await this.forEachSink((s) => s.flush());
    this.options.killPoint?.('after-flush', this.progress);
    // A detached sink does not hold what the others hold: commit nothing past it.
    if (this.sinks.some((s) => !s.attached)) return;
    const states: Record<string, JsonValue> = {};
    for (const { sink } of this.sinks) {
      const state = sink.checkpointState?.();
      if (state !== undefined && state !== null) states[sink.name] = state;
    }
    const stored: StoredCheckpoint = { checkpoint, sinks: states };
    const term = this.term;
    if (term) {
      this.checkTerm();
      await this.store.save(stored, term.fence);
    } else await this.store.save(stored);
    this.committed = stored;
    this.progress.lastCheckpoint = checkpoint;
    this.options.killPoint?.('after-save', this.progress);
    await source.commit?.(checkpoint);
    this.progress.commits++;
    this.progress.lastCommitAt = Date.now();
    this.emit('commit', { checkpoint, rows });
    this.options.killPoint?.('after-commit', this.progress);
  }

  /**
   * Runs `op` on every attached sink. A transient failure fails the attempt (the runner backs
   * off, resets and restores the sinks, and replays from the last checkpoint) when the sink can
   * `reset` or the run stops on sink faults. Otherwise, with `onSinkFault: 'detach'` the sink is
   * detached and the others continue; by default the run stops with the sink's error.
   */
  private async forEachSink(op: (sink: Sink) => Promise<void>): Promise<void> {
    const attached = this.sinks.filter((s) => s.attached);
    const detachMode = this.options.onSinkFault === 'detach';
    let retryable: ConnectorError | null = null;
    let fatal: ConnectorError | null = null;
    await Promise.all(
      attached.map(async (entry) => {
        try {
          await op(entry.sink);
        } catch (error) {
          const failure = sinkFailure(entry.sink, error);
          if (isLeaseLost(failure)) {
            // fenced off by a newer epoch: never a reason to detach the sink
            retryable ??= failure;
            if (typeof entry.sink.reset === 'function') entry.needsReset = true;
          } else if (failure.kind === 'transient' && (typeof entry.sink.reset === 'function' || !detachMode)) {
            if (typeof entry.sink.reset === 'function') entry.needsReset = true;
            retryable ??= failure;
          } else if (detachMode) {
            this.detach(entry, error);
          } else {
            this.emit('sink-fault', { sink: entry.sink.name, error: failure });
            fatal ??= failure;
          }
        }
      }),
    );
    if (fatal !== null) throw fatal;
    if (retryable !== null) throw retryable;
    if (this.sinks.length > 0 && this.sinks.every((s) => !s.attached)) {
      throw definite('ALL_SINKS_FAILED', `every sink failed (${this.progress.detachedSinks.join(', ')})`, {
        hint: 'fix the sinks (see the sink-fault events) and restart; the checkpoint was not advanced past the failure',
      });
    }
  }

  /** Resets the sinks that failed transiently (a failed reset is retried, or detaches when definite). */
  private async resetSinks(): Promise<void> {
    for (const entry of this.sinks) {
      if (!entry.attached || !entry.needsReset) continue;
      try {
        await entry.sink.reset!();
        entry.needsReset = false;
      } catch (error) {
        if (ConnectorError.is(error) && error.kind === 'transient') throw error;
        if (this.options.onSinkFault !== 'detach') throw sinkFailure(entry.sink, error);
        this.detach(entry, error);
      }
    }
  }

  private detach(entry: AttachedSink, error: unknown): void {
    if (!entry.attached) return;
    entry.attached = false;
    this.progress.detachedSinks.push(entry.sink.name);
    const failure = ConnectorError.is(error)
      ? error
      : definite('SINK_FAILED', `sink ${entry.sink.name} failed: ${error instanceof Error ? error.message : String(error)}`, {
          cause: error,
        });
    this.emit('sink-fault', { sink: entry.sink.name, error: failure });
  }

  private async processReconciles(): Promise<void> {
    while (this.pendingReconciles.length > 0) {
      const { sink: entry, resolve, reject } = this.pendingReconciles.shift()!;
      try {
        const state = this.stateTable()!;
        const { sink } = entry;
        await sink.snapshotStart?.({ restart: true });
        if (state.fields.length > 0) await sink.write(state.toArrow());
        if (this.progress.phase === 'changes') await sink.snapshotComplete?.();
        await sink.flush();
        if (!entry.attached) {
          entry.attached = true;
          this.progress.detachedSinks = this.progress.detachedSinks.filter((n) => n !== sink.name);
        }
        this.emit('sink-reconciled', { sink: sink.name });
        resolve();
      } catch (error) {
        reject(toConnectorError(error, 'SINK_FAILED'));
      }
    }
  }

  private async closeSinks(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.sink.close().catch((error) => this.detach(s, error))));
  }

  private async closeSourceQuietly(): Promise<void> {
    const source = this.source;
    this.source = null;
    if (source) await source.close().catch(() => {});
  }

  private sleepUnlessStopped(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.stopReason !== null) return resolve(true);
      const signal = this.stopController.signal;
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(false);
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        resolve(true);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** A sink's failure as a ConnectorError that names the sink (its code and kind kept). */
function sinkFailure(sink: Sink, error: unknown): ConnectorError {
  if (ConnectorError.is(error)) {
    return new ConnectorError(error.code, `sink ${sink.name}: ${error.message}`, {
      kind: error.kind,
      cause: error,
      hint: error.hint ?? 'fix the sink and restart: nothing past the failure was committed, so the restart replays what the sink missed',
      ...(error.table !== undefined ? { table: error.table } : {}),
    });
  }
  return definite('SINK_FAILED', `sink ${sink.name} failed: ${error instanceof Error ? error.message : String(error)}`, {
    cause: error,
    hint: 'fix the sink and restart: nothing past the failure was committed, so the restart replays what the sink missed',
  });
}

/** This process's default name in a replica group: `<hostname>:<pid>`. */
export function defaultReplicaId(): string {
  return `${hostname()}:${process.pid}`;
}

/**
 * Starts syncing one table from `source` into `sinks`. Returns the running {@link SyncRun};
 * `await run.done` for the result.
 */
export function sync(options: SyncOptions): SyncRun {
  return new SyncRun(options);
}
