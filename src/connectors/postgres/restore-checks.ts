/**
 * What `PostgresSource.restore` (and `commit`) check before a checkpoint is trusted: the same
 * slot, a slot the server has not invalidated, the same key, the same columns, and partitions
 * that did not gain or lose rows without change events while the source was stopped.
 */
import { definite } from '../../sdk/errors.js';
import { reportWarning } from '../../sdk/warnings.js';
import type { ResolvedConfig } from './config.js';
import type { Catalog, Partition, TableInfo } from './catalog.js';
import type { Queryable } from './catalog.js';
import { quoteLiteral } from './identifiers.js';
import { dropSlot } from './slot.js';
import { PartitionWatch } from './partitions.js';
import type { ColumnSpec } from './types.js';

/** The checkpoint must have been taken on the slot this source uses, else `CHECKPOINT_MISMATCH`. */
export function checkSlotMatches(recorded: string | null, configured: string | null, table: string): void {
  if (recorded !== configured) {
    throw definite(
      'CHECKPOINT_MISMATCH',
      `the checkpoint was taken on ${recorded === null ? 'no replication slot (a one-shot snapshot)' : `replication slot ${recorded}`}, this source uses ${configured === null ? 'none (a one-shot snapshot)' : configured}`,
      {
        table,
        hint: 'configure the same slot name, or delete the checkpoint (or pass another --checkpoint) to start over',
      },
    );
  }
}

/**
 * The rows delivered so far are keyed on the recorded key columns: resuming under another key
 * (a primary key or replica identity changed while stopped) would mis-key every later change.
 */
export function checkKeyUnchanged(recorded: string[] | undefined, now: readonly string[], table: string): void {
  if (recorded === undefined || sameKey(recorded, now)) return;
  throw definite(
    'SCHEMA_INCOMPATIBLE',
    `the key of ${table} changed since the checkpoint: rows were delivered keyed on (${recorded.join(', ')}), the table is now keyed on (${now.join(', ')})`,
    {
      table,
      hint: 'delete the checkpoint to take a new snapshot keyed on the new columns, or restore the previous primary key / replica identity',
    },
  );
}

/**
 * An invalidated slot cannot serve the checkpoint: fails with `SLOT_INVALIDATED`, or (opt-in,
 * `onSlotInvalidated: 'resnapshot'`) warns and drops the slot. True when the slot was dropped
 * and the source must start over with a new snapshot.
 */
export async function droppedInvalidatedSlot(catalog: Catalog, sql: Queryable, config: ResolvedConfig, table: string): Promise<boolean> {
  const slot = config.slotName;
  const state = await catalog.slotState(slot);
  if (!state?.invalid) return false;
  if (config.onSlotInvalidated !== 'resnapshot') {
    throw definite(
      'SLOT_INVALIDATED',
      `replication slot ${slot} was invalidated by the server (it lost WAL it needed), so the changes since the checkpoint are gone`,
      {
        table,
        hint: `take a new snapshot: set onSlotInvalidated: 'resnapshot' (CLI --resnapshot-on-invalid-slot), or SELECT pg_drop_replication_slot(${quoteLiteral(slot)}); and delete the checkpoint; consider raising max_slot_wal_keep_size`,
      },
    );
  }
  reportWarning(config.onWarning, {
    code: 'SLOT_INVALIDATED',
    table,
    message: `replication slot ${slot} was invalidated by the server; dropping it and taking a new snapshot`,
  });
  await dropSlot(sql, slot, table);
  return true;
}

/**
 * Checks the partitions against the recorded ones (failing when rows came or went without
 * change events) and returns the current ones, with the record to keep in checkpoints.
 */
export async function recheckPartitions(
  info: TableInfo,
  catalog: Catalog,
  recorded: string[],
): Promise<{ partitions: Partition[]; recorded: string[] }> {
  const watch = new PartitionWatch(info, recorded);
  // new storage is only noted here: the stream tells whether a TRUNCATE of the table explains it
  const partitions = await watch.check(catalog, null);
  return { partitions, recorded: watch.state };
}

/** The same columns in the same order, with the same types. */
export function sameSpecs(a: ColumnSpec[], b: ColumnSpec[]): boolean {
  return a.length === b.length && a.every((s, i) => s.name === b[i]!.name && s.typeOid === b[i]!.typeOid && s.typmod === b[i]!.typmod);
}

function sameKey(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((k, i) => k === b[i]);
}
