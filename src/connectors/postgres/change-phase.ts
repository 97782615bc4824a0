/**
 * The change phase of a `PostgresSource`: where its change stream starts, opening the
 * stream (a `ChangeReader` on the slot) at the first poll, and the position confirmed to it.
 */
import type { RecordBatch } from 'apache-arrow';
import { ConnectorError, transient } from '../../sdk/errors.js';
import { sleep } from '../../sdk/sleep.js';
import type { ResolvedConfig } from './config.js';
import { ensureMainSlot } from './slot.js';
import { recordPartitions } from './partitions.js';
import { ChangeReader, ReseedNeeded, type ChangePosition } from './change-reader.js';
import { insertsFromSnapshot, BatchBuilder, formatPosition } from '../../sdk/batch.js';
import { reportWarning } from '../../sdk/warnings.js';
import { SnapshotPhase } from './snapshot-phase.js';
import type { ReseedProgress } from './source-checkpoint.js';
import type { ColumnSpec } from './types.js';
import { sameSpecs } from './restore-checks.js';
import type { TableSession } from './table-session.js';
import { openSlotChannel } from './change-channel.js';
import type { CaptureMembership } from './capture/membership.js';
import type { LeaderTerm } from '../../sdk/leadership.js';

/** Reads the table's changes from where the snapshot (or the restored checkpoint) left off. */
export class ChangePhase {
  /** Where the stream starts: the snapshot's point, or the restored checkpoint's position. */
  start: ChangePosition | null = null;
  /** The columns as of `start`; `null` means the table's current columns. */
  specs: ColumnSpec[] | null = null;
  /** The recorded partitions as of `start` (partitioned tables). */
  partitions: string[] | null = null;
  /** Kept once closed, so that {@link ChangePhase.position} still reports the last position. */
  private reader: ChangeReader | null = null;
  /** The highest LSN confirmed to the slot. */
  private committed = 0n;
  /**
   * A re-seed in progress (an incompatible schema change): the position it began at (`start`),
   * the rows delivered since, and the new snapshot being read.
   */
  private reseeding: { delivered: number; snapshot: SnapshotPhase; beginning: Promise<void> | null; truncate: boolean } | null = null;
  /** The last schema change followed (or re-seed), as checkpoints record it for `refstream status`. */
  schemaChange: { at: string; what: string } | null = null;
  /** High availability: the term the runner leads in (the slot may be taken over from a replica that lost it). */
  term: LeaderTerm | null = null;

  /**
   * @param isClosed - true once the source is closed: a stream opened meanwhile is closed at once
   * @param membership - the capture whose shared stream the table reads, instead of its own slot
   */
  constructor(
    private readonly session: TableSession,
    private readonly config: ResolvedConfig,
    private readonly table: string,
    private readonly isClosed: () => boolean,
    private readonly membership: CaptureMembership | null = null,
  ) {}

  /** Sets where the stream starts, with the columns and partitions as of there. */
  startAt(start: ChangePosition | null, specs: ColumnSpec[] | null, partitions: string[] | null): void {
    this.start = start;
    this.specs = specs;
    this.partitions = partitions;
  }

  /**
   * The next batch of changes, or `null` when none came within `maxWaitMs`. The first poll
   * opens the stream; `restored` re-checks the slot first (it was created by an earlier run).
   */
  async poll(signal: AbortSignal | undefined, restored: boolean): Promise<RecordBatch | null> {
    try {
      if (this.reseeding) return await this.nextReseeded(signal);
      if (!this.reader) await this.open(restored);
      try {
        return await this.reader!.poll(signal);
      } catch (error) {
        if (!(error instanceof ReseedNeeded)) throw error;
        await this.beginReseed(error);
        return await this.nextReseeded(signal);
      }
    } catch (error) {
      // a slot invalidated while streaming: a restart restores the checkpoint, finds the
      // slot invalidated and re-snapshots (see restore)
      if (ConnectorError.is(error, 'SLOT_INVALIDATED') && this.config.onSlotInvalidated === 'resnapshot') {
        throw transient('SLOT_INVALIDATED', `${error.message}; restarting to take a new snapshot`, { table: this.table, cause: error });
      }
      throw error;
    }
  }

  private async open(restored: boolean): Promise<void> {
    const session = this.session;
    const specs = this.specs ?? session.specs!;
    const codecs = sameSpecs(specs, session.specs!)
      ? session.codecs!
      : await session.catalog!.codecs(specs, this.table, this.config.unknownTypes);
    if (restored) await ensureMainSlot(session.catalog!, this.config, session.info!, session.connectReplication, true);
    const reader = new ChangeReader({
      config: this.config,
      table: session.info!,
      catalog: session.catalog!,
      specs,
      codecs,
      // The live table may have text-only columns the checkpoint's schema lacks: they arrive
      // as the stream replays the DDL, and need text mode.
      textValues: session.codecs!.some((c) => c.textOnly),
      partitions: session.info!.partitioned ? (this.partitions ?? recordPartitions(session.partitions)) : null,
      start: this.start!,
      committed: this.committed,
      openChannel:
        this.membership?.openChannel ??
        openSlotChannel({
          config: this.config,
          catalog: session.catalog!,
          table: session.info!,
          connect: session.connectReplication,
          committed: this.committed,
          term: this.term,
        }),
      connectSql: session.connectSql,
      onSchemaChange: (at, what) => (this.schemaChange = { at, what }),
    });
    this.reader = reader;
    try {
      await reader.open();
    } catch (error) {
      this.reader = null;
      await reader.close();
      throw error;
    }
    if (this.isClosed()) await reader.close(); // close() ran while connecting
  }

  /**
   * The table changed in a way the sinks cannot follow: it re-seeds itself from `needed.at` —
   * a truncate row there, then its rows at a new consistent snapshot as inserts, then the
   * stream from the snapshot's point (everything committed before it is in the snapshot).
   */
  private async beginReseed(needed: ReseedNeeded): Promise<void> {
    const reader = this.reader;
    this.reader = null;
    await reader?.close();
    reportWarning(this.config.onWarning, {
      code: 'TABLE_RESEEDED',
      table: this.table,
      message: `${needed.reason}; ${this.table} re-seeds itself: a truncate, then a new snapshot, then the changes after it`,
    });
    await this.session.reloadTable();
    this.schemaChange = { at: formatPosition(needed.at.lsn, needed.at.skip), what: `re-seeded: ${needed.reason}` };
    this.start = needed.at;
    this.specs = this.session.specs;
    this.reseeding = {
      delivered: 0,
      snapshot: new SnapshotPhase(this.session, this.config, this.table, false, this.membership),
      beginning: null,
      truncate: true,
    };
  }

  /** Resumes a re-seed a checkpoint recorded (its snapshot resumes as an interrupted snapshot does). */
  resumeReseed(progress: ReseedProgress): void {
    const snapshot = new SnapshotPhase(this.session, this.config, this.table, false, this.membership);
    snapshot.state = progress.snapshot;
    this.reseeding = { delivered: progress.delivered, snapshot, beginning: null, truncate: progress.delivered === 0 };
  }

  /** The interrupted re-seed cannot resume (the table was rewritten or changed again): it starts over, after what it delivered. */
  restartReseed(): void {
    const r = this.reseeding!;
    r.snapshot = new SnapshotPhase(this.session, this.config, this.table, false, this.membership);
    r.truncate = true;
    this.specs = this.session.specs;
  }

  /** The snapshot state of the re-seed in progress, if any. */
  get reseedSnapshot(): SnapshotPhase['state'] | null {
    return this.reseeding?.snapshot.state ?? null;
  }

  /** The next batch of the re-seed; once its snapshot is read, the stream goes on from the snapshot's point. */
  private async nextReseeded(signal: AbortSignal | undefined): Promise<RecordBatch | null> {
    const r = this.reseeding!;
    const at = this.start!;
    if (r.truncate) {
      // positions go on after whatever an earlier attempt delivered
      const builder = new BatchBuilder(this.descriptor(), 'changes');
      builder.appendChange('truncate', null, formatPosition(at.lsn, at.skip + r.delivered));
      r.delivered += 1;
      r.truncate = false;
      return builder.finish();
    }
    if (!r.snapshot.reading) {
      // Exporting a snapshot waits for every transaction writing at that moment to end, the
      // sinks' own included when they write to this server: the poll hands control back to the
      // runner (which commits them) and the export goes on in the background.
      r.beginning ??= r.snapshot.begin().then(async () => {
        if (this.isClosed()) await r.snapshot.release();
      });
      const started = await Promise.race([r.beginning.then(() => true), sleep(this.config.maxWaitMs, signal).then(() => false)]);
      if (!started) return null;
      r.beginning = null;
    }
    const batch = await r.snapshot.next(signal);
    if (batch !== null) {
      const base = at.skip + r.delivered;
      r.delivered += batch.numRows;
      return insertsFromSnapshot(batch, (i) => formatPosition(at.lsn, base + i));
    }
    const state = r.snapshot.state;
    this.reseeding = null;
    this.startAt({ lsn: state.lsn!, skip: 0 }, state.specs ?? this.session.specs, state.partitions);
    return null;
  }

  private descriptor() {
    const info = this.session.info!;
    return { table: this.table, primaryKey: info.primaryKey, fields: this.session.codecs!.map((c) => c.field) };
  }

  /** The position a checkpoint records now, with the columns and partitions as of there (and a re-seed's progress). */
  position(): { position: ChangePosition; columns: ColumnSpec[]; partitions: string[] | null; reseed: ReseedProgress | null } {
    if (this.reseeding)
      return {
        position: this.start!,
        columns: this.specs ?? this.session.specs!,
        partitions: this.partitions,
        reseed: { delivered: this.reseeding.delivered, snapshot: this.reseeding.snapshot.state },
      };
    const reader = this.reader;
    if (reader) return { position: reader.position, columns: reader.columns, partitions: reader.partitions, reseed: null };
    return { position: this.start!, columns: this.specs ?? this.session.specs!, partitions: this.partitions, reseed: null };
  }

  /** Confirms `lsn` (durably stored downstream) to the slot; never moves backwards. */
  commit(lsn: bigint): void {
    if (lsn > this.committed) this.committed = lsn;
    this.reader?.commit(this.committed);
  }

  /** Closes the stream, if open; it is kept for {@link ChangePhase.position}. */
  async close(): Promise<void> {
    await Promise.allSettled([this.reader?.close(), ...(this.reseeding?.snapshot.closeAll() ?? [])]);
  }
}
