/**
 * A CheckpointStore that keeps checkpoints in a PostgreSQL table, for deployments without a
 * durable local disk. Each store instance owns one row (keyed by `id`).
 */
import pg from 'pg';
import {
  decodeCheckpointEnvelope,
  encodeCheckpointEnvelope,
  type CheckpointStore,
  type StoredCheckpoint,
} from '../../sdk/checkpoint-store.js';
import { definite } from '../../sdk/errors.js';
import { parseQualifiedName, quoteIdent, quoteQualified } from './identifiers.js';
import { mapPgError } from './errors.js';
import type { Queryable } from './catalog.js';

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
}

/** Errors after which the owned connection is dropped and a new one opened. */
const RECONNECT_CODES = new Set(['CONNECTION_LOST', 'CONNECTION_REFUSED', 'SERVER_SHUTDOWN', 'TIMEOUT']);

/**
 * Stores checkpoints in `(id text primary key, checkpoint jsonb, saved_at timestamptz)`; the
 * `checkpoint` column holds the shared envelope (source checkpoint and sink states).
 * `save` is one upsert that commits with `synchronous_commit` on whatever the server's or
 * role's default, so it is durable once it returns.
 */
export class PostgresCheckpointStore implements CheckpointStore {
  private client: Queryable | null;
  private owned: pg.Client | null = null;
  private ready: Promise<void> | null = null;
  private readonly tableSql: string;

  constructor(private readonly options: PostgresCheckpointStoreOptions) {
    if (!options.client && !options.connectionString) {
      throw definite('CONFIG_INVALID', 'PostgresCheckpointStore needs connectionString or client');
    }
    if (!options.id) throw definite('CONFIG_INVALID', 'PostgresCheckpointStore needs an id');
    const name = parseQualifiedName(options.table ?? 'public.refstream_checkpoints');
    if (!name) throw definite('CONFIG_INVALID', 'PostgresCheckpointStore table must be "table" or "schema.table"');
    this.tableSql = quoteQualified(name);
    this.client = options.client ?? null;
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
      await this.client!.query(
        `CREATE TABLE IF NOT EXISTS ${this.tableSql} (id text PRIMARY KEY, checkpoint jsonb NOT NULL, saved_at timestamptz NOT NULL DEFAULT now())`,
      );
      await this.checkOwner(this.client!);
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

  /** Refuses a table another role created first (CREATE TABLE IF NOT EXISTS adopts it silently). */
  private async checkOwner(client: Queryable): Promise<void> {
    const { rows } = await client.query(
      `SELECT pg_get_userbyid(c.relowner) AS owner, current_user AS me, c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) AS mine
         FROM pg_class c WHERE c.oid = to_regclass($1)`,
      [this.tableSql],
    );
    const row = rows[0] as { owner: string; me: string; mine: boolean } | undefined;
    if (row && !row.mine) {
      throw definite(
        'PERMISSION_DENIED',
        `checkpoint table ${this.tableSql} is owned by role ${row.owner}, not by ${row.me}: its owner could rewrite the checkpoints, and its triggers would run as ${row.me}`,
        {
          table: this.options.id,
          hint: `check the table, then ALTER TABLE ${this.tableSql} OWNER TO ${quoteIdent(row.me)}; or keep checkpoints in a table of your own (postgres://…#schema.table)`,
        },
      );
    }
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
        (await client.query(`SELECT checkpoint::text AS cp FROM ${this.tableSql} WHERE id = $1`, [this.options.id])).rows as {
          cp: string;
        }[],
    );
    if (rows.length === 0) return null;
    return decodeCheckpointEnvelope(
      rows[0]!.cp,
      `checkpoint ${this.options.id} in ${this.tableSql}`,
      `repair or delete the row with id ${this.options.id} (deleting it starts over with a new snapshot)`,
    );
  }

  async save(stored: StoredCheckpoint): Promise<void> {
    // One statement, so it is one transaction on a pool too: set_config(…, true) is SET LOCAL,
    // and the WHERE clause runs it before the row is written and the transaction commits.
    await this.run('saving the checkpoint', (client) =>
      client.query(
        `INSERT INTO ${this.tableSql} (id, checkpoint, saved_at)
         SELECT $1, $2::jsonb, now() WHERE set_config('synchronous_commit', 'on', true) = 'on'
         ON CONFLICT (id) DO UPDATE SET checkpoint = EXCLUDED.checkpoint, saved_at = EXCLUDED.saved_at`,
        [this.options.id, JSON.stringify(encodeCheckpointEnvelope(stored))],
      ),
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
