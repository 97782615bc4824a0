/**
 * Replication slot management: the main slot (created first, without a snapshot), the
 * temporary slot whose exported snapshot the initial snapshot reads, and dropping slots.
 */
import { randomBytes } from 'node:crypto';
import { definite } from '../../sdk/errors.js';
import type { Catalog, TableInfo } from './catalog.js';
import type { ResolvedConfig } from './config.js';
import { mapPgError, SLOTS_HINT } from './errors.js';
import { quoteLiteral } from './identifiers.js';
import { parseLsn } from './lsn.js';
import type { ReplicationConnection } from './replication-stream.js';
import type { Queryable } from './catalog.js';

/**
 * Makes sure the main slot exists (creating it when allowed) and is usable by this source.
 * `mustExist` is set when resuming from a checkpoint: a new slot would have lost the changes.
 */
export async function ensureMainSlot(
  catalog: Catalog,
  config: ResolvedConfig,
  table: TableInfo,
  connect: () => Promise<ReplicationConnection>,
  mustExist: boolean,
): Promise<void> {
  const state = await catalog.slotState(config.slotName);
  if (!state) {
    if (mustExist || !config.createSlot) {
      throw definite('SLOT_MISSING', `replication slot ${config.slotName} does not exist`, {
        table: table.display,
        hint: mustExist
          ? 'the slot was dropped after the checkpoint was taken; delete the checkpoint to take a new snapshot'
          : `SELECT pg_create_logical_replication_slot(${quoteLiteral(config.slotName)}, 'pgoutput'); or set createSlot: true`,
      });
    }
    const conn = await connect();
    try {
      // the snapshot needs a temporary slot besides the main one: without room for both, the
      // main slot would be left behind pinning WAL when the temporary one fails
      await requireFreeSlots(conn, 2, table);
      try {
        await conn.query(`CREATE_REPLICATION_SLOT ${config.slotName} LOGICAL pgoutput NOEXPORT_SNAPSHOT`);
      } catch (error) {
        // another reader created it concurrently: fine
        if ((error as { code?: string }).code !== '42710') throw mapPgError(error, table.display, 'creating the replication slot');
        return;
      }
      try {
        await requireFreeSlots(conn, 1, table); // another client took the last one meanwhile
      } catch (error) {
        await conn.query(`DROP_REPLICATION_SLOT ${config.slotName}`).catch(() => {});
        throw error;
      }
    } finally {
      await conn.close();
    }
    return;
  }
  const database = await catalog.currentDatabase();
  if (state.plugin !== 'pgoutput' || state.database !== database) {
    throw definite(
      'CONFIG_INVALID',
      `replication slot ${config.slotName} uses plugin ${state.plugin} in database ${state.database}; refstream needs a pgoutput slot in ${database}`,
      {
        table: table.display,
        hint: 'choose another slot name (config slot)',
      },
    );
  }
  if (state.invalid) {
    throw definite('SLOT_INVALIDATED', `replication slot ${config.slotName} was invalidated (it lost WAL it needed)`, {
      table: table.display,
      hint: `SELECT pg_drop_replication_slot(${quoteLiteral(config.slotName)}); then delete the checkpoint to take a new snapshot; consider raising max_slot_wal_keep_size`,
    });
  }
}

/** Fails with definite CONFIG_INVALID unless `needed` more replication slots fit on the server. */
async function requireFreeSlots(conn: ReplicationConnection, needed: number, table: TableInfo): Promise<void> {
  let free: number;
  try {
    const [row] = await conn.query<{ free: string }>(
      `SELECT current_setting('max_replication_slots')::int - (SELECT count(*) FROM pg_replication_slots)::int AS free`,
    );
    free = Number(row!.free);
  } catch (error) {
    throw mapPgError(error, table.display, 'counting free replication slots');
  }
  if (free < needed) {
    throw definite(
      'CONFIG_INVALID',
      `the server has ${Math.max(free, 0)} free replication slot${free === 1 ? '' : 's'}; starting ${table.display} needs ${needed}`,
      {
        table: table.display,
        hint: SLOTS_HINT,
      },
    );
  }
}

/** An exported snapshot taken at a temporary slot's consistent point, held open by `conn`. */
export interface ExportedSnapshot {
  conn: ReplicationConnection;
  /** Changes committed at or after this LSN are not in the snapshot. */
  lsn: bigint;
  snapshotId: string;
  /** The snapshot as `pg_current_snapshot()` text (`xmin:xmax:xip,…`). */
  xids: string;
}

/**
 * Creates a slot inside a REPEATABLE READ transaction (`USE_SNAPSHOT`) and exports that
 * transaction's snapshot: the snapshot sees exactly the transactions that commit before the
 * slot's consistent point. By default the slot is temporary and disappears with the
 * connection, so a crash leaves nothing behind; with `slot` the named (permanent) slot is
 * created and its creation point is the snapshot's. The transaction stays open until `conn` is
 * closed.
 */
export async function exportConsistentSnapshot(
  connect: () => Promise<ReplicationConnection>,
  display: string,
  slot?: string,
): Promise<ExportedSnapshot> {
  const conn = await connect();
  try {
    await conn.query('BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ');
    const create =
      slot === undefined
        ? `CREATE_REPLICATION_SLOT refstream_tmp_${randomBytes(6).toString('hex')} TEMPORARY LOGICAL pgoutput USE_SNAPSHOT`
        : `CREATE_REPLICATION_SLOT ${slot} LOGICAL pgoutput USE_SNAPSHOT`;
    const [created] = await conn.query<{ consistent_point: string }>(create);
    const [snap] = await conn.query<{ id: string; xids: string }>('SELECT pg_export_snapshot() AS id, pg_current_snapshot()::text AS xids');
    return { conn, lsn: parseLsn(created!.consistent_point), snapshotId: snap!.id, xids: snap!.xids };
  } catch (error) {
    await conn.close();
    throw mapPgError(error, display, 'exporting the snapshot');
  }
}

/** Drops a slot, waiting a little for its walsender to release it. */
export async function dropSlot(client: Queryable, slot: string, table: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== '55006' || Date.now() > deadline)
        throw mapPgError(error, table, 'dropping the replication slot');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
