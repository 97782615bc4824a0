/**
 * The storage an interrupted snapshot's ctids refer to. Resume points are ctids ("every row
 * up to this one is delivered"); a rewrite (VACUUM FULL, CLUSTER, a rewriting ALTER TABLE,
 * pg_repack) moves rows to other ctids in new storage, so after one the recorded points mean
 * nothing and the snapshot must start over.
 */
import { mapPgError } from './errors.js';
import type { TableInfo } from './catalog.js';
import { RECORDED_PARTITION } from './partitions.js';
import type { Queryable } from './queryable.js';
import type { SnapshotRange } from './snapshot.js';

/** What a snapshot checkpoint records about storage. */
export interface SnapshotStorage {
  ranges: SnapshotRange[] | null;
  /** A partitioned table's partitions, `oid@xmin:relfilenode` (see partitions.ts). */
  partitions: string[] | null;
  /** A plain table's relfilenode when the snapshot began (absent in older checkpoints). */
  relfilenode?: number | undefined;
}

/**
 * The current storage (`pg_relation_filenode`) of each relation, by oid. It reads the relation
 * cache, not the transaction's snapshot: under a lock on the table it is the storage a scan reads.
 */
export async function filenodes(client: Queryable, oids: number[], table: string): Promise<Map<number, number>> {
  try {
    const { rows } = await client.query('SELECT o::text AS oid, pg_relation_filenode(o)::text AS filenode FROM unnest($1::oid[]) AS o', [
      oids.map(String),
    ]);
    return new Map((rows as { oid: string; filenode: string | null }[]).map((r) => [Number(r.oid), Number(r.filenode ?? 0)]));
  } catch (error) {
    throw mapPgError(error, table, 'reading the table storage');
  }
}

/** The relfilenode each relation with unfinished ranges had when the snapshot began, by oid. */
function recorded(table: TableInfo, s: SnapshotStorage): Map<number, number> {
  const out = new Map<number, number>();
  if (!table.partitioned) {
    if (s.relfilenode !== undefined) out.set(table.oid, s.relfilenode);
    return out;
  }
  const unfinished = new Set((s.ranges ?? []).filter((r) => !r.done && r.partition !== undefined).map((r) => r.partition!));
  for (const p of s.partitions ?? []) {
    const m = RECORDED_PARTITION.exec(p);
    if (m && unfinished.has(Number(m[1]))) out.set(Number(m[1]), Number(m[3]));
  }
  return out;
}

/**
 * Whether a relation the interrupted snapshot still has to read got new storage since it
 * began. Under a lock on the table it answers for the storage a scan will read.
 */
export async function storageRewritten(client: Queryable, table: TableInfo, s: SnapshotStorage): Promise<boolean> {
  const was = recorded(table, s);
  if (was.size === 0) return false;
  const now = await filenodes(client, [...was.keys()], table.display);
  for (const [oid, filenode] of was) if (now.get(oid) !== filenode) return true;
  return false;
}
