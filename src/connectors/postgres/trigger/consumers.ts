/**
 * The consumers of one captured table. Each reader has a name (`consumer`) and a row in the
 * consumers table holding the snapshot its last committed checkpoint delivered; change rows
 * visible in every consumer's snapshot are deleted, in small batches, so the change table
 * holds only what some consumer still needs. A session advisory lock per consumer keeps two
 * readers from using one name at once.
 */
import type pg from 'pg';
import type { LeaderTerm } from '../../../sdk/leadership.js';
import { endStaleHolder } from '../takeover.js';
import { definite, transient, type ConnectorError } from '../../../sdk/errors.js';
import { reportWarning, type WarningHandler } from '../../../sdk/warnings.js';
import { mapPgError } from '../errors.js';
import { quoteIdent } from '../identifiers.js';
import type { TriggerObjects } from './objects.js';
import { covers, parsePgSnapshot, type PgSnapshot } from './pg-snapshot.js';

/** Change rows deleted per statement: short transactions, short locks. */
export const CLEANUP_BATCH_ROWS = 2000;

/** The advisory lock key of a consumer: `(hashtext(change table), hashtext(consumer))`. */
export function consumerLockSql(objects: TriggerObjects): string {
  return `hashtext(${literalQualified(objects, objects.changes)}), hashtext($1)`;
}

function literalQualified(objects: TriggerObjects, name: string): string {
  return `'${`${quoteIdent(objects.schema)}.${quoteIdent(name)}`.replace(/'/g, "''")}'`;
}

/** One consumer's progress on the control connection. */
export class ConsumerProgress {
  private readonly changes: string;
  private readonly consumers: string;
  private readonly epochs: string;
  private locked = false;
  /** The snapshot last written to the consumer's row. */
  private stored: PgSnapshot | null = null;
  private cleaning: Promise<void> | null = null;
  private again = false;
  private closed = false;
  /** Rows deleted so far (for tests and benchmarks). */
  deleted = 0;
  /** High availability: the term the runner leads in (a stale holder of the lock may be ended). */
  term: LeaderTerm | null = null;

  constructor(
    private readonly sql: pg.Client,
    private readonly objects: TriggerObjects,
    readonly consumer: string,
    private readonly table: string,
    private readonly onWarning: WarningHandler | undefined,
  ) {
    this.changes = `${quoteIdent(objects.schema)}.${quoteIdent(objects.changes)}`;
    this.consumers = `${quoteIdent(objects.schema)}.${quoteIdent(objects.consumers)}`;
    this.epochs = `${quoteIdent(objects.schema)}.${quoteIdent(objects.epochs)}`;
  }

  /**
   * Takes the consumer's advisory lock for the life of the connection. Another live reader
   * holding it is the transient `CONSUMER_IN_USE` (a killed reader's lock goes with its
   * connection; the runner retries).
   */
  async lock(): Promise<void> {
    if (this.locked) return;
    const tryLock = async () =>
      (
        await this.q<{ got: boolean }>(
          `SELECT pg_try_advisory_lock(${consumerLockSql(this.objects)}) AS got`,
          [this.consumer],
          'locking the consumer',
        )
      )[0]!.got;
    if (await tryLock()) {
      this.locked = true;
      return;
    }
    const holder = await this.lockHolder();
    // high availability: a refstream reader of a replica that lost the lease gives way
    if (
      this.term &&
      holder?.pid &&
      (await endStaleHolder(this.sql, {
        holder: { pid: holder.pid, application: holder.app },
        term: this.term,
        what: `consumer ${this.consumer}`,
        table: this.table,
        onWarning: this.onWarning,
      })) &&
      (await tryLock())
    ) {
      this.locked = true;
      return;
    }
    throw transient(
      'CONSUMER_IN_USE',
      `consumer ${this.consumer} of ${this.table} is in use by another reader${holder?.pid ? ` (backend pid ${holder.pid}${holder.app ? `, application ${holder.app}` : ''})` : ''}`,
      {
        table: this.table,
        hint: 'stop the other reader, or give this one its own consumer name (consumer, CLI --consumer): each consumer has its own checkpoint and progress',
      },
    );
  }

  /** The session holding the consumer's lock, if any. */
  private async lockHolder(): Promise<{ pid: number | null; app: string | null } | undefined> {
    const [holder] = await this.q<{ pid: number | null; app: string | null }>(
      `SELECT l.pid, a.application_name AS app FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted
          AND l.classid = hashtext(${literalQualified(this.objects, this.objects.changes)})::oid AND l.objid = hashtext($1)::oid`,
      [this.consumer],
      'locking the consumer',
    );
    return holder;
  }

  /**
   * Registers the consumer before its snapshot is taken, at the current snapshot: change rows
   * after it are kept for this consumer from now on. A row the consumer already has is kept as
   * it is (it keeps more, until the first commit moves it on). Epochs recorded before are older
   * than the new snapshot, so the new stream never reads them; the first commit prunes them.
   */
  async register(): Promise<void> {
    await this.q(
      `INSERT INTO ${this.consumers} (consumer, delivered) VALUES ($1, pg_current_snapshot()) ON CONFLICT (consumer) DO NOTHING`,
      [this.consumer],
      'registering the consumer',
    );
    this.stored = null;
  }

  /**
   * The epochs recorded after `delivered` (and after the open epoch `open`), in the order they
   * were read: a restart reads them again as they were, before taking new ones.
   */
  async recordedEpochs(delivered: PgSnapshot, open: PgSnapshot | null): Promise<PgSnapshot[]> {
    const rows = await this.q<{ s: string }>(
      `SELECT snapshot::text AS s FROM ${this.epochs} WHERE consumer = $1 ORDER BY id`,
      [this.consumer],
      'reading the epochs',
    );
    const after = open ?? delivered;
    return rows.map((r) => parsePgSnapshot(r.s)).filter((s) => !covers(after, s));
  }

  /** The consumer's stored snapshot, `null` when it has no row. */
  async read(): Promise<PgSnapshot | null> {
    const [row] = await this.q<{ s: string }>(
      `SELECT delivered::text AS s FROM ${this.consumers} WHERE consumer = $1`,
      [this.consumer],
      'reading the consumer',
    );
    this.stored = row ? parsePgSnapshot(row.s) : null;
    return this.stored;
  }

  /**
   * Fails with `CHECKPOINT_EXPIRED` unless the change rows after `position` are all still
   * there: the consumer is registered and its stored snapshot shows nothing `position` does not
   * (else rows delivered by a later committed checkpoint may have been deleted).
   */
  async checkResumable(position: PgSnapshot): Promise<void> {
    const stored = await this.read();
    if (stored === null) {
      throw definite(
        'CHECKPOINT_EXPIRED',
        `consumer ${this.consumer} of ${this.table} is not registered any more, so the changes since the checkpoint may be gone`,
        {
          table: this.table,
          hint: 'delete the checkpoint to take a new snapshot (trigger capture was removed and installed again, or the consumer was dropped)',
        },
      );
    }
    if (!covers(position, stored)) {
      throw definite(
        'CHECKPOINT_EXPIRED',
        `consumer ${this.consumer} of ${this.table} has committed past the checkpoint (stored snapshot ${stored.text}, checkpoint ${position.text}); changes in between may have been deleted`,
        { table: this.table, hint: 'restore the latest committed checkpoint, or delete the checkpoint to take a new snapshot' },
      );
    }
  }

  /**
   * Records that every change visible in `delivered` is committed downstream (never moving
   * back), then deletes what no consumer needs any more, in the background.
   */
  async commit(delivered: PgSnapshot): Promise<void> {
    if (this.stored !== null && (delivered.text === this.stored.text || !covers(delivered, this.stored))) return;
    await this.lock();
    const updated = await this.q<{ consumer: string }>(
      `UPDATE ${this.consumers} SET delivered = $2::pg_snapshot, updated_at = now() WHERE consumer = $1 RETURNING consumer`,
      [this.consumer, delivered.text],
      'recording the consumer progress',
    );
    if (updated.length === 0) {
      // its row was deleted while it read: other consumers' cleanups no longer kept its rows
      throw definite(
        'CHECKPOINT_EXPIRED',
        `consumer ${this.consumer} of ${this.table} was removed while it was reading; changes it had not read may be gone`,
        {
          table: this.table,
          hint: 'delete the checkpoint to take a new snapshot',
        },
      );
    }
    this.stored = delivered;
    // epochs the committed snapshot covers are never read again
    const epochs = await this.q<{ id: string; s: string }>(
      `SELECT id::text AS id, snapshot::text AS s FROM ${this.epochs} WHERE consumer = $1`,
      [this.consumer],
      'reading the epochs',
    );
    const done = epochs.filter((e) => covers(delivered, parsePgSnapshot(e.s))).map((e) => e.id);
    if (done.length > 0)
      await this.q(
        `DELETE FROM ${this.epochs} WHERE consumer = $1 AND id = ANY($2::bigint[])`,
        [this.consumer, done],
        'pruning the epochs',
      );
    this.cleanup();
  }

  /** Starts a cleanup (or asks the one running to go on once more). */
  cleanup(): void {
    if (this.closed) return;
    if (this.cleaning) {
      this.again = true;
      return;
    }
    this.cleaning = (async () => {
      try {
        do {
          this.again = false;
          for (;;) {
            if (this.closed) return;
            const n = await this.deleteBatch();
            if (n < CLEANUP_BATCH_ROWS) break;
          }
        } while (this.again);
      } catch (error) {
        if (this.closed) return;
        const failure: ConnectorError = mapPgError(error, this.table, 'deleting consumed change rows');
        reportWarning(this.onWarning, {
          code: 'TRIGGER_CLEANUP_FAILED',
          table: this.table,
          message: `consumed change rows of ${this.table} could not be deleted (${failure.message}); the change table ${this.objects.schema}.${this.objects.changes} grows until this works (the reader needs DELETE on it)`,
        });
      } finally {
        this.cleaning = null;
      }
    })();
  }

  /** Deletes up to {@link CLEANUP_BATCH_ROWS} change rows every consumer has committed. */
  async deleteBatch(): Promise<number> {
    const result = await this.sql.query(
      `DELETE FROM ${this.changes} WHERE ctid = ANY (ARRAY(
         SELECT c.ctid FROM ${this.changes} c
          WHERE c.xid < (SELECT pg_snapshot_xmax(k.delivered) AS x FROM ${this.consumers} k ORDER BY x LIMIT 1)
            AND NOT EXISTS (SELECT 1 FROM ${this.consumers} k WHERE NOT pg_visible_in_snapshot(c.xid, k.delivered))
          LIMIT ${CLEANUP_BATCH_ROWS}))`,
    );
    const n = result.rowCount ?? 0;
    this.deleted += n;
    return n;
  }

  /** Waits for a cleanup in progress (tests, benchmarks). */
  async settled(): Promise<void> {
    while (this.cleaning) await this.cleaning;
  }

  /** Stops cleaning up (the connection is closed by its owner). */
  close(): void {
    this.closed = true;
  }

  private async q<T>(sql: string, params: unknown[], context: string): Promise<T[]> {
    try {
      return (await this.sql.query(sql, params)).rows as T[];
    } catch (error) {
      throw mapPgError(error, this.table, context);
    }
  }
}
