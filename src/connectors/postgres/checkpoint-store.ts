/**
 * A CheckpointStore that keeps checkpoints in a PostgreSQL table, for deployments without a
 * durable local disk. Each store instance owns one row (keyed by `id`).
 */
import pg from 'pg';
import { decodeCheckpointEnvelope, encodeCheckpointEnvelope, type CheckpointStore, type StoredCheckpoint } from '../../sdk/checkpoint-store.js';
import { definite } from '../../sdk/errors.js';
import { parseQualifiedName, quoteQualified } from './identifiers.js';
import { mapPgError } from './errors.js';
import type { Queryable } from './catalog.js';

/** Options of {@link PostgresCheckpointStore}. */
export interface PostgresCheckpointStoreOptions {
  /** Connection URL (the store opens and owns one connection) … */
  connectionString?: string;
  /** … or an existing `pg.Pool`/`pg.Client` (or anything with the same `query`), not closed by the store. */
  client?: Queryable;
  /** Table holding the checkpoints, created if missing (default `public.refstream_checkpoints`). */
  table?: string;
  /** Row id, one per synced table (e.g. `public.customers`). */
  id: string;
}

/**
 * Stores checkpoints in `(id text primary key, checkpoint jsonb, saved_at timestamptz)`; the
 * `checkpoint` column holds the shared envelope (source checkpoint and sink states).
 * `save` is an upsert in autocommit mode, durable once it returns (with `synchronous_commit` on).
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
      if (!this.client) {
        const client = new pg.Client({ connectionString: this.options.connectionString });
        client.on('error', () => {});
        await client.connect();
        this.owned = client;
        this.client = client;
      }
      await this.client.query(
        `CREATE TABLE IF NOT EXISTS ${this.tableSql} (id text PRIMARY KEY, checkpoint jsonb NOT NULL, saved_at timestamptz NOT NULL DEFAULT now())`,
      );
    })();
    try {
      await this.ready;
    } catch (error) {
      this.ready = null;
      throw mapPgError(error, this.options.id, 'opening the checkpoint store');
    }
    return this.client!;
  }

  async load(): Promise<StoredCheckpoint | null> {
    const client = await this.init();
    const { rows } = await client.query(`SELECT checkpoint::text AS cp FROM ${this.tableSql} WHERE id = $1`, [this.options.id]);
    if (rows.length === 0) return null;
    return decodeCheckpointEnvelope(rows[0].cp as string, `checkpoint ${this.options.id} in ${this.tableSql}`, `repair or delete the row with id ${this.options.id} (deleting it starts over with a new snapshot)`);
  }

  async save(stored: StoredCheckpoint): Promise<void> {
    const client = await this.init();
    try {
      await client.query(
        `INSERT INTO ${this.tableSql} (id, checkpoint, saved_at) VALUES ($1, $2::jsonb, now())
         ON CONFLICT (id) DO UPDATE SET checkpoint = EXCLUDED.checkpoint, saved_at = EXCLUDED.saved_at`,
        [this.options.id, JSON.stringify(encodeCheckpointEnvelope(stored))],
      );
    } catch (error) {
      throw mapPgError(error, this.options.id, 'saving the checkpoint');
    }
  }

  async clear(): Promise<void> {
    const client = await this.init();
    await client.query(`DELETE FROM ${this.tableSql} WHERE id = $1`, [this.options.id]);
  }

  async close(): Promise<void> {
    await this.owned?.end().catch(() => {});
    this.owned = null;
  }
}
