/**
 * The snapshot of trigger capture: a REPEATABLE READ transaction exports its snapshot, the
 * workers read the table in it (COPY binary, ctid ranges, as logical capture does), and the
 * snapshot's own `pg_current_snapshot()` decides which change rows it already contains: those
 * of transactions visible in it. The change stream starts with every other one — no gap, no
 * overlap.
 *
 * An interrupted snapshot resumes at a new snapshot that keeps only the row versions the
 * original one saw; rows changed since arrive through the change stream (its images are full
 * rows), which starts at the original snapshot.
 */
import type pg from 'pg';
import type { RecordBatch } from 'apache-arrow';
import { definite, transient } from '../../../sdk/errors.js';
import type { ResolvedConfig } from '../config.js';
import { mapPgError } from '../errors.js';
import { quoteQualified } from '../identifiers.js';
import { planRanges, SnapshotReader } from '../snapshot.js';
import { filenodes, storageRewritten } from '../snapshot-storage.js';
import { sameSpecs } from '../restore-checks.js';
import type { TableSession } from '../table-session.js';
import type { TriggerSnapshotState } from './checkpoint.js';

/** No snapshot taken yet: the next poll takes one. */
export function noTriggerSnapshot(): TriggerSnapshotState {
  return { xids: null, ranges: null, specs: null };
}

export class TriggerSnapshotPhase {
  state: TriggerSnapshotState = noTriggerSnapshot();
  private reader: SnapshotReader | null = null;
  private holder: pg.Client | null = null;

  constructor(
    private readonly session: TableSession,
    private readonly config: ResolvedConfig,
    private readonly table: string,
  ) {}

  /** True from {@link begin} until the snapshot is released. */
  get reading(): boolean {
    return this.reader !== null;
  }

  /**
   * Takes the snapshot (after `register` has recorded the consumer, so that no change row after
   * it can be deleted), or resumes the one the restored checkpoint recorded.
   */
  async begin(register: () => Promise<void>): Promise<void> {
    const info = this.session.info!;
    const resuming = this.state.xids !== null;
    let snapshotId: string;
    if (resuming) snapshotId = await this.prepareResume();
    else {
      await register();
      const exported = await this.exportSnapshot();
      snapshotId = exported.id;
      const pages = await this.relationPages();
      const parallelism = this.config.snapshotParallelism;
      const relfilenode = (await filenodes(this.session.sql!, [info.oid], this.table)).get(info.oid);
      this.state = {
        xids: exported.xids,
        ranges: planRanges(pages, parallelism === 1 ? 1 : parallelism * 4),
        specs: this.session.specs,
        relfilenode,
      };
    }
    this.reader = new SnapshotReader({
      table: info,
      descriptor: { table: this.table, primaryKey: info.primaryKey, fields: this.session.codecs!.map((c) => c.field) },
      codecs: this.session.codecs!,
      ranges: this.state.ranges!,
      leaves: new Map(),
      snapshotId,
      // a resumed snapshot skips row versions the original did not see: the change stream has them
      onlyVisibleIn: resuming ? this.state.xids : null,
      resumable: true,
      parallelism: this.config.snapshotParallelism,
      batchRows: this.config.batchRows,
      batchBytes: this.config.batchBytes,
      connect: this.session.connectSql,
    });
    this.reader.start();
  }

  /** The next batch, or `null` once every range is read (the snapshot is then released). */
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

  /** Checks that the recorded snapshot can be resumed, and exports the snapshot it continues in. */
  private async prepareResume(): Promise<string> {
    const exported = await this.exportSnapshot();
    const holder = this.holder!;
    try {
      // held until the snapshot is read: no rewrite can come between this check and the scans
      await holder.query(`LOCK TABLE ${quoteQualified(this.session.info!.name)} IN ACCESS SHARE MODE`);
    } catch (error) {
      throw mapPgError(error, this.table, 'locking the table');
    }
    if (
      await storageRewritten(holder, this.session.info!, {
        ranges: this.state.ranges,
        partitions: null,
        relfilenode: this.state.relfilenode,
      })
    ) {
      throw transient(
        'TABLE_REWRITTEN',
        `${this.table} was rewritten (VACUUM FULL, CLUSTER, TRUNCATE, …) while its snapshot was being resumed`,
        {
          table: this.table,
          hint: 'retried: the retry starts the snapshot over',
        },
      );
    }
    if (this.state.specs && !sameSpecs(this.state.specs, this.session.specs!)) {
      throw definite('SCHEMA_INCOMPATIBLE', `the columns of ${this.table} changed while its snapshot was interrupted`, {
        table: this.table,
        hint: 'delete the checkpoint to take a new snapshot',
      });
    }
    return exported.id;
  }

  /**
   * Opens a READ ONLY REPEATABLE READ transaction on a new connection (the snapshot holder,
   * kept until the snapshot is read) and exports its snapshot, with its `pg_current_snapshot()`.
   */
  private async exportSnapshot(): Promise<{ id: string; xids: string }> {
    const holder = await this.session.connectSql().catch((error: unknown) => {
      throw mapPgError(error, this.table, 'connecting');
    });
    try {
      await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const { rows } = await holder.query<{ id: string; xids: string }>(
        'SELECT pg_export_snapshot() AS id, pg_current_snapshot()::text AS xids',
      );
      this.holder = holder;
      return { id: rows[0]!.id, xids: rows[0]!.xids };
    } catch (error) {
      await holder.end().catch(() => {});
      throw mapPgError(error, this.table, 'exporting the snapshot');
    }
  }

  private async relationPages(): Promise<number> {
    try {
      const res = await this.session.sql!.query<{ pages: string }>(
        `SELECT (pg_relation_size($1::oid) / current_setting('block_size')::int)::text AS pages`,
        [this.session.info!.oid],
      );
      return Number(res.rows[0]!.pages);
    } catch (error) {
      throw mapPgError(error, this.table, 'sizing the table');
    }
  }

  /** Starts closing the reader and the snapshot holder (for `close()`). */
  closeAll(): Promise<unknown>[] {
    const tasks: Promise<unknown>[] = [];
    if (this.reader) tasks.push(this.reader.close());
    if (this.holder) tasks.push(this.holder.end().catch(() => {}));
    this.reader = null;
    this.holder = null;
    return tasks;
  }

  /** Closes the reader and the connection holding the exported snapshot. */
  async release(): Promise<void> {
    await Promise.all(this.closeAll());
  }
}
