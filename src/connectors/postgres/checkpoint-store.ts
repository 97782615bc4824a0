/**
 * A CheckpointStore that keeps checkpoints in a PostgreSQL table, for deployments without a
 * durable local disk. Each store instance owns one row (keyed by `id`). The leases of high
 * availability live beside it (lease-store.ts): a fenced save is a compare-and-set on the
 * group's lease epoch.
 */
import pg from 'pg';
import {
  decodeCheckpointEnvelope,
  encodeCheckpointEnvelope,
  type CheckpointStore,
  type StoredCheckpoint,
} from '../../sdk/checkpoint-store.js';
import { definite } from '../../sdk/errors.js';
import { leaseLost, type Fence } from '../../sdk/lease.js';
import { parseQualifiedName, quoteQualified, type QualifiedName } from './identifiers.js';
import { mapPgError } from './errors.js';
import type { Queryable } from './catalog.js';
import { PostgresLeaseStore } from './lease-store.js';
import { checkTableOwner, createTableIfMissing } from './owned-table.js';

/** Options of {@link PostgresCheckpointStore}. */
export interface PostgresCheckpointStoreOptions {
  /** Connection URL (the store opens and owns one connection, and reconnects after losing it) … */
  connectionString?: string;
  /** … or an existing `pg.Pool`/`pg.Client` (or anything with the same `query`), not closed by the store. */
  client?: Queryable;
  /**
   * Table holding the checkpoints, created if missing (default `public.refstream_checkpoints`).
   * An existing table must be owned by the connecting role: another owner could rewrite the
   * checkpoints, and its triggers would run with this role's privileges.
   */
  table?: string;
  /** Row id, one per synced table (e.g. `public.customers`). */
  id: string;
  /** Give up connecting after this long (default 10 000 ms), so an unreachable host fails instead of hanging. */
  connectTimeoutMs?: number;
  /** High availability: the table of the leases (default `refstream_leases` in the checkpoint table's schema). */
  leaseTable?: string;
}

/** Errors after which the owned connection is dropped and a new one opened. */
const RECONNECT_CODES = new Set(['CONNECTION_LOST', 'CONNECTION_REFUSED', 'SERVER_SHUTDOWN', 'TIMEOUT']);

/**
 * Stores checkpoints in `(id text primary key, checkpoint jsonb, saved_at timestamptz, epoch
 * bigint, lease_group text)`; the `checkpoint` column holds the shared envelope (source
 * checkpoint and sink states), `epoch` and `lease_group` the lease a fenced save was made under.
 * `save` is one upsert that commits with `synchronous_commit` on whatever the server's or
 * role's default, so it is durable once it returns.
 */
export class PostgresCheckpointStore implements CheckpointStore {
  /** Saves take a fence (high availability): see {@link PostgresCheckpointStore.save}. */
  readonly fencing = true;
  private client: Queryable | null;
  private owned: pg.Client | null = null;
  private ready: Promise<void> | null = null;
  private readonly tableSql: string;
  private readonly leaseTableSql: string;

  constructor(private readonly options: PostgresCheckpointStoreOptions) {
    if (!options.client && !options.connectionString) {
      throw definite('CONFIG_INVALID', 'PostgresCheckpointStore needs connectionString or client');
    }
    if (!options.id) throw definite('CONFIG_INVALID', 'PostgresCheckpointStore needs an id');
    const name = parseQualifiedName(options.table ?? 'public.refstream_checkpoints');
    if (!name) throw definite('CONFIG_INVALID', 'PostgresCheckpointStore table must be "table" or "schema.table"');
    this.tableSql = quoteQualified(name);
    const leases = options.leaseTable !== undefined ? parseQualifiedName(options.leaseTable) : leaseTableBeside(name);
    if (!leases) throw definite('CONFIG_INVALID', 'PostgresCheckpointStore leaseTable must be "table" or "schema.table"');
    this.leaseTableSql = quoteQualified(leases);
    this.client = options.client ?? null;
  }

  /**
   * The leases of high availability, in their table beside the checkpoints (on their own
   * connection, so renewals never queue behind saves). The caller closes it.
   */
  leaseStore(): PostgresLeaseStore {
    return new PostgresLeaseStore({
      ...(this.options.client ? { client: this.options.client } : { connectionString: this.options.connectionString! }),
      table: this.leaseTableSql,
    });
  }

  private async init(): Promise<Queryable> {
    this.ready ??= (async () => {
      if (!this.options.client && !this.owned) {
        const client = new pg.Client({
          connectionString: this.options.connectionString,
          connectionTimeoutMillis: this.options.connectTimeoutMs ?? 10_000,
        });
        // a connection lost while idle (server restart, failover): the next call opens a new one
        client.on('error', () => this.discard(client));
        await client.connect().catch(async (error: unknown) => {
          await client.end().catch(() => {});
          throw error;
        });
        this.owned = client;
        this.client = client;
      }
      await createTableIfMissing(
        this.client!,
        this.tableSql,
        `CREATE TABLE IF NOT EXISTS ${this.tableSql} (id text PRIMARY KEY, checkpoint jsonb NOT NULL, saved_at timestamptz NOT NULL DEFAULT now(), epoch bigint, lease_group text)`,
      );
      await checkTableOwner(this.client!, this.tableSql, 'checkpoint table', 'the checkpoints', this.options.id);
      await this.addLeaseColumns(this.client!);
    })();
    try {
      await this.ready;
    } catch (error) {
      this.ready = null;
      const failure = mapPgError(error, this.options.id, 'opening the checkpoint store');
      if (RECONNECT_CODES.has(failure.code) && this.owned) this.discard(this.owned);
      throw failure;
    }
    return this.client!;
  }

  /** A table created by an earlier refstream lacks the columns of fenced saves: they are added. */
  private async addLeaseColumns(client: Queryable): Promise<void> {
    const { rows } = await client.query(
      `SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname IN ('epoch', 'lease_group') AND NOT attisdropped`,
      [this.tableSql],
    );
    if ((rows[0] as { n: number }).n < 2)
      await client.query(`ALTER TABLE ${this.tableSql} ADD COLUMN IF NOT EXISTS epoch bigint, ADD COLUMN IF NOT EXISTS lease_group text`);
  }

  /** Drops an owned connection that failed, so the next call reconnects. */
  private discard(client: pg.Client): void {
    if (this.owned !== client) return;
    this.owned = null;
    this.client = null;
    this.ready = null;
    client.end().catch(() => {});
  }

  /**
   * Runs `query` on the store's connection. After a lost connection it reconnects once and
   * runs it again (every query here is idempotent); a second failure goes to the runner.
   */
  private async run<T>(context: string, query: (client: Queryable) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.init();
      const owned = client === this.owned ? this.owned : null;
      try {
        return await query(client);
      } catch (error) {
        const failure = mapPgError(error, this.options.id, context);
        const reconnect = owned !== null && RECONNECT_CODES.has(failure.code);
        if (reconnect) this.discard(owned);
        if (!reconnect || attempt >= 2) throw failure;
      }
    }
  }

  async load(): Promise<StoredCheckpoint | null> {
    const rows = await this.run(
      'loading the checkpoint',
      async (client) =>
        (await client.query(`SELECT checkpoint::text AS cp, epoch::text AS epoch FROM ${this.tableSql} WHERE id = $1`, [this.options.id]))
          .rows as {
          cp: string;
          epoch: string | null;
        }[],
    );
    if (rows.length === 0) return null;
    const stored = decodeCheckpointEnvelope(
      rows[0]!.cp,
      `checkpoint ${this.options.id} in ${this.tableSql}`,
      `repair or delete the row with id ${this.options.id} (deleting it starts over with a new snapshot)`,
    );
    return rows[0]!.epoch === null ? stored : { ...stored, epoch: Number(rows[0]!.epoch) };
  }

  /**
   * Saves `stored`. With `fence` (high availability) the save is a compare-and-set: it writes
   * only while the group's lease row is still at the fence's epoch and holder, and it takes
   * that row `FOR SHARE`, so a takeover (which updates the row) commits either before it (the
   * save then writes nothing: `LEASE_LOST`) or after it (the new leader then loads it). Without
   * a fence, a row last saved under a lease is refused: replicas of a group must all be fenced.
   */
  async save(stored: StoredCheckpoint, fence?: Fence): Promise<void> {
    const envelope = JSON.stringify(encodeCheckpointEnvelope(stored, fence));
    // One statement, so it is one transaction on a pool too: set_config(…, true) is SET LOCAL,
    // and the WHERE clause runs it before the row is written and the transaction commits.
    const result = await this.run('saving the checkpoint', (client) =>
      fence
        ? client.query(
            `WITH lease AS (SELECT 1 FROM ${this.leaseTableSql} WHERE group_name = $3 AND epoch = $4 AND holder = $5 FOR SHARE)
             INSERT INTO ${this.tableSql} AS c (id, checkpoint, saved_at, epoch, lease_group)
             SELECT $1, $2::jsonb, now(), $4, $3 FROM lease WHERE set_config('synchronous_commit', 'on', true) = 'on'
             ON CONFLICT (id) DO UPDATE SET checkpoint = EXCLUDED.checkpoint, saved_at = EXCLUDED.saved_at, epoch = EXCLUDED.epoch, lease_group = EXCLUDED.lease_group
               WHERE c.epoch IS NULL OR c.lease_group IS DISTINCT FROM EXCLUDED.lease_group OR c.epoch <= EXCLUDED.epoch`,
            [this.options.id, envelope, fence.group, fence.epoch, fence.holder],
          )
        : client.query(
            `INSERT INTO ${this.tableSql} AS c (id, checkpoint, saved_at)
             SELECT $1, $2::jsonb, now() WHERE set_config('synchronous_commit', 'on', true) = 'on'
             ON CONFLICT (id) DO UPDATE SET checkpoint = EXCLUDED.checkpoint, saved_at = EXCLUDED.saved_at WHERE c.epoch IS NULL`,
            [this.options.id, envelope],
          ),
    );
    if ((result as { rowCount?: number | null }).rowCount === 1) return;
    if (fence) throw leaseLost(fence, `checkpoint ${this.options.id} was not saved`);
    throw definite(
      'CONFIG_INVALID',
      `checkpoint ${this.options.id} in ${this.tableSql} is kept by replicas under high availability; a sync without --ha must not write it`,
      {
        table: this.options.id,
        hint: `run this sync with --ha (and the same --group); to leave high availability, stop every replica, then UPDATE ${this.tableSql} SET epoch = NULL, lease_group = NULL WHERE id = '…'`,
      },
    );
  }

  async clear(): Promise<void> {
    await this.run('deleting the checkpoint', (client) => client.query(`DELETE FROM ${this.tableSql} WHERE id = $1`, [this.options.id]));
  }

  async close(): Promise<void> {
    const owned = this.owned;
    this.owned = null;
    this.client = this.options.client ?? null;
    this.ready = null;
    await owned?.end().catch(() => {});
  }
}

/** The default lease table: `refstream_leases` in the checkpoint table's schema. */
function leaseTableBeside(checkpoints: QualifiedName): QualifiedName {
  return { schema: checkpoints.schema, name: 'refstream_leases' };
}
