/**
 * The snapshot phase of a `PostgresSource`: takes the consistent snapshot (at the slot's
 * creation point, or a REPEATABLE READ one for a one-shot snapshot), resumes an interrupted
 * one, hands out its batches and keeps the progress its checkpoints record.
 */
import pg from 'pg';
import type { RecordBatch } from 'apache-arrow';
import { ConnectorError, definite, transient } from '../../sdk/errors.js';
import type { TableDescriptor } from '../../sdk/batch.js';
import type { ResolvedConfig } from './config.js';
import { Catalog, type Partition } from './catalog.js';
import { mapPgError } from './errors.js';
import { quoteLiteral, quoteQualified } from './identifiers.js';
import { formatLsn } from './lsn.js';
import { ensureMainSlot, exportConsistentSnapshot } from './slot.js';
import { planRanges, SnapshotReader, type SnapshotRange } from './snapshot.js';
import { checkReadable, leafNames, planPartitionRanges, recordPartitions } from './partitions.js';
import { filenodes, storageRewritten } from './snapshot-storage.js';
import type { ColumnCodec, ColumnSpec } from './types.js';
import { sameSpecs } from './restore-checks.js';
import type { TableSession } from './table-session.js';
import type { CaptureMembership } from './capture/membership.js';

/** Where a snapshot stands: what its checkpoints record, and what a resumed one starts from. */
export interface SnapshotState {
  lsn: bigint | null;
  /** `pg_current_snapshot()` of the original snapshot (`xmin:xmax:xip,…`), to recognise rows changed after it. */
  xids: string | null;
  ranges: SnapshotRange[] | null;
  specs: ColumnSpec[] | null;
  /** Partitions of a partitioned table when the snapshot began (see partitions.ts). */
  partitions: string[] | null;
  /** The table's storage when the snapshot began (plain tables; see snapshot-storage.ts). */
  relfilenode?: number | undefined;
}

/** No snapshot taken yet (or one discarded): the next poll takes a new one. */
export function noSnapshot(): SnapshotState {
  return { lsn: null, xids: null, ranges: null, specs: null, partitions: null };
}

/** Takes or resumes the snapshot of one table and reads it. */
export class SnapshotPhase {
  /** The snapshot's progress (restored from a checkpoint, or set by {@link SnapshotPhase.begin}). */
  state: SnapshotState = noSnapshot();
  private reader: SnapshotReader | null = null;
  private holder: { close(): Promise<void> } | null = null;

  /**
   * @param oneShot - a one-shot snapshot (`mode: 'snapshot-only'`): no slot, no publication, never resumed
   * @param membership - the capture the table belongs to: its exported snapshots and read permits are shared
   */
  constructor(
    private readonly session: TableSession,
    private readonly config: ResolvedConfig,
    private readonly table: string,
    private readonly oneShot: boolean,
    private readonly membership: CaptureMembership | null = null,
  ) {}

  /** True from {@link SnapshotPhase.begin} until the snapshot is released. */
  get reading(): boolean {
    return this.reader !== null;
  }

  /**
   * The next batch of the snapshot, or `null` once every range is read; the snapshot's
   * connections are then released.
   */
  async next(signal?: AbortSignal): Promise<RecordBatch | null> {
    for (;;) {
      const item = await this.reader!.take(signal);
      if (item === null) {
        if (!this.state.ranges!.every((r) => r.done)) {
          throw definite('INTERNAL', `the snapshot of ${this.table} ended before every range was read`, { table: this.table });
        }
        await this.release();
        return null;
      }
      const range = this.state.ranges![item.range]!;
      range.after = item.after;
      range.done = item.done;
      if (item.batch) return item.batch;
    }
  }

  /** Starts closing the reader and the snapshot holder at once (for `close()`); each close is one task. */
  closeAll(): Promise<unknown>[] {
    const tasks: Promise<unknown>[] = [];
    if (this.reader) tasks.push(this.reader.close());
    if (this.holder) tasks.push(this.holder.close());
    this.reader = null;
    this.holder = null;
    return tasks;
  }

  private descriptor(codecs: ColumnCodec[]): TableDescriptor {
    return { table: this.table, primaryKey: this.session.info!.primaryKey, fields: codecs.map((c) => c.field) };
  }

  /** Takes the snapshot, or resumes the one the restored checkpoint recorded, and starts reading it. */
  async begin(signal?: AbortSignal): Promise<void> {
    const info = this.session.info!;
    const resuming = this.state.lsn !== null;
    const snapshotId: string | null = this.oneShot
      ? await this.takeOneShot()
      : resuming
        ? await this.prepareResume(signal)
        : await this.take(signal);
    this.reader = new SnapshotReader({
      table: info,
      descriptor: this.descriptor(this.session.codecs!),
      codecs: this.session.codecs!,
      ranges: this.state.ranges!,
      leaves: leafNames(this.session.partitions),
      snapshotId,
      // a resumed snapshot skips row versions the original snapshot did not see: the stream delivers them
      onlyVisibleIn: resuming ? this.state.xids : null,
      // a one-shot snapshot never resumes mid-way (its exported snapshot ends with the process)
      resumable: !this.oneShot,
      parallelism: this.config.snapshotParallelism,
      batchRows: this.config.batchRows,
      batchBytes: this.config.batchBytes,
      connect: this.session.connectSql,
    });
    this.reader.start();
  }

  /**
   * A one-shot snapshot: no slot and no publication. Returns the exported snapshot's id, or
   * `null` when a single worker reads the whole table in its own transaction.
   */
  private async takeOneShot(): Promise<string | null> {
    const info = this.session.info!;
    if (this.config.snapshotParallelism === 1 && !info.partitioned) {
      // nothing to share: no second connection to hold an exported snapshot, no page count to split by
      this.state = { lsn: null, xids: null, ranges: planRanges(0, 1), specs: this.session.specs, partitions: null };
      return null;
    }
    // no slot and no publication: a REPEATABLE READ transaction exports the snapshot the
    // workers share, and it ends with its connection, whatever ends the process
    const exported = await this.exportTransactionSnapshot(true);
    if (info.partitioned) {
      this.session.partitions = await this.partitionsAt(exported.snapshotId);
      checkReadable(info, this.session.partitions);
    }
    const ranges = await this.planRanges();
    this.state = {
      lsn: null,
      xids: exported.xids,
      ranges,
      specs: this.session.specs,
      partitions: info.partitioned ? recordPartitions(this.session.partitions) : null,
    };
    return exported.snapshotId;
  }

  /** A new snapshot at the creation point of the slot (created here, with the publication). */
  private async take(signal?: AbortSignal): Promise<string> {
    const catalog = this.session.catalog!;
    const info = this.session.info!;
    let exported: { lsn: bigint; xids: string; snapshotId: string };
    if (this.membership) {
      // the capture's publication, slot and exported snapshot, shared with its other tables
      await this.membership.prepare(info);
      const lease = await this.membership.exportSnapshot(info, signal);
      this.holder = { close: () => lease.release() };
      exported = lease;
    } else {
      await catalog.ensurePublication(this.config.publicationName, info, this.config.createPublication);
      await ensureMainSlot(catalog, this.config, info, this.session.connectReplication, false);
      const own = await exportConsistentSnapshot(this.session.connectReplication, info.display);
      this.holder = own.conn;
      exported = own;
    }
    if (info.partitioned) {
      this.session.partitions = await this.partitionsAt(exported.snapshotId);
      checkReadable(info, this.session.partitions);
    }
    const ranges = await this.planRanges();
    const partitions = info.partitioned ? recordPartitions(this.session.partitions) : null;
    const relfilenode = info.partitioned ? undefined : (await filenodes(this.session.sql!, [info.oid], this.table)).get(info.oid);
    // assigned only once complete: a failed start must not look like a snapshot in progress
    this.state = { lsn: exported.lsn, xids: exported.xids, ranges, specs: this.session.specs, partitions, relfilenode };
    return exported.snapshotId;
  }

  /** Checks that the recorded snapshot can still be resumed, and exports the snapshot it continues in. */
  private async prepareResume(signal?: AbortSignal): Promise<string> {
    const catalog = this.session.catalog!;
    const info = this.session.info!;
    // A resumed snapshot reads the remaining rows at a new snapshot, keeping only the row
    // versions the original snapshot saw; the stream still starts at the original point.
    await ensureMainSlot(catalog, this.config, info, this.session.connectReplication, true);
    await this.checkNotExpired(this.state.lsn!);
    const permit = this.membership ? await this.membership.readPermit(signal) : null;
    let exported: Awaited<ReturnType<SnapshotPhase['exportTransactionSnapshot']>>;
    try {
      exported = await this.exportTransactionSnapshot(false);
    } catch (error) {
      permit?.();
      throw error;
    }
    if (permit) {
      const holder = this.holder!;
      this.holder = { close: () => holder.close().finally(permit) };
    }
    // Held until the snapshot is read: no rewrite can come between this check and the scans.
    // One since restore() checked is retried, and the retry's restore() starts over.
    try {
      await exported.holder.query(`LOCK TABLE ${quoteQualified(info.name)} IN ACCESS SHARE MODE`);
    } catch (error) {
      throw mapPgError(error, this.table, 'locking the table');
    }
    if (await storageRewritten(exported.holder, info, this.state)) {
      throw transient('TABLE_REWRITTEN', `${this.table} was rewritten (VACUUM FULL, CLUSTER, …) while its snapshot was being resumed`, {
        table: this.table,
        hint: 'retried: the retry starts the snapshot over',
      });
    }
    if (this.state.specs && !sameSpecs(this.state.specs, this.session.specs!)) {
      throw definite('SCHEMA_INCOMPATIBLE', `the columns of ${this.table} changed while its snapshot was interrupted`, {
        table: this.table,
        hint: 'delete the checkpoint to take a new snapshot',
      });
    }
    return exported.snapshotId;
  }

  /**
   * Opens a READ ONLY REPEATABLE READ transaction on a new connection, exports its snapshot
   * and keeps the connection as the snapshot holder (closed with the snapshot).
   */
  private async exportTransactionSnapshot(withXids: boolean): Promise<{ snapshotId: string; xids: string | null; holder: pg.Client }> {
    const holder = await this.session.connectSql().catch((error: unknown) => {
      throw mapPgError(error, this.table, 'connecting');
    });
    try {
      await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const { rows } = await holder.query<{ id: string; xids: string | null }>(
        `SELECT pg_export_snapshot() AS id, ${withXids ? 'pg_current_snapshot()::text' : 'NULL::text'} AS xids`,
      );
      this.holder = { close: () => holder.end().catch(() => {}) };
      return { snapshotId: rows[0]!.id, xids: rows[0]!.xids, holder };
    } catch (error) {
      await holder.end().catch(() => {});
      throw mapPgError(error, this.table, 'exporting the snapshot');
    }
  }

  /**
   * The partitions as of the exported snapshot: the ones the snapshot reads, each with the
   * storage the stream starts from (a partition truncated a moment later is then noticed).
   */
  private async partitionsAt(snapshotId: string): Promise<Partition[]> {
    const client = await this.session.connectSql().catch((error: unknown) => {
      throw mapPgError(error, this.table, 'connecting');
    });
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await client.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshotId)}`);
      const partitions = await new Catalog(client, this.table).partitions(this.session.info!.oid);
      await client.query('COMMIT');
      return partitions;
    } catch (error) {
      throw ConnectorError.is(error) ? error : mapPgError(error, this.table, 'listing the partitions');
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** The ranges the workers read: by partition, or by page ranges of a plain table. */
  private async planRanges(): Promise<SnapshotRange[]> {
    const parallelism = this.config.snapshotParallelism;
    const count = parallelism === 1 ? 1 : parallelism * 4;
    return this.session.info!.partitioned
      ? planPartitionRanges(this.session.partitions, count)
      : planRanges(await this.relationPages(), count);
  }

  private async relationPages(): Promise<number> {
    const res = await this.session.sql!.query<{ pages: string }>(
      `SELECT (pg_relation_size($1::oid) / current_setting('block_size')::int)::text AS pages`,
      [this.session.info!.oid],
    );
    return Number(res.rows[0]!.pages);
  }

  /** The slot must not have been confirmed past the snapshot's point: the changes since it would be gone. */
  private async checkNotExpired(lsn: bigint): Promise<void> {
    const state = await this.session.catalog!.slotState(this.config.slotName);
    if (state?.confirmedFlush != null && state.confirmedFlush > lsn) {
      throw definite(
        'CHECKPOINT_EXPIRED',
        `replication slot ${this.config.slotName} is at ${formatLsn(state.confirmedFlush)}, past the checkpoint's ${formatLsn(lsn)}`,
        {
          table: this.table,
          hint: 'delete the checkpoint to take a new snapshot',
        },
      );
    }
  }

  /** Closes the reader and the connection holding the exported snapshot. */
  async release(): Promise<void> {
    await this.reader?.close();
    this.reader = null;
    await this.holder?.close();
    this.holder = null;
  }
}
