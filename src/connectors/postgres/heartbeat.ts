/**
 * Keeps an idle table's slot moving. The walsender reports how far it has read the WAL in
 * keepalive messages; the change reader takes that as the position of an idle stream, and the
 * runner's next commit confirms it to the slot. Keepalives come when the walsender waits for
 * new WAL after sending something the reader has not confirmed yet. Should none come for
 * `heartbeatMs` although the server's WAL moved past the position, the reader writes a tiny
 * non-transactional logical message (`pg_logical_emit_message(false, 'refstream', …)`) in the
 * table's database: the walsender has to read it, and answers with a keepalive. pgoutput does
 * not forward such messages (the reader does not ask for them), so no sink ever sees one.
 */
import type { Queryable } from './queryable.js';

/** Prefix of refstream's logical heartbeat messages (pgoutput does not publish them to readers). */
export const HEARTBEAT_PREFIX = 'refstream';

/**
 * Writes the heartbeat, only on a primary whose WAL is past `position` (on an idle server a
 * heartbeat would only make WAL of its own). Resolves to whether a message was written.
 */
export async function emitHeartbeat(client: Queryable, position: string): Promise<boolean> {
  const { rows } = await client.query(
    `SELECT pg_logical_emit_message(false, $1, 'heartbeat')::text AS lsn
      WHERE NOT pg_is_in_recovery() AND pg_current_wal_lsn() > $2::pg_lsn`,
    [HEARTBEAT_PREFIX, position],
  );
  return rows.length > 0;
}

/** When the next heartbeat is due: `heartbeatMs` after the position last moved (0: never). */
export class IdleTimers {
  private lastAdvance = Date.now();
  private disabled = false;

  constructor(private readonly heartbeatMs: number) {}

  /** The position moved (a keepalive or a commit arrived). */
  advanced(): void {
    this.lastAdvance = Date.now();
  }

  /** Whether a heartbeat is due (and restarts its interval). */
  heartbeatDue(): boolean {
    if (this.disabled || this.heartbeatMs === 0 || Date.now() - this.lastAdvance < this.heartbeatMs) return false;
    this.lastAdvance = Date.now();
    return true;
  }

  /** Stops heartbeats (the user may not call pg_logical_emit_message). */
  disable(): void {
    this.disabled = true;
  }
}
