/**
 * The snapshots a capture's tables are read at. Tables that start together share one
 * exported snapshot: the first one created the capture's slot at it, so all of them and the
 * stream meet at the slot's creation point. A table added later gets a snapshot of its own,
 * exported at a temporary slot's consistent point (the way PostgreSQL's own table
 * synchronisation does it), while the others keep streaming. At most `parallelism` tables read
 * at a time, each over one connection, so connections and memory do not grow with the number
 * of tables.
 */
import { abortError } from '../../../sdk/errors.js';
import { exportConsistentSnapshot, type ExportedSnapshot } from '../slot.js';
import type { ReplicationConnection } from '../replication-stream.js';
import type { SnapshotLease } from './membership.js';

/** A counting semaphore whose waiters can give up. */
export class Permits {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(count: number) {
    this.free = count;
  }

  /** Resolves with the release function once a permit is free. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        const next = this.waiting.shift();
        if (next) next();
        else this.free++;
      };
      if (this.free > 0) {
        this.free--;
        return resolve(release);
      }
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(release);
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(abortError(signal));
      };
      this.waiting.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** What the exports need from the capture. */
export interface SnapshotExportsOptions {
  display: string;
  slot: string;
  connect: () => Promise<ReplicationConnection>;
  /** Tables reading a snapshot at a time. */
  parallelism: number;
  /** Whether the capture's slot exists (it is then not created by an export). */
  slotExists: () => Promise<boolean>;
  /** Resolves once every table of the capture has come up (or a while has passed), so that they share the first export. */
  settled: () => Promise<void>;
  /** Puts every table into the publication; resolves to the tables it holds. */
  prepareAll: () => Promise<Set<string>>;
  /** The table now reads at `lsn`: the slot must keep the stream from there. */
  hold: (table: string, lsn: bigint) => void;
}

interface OpenExport {
  exported: Promise<{ snapshot: ExportedSnapshot; published: Set<string> }>;
  users: number;
}

/** Hands out exported snapshots and read permits to the tables of one capture. */
export class SnapshotExports {
  private current: OpenExport | null = null;
  private readonly permits: Permits;
  /** Exports taken so far (tests and metrics). */
  exports = 0;

  constructor(private readonly o: SnapshotExportsOptions) {
    this.permits = new Permits(o.parallelism);
  }

  /** A read permit alone (an interrupted snapshot resumes at a snapshot of its own). */
  readPermit(signal?: AbortSignal): Promise<() => void> {
    return this.permits.acquire(signal);
  }

  /**
   * The open export, or a new one, for `table`; resolves once a read permit is free. The
   * table holds the stream from the export's position as soon as it is known.
   */
  async lease(table: string, signal?: AbortSignal): Promise<SnapshotLease> {
    let entry = this.current;
    if (entry === null || !(await this.covers(entry, table))) {
      entry = { exported: this.take(), users: 0 };
      this.current = entry;
    }
    entry.users++;
    let exported: ExportedSnapshot;
    try {
      exported = (await entry.exported).snapshot;
    } catch (error) {
      await this.leave(entry);
      throw error;
    }
    this.o.hold(table, exported.lsn);
    let permit: () => void;
    try {
      permit = await this.permits.acquire(signal);
    } catch (error) {
      await this.leave(entry);
      throw error;
    }
    let released = false;
    return {
      snapshotId: exported.snapshotId,
      lsn: exported.lsn,
      xids: exported.xids,
      release: async () => {
        if (released) return;
        released = true;
        permit();
        await this.leave(entry);
      },
    };
  }

  /** Whether `table` was in the publication when `entry` was exported (else its changes after the export could be missed). */
  private async covers(entry: OpenExport, table: string): Promise<boolean> {
    try {
      return (await entry.exported).published.has(table);
    } catch {
      return false;
    }
  }

  /** One table is done with `entry`; the last one closes it, and the next table takes a new one. */
  private async leave(entry: OpenExport): Promise<void> {
    if (--entry.users > 0) return;
    if (this.current === entry) this.current = null;
    const exported = await entry.exported.catch(() => null);
    await exported?.snapshot.conn.close();
  }

  /**
   * Waits for the capture's tables to come up, publishes them all, then exports: the first
   * export creates the capture's slot at its snapshot; later ones use a temporary slot.
   */
  private async take(): Promise<{ snapshot: ExportedSnapshot; published: Set<string> }> {
    await this.o.settled();
    const published = await this.o.prepareAll();
    const exists = await this.o.slotExists();
    const snapshot = await exportConsistentSnapshot(this.o.connect, this.o.display, exists ? undefined : this.o.slot);
    this.exports++;
    return { snapshot, published };
  }
}
