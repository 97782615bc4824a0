/**
 * Partitioned tables: snapshot ranges per leaf partition, and the watch on the partitions.
 *
 * Changes of a partitioned table are published through its root
 * (`publish_via_partition_root`), so the stream needs nothing special. What the stream cannot
 * show is a partition attached with rows in it, detached or dropped with its rows, or
 * truncated on its own: PostgreSQL publishes no row changes for those. The source records the
 * partitions it knows — each by its attachment (so detaching and attaching again counts) and
 * its storage (relfilenode) — and stops with a definite error instead of drifting from the
 * table:
 *
 * - a partition that arrives empty (`CREATE TABLE … PARTITION OF`) is taken on;
 * - one that arrives holding rows, or goes, stops the source;
 * - a leaf with new storage was truncated or rewritten. When the stream delivers a TRUNCATE of
 *   the table by the transaction that gave it the new storage (its pg_class xmin), or the
 *   leaf still holds rows older than that transaction (VACUUM FULL, CLUSTER), all is well;
 *   otherwise, once the stream has passed the point where the change was seen, it was a
 *   TRUNCATE of the partition alone, and the source stops.
 */
import { definite } from '../../sdk/errors.js';
import { displayName, type QualifiedName } from './identifiers.js';
import { planRanges, type SnapshotRange } from './snapshot.js';
import type { Catalog, Partition, TableInfo } from './catalog.js';

/** How a partition is recorded in checkpoints: `oid@attachmentXmin:relfilenode`. */
export const RECORDED_PARTITION = /^(\d+)@(\d+):(\d+)$/;

function record(p: { attachment: string; relfilenode: number }): string {
  return `${p.attachment}:${p.relfilenode}`;
}

/** The partitions as recorded in checkpoints. */
export function recordPartitions(partitions: Partition[]): string[] {
  return partitions.map(record).sort();
}

/** Fails with `CONFIG_INVALID` for foreign-table partitions, whose changes are never published. */
export function checkReadable(table: TableInfo, partitions: Partition[]): void {
  const foreign = partitions.filter((p) => p.foreign).map((p) => displayName(p.name));
  if (foreign.length > 0) {
    throw definite(
      'CONFIG_INVALID',
      `${table.display} has foreign-table partitions (${foreign.join(', ')}), whose changes PostgreSQL does not publish`,
      {
        table: table.display,
        hint: 'sync the local partitions as tables of their own, or move the foreign partitions out of the table',
      },
    );
  }
}

/**
 * Splits the leaves into about `count` ranges in all, in proportion to their pages; every leaf
 * gets at least one (its last range open-ended).
 */
export function planPartitionRanges(partitions: Partition[], count: number): SnapshotRange[] {
  const leaves = partitions.filter((p) => p.leaf);
  const total = leaves.reduce((n, l) => n + l.pages, 0);
  return leaves.flatMap((leaf) => {
    const share = count <= 1 || total === 0 ? 1 : Math.max(1, Math.round((count * leaf.pages) / total));
    return planRanges(leaf.pages, share).map((r) => ({ ...r, partition: leaf.oid }));
  });
}

/** Leaf names by oid, to read recorded ranges. */
export function leafNames(partitions: Partition[]): Map<number, QualifiedName> {
  return new Map(partitions.filter((p) => p.leaf).map((p) => [p.oid, p.name]));
}

interface Recorded {
  attachment: string;
  relfilenode: number;
}

/** A leaf seen with new storage, not yet explained. */
interface Suspect {
  name: QualifiedName;
  relfilenode: number;
  /** The transaction that gave it the new storage (or changed it last). */
  xid: number;
  /** The server's WAL position when it was seen: the stream has delivered any TRUNCATE by then. */
  until: bigint;
}

/** Root TRUNCATE transactions remembered to explain new storage (bounded). */
const REMEMBERED_TRUNCATES = 1024;

/** Watches a partitioned table's partitions against the recorded ones; see the module comment. */
export class PartitionWatch {
  private readonly recorded = new Map<number, Recorded>();
  private readonly suspects = new Map<number, Suspect>();
  private readonly truncates: number[] = [];

  constructor(
    private readonly table: TableInfo,
    recorded: readonly string[],
  ) {
    for (const r of recorded) {
      const m = RECORDED_PARTITION.exec(r)!;
      this.recorded.set(Number(m[1]), { attachment: `${m[1]}@${m[2]}`, relfilenode: Number(m[3]) });
    }
  }

  /** The partitions to record in a checkpoint. */
  get state(): string[] {
    return [...this.recorded.values()].map(record).sort();
  }

  /** The stream delivered a TRUNCATE of the table by transaction `xid`. */
  truncatedBy(xid: number): void {
    this.truncates.push(xid);
    if (this.truncates.length > REMEMBERED_TRUNCATES) this.truncates.shift();
  }

  /**
   * Compares the partitions with the recorded ones. `streamedTo` is how far the stream has
   * delivered (`null` before it runs: new storage is then only noted). Fails with a definite
   * `SCHEMA_INCOMPATIBLE` or `TABLE_TRUNCATED` when rows changed without change events.
   * Returns the partitions it read.
   */
  async check(catalog: Catalog, streamedTo: bigint | null): Promise<Partition[]> {
    const now = await catalog.partitions(this.table.oid);
    checkReadable(this.table, now);
    await this.checkAttachments(catalog, now);
    const renewed = now.filter((p) => p.leaf && this.recorded.get(p.oid)!.relfilenode !== p.relfilenode);
    if (renewed.length === 0) return now;
    let wal: bigint | null = null;
    for (const p of renewed) {
      const known = this.suspects.get(p.oid);
      if (known && known.relfilenode === p.relfilenode && known.xid === p.classXmin) continue;
      wal ??= await catalog.currentWalLsn();
      this.suspects.set(p.oid, { name: p.name, relfilenode: p.relfilenode, xid: p.classXmin, until: wal });
    }
    if (streamedTo === null) return now;
    for (const [oid, s] of this.suspects) {
      if (!this.truncates.includes(s.xid)) {
        if (streamedTo < s.until) continue; // a TRUNCATE of the table may still come
        if (!(await catalog.hasRowsOlderThan(s.name, s.xid))) {
          throw definite(
            'TABLE_TRUNCATED',
            `partition ${displayName(s.name)} of ${this.table.display} was truncated on its own, which PostgreSQL does not publish`,
            {
              table: this.table.display,
              hint: 'delete the checkpoint to take a new snapshot; to empty a partition while streaming, DELETE its rows (or TRUNCATE the partitioned table)',
            },
          );
        }
      }
      this.recorded.get(oid)!.relfilenode = s.relfilenode;
      this.suspects.delete(oid);
    }
    return now;
  }

  private async checkAttachments(catalog: Catalog, now: Partition[]): Promise<void> {
    const current = new Map(now.map((p) => [p.oid, p]));
    let gone = 0;
    for (const [oid, r] of this.recorded) if (current.get(oid)?.attachment !== r.attachment) gone++;
    const arrived = now.filter((p) => this.recorded.get(p.oid)?.attachment !== p.attachment);
    const withRows: string[] = [];
    for (const p of arrived) if (p.leaf && !(await catalog.isEmpty(p.name))) withRows.push(displayName(p.name));
    if (gone > 0 || withRows.length > 0) {
      const what = [
        gone > 0 ? `${gone} partition${gone === 1 ? ' was' : 's were'} detached or dropped` : '',
        withRows.length > 0
          ? `${withRows.join(', ')} arrived holding rows (attached with them, or filled before the check noticed it)`
          : '',
      ]
        .filter(Boolean)
        .join('; ');
      throw definite(
        'SCHEMA_INCOMPATIBLE',
        `the partitions of ${this.table.display} changed: ${what}. PostgreSQL publishes no row changes for that`,
        {
          table: this.table.display,
          hint: 'delete the checkpoint to take a new snapshot of the table as it is now; create partitions empty (CREATE TABLE … PARTITION OF) to keep streaming',
        },
      );
    }
    for (const p of arrived) this.recorded.set(p.oid, { attachment: p.attachment, relfilenode: p.relfilenode });
  }
}
