/**
 * Partitioned tables: snapshot ranges per leaf partition, and the watch on the partitions.
 *
 * Changes of a partitioned table are published through its root
 * (`publish_via_partition_root`), so the stream needs nothing special. What the stream cannot
 * show is a partition attached with rows in it, or detached or dropped with its rows:
 * PostgreSQL writes no row changes for those. The source records the partitions it knows
 * (each by its attachment, so detaching and attaching again counts) and stops with a definite
 * error when one goes or arrives with rows, instead of drifting from the table. A partition
 * that arrives empty (`CREATE TABLE … PARTITION OF`) is taken on: its rows will be published.
 */
import { definite } from '../../sdk/errors.js';
import { displayName, type QualifiedName } from './identifiers.js';
import { planRanges, type SnapshotRange } from './snapshot.js';
import type { Catalog, Partition, TableInfo } from './catalog.js';

/** The partitions as recorded in checkpoints: their attachments, sorted. */
export function attachments(partitions: Partition[]): string[] {
  return partitions.map((p) => p.attachment).sort();
}

/** Fails with `CONFIG_INVALID` for foreign-table partitions, whose changes are never published. */
export function checkReadable(table: TableInfo, partitions: Partition[]): void {
  const foreign = partitions.filter((p) => p.foreign).map((p) => displayName(p.name));
  if (foreign.length > 0) {
    throw definite('CONFIG_INVALID', `${table.display} has foreign-table partitions (${foreign.join(', ')}), whose changes PostgreSQL does not publish`, {
      table: table.display,
      hint: 'sync the local partitions as tables of their own, or move the foreign partitions out of the table',
    });
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

/**
 * Compares the table's partitions with the recorded ones. Returns the attachments to record
 * from now on (new empty partitions taken on); fails with `SCHEMA_INCOMPATIBLE` when one is
 * gone or arrived holding rows.
 */
export async function checkPartitions(catalog: Catalog, table: TableInfo, recorded: readonly string[]): Promise<string[]> {
  const now = await catalog.partitions(table.oid);
  checkReadable(table, now);
  const known = new Set(recorded);
  const current = new Set(now.map((p) => p.attachment));
  const gone = recorded.filter((a) => !current.has(a)).length;
  const arrived = now.filter((p) => !known.has(p.attachment));
  const withRows: string[] = [];
  for (const p of arrived) if (p.leaf && !(await catalog.isEmpty(p.name))) withRows.push(displayName(p.name));
  if (gone > 0 || withRows.length > 0) {
    const what = [
      gone > 0 ? `${gone} partition${gone === 1 ? ' was' : 's were'} detached or dropped` : '',
      withRows.length > 0 ? `${withRows.join(', ')} arrived holding rows (attached with them, or filled before the check noticed it)` : '',
    ]
      .filter(Boolean)
      .join('; ');
    throw definite('SCHEMA_INCOMPATIBLE', `the partitions of ${table.display} changed: ${what}. PostgreSQL publishes no row changes for that`, {
      table: table.display,
      hint: 'delete the checkpoint to take a new snapshot of the table as it is now; create partitions empty (CREATE TABLE … PARTITION OF) to keep streaming',
    });
  }
  return attachments(now);
}
