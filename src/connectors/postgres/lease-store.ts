/**
 * Leases of high-availability groups in a PostgreSQL table, beside the checkpoints
 * (`PostgresCheckpointStore.leaseStore()`): one row per group with its epoch, holder and
 * expiry. Expiry is judged by the server's clock (`clock_timestamp()`), so replicas never
 * compare clocks. Every step is one statement, so it is atomic on its own; a fenced checkpoint
 * save takes the group's row `FOR SHARE`, which orders it before or after any takeover.
 */
import pg from 'pg';
import { definite, transient } from '../../sdk/errors.js';
import type { Fence, LeaseRecord, LeaseStore } from '../../sdk/lease.js';
import type { Queryable } from './catalog.js';
import { mapPgError } from './errors.js';
import { parseQualifiedName, quoteQualified } from './identifiers.js';
import { checkTableOwner, createTableIfMissing } from './owned-table.js';

/** Options of {@link PostgresLeaseStore}. */
export interface PostgresLeaseStoreOptions {
  /** Connection URL (the store opens and owns one connection, opened again after a failure) … */
  connectionString?: string;
  /** … or an existing `pg.Pool`/`pg.Client`, not closed by the store. */
  client?: Queryable;
  /** Table of the leases, created if missing (default `public.refstream_leases`). */
  table?: string;
  /** Give up connecting after this long (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Give up on a statement after this long (default 5000 ms), so a cut network ends in an error, not a hang. */
  queryTimeoutMs?: number;
}

/** What `refstream status` shows of a group. */
export interface LeaseStatus extends LeaseRecord {
  /** When the current holder acquired it (ISO 8601). */
  acquiredAt: string;
}

/** Leases in a table `(group_name, epoch, holder, acquired_at, renewed_at, expires_at)`. */
export class PostgresLeaseStore implements LeaseStore {
  /** The quoted table name (fenced checkpoint saves lock rows of it). */
  readonly tableSql: string;
  private client: Queryable | null;
  private owned: pg.Client | null = null;
  private ready: Promise<void> | null = null;

  constructor(private readonly options: PostgresLeaseStoreOptions) {
    if (!options.client && !options.connectionString)
      throw definite('CONFIG_INVALID', 'PostgresLeaseStore needs connectionString or client');
    const name = parseQualifiedName(options.table ?? 'public.refstream_leases');
    if (!name) throw definite('CONFIG_INVALID', 'PostgresLeaseStore table must be "table" or "schema.table"');
    this.tableSql = quoteQualified(name);
    this.client = options.client ?? null;
  }

  async acquire(group: string, holder: string, ttlMs: number): Promise<{ acquired: boolean; lease: LeaseRecord }> {
    const { rows } = await this.run('taking the lease', (c) =>
      c.query(
        `INSERT INTO ${this.tableSql} AS l (group_name, epoch, holder, acquired_at, renewed_at, expires_at)
         VALUES ($1, 1, $2, clock_timestamp(), clock_timestamp(), clock_timestamp() + $3 * interval '1 millisecond')
         ON CONFLICT (group_name) DO UPDATE
           SET epoch = l.epoch + 1, holder = EXCLUDED.holder, acquired_at = EXCLUDED.acquired_at,
               renewed_at = EXCLUDED.renewed_at, expires_at = EXCLUDED.expires_at
           WHERE l.expires_at <= clock_timestamp() OR l.holder = EXCLUDED.holder
         RETURNING epoch::text AS epoch`,
        [group, holder, ttlMs],
      ),
    );
    const row = rows[0] as { epoch: string } | undefined;
    if (row) return { acquired: true, lease: { group, epoch: Number(row.epoch), holder, expiresInMs: ttlMs, renewedAgoMs: 0 } };
    const lease = await this.read(group);
    if (!lease) throw transient('CONNECTION_LOST', `the lease of group ${group} vanished while it was being taken`);
    return { acquired: false, lease };
  }

  async renew(fence: Fence, ttlMs: number): Promise<boolean> {
    const result = await this.run('renewing the lease', (c) =>
      c.query(
        `UPDATE ${this.tableSql} SET renewed_at = clock_timestamp(), expires_at = clock_timestamp() + $4 * interval '1 millisecond'
          WHERE group_name = $1 AND epoch = $2 AND holder = $3`,
        [fence.group, fence.epoch, fence.holder, ttlMs],
      ),
    );
    return (result as { rowCount?: number | null }).rowCount === 1;
  }

  async release(fence: Fence): Promise<void> {
    await this.run('releasing the lease', (c) =>
      c.query(`UPDATE ${this.tableSql} SET expires_at = clock_timestamp() WHERE group_name = $1 AND epoch = $2 AND holder = $3`, [
        fence.group,
        fence.epoch,
        fence.holder,
      ]),
    );
  }

  async read(group: string): Promise<LeaseRecord | null> {
    return (await this.list(group))[0] ?? null;
  }

  /** Every group's lease (or `group`'s), for `refstream status`. */
  async list(group?: string): Promise<LeaseStatus[]> {
    const { rows } = await this.run('reading the lease', (c) =>
      c.query(
        `SELECT group_name, epoch::text AS epoch, holder, acquired_at,
                (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::float8 AS expires_in_ms,
                (extract(epoch FROM clock_timestamp() - renewed_at) * 1000)::float8 AS renewed_ago_ms
           FROM ${this.tableSql} ${group === undefined ? '' : 'WHERE group_name = $1'} ORDER BY group_name`,
        group === undefined ? [] : [group],
      ),
    );
    return (
      rows as Array<{
        group_name: string;
        epoch: string;
        holder: string | null;
        acquired_at: Date;
        expires_in_ms: number;
        renewed_ago_ms: number;
      }>
    ).map((r) => ({
      group: r.group_name,
      epoch: Number(r.epoch),
      holder: r.holder,
      expiresInMs: Math.round(r.expires_in_ms),
      renewedAgoMs: Math.max(0, Math.round(r.renewed_ago_ms)),
      acquiredAt: r.acquired_at.toISOString(),
    }));
  }

  /** True when the lease table exists (`refstream status` does not create it). */
  async exists(): Promise<boolean> {
    const { rows } = await this.connection('looking for the lease table', false).then((c) =>
      c.query(`SELECT to_regclass($1) IS NOT NULL AS present`, [this.tableSql]),
    );
    return (rows[0] as { present: boolean }).present;
  }

  async close(): Promise<void> {
    const owned = this.owned;
    this.owned = null;
    this.client = this.options.client ?? null;
    this.ready = null;
    await owned?.end().catch(() => {});
  }

  /** The connection, with the table created (unless `create` is false). */
  private async connection(context: string, create = true): Promise<Queryable> {
    if (!this.client) {
      const client = new pg.Client({
        connectionString: this.options.connectionString,
        connectionTimeoutMillis: this.options.connectTimeoutMs ?? 5000,
        query_timeout: this.options.queryTimeoutMs ?? 5000,
        keepAlive: true,
        application_name: 'refstream-lease',
      });
      client.on('error', () => this.discard(client));
      try {
        await client.connect();
      } catch (error) {
        await client.end().catch(() => {});
        throw mapPgError(error, 'lease store', context);
      }
      this.owned = client;
      this.client = client;
    }
    if (!create) return this.client;
    this.ready ??= (async () => {
      await createTableIfMissing(
        this.client!,
        this.tableSql,
        `CREATE TABLE IF NOT EXISTS ${this.tableSql} (group_name text PRIMARY KEY, epoch bigint NOT NULL, holder text,
           acquired_at timestamptz NOT NULL, renewed_at timestamptz NOT NULL, expires_at timestamptz NOT NULL)`,
      );
      await checkTableOwner(this.client!, this.tableSql, 'lease table', 'the leases');
    })();
    try {
      await this.ready;
    } catch (error) {
      this.ready = null;
      throw error;
    }
    return this.client;
  }

  private discard(client: pg.Client): void {
    if (this.owned !== client) return;
    this.owned = null;
    this.client = this.options.client ?? null;
    this.ready = null;
    client.end().catch(() => {});
  }

  /** Runs `query`; any failure of an owned connection drops it, so the next call connects again. */
  private async run<T>(context: string, query: (client: Queryable) => Promise<T>): Promise<T> {
    const client = await this.connection(context);
    try {
      return await query(client);
    } catch (error) {
      if (this.owned && client === this.owned) this.discard(this.owned);
      const failure = mapPgError(error, 'lease store', context);
      // a statement timeout or a lost connection: the caller tries again later
      if (failure.kind === 'definite' && failure.code === 'QUERY_FAILED' && /timeout/i.test(failure.message))
        throw transient('TIMEOUT', failure.message, { cause: error });
      throw failure;
    }
  }
}
