/**
 * High availability: a new leader takes an exclusive place from a replica that lost the lease
 * — the replication slot (held by that replica's walsender) or a trigger capture consumer's
 * advisory lock (held by its session). The holder is ended only when it is a refstream
 * connection and only after the lease was confirmed at the lease store: the lease then names
 * this replica at a newer epoch, so the holder cannot be the current leader.
 */
import { definite } from '../../sdk/errors.js';
import type { LeaderTerm } from '../../sdk/leadership.js';
import { reportWarning, type WarningHandler } from '../../sdk/warnings.js';
import type { Queryable } from './catalog.js';
import { mapPgError } from './errors.js';

/** Who holds an exclusive place: a backend pid and its application_name. */
export interface Holder {
  pid: number;
  application: string | null;
}

/**
 * Ends `holder`'s session once `term` is confirmed; resolves when it is gone (up to 5 s).
 * A holder that is not a refstream connection is left alone (the caller reports it in use).
 */
export async function endStaleHolder(
  sql: Queryable,
  o: { holder: Holder; term: LeaderTerm; what: string; table: string; onWarning: WarningHandler | undefined },
): Promise<boolean> {
  if (!(o.holder.application ?? '').startsWith('refstream')) return false;
  await o.term.confirm();
  try {
    await sql.query('SELECT pg_terminate_backend($1)', [o.holder.pid]);
  } catch (error) {
    const failure = mapPgError(error, o.table, `ending the session that holds ${o.what}`);
    if (failure.code === 'PERMISSION_DENIED' || (error as { code?: string }).code === '42501') {
      throw definite('PERMISSION_DENIED', `cannot take over ${o.what}: ending its holder (pid ${o.holder.pid}) was refused`, {
        table: o.table,
        cause: error,
        hint: 'connect every replica as the same role, or GRANT pg_signal_backend TO the replication role',
      });
    }
    throw failure;
  }
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const { rows } = await sql.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [o.holder.pid]);
    if (rows.length === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  reportWarning(o.onWarning, {
    code: 'TAKEN_OVER',
    table: o.table,
    message: `took ${o.what} over from a replica that lost the lease (backend pid ${o.holder.pid}); this replica leads with epoch ${o.term.epoch}`,
  });
  return true;
}
