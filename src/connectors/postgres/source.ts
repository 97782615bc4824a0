/**
 * `PostgresSource`: a ReferenceTableSource over a PostgreSQL table — a consistent COPY
 * snapshot, then the table's changes from a logical replication slot (pgoutput).
 *
 * The class holds the lifecycle (phases, restore, commit, close) and delegates: connecting to
 * table-session.ts, the snapshot to snapshot-phase.ts, the change stream to change-phase.ts,
 * checkpoints to source-checkpoint.ts and the restore-time checks to restore-checks.ts.
 * With `capture: 'trigger'` every call goes to trigger/source.ts instead.
 */
import type { RecordBatch } from 'apache-arrow';
import type { PollOptions, ReferenceTableSource, SourceCapabilities } from '../../sdk/source.js';
import type { LeaderTerm } from '../../sdk/leadership.js';
import type { SourceCheckpoint } from '../../sdk/checkpoint.js';
import { ConnectorError, definite, throwIfAborted } from '../../sdk/errors.js';
import { PollGate } from '../../sdk/poll-gate.js';
import { resolveConfig, type PostgresSourceConfig, type ResolvedConfig } from './config.js';
import { displayName } from './identifiers.js';
import { parseLsn } from './lsn.js';
import { recordPartitions } from './partitions.js';
import { storageRewritten } from './snapshot-storage.js';
import { checkIdentity } from './checkpoint.js';
import { TableSession } from './table-session.js';
import { noSnapshot, SnapshotPhase } from './snapshot-phase.js';
import { ChangePhase } from './change-phase.js';
import {
  changesCheckpoint,
  changeStartOf,
  completedOneShotCheckpoint,
  readCheckpoint,
  snapshotCheckpoint,
  snapshotStateOf,
} from './source-checkpoint.js';
import { checkKeyUnchanged, checkSlotMatches, droppedInvalidatedSlot, recheckPartitions, sameSpecs } from './restore-checks.js';
import type { CaptureMembership } from './capture/membership.js';
import { TriggerCaptureSource } from './trigger/source.js';
import { isTriggerCheckpoint } from './trigger/checkpoint.js';

export { POSTGRES_CONNECTOR } from './source-checkpoint.js';

/** Options of {@link PostgresSource.close}. */
export interface PostgresCloseOptions {
  /**
   * Also drop the replication slot (for throwaway use; the next start takes a new snapshot).
   * Ignored for a table of a {@link PostgresCapture}, whose slot the capture owns.
   */
  dropSlot?: boolean;
}

/**
 * Reads one PostgreSQL table: snapshot, then changes, with exact checkpoints.
 *
 * ```ts
 * const source = new PostgresSource({ connectionString, table: 'public.customers' });
 * ```
 *
 * The constructor validates the config (definite `CONFIG_INVALID` listing every problem) and
 * opens no connection; the first poll or `restore` connects.
 */
export class PostgresSource implements ReferenceTableSource {
  readonly capabilities: SourceCapabilities;

  /** Validated configuration. */
  readonly config: ResolvedConfig;
  /** Qualified table name used in metadata, checkpoints and errors. */
  readonly table: string;

  /** The SQL connection and what connecting read about the table. */
  private readonly session: TableSession;
  private started: Promise<void> | null = null;
  private phase: 'snapshot' | 'changes' = 'snapshot';
  /** The snapshot and its progress. */
  private readonly snapshot: SnapshotPhase;
  /** The change stream and where it starts. */
  private readonly changes: ChangePhase;
  /** Set when `restore` discarded its checkpoint (the slot was invalidated, or the table rewritten mid-snapshot). */
  private restartedSnapshot = false;
  private restored = false;
  private polled = false;
  private closed = false;
  /** One poll at a time: a concurrent poll is rejected with BUSY. */
  private readonly gate: PollGate;
  /** Trigger capture (`capture: 'trigger'`), which then serves every call; `null` for logical replication. */
  private readonly trigger: TriggerCaptureSource | null;

  /**
   * @param membership - set by {@link PostgresCapture.source}: the table shares the capture's
   *   slot, publication, exported snapshots and change stream
   */
  constructor(
    config: PostgresSourceConfig,
    private readonly membership: CaptureMembership | null = null,
  ) {
    this.config = resolveConfig(config);
    this.table = displayName(this.config.tableName);
    this.gate = new PollGate(this.table);
    this.trigger = this.config.capture === 'trigger' && !this.oneShot ? new TriggerCaptureSource(this.config, this.table) : null;
    this.session = new TableSession(this.config, this.table, this.slot, membership);
    this.snapshot = new SnapshotPhase(this.session, this.config, this.table, this.oneShot, membership);
    this.changes = new ChangePhase(this.session, this.config, this.table, () => this.closed, membership);
    this.capabilities = Object.freeze(
      this.oneShot
        ? { changes: 'none', deletes: false, exactlyOnce: false, midSnapshotResume: false, transactions: false, schemaEvolution: false }
        : (this.trigger?.capabilities ?? {
            changes: 'log',
            deletes: true,
            exactlyOnce: true,
            midSnapshotResume: true,
            transactions: true,
            schemaEvolution: this.config.schemaEvolution,
          }),
    );
  }

  /** A one-shot snapshot (`mode: 'snapshot-only'`): no slot, no publication, no changes. */
  private get oneShot(): boolean {
    return this.config.mode === 'snapshot-only';
  }

  /** The replication slot this source uses, `null` for a one-shot snapshot. */
  private get slot(): string | null {
    return this.oneShot ? null : this.config.slotName;
  }

  /**
   * True when `restore` discarded its checkpoint and the snapshot starts over: the slot had
   * been invalidated (with `onSlotInvalidated: 'resnapshot'`), or the table was rewritten
   * (VACUUM FULL, CLUSTER, …) while its snapshot was interrupted, so the recorded ctids mean
   * nothing. Sinks must replace their content, so the runner sends `snapshotStart({ restart: true })`.
   */
  restartsSnapshot(): boolean {
    if (this.trigger) return this.trigger.restartsSnapshot();
    return this.restartedSnapshot;
  }

  /**
   * High availability: the runner leads its replica group with `term`. The replication slot
   * (or, with trigger capture, the consumer's lock) may then be taken from a refstream reader
   * of a replica that lost the lease: its session is ended once the lease is confirmed.
   */
  leadWith(term: LeaderTerm): void {
    if (this.trigger) return this.trigger.leadWith(term);
    if (this.membership) return this.membership.leadWith(term);
    this.changes.term = term;
  }

  // ---- lifecycle -------------------------------------------------------------------------

  private ensureOpen(): void {
    if (this.closed) throw definite('CLOSED', `source of ${this.table} is closed`, { table: this.table });
  }

  private async start(): Promise<void> {
    this.started ??= this.session.connect();
    try {
      await this.started;
    } catch (error) {
      this.started = null;
      throw error;
    }
  }

  /** Runs `fn` as the only poll in flight (see {@link PollGate}) on an open source. */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.ensureOpen();
    return this.gate.run(async () => {
      try {
        return await fn();
      } catch (error) {
        // a poll interrupted by close() reports CLOSED, not the connection errors close caused
        if (this.closed && (error as Error)?.name !== 'AbortError')
          throw definite('CLOSED', `source of ${this.table} was closed during the poll`, { table: this.table });
        this.reportStop(error);
        throw error;
      }
    });
  }

  /** A definite error stops the table: in a capture, it then no longer holds the slot back. */
  private reportStop(error: unknown): void {
    if (!this.membership || !ConnectorError.is(error) || error.kind !== 'definite') return;
    if (error.code === 'INVALID_STATE' || error.code === 'BUSY' || error.code === 'CLOSED') return; // misuse, not the table's state
    this.membership.failed(error);
  }

  // ---- snapshot --------------------------------------------------------------------------

  async pollSnapshot(opts: PollOptions = {}): Promise<RecordBatch | null> {
    if (this.trigger) return this.trigger.pollSnapshot(opts);
    return this.exclusive(async () => {
      throwIfAborted(opts.signal);
      this.polled = true;
      this.membership?.settled();
      if (this.phase === 'changes') return null;
      await this.start();
      if (!this.snapshot.reading) {
        try {
          await this.snapshot.begin(opts.signal);
        } catch (error) {
          await this.snapshot.release();
          throw error;
        }
        if (this.closed) await this.snapshot.release(); // close() ran while connecting
      }
      const batch = await this.snapshot.next(opts.signal);
      if (batch === null) this.endSnapshot();
      return batch;
    });
  }

  /** Rows attached or detached while stopped left no change events: fail now, not later. */
  private async recheckPartitions(): Promise<void> {
    const recorded =
      (this.phase === 'snapshot' ? this.snapshot.state.partitions : this.changes.partitions) ?? recordPartitions(this.session.partitions);
    const now = await recheckPartitions(this.session.info!, this.session.catalog!, recorded);
    this.session.partitions = now.partitions;
    if (this.phase === 'snapshot') this.snapshot.state.partitions = now.recorded;
    else this.changes.partitions = now.recorded;
  }

  /** Switches to the change phase, which starts where the (released) snapshot was taken. */
  private endSnapshot(): void {
    this.phase = 'changes';
    const snapshot = this.snapshot.state;
    this.changes.startAt(this.oneShot ? null : { lsn: snapshot.lsn!, skip: 0 }, snapshot.specs ?? this.session.specs, snapshot.partitions);
  }

  isSnapshotComplete(): boolean {
    if (this.trigger) return this.trigger.isSnapshotComplete();
    return this.phase === 'changes';
  }

  // ---- changes ---------------------------------------------------------------------------

  async pollChanges(opts: PollOptions = {}): Promise<RecordBatch | null> {
    if (this.trigger) return this.trigger.pollChanges(opts);
    return this.exclusive(async () => {
      if (this.phase !== 'changes') {
        throw definite('INVALID_STATE', `pollChanges before the snapshot of ${this.table} is complete`, {
          table: this.table,
          hint: 'call pollSnapshot until it returns null first',
        });
      }
      if (this.oneShot) {
        throw definite(
          'INVALID_STATE',
          `the source of ${this.table} takes a one-shot snapshot (mode 'snapshot-only') and has no change stream`,
          {
            table: this.table,
            hint: "use mode 'stream' (refstream sync) to follow the table's changes",
          },
        );
      }
      throwIfAborted(opts.signal);
      this.polled = true;
      this.membership?.settled();
      await this.start();
      return this.changes.poll(opts.signal, this.restored);
    });
  }

  // ---- checkpoints -----------------------------------------------------------------------

  checkpoint(): SourceCheckpoint {
    if (this.trigger) return this.trigger.checkpoint();
    const ctx = { table: this.table, slot: this.slot, key: this.session.info?.primaryKey ?? null, identity: this.session.identity };
    if (this.phase === 'snapshot') return snapshotCheckpoint(ctx, this.snapshot.state);
    if (this.oneShot)
      return completedOneShotCheckpoint(ctx, this.snapshot.state.specs ?? this.session.specs!, this.snapshot.state.partitions);
    const { position, columns, partitions, reseed } = this.changes.position();
    return changesCheckpoint(ctx, position, columns, partitions, reseed, this.changes.schemaChange);
  }

  /**
   * Positions this fresh source at `checkpoint`. The checkpoint must have been taken on the
   * same server (`system_identifier`), database, table (oid), slot and publication, else the
   * definite `CHECKPOINT_MISMATCH` naming both sides; a checkpoint without that identity
   * (older refstream) is accepted with a `CHECKPOINT_UNIDENTIFIED` warning. An invalidated
   * slot is `SLOT_INVALIDATED`, or with `onSlotInvalidated: 'resnapshot'` a new snapshot.
   */
  async restore(checkpoint: SourceCheckpoint): Promise<void> {
    if (this.trigger) return this.trigger.restore(checkpoint);
    this.ensureOpen();
    if (this.polled || this.restored) {
      throw definite('INVALID_STATE', `restore must be called on a fresh source of ${this.table}, before any poll`, { table: this.table });
    }
    try {
      await this.restoreFrom(checkpoint);
      if (this.membership) {
        // the stream must stay available from the restored position on
        if (this.phase === 'changes') this.membership.hold(this.changes.start!.lsn);
        else if (this.snapshot.state.lsn !== null) this.membership.hold(this.snapshot.state.lsn);
      }
    } catch (error) {
      this.reportStop(error);
      throw error;
    } finally {
      this.membership?.settled();
    }
  }

  private async restoreFrom(checkpoint: SourceCheckpoint): Promise<void> {
    if (isTriggerCheckpoint(checkpoint) && !this.oneShot) {
      throw definite(
        'CHECKPOINT_MISMATCH',
        `the checkpoint of ${this.table} was written by trigger capture, this source uses logical replication`,
        {
          table: this.table,
          hint: "use capture: 'trigger' (CLI --capture trigger) to resume it, or delete the checkpoint to start over with a new snapshot",
        },
      );
    }
    const cp = readCheckpoint(checkpoint, this.table);
    const pos = cp.position;
    if (pos.slot !== null && this.slot !== null) checkSlotMatches(pos.slot, this.slot, this.table); // before connecting: no server is needed to tell
    await this.start();
    checkIdentity(pos, { table: this.table, slot: this.slot, identity: this.session.identity! }, this.config.onWarning);
    if (this.oneShot) {
      if (cp.phase === 'changes') {
        throw definite('CHECKPOINT_INVALID', `the checkpoint records a one-shot snapshot of ${this.table} that is already complete`, {
          table: this.table,
          hint: 'to take a new snapshot, delete the checkpoint or pass another one (refstream snapshot writes a checkpoint only with --checkpoint)',
        });
      }
      // an interrupted one-shot snapshot cannot be resumed consistently (no stream fills the
      // gap): it starts over (capabilities.midSnapshotResume is false)
      this.restored = true;
      return;
    }
    if (cp.phase === 'snapshot') {
      const recorded = snapshotStateOf(cp.position);
      if (recorded) this.snapshot.state = recorded;
    } else {
      const resume = changeStartOf(cp.position, this.table);
      this.phase = 'changes';
      this.changes.startAt(resume.start, resume.specs, resume.partitions);
      if (resume.reseed) this.changes.resumeReseed(resume.reseed);
      this.changes.schemaChange = resume.schemaChange;
      const reseed = this.changes.reseedSnapshot;
      if (
        reseed !== null &&
        reseed.lsn !== null &&
        ((await storageRewritten(this.session.sql!, this.session.info!, reseed)) ||
          (reseed.specs !== null && !sameSpecs(reseed.specs, this.session.specs!)))
      ) {
        // the table was rewritten or changed again while its re-seed was interrupted
        this.changes.restartReseed();
      }
    }
    this.restored = true;
    if (this.phase === 'changes' || this.snapshot.state.lsn !== null) await this.checkSlotValid();
    if (
      this.phase === 'snapshot' &&
      this.snapshot.state.lsn !== null &&
      (await storageRewritten(this.session.sql!, this.session.info!, this.snapshot.state))
    ) {
      // the recorded ctids point into storage that is gone: take a new snapshot
      this.snapshot.state = noSnapshot();
      this.restartedSnapshot = true;
    }
    if (!this.restartedSnapshot && (this.phase === 'changes' || this.snapshot.state.lsn !== null))
      checkKeyUnchanged(pos.key, this.session.info!.primaryKey, this.table);
    if (this.session.info!.partitioned && (this.phase === 'changes' || this.snapshot.state.lsn !== null)) await this.recheckPartitions();
  }

  /** An invalidated slot cannot serve the checkpoint: fail, or (opt-in) start over with a new snapshot. */
  private async checkSlotValid(): Promise<void> {
    if (!(await droppedInvalidatedSlot(this.session.catalog!, this.session.sql!, this.config, this.table))) return;
    this.phase = 'snapshot';
    this.snapshot.state = noSnapshot();
    this.changes.startAt(null, null, null);
    this.restartedSnapshot = true;
  }

  /**
   * Confirms a durably stored checkpoint: the slot may release WAL before its position.
   * Nothing past the last committed checkpoint is ever confirmed.
   */
  async commit(checkpoint: SourceCheckpoint): Promise<void> {
    if (this.trigger) return this.trigger.commit(checkpoint);
    this.ensureOpen();
    // the snapshot point must stay available until the snapshot completes: nothing to confirm
    // (and nothing to validate: a snapshot checkpoint is as large as its ranges and columns)
    if (checkpoint.phase === 'snapshot') return;
    const cp = readCheckpoint(checkpoint, this.table);
    if (cp.phase !== 'changes') return;
    const pos = cp.position;
    checkSlotMatches(pos.slot, this.slot, this.table);
    if (pos.lsn === null) return; // a one-shot snapshot has nothing to confirm
    const lsn = parseLsn(pos.lsn);
    this.membership?.hold(lsn);
    this.changes.commit(lsn);
  }

  /**
   * Closes every connection; with `dropSlot` also drops the replication slot. Idempotent. Resolves
   * once the server has released the slot (up to 2 s), so a new source can take it at once.
   */
  async close(options: PostgresCloseOptions = {}): Promise<void> {
    if (this.trigger) return this.trigger.close();
    if (this.closed && !options.dropSlot) return;
    this.closed = true;
    // the change stream is kept (closed) so that checkpoint() still reports the last position
    await Promise.allSettled([...this.snapshot.closeAll(), this.changes.close()]);
    await this.started?.catch(() => {});
    if (options.dropSlot && !this.oneShot && !this.membership) await this.session.dropSlot(this.config.slotName);
    await this.session.end();
    this.membership?.detached();
  }
}
