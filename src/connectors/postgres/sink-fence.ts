/**
 * The fence of a `PostgresTableSink` under high availability: a row per replica group in
 * `<target schema>.refstream_fences` holding the newest epoch that claimed the target.
 *
 * - A new leader claims the row for its epoch before its first write. It first ends every
 *   session of an older epoch's sink of the group (their application_name carries group and
 *   epoch): a paused old leader's open transaction is rolled back, so it never commits.
 * - Every transaction of the sink reads the row `FOR SHARE` right before COMMIT and commits
 *   only when it still holds this sink's epoch. The claim updates the row, so it waits for
 *   (or ends) any transaction that passed the check, and every later check sees the new epoch.
 *
 * So once a newer epoch claimed the target, nothing of an older epoch commits there.
 */
import { createHash } from 'node:crypto';
import { definite } from '../../sdk/errors.js';
import { leaseLost, type Fence } from '../../sdk/lease.js';
import { quoteIdent } from './identifiers.js';

type Query = (sql: string, params?: unknown[]) => Promise<{ rows: unknown[]; rowCount?: number | null }>;

/** How long a claim keeps ending older sessions and retrying before it gives up. */
const CLAIM_TIMEOUT_MS = 15_000;

export class SinkFence {
  private fence: Fence | null = null;
  private readonly tableSql: string;

  /** @param schema - the target table's schema, where the fence table lives */
  constructor(
    schema: string,
    private readonly display: string,
  ) {
    this.tableSql = `${quoteIdent(schema)}.${quoteIdent('refstream_fences')}`;
  }

  /** Writes from now on belong to `fence`. */
  use(fence: Fence): void {
    this.fence = fence;
  }

  /** `refstream-sink`, or under a fence `refstream-sink <group hash> e<epoch>` (what a newer epoch ends). */
  get applicationName(): string {
    return this.fence ? `${this.prefix(this.fence)}${this.fence.epoch}` : 'refstream-sink';
  }

  private prefix(fence: Fence): string {
    return `refstream-sink ${createHash('sha256').update(fence.group).digest('hex').slice(0, 12)} e`;
  }

  /** Claims the target for this epoch (see the module comment); `LEASE_LOST` when a newer epoch has. */
  async claim(query: Query): Promise<void> {
    const fence = this.fence;
    if (!fence) return;
    await query(
      `CREATE TABLE IF NOT EXISTS ${this.tableSql} (group_name text PRIMARY KEY, epoch bigint NOT NULL, holder text, claimed_at timestamptz NOT NULL DEFAULT now())`,
    ).catch((error: unknown) => {
      if (pgCode(error) !== '23505' && pgCode(error) !== '42P07') throw error; // created by another replica meanwhile
    });
    const deadline = Date.now() + CLAIM_TIMEOUT_MS;
    for (;;) {
      await this.endOlderSessions(query, fence);
      await query('BEGIN');
      try {
        await query(`SET LOCAL lock_timeout = '1s'`);
        await query(
          `INSERT INTO ${this.tableSql} AS f (group_name, epoch, holder, claimed_at) VALUES ($1, $2, $3, now())
           ON CONFLICT (group_name) DO UPDATE SET epoch = EXCLUDED.epoch, holder = EXCLUDED.holder, claimed_at = now() WHERE f.epoch < EXCLUDED.epoch`,
          [fence.group, fence.epoch, fence.holder],
        );
        const { rows } = await query(`SELECT epoch::text AS epoch FROM ${this.tableSql} WHERE group_name = $1`, [fence.group]);
        await query('COMMIT');
        const epoch = Number((rows[0] as { epoch: string }).epoch);
        if (epoch > fence.epoch) throw leaseLost(fence, `epoch ${epoch} claimed ${this.display}`);
        return;
      } catch (error) {
        await query('ROLLBACK').catch(() => {});
        // a transaction of an older epoch holds the row: end it, then try again
        if (pgCode(error) === '55P03' && Date.now() < deadline) continue;
        throw error;
      }
    }
  }

  /** Ends the sessions of older epochs' sinks of the group in the target database. */
  private async endOlderSessions(query: Query, fence: Fence): Promise<void> {
    const prefix = this.prefix(fence);
    try {
      await query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND starts_with(application_name, $1)
            AND substr(application_name, length($1) + 1) ~ '^[0-9]+$' AND substr(application_name, length($1) + 1)::bigint < $2`,
        [prefix, fence.epoch],
      );
    } catch (error) {
      if (pgCode(error) !== '42501') throw error;
      throw definite('PERMISSION_DENIED', `${this.display}: cannot end the sessions of a replica that lost the lease`, {
        cause: error,
        hint: 'connect every replica as the same role, or GRANT pg_signal_backend TO the sink role',
      });
    }
  }

  /** Before COMMIT: the row must still hold this epoch (read `FOR SHARE`, so a claim waits for the commit). */
  async check(query: Query): Promise<void> {
    const fence = this.fence;
    if (!fence) return;
    const { rows } = await query(`SELECT epoch::text AS epoch FROM ${this.tableSql} WHERE group_name = $1 FOR SHARE`, [fence.group]);
    const epoch = rows.length === 0 ? null : Number((rows[0] as { epoch: string }).epoch);
    if (epoch !== fence.epoch)
      throw leaseLost(fence, `${this.display} is claimed by epoch ${epoch ?? 'none'}: the transaction was rolled back`);
  }
}

/** The SQLSTATE of a pg error, or of the pg error a ConnectorError wraps. */
function pgCode(error: unknown): string | undefined {
  const e = error as { cause?: { code?: unknown }; code?: unknown };
  const code = typeof e?.cause?.code === 'string' ? e.cause.code : e?.code;
  return typeof code === 'string' ? code : undefined;
}
