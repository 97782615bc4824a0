/**
 * `PostgresCapture`: many tables from one replication slot and one publication. It hands out
 * one `PostgresSource` per table; each keeps the whole source contract (its own snapshot,
 * batches, checkpoints and commits) while the capture shares among them what a slot has only
 * once: the exported snapshot the tables start from, the change stream (read once, routed by
 * relation), and the slot's confirmed position (the lowest every table committed).
 */
import pg from 'pg';
import { ConnectorError, definite } from '../../../sdk/errors.js';
import type { LeaderTerm } from '../../../sdk/leadership.js';
import { Catalog, PUBLICATION_MARKER, type TableInfo } from '../catalog.js';
import { CAPTURE_MARKER } from '../admin.js';
import { clientConfig, resolveConfig, type PostgresSourceConfig, type ResolvedConfig } from '../config.js';
import { mapPgError } from '../errors.js';
import { displayName, parseQualifiedName, quoteIdent, quoteLiteral, quoteQualified, type QualifiedName } from '../identifiers.js';
import { ReplicationConnection } from '../replication-stream.js';
import { PostgresSource } from '../source.js';
import { dropSlot } from '../slot.js';
import { warnAboutIdleSlots } from '../idle-slot-warning.js';
import { formatLsn } from '../lsn.js';
import { Holds } from './holds.js';
import { SharedStream } from './shared-stream.js';
import { SnapshotExports } from './snapshot-exports.js';
import { resolveCaptureConfig, type PostgresCaptureConfig, type ResolvedCaptureConfig } from './capture-config.js';
import type { CaptureMembership } from './membership.js';

/** Settings one table's source may have of its own (the rest are the capture's). */
export type CaptureTableSettings = Partial<Pick<PostgresSourceConfig, 'batchRows' | 'batchBytes' | 'maxWaitMs' | 'lingerMs'>>;

/** What {@link PostgresCapture.status} reports about one table. */
export interface CaptureTableStatus {
  table: string;
  /** The position the table holds the slot at (`null`: none yet, or stopped). */
  holds: string | null;
  /** A source of the table is open. */
  open: boolean;
  /** The definite error that stopped the table, if it did. */
  error: { code: string; message: string } | null;
}

interface Entry {
  name: QualifiedName;
  display: string;
  /** The open source of the table, if any. */
  source: PostgresSource | null;
  /** Its source restored a checkpoint or polled (the first export waits for every table to settle). */
  settled: boolean;
  error: ConnectorError | null;
}

/**
 * Reads many tables of one database through one replication slot.
 *
 * ```ts
 * const capture = new PostgresCapture({ connectionString, slot: 'shop', tables: ['public.customers', 'public.products'] });
 * const customers = sync({ source: () => capture.source('public.customers'), sinks: [...], checkpoints: ... });
 * const products = sync({ source: () => capture.source('public.products'), sinks: [...], checkpoints: ... });
 * ```
 *
 * Run one sync per table (each with its own checkpoint). The capture confirms WAL to the slot
 * only up to the lowest position every table has committed, so every table of the capture
 * must have its source running; a table stopped by a definite error no longer holds the others
 * back. See docs/connectors/postgres-capture.md.
 */
export class PostgresCapture {
  /** The replication slot all tables share. */
  readonly slot: string;
  /** The publication all tables share. */
  readonly publication: string;
  readonly config: ResolvedCaptureConfig;

  private readonly entries = new Map<string, Entry>();
  private readonly holds = new Holds();
  private readonly stream: SharedStream;
  private readonly exports: SnapshotExports;
  /** The shared SQL connection for catalog queries. */
  private sqlClient: Promise<pg.Client> | null = null;
  /** Publication changes run one at a time. */
  private publicationLock: Promise<unknown> = Promise.resolve();
  private settleWaiters: Array<() => void> = [];
  private warned = false;
  private closed = false;
  private term: LeaderTerm | null = null;

  constructor(config: PostgresCaptureConfig) {
    this.config = resolveCaptureConfig(config);
    this.slot = this.config.slot;
    this.publication = this.config.publicationName;
    const display = `capture ${this.slot}`;
    const streamConfig = this.memberConfig();
    this.stream = new SharedStream({
      config: streamConfig,
      display,
      connect: () => this.connectReplication(),
      catalog: async () => new Catalog(await this.sql(), display),
      holds: this.holds,
      bufferBytes: this.config.bufferBytes,
      term: () => this.term,
    });
    this.exports = new SnapshotExports({
      display,
      slot: this.slot,
      connect: () => this.connectReplication(),
      parallelism: this.config.snapshotParallelism,
      slotExists: async () => (await new Catalog(await this.sql(), display).slotState(this.slot)) !== null,
      settled: () => this.allSettled(),
      prepareAll: () => this.publishAll(),
      hold: (table, lsn) => this.holds.set(table, lsn),
    });
    for (const name of this.config.tableNames) this.register(name);
  }

  /** The tables of the capture, in display form (`schema.table`). */
  get tables(): string[] {
    return [...this.entries.keys()];
  }

  private register(name: QualifiedName): Entry {
    const display = displayName(name);
    let entry = this.entries.get(display);
    if (!entry) {
      entry = { name, display, source: null, settled: false, error: null };
      this.entries.set(display, entry);
      this.holds.register(display);
    }
    return entry;
  }

  private entry(table: string): Entry {
    const name = parseQualifiedName(table);
    const entry = name ? this.entries.get(displayName(name)) : undefined;
    if (!entry) {
      throw definite(
        'CONFIG_INVALID',
        `${table} is not a table of capture ${this.slot} (its tables: ${this.tables.join(', ') || 'none'})`,
        {
          hint: 'add it first: capture.addTable(table), or list it in tables',
        },
      );
    }
    return entry;
  }

  /** The source configuration of one table of the capture (also what connections are opened with). */
  private memberConfig(name: QualifiedName = CONNECTION_ONLY): ResolvedConfig {
    return resolveConfig(this.memberInput(name));
  }

  private memberInput(name: QualifiedName): PostgresSourceConfig {
    return {
      ...this.config.common,
      table: `${quoteIdent(name.schema)}.${quoteIdent(name.name)}`,
      slot: this.slot,
      publication: this.publication,
      // the capture bounds the connections: one per table reading, `snapshotParallelism` tables at a time
      snapshotParallelism: 1,
      mode: 'stream',
    };
  }

  /**
   * A new source for `table` (one of the capture's tables). Pass it as a factory to `sync()`
   * (`() => capture.source(table)`), so the runner can re-create it after transient errors. A
   * source opened for a table that already has one takes its place: the older one's next poll
   * fails with `CLOSED`. `settings` override the capture's batch settings for this table.
   */
  source(table: string, settings: CaptureTableSettings = {}): PostgresSource {
    this.ensureOpen();
    const entry = this.entry(table);
    entry.error = null;
    const source = new PostgresSource({ ...this.memberInput(entry.name), ...settings }, this.membership(entry));
    entry.source = source;
    return source;
  }

  /**
   * Adds `table` to the capture (and to its publication) while it runs. Its source then takes
   * a snapshot of its own at a new consistent point, while the other tables keep streaming;
   * see docs/connectors/postgres-capture.md for why it meets the stream without gap or overlap.
   */
  async addTable(table: string): Promise<void> {
    this.ensureOpen();
    const name = parseQualifiedName(table);
    if (!name) throw definite('CONFIG_INVALID', `${table}: must be "table" or "schema.table"`, { hint: 'quote parts containing dots' });
    const entry = this.register(name);
    entry.settled = true; // it starts on its own: the first export does not wait for it
    const info = await this.loadTable(entry);
    await this.addToPublication(info);
  }

  /**
   * Removes `table` from the capture: it leaves the publication, its open source is closed, and
   * it no longer holds the slot back. Its checkpoint is the caller's to delete.
   */
  async removeTable(table: string): Promise<void> {
    this.ensureOpen();
    const entry = this.entry(table);
    this.entries.delete(entry.display);
    this.holds.unregister(entry.display);
    await entry.source?.close().catch(() => {});
    await this.dropFromPublication([entry.name]);
    this.notifySettled();
  }

  /**
   * Removes from the capture's publication every table that is no longer one of the
   * capture's (a table taken out of the configuration). Returns their names. Only a
   * publication refstream created is changed.
   */
  async pruneTables(): Promise<string[]> {
    this.ensureOpen();
    const sql = await this.sql();
    let rows: Array<{ schemaname: string; tablename: string; comment: string | null }>;
    try {
      ({ rows } = await sql.query<{ schemaname: string; tablename: string; comment: string | null }>(
        `SELECT t.schemaname, t.tablename, obj_description(p.oid, 'pg_publication') AS comment
           FROM pg_publication p JOIN pg_publication_tables t ON t.pubname = p.pubname WHERE p.pubname = $1`,
        [this.publication],
      ));
    } catch (error) {
      throw mapPgError(error, `capture ${this.slot}`, 'listing the publication');
    }
    if (rows.length === 0 || !(rows[0]!.comment ?? '').startsWith(PUBLICATION_MARKER)) return [];
    const extra = rows.map((r) => ({ schema: r.schemaname, name: r.tablename })).filter((name) => !this.entries.has(displayName(name)));
    if (extra.length > 0) await this.dropFromPublication(extra);
    return extra.map(displayName);
  }

  /** Where every table stands, as far as the capture knows. */
  status(): CaptureTableStatus[] {
    const held = new Map(this.holds.entries().map((h) => [h.table, h]));
    return [...this.entries.values()].map((e) => {
      const lsn = held.get(e.display)?.lsn ?? null;
      return {
        table: e.display,
        holds: lsn === null ? null : formatLsn(lsn),
        open: e.source !== null,
        error: e.error ? { code: e.error.code, message: e.error.message } : null,
      };
    });
  }

  /**
   * High availability: the runners of this capture's tables lead with `term` (one lease for
   * the whole capture). The shared stream may then take the slot from a refstream walsender
   * of a replica that lost the lease. A capture serves one term: when it ends, close the
   * capture (its stream holds the slot) and use a new one for the next term.
   */
  leadWith(term: LeaderTerm): void {
    this.term = term;
  }

  /** Restarts of the shared stream and snapshots exported so far (for tests and metrics). */
  get counters(): { streamRestarts: number; exports: number } {
    return { streamRestarts: this.stream.restarts, exports: this.exports.exports };
  }

  /**
   * Closes the sources, the stream and the shared connection. With `dropSlot`, also drops the
   * slot and the publication (when refstream created it): every table then starts over.
   */
  async close(options: { dropSlot?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.entries.values()].map((e) => e.source?.close() ?? Promise.resolve()));
    await this.stream.close();
    if (options.dropSlot) {
      const sql = await this.sql();
      await dropSlot(sql, this.slot, `capture ${this.slot}`);
      await dropOwnPublication(sql, this.publication);
    }
    const client = await this.sqlClient?.catch(() => null);
    this.sqlClient = null;
    await client?.end().catch(() => {});
  }

  private ensureOpen(): void {
    if (this.closed) throw definite('CLOSED', `capture ${this.slot} is closed`);
  }

  // ---- what the tables' sources ask of the capture ----------------------------------------

  private membership(entry: Entry): CaptureMembership {
    let restoredHold = true;
    const isCurrent = () => this.entries.get(entry.display) === entry;
    return {
      slot: this.slot,
      publication: this.publication,
      sql: () => this.sql(),
      settled: () => {
        if (entry.settled) return;
        entry.settled = true;
        this.notifySettled();
      },
      prepare: async (info) => {
        await this.addToPublication(info);
        if (!this.warned) {
          this.warned = true;
          await warnAboutIdleSlots(
            await this.sql(),
            `capture ${this.slot}`,
            this.slot,
            this.config.warnRetainedBytes,
            this.config.onWarning,
          );
        }
      },
      exportSnapshot: (_info, signal) => this.exports.lease(entry.display, signal),
      readPermit: (signal) => this.exports.readPermit(signal),
      openChannel: (start, textValues, table) => this.stream.attach(table, start, textValues),
      hold: (lsn) => {
        if (!isCurrent()) return;
        this.holds.set(entry.display, lsn, restoredHold);
        restoredHold = false;
      },
      failed: (error) => {
        if (!isCurrent()) return;
        entry.error = error;
        this.holds.release(entry.display);
      },
      detached: () => {
        if (isCurrent() && entry.source !== null) entry.source = null;
      },
      leadWith: (term) => this.leadWith(term),
    };
  }

  /** Resolves once every table of the capture has settled, or after `connectTimeoutMs`. */
  private allSettled(): Promise<void> {
    return new Promise((resolve) => {
      const check = () => [...this.entries.values()].every((e) => e.settled);
      if (check()) return resolve();
      const timer = setTimeout(done, this.config.connectTimeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      const waiter = () => {
        if (check()) done();
      };
      this.settleWaiters.push(waiter);
    });
  }

  private notifySettled(): void {
    for (const w of [...this.settleWaiters]) w();
  }

  // ---- connections and the publication ----------------------------------------------------

  /**
   * The shared SQL connection, opened again once it was lost (the queries that failed with it
   * made their tables' sources fail transiently; their new sources come here).
   */
  private sql(): Promise<pg.Client> {
    if (this.sqlClient) return this.sqlClient;
    const opening = (async () => {
      const client = new pg.Client(clientConfig(this.memberConfig(), false));
      const forget = () => {
        if (this.sqlClient === opening) this.sqlClient = null;
      };
      client.on('error', forget);
      client.on('end', forget);
      try {
        await client.connect();
      } catch (error) {
        forget();
        await client.end().catch(() => {});
        throw mapPgError(error, `capture ${this.slot}`, 'connecting');
      }
      return oneQueryAtATime(client);
    })();
    this.sqlClient = opening;
    return opening;
  }

  private async connectReplication(): Promise<ReplicationConnection> {
    try {
      return await ReplicationConnection.connect(clientConfig(this.memberConfig(), true));
    } catch (error) {
      throw mapPgError(error, `capture ${this.slot}`, 'opening a replication connection');
    }
  }

  /**
   * Puts every table of the capture into the publication before a snapshot is exported: a
   * table's changes are decoded with the publication as of their transaction, so a table added
   * after the export's point would miss the changes in between. Returns the tables it holds; a
   * table that cannot be published (missing, say) is left to fail in its own source.
   */
  private async publishAll(): Promise<Set<string>> {
    const published = new Set<string>();
    for (const entry of [...this.entries.values()]) {
      try {
        await this.addToPublication(await this.loadTable(entry));
        published.add(entry.display);
      } catch {
        // reported by the table's own source, which checks the same
      }
    }
    return published;
  }

  private async loadTable(entry: Entry): Promise<TableInfo> {
    return new Catalog(await this.sql(), entry.display).loadTable(entry.name);
  }

  /** Adds the table to the capture's publication (creating it, marked as refstream's), then checks it publishes everything. */
  private addToPublication(info: TableInfo): Promise<void> {
    return this.underPublicationLock(async () => {
      const sql = await this.sql();
      const catalog = new Catalog(sql, info.display);
      const problem = await catalog.publicationProblem(this.publication, info);
      if (problem === null) return;
      if (problem.code !== 'PUBLICATION_MISSING' || !this.config.createPublication) throw problem;
      const { rows } = await sql.query<{ comment: string | null }>(
        `SELECT obj_description(oid, 'pg_publication') AS comment FROM pg_publication WHERE pubname = $1`,
        [this.publication],
      );
      const pub = quoteIdent(this.publication);
      const table = quoteQualified(info.name);
      try {
        if (rows.length === 0) {
          await sql.query(
            `CREATE PUBLICATION ${pub} FOR TABLE ${table} WITH (publish_via_partition_root = true); COMMENT ON PUBLICATION ${pub} IS ${quoteLiteral(`${CAPTURE_MARKER}${this.slot}`)}`,
          );
        } else if ((rows[0]!.comment ?? '').startsWith(PUBLICATION_MARKER)) {
          await sql.query(`ALTER PUBLICATION ${pub} ADD TABLE ${table}`);
        } else {
          throw definite(
            'PUBLICATION_MISSING',
            `publication ${this.publication} does not publish ${info.display}, and refstream did not create it, so refstream does not change it`,
            { table: info.display, hint: `${problem.hint!} — or give the capture a publication of its own` },
          );
        }
      } catch (error) {
        if (ConnectorError.is(error)) throw error;
        // another table's source added it (or created the publication) first: check again
        if (!['42710', '42P17'].includes((error as { code?: string }).code ?? ''))
          throw mapPgError(error, info.display, 'changing the publication');
      }
      const after = await catalog.publicationProblem(this.publication, info);
      if (after) throw after;
    });
  }

  private dropFromPublication(names: QualifiedName[]): Promise<void> {
    return this.underPublicationLock(async () => {
      const sql = await this.sql();
      for (const name of names) {
        try {
          await sql.query(
            `DO $$ BEGIN
               IF EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = ${quoteLiteral(this.publication)} AND schemaname = ${quoteLiteral(name.schema)} AND tablename = ${quoteLiteral(name.name)})
               THEN ALTER PUBLICATION ${quoteIdent(this.publication)} DROP TABLE ${quoteQualified(name)}; END IF; END $$`,
          );
        } catch (error) {
          throw mapPgError(error, displayName(name), 'removing the table from the publication');
        }
      }
    });
  }

  private underPublicationLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.publicationLock.then(fn, fn);
    this.publicationLock = run.catch(() => {});
    return run;
  }
}

/** Drops the publication if refstream created it (its comment carries the marker). */
async function dropOwnPublication(sql: pg.Client, publication: string): Promise<void> {
  const { rows } = await sql.query<{ comment: string | null }>(
    `SELECT obj_description(oid, 'pg_publication') AS comment FROM pg_publication WHERE pubname = $1`,
    [publication],
  );
  if (rows.length > 0 && (rows[0]!.comment ?? '').startsWith(PUBLICATION_MARKER))
    await sql.query(`DROP PUBLICATION ${quoteIdent(publication)}`);
}

/**
 * The client with its queries queued one after the other: every table's catalog checks share
 * it, and `pg` does not take a query while another runs.
 */
function oneQueryAtATime(client: pg.Client): pg.Client {
  let tail: Promise<unknown> = Promise.resolve();
  const query = (...args: unknown[]): Promise<unknown> => {
    const run = tail.then(() => (client.query as (...a: unknown[]) => Promise<unknown>)(...args));
    tail = run.catch(() => {});
    return run;
  };
  return new Proxy(client, {
    get(target, prop) {
      if (prop === 'query') return query;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** A table name for configurations that only open connections. */
const CONNECTION_ONLY: QualifiedName = { schema: 'public', name: 'refstream_capture' };
