/**
 * Where a table's change reader gets its pgoutput frames from and confirms positions to: its
 * own replication connection on the slot (one table, one slot: {@link openSlotChannel}), or
 * its share of a capture's stream that carries many tables (capture/shared-stream.ts).
 */
import { definite, transient } from '../../sdk/errors.js';
import type { LeaderTerm } from '../../sdk/leadership.js';
import type { Catalog, TableInfo } from './catalog.js';
import type { ResolvedConfig } from './config.js';
import { mapPgError } from './errors.js';
import { quoteIdent, quoteLiteral } from './identifiers.js';
import { formatLsn } from './lsn.js';
import type { ReplicationConnection } from './replication-stream.js';
import { endStaleHolder } from './takeover.js';

/**
 * A stream position: restart at `lsn` and skip the first `skip` rows of the transaction that
 * commits at `lsn` (0 when the position is between transactions).
 */
export interface ChangePosition {
  lsn: bigint;
  skip: number;
}

/**
 * A zero-length frame: the stream restarted at an earlier position (another table of a
 * capture needed changes from before where it stood). The reader drops what it has not
 * returned yet and takes the frames again from its last returned position.
 */
export const REWOUND = Buffer.alloc(0);

/** The frames of one table's change stream. */
export interface ChangeChannel {
  /** The next frame if one is buffered, else `null`; throws the stream's failure. */
  readFrame(): Buffer | null;
  /** Resolves when a frame or failure may be available, or after `timeoutMs`; rejects when `signal` aborts. */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Confirms `lsn` (a committed checkpoint's position) to the slot; also the answer to a keepalive that asks. */
  confirm(lsn: bigint): void;
  /** Stops reading; the slot is released (or the capture forgets this reader). */
  close(): Promise<void>;
}

/** Opens `table`'s channel starting at `start`; `textValues` asks for values in text form (protocol 1). */
export type OpenChannel = (start: ChangePosition, textValues: boolean, table: TableInfo) => Promise<ChangeChannel>;

/** The pgoutput options of START_REPLICATION: protocol 2 with binary values, or protocol 1 with text values. */
export function pgoutputOptions(publication: string, binary: boolean): string {
  return [
    `proto_version '${binary ? 2 : 1}'`,
    `publication_names ${quoteLiteral(quoteIdent(publication))}`,
    ...(binary ? [`binary 'true'`] : []),
  ].join(', ');
}

/**
 * Starts streaming on `connection` at `startLsn` and waits until it holds the slot; then
 * checks the slot: not invalidated, and not confirmed past `startLsn` (the changes in between
 * would be gone). Nobody else can move the slot once this connection holds it, so the check
 * cannot race. Under high availability (`term`), a refstream walsender of a replica that lost
 * the lease still holding the slot is ended first (takeover.ts).
 */
export async function startOnSlot(
  conn: ReplicationConnection,
  o: { config: ResolvedConfig; catalog: Catalog; display: string; startLsn: bigint; binary: boolean; term?: LeaderTerm | null },
): Promise<void> {
  const { config, catalog, display } = o;
  if (o.term) {
    const holder = await catalog.slotHolder(config.slotName);
    if (holder)
      await endStaleHolder(catalog.client, {
        holder,
        term: o.term,
        what: `replication slot ${config.slotName}`,
        table: display,
        onWarning: config.onWarning,
      });
  }
  conn.start(config.slotName, o.startLsn, pgoutputOptions(config.publicationName, o.binary));
  const pid = (conn.client as unknown as { processID: number }).processID;
  const deadline = Date.now() + config.connectTimeoutMs;
  for (;;) {
    if (conn.failure) throw mapPgError(conn.failure, display, 'starting replication');
    const rows = await catalog.slotActive(config.slotName);
    if (rows && rows.activePid === pid) {
      if (rows.invalid) {
        throw definite('SLOT_INVALIDATED', `replication slot ${config.slotName} was invalidated`, {
          table: display,
          hint: `SELECT pg_drop_replication_slot(${quoteLiteral(config.slotName)}); then delete the checkpoint to take a new snapshot`,
        });
      }
      if (rows.confirmedFlush !== null && rows.confirmedFlush > o.startLsn)
        throw slotPastCheckpoint(config.slotName, rows.confirmedFlush, o.startLsn, display);
      return;
    }
    if (Date.now() > deadline) throw transient('TIMEOUT', `replication did not start on slot ${config.slotName}`, { table: display });
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The slot was confirmed past the position a reader needs: the changes in between are gone. */
export function slotPastCheckpoint(slot: string, confirmed: bigint, needed: bigint, table: string) {
  return definite(
    'CHECKPOINT_EXPIRED',
    `replication slot ${slot} is at ${formatLsn(confirmed)}, past the checkpoint position ${formatLsn(needed)}; changes in between are gone`,
    {
      table,
      hint: 'delete the checkpoint to take a new snapshot (and make sure only one reader commits to this slot)',
    },
  );
}

/**
 * Waits (briefly) until the walsender of `pid` has let go of the slot: it exits a moment after
 * the connection closes, and a reader started at once would find the slot still in use.
 */
export async function slotReleased(catalog: Catalog, slot: string, pid: number): Promise<void> {
  const deadline = Date.now() + 2000;
  try {
    while (Date.now() < deadline) {
      const state = await catalog.slotActive(slot);
      if (state?.activePid !== pid) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  } catch {
    // the SQL connection is gone too: nothing to wait with
  }
}

/**
 * A table's own replication connection on its slot. Status updates go out every
 * `statusIntervalMs` with the last confirmed position, and once more on close.
 */
export function openSlotChannel(o: {
  config: ResolvedConfig;
  catalog: Catalog;
  table: TableInfo;
  connect: () => Promise<ReplicationConnection>;
  /** Highest LSN committed so far (confirmed to the slot). */
  committed: bigint;
  /** High availability: the term this replica leads in (it may take the slot over). */
  term?: LeaderTerm | null;
}): OpenChannel {
  return async (start, textValues) => {
    const conn = await o.connect();
    try {
      await startOnSlot(conn, {
        config: o.config,
        catalog: o.catalog,
        display: o.table.display,
        startLsn: start.lsn,
        binary: !textValues,
        term: o.term ?? null,
      });
    } catch (error) {
      await conn.close();
      throw error;
    }
    let committed = o.committed;
    const timer = setInterval(() => conn.sendStatus(committed), o.config.statusIntervalMs);
    timer.unref();
    if (committed > 0n) conn.sendStatus(committed);
    let closed = false;
    return {
      readFrame: () => conn.readFrame(),
      wait: (ms, signal) => conn.wait(ms, signal),
      confirm(lsn) {
        if (lsn > committed) committed = lsn;
        conn.sendStatus(committed);
      },
      async close() {
        if (closed) return;
        closed = true;
        clearInterval(timer);
        // a last status update so that the slot reflects every commit
        conn.sendStatus(committed);
        const pid = (conn.client as unknown as { processID: number }).processID;
        await conn.close();
        await slotReleased(o.catalog, o.config.slotName, pid);
      },
    };
  };
}
