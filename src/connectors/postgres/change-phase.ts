/**
 * The change phase of a `PostgresSource`: where its change stream starts, opening the
 * stream (a `ChangeReader` on the slot) at the first poll, and the position confirmed to it.
 */
import type { RecordBatch } from 'apache-arrow';
import { ConnectorError, transient } from '../../sdk/errors.js';
import type { ResolvedConfig } from './config.js';
import { ensureMainSlot } from './slot.js';
import { recordPartitions } from './partitions.js';
import { ChangeReader, type ChangePosition } from './change-reader.js';
import type { ColumnSpec } from './types.js';
import { sameSpecs } from './restore-checks.js';
import type { TableSession } from './table-session.js';
import { openSlotChannel } from './change-channel.js';
import type { CaptureMembership } from './capture/membership.js';

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
      if (!this.reader) await this.open(restored);
      return await this.reader!.poll(signal);
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
        }),
      connectSql: session.connectSql,
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

  /** The position a checkpoint records now, with the columns and partitions as of there. */
  position(): { position: ChangePosition; columns: ColumnSpec[]; partitions: string[] | null } {
    const reader = this.reader;
    if (reader) return { position: reader.position, columns: reader.columns, partitions: reader.partitions };
    return { position: this.start!, columns: this.specs ?? this.session.specs!, partitions: this.partitions };
  }

  /** Confirms `lsn` (durably stored downstream) to the slot; never moves backwards. */
  commit(lsn: bigint): void {
    if (lsn > this.committed) this.committed = lsn;
    this.reader?.commit(this.committed);
  }

  /** Closes the stream, if open; it is kept for {@link ChangePhase.position}. */
  async close(): Promise<void> {
    await this.reader?.close();
  }
}
