/**
 * The SQL connection of a `PostgresSource` and what connecting learns about its table: the
 * server's checks, the table's catalog entry, key, codecs and partitions, and the identity
 * every checkpoint records.
 */
import pg from 'pg';
import { ConnectorError, definite } from '../../sdk/errors.js';
import { clientConfig, type ResolvedConfig } from './config.js';
import { Catalog, type Partition, type TableInfo } from './catalog.js';
import { mapPgError } from './errors.js';
import { ReplicationConnection } from './replication-stream.js';
import { checkReadable } from './partitions.js';
import { deferrableKey } from './change-reader.js';
import type { ColumnCodec, ColumnSpec } from './types.js';
import type { SourceIdentity } from './checkpoint.js';
import { readIdentity } from './identity.js';
import { warnAboutIdleSlots } from './idle-slot-warning.js';
import { dropSlot } from './slot.js';
import { checkToastAtStart } from './toast.js';
import type { CaptureMembership } from './capture/membership.js';

/**
 * Connects to the table's server and reads the table. Each field is set as soon as it is
 * known, so what a failed {@link TableSession.connect} did learn (and the client it opened,
 * which `end` closes) stays visible.
 */
export class TableSession {
  sql: pg.Client | null = null;
  catalog: Catalog | null = null;
  info: TableInfo | null = null;
  codecs: ColumnCodec[] | null = null;
  specs: ColumnSpec[] | null = null;
  /** Partitions of a partitioned table, as loaded at connect (the snapshot and restore update them). */
  partitions: Partition[] = [];
  /** Columns PostgreSQL may store out of line (TOAST), as of connect (stream mode). */
  outOfLine: string[] = [];
  /** Where this source reads from (read at connect); recorded in every checkpoint. */
  identity: SourceIdentity | null = null;

  /**
   * @param table - the qualified table name used in errors
   * @param slot - the replication slot, `null` for a one-shot snapshot (no slot, no publication)
   * @param membership - the capture the table belongs to, whose SQL connection it shares
   */
  constructor(
    private readonly config: ResolvedConfig,
    private readonly table: string,
    private readonly slot: string | null,
    private readonly membership: CaptureMembership | null = null,
  ) {}

  private get oneShot(): boolean {
    return this.slot === null;
  }

  /** Opens the SQL connection and checks the server and the table the source needs. */
  async connect(): Promise<void> {
    const sql = this.membership ? await this.membership.sql() : await this.openSql();
    this.sql = sql;
    const catalog = new Catalog(sql, this.table);
    this.catalog = catalog;
    await catalog.serverMajor();
    if (!this.oneShot) {
      await catalog.checkWalLevel();
      await catalog.checkReplicationPrivilege();
    }
    this.info = await catalog.loadTable(this.config.tableName);
    this.identity = await readIdentity(sql, this.config, this.table, this.oneShot ? null : this.connectReplication);
    // a capture warns once for all its tables
    if (!this.oneShot && !this.membership)
      await warnAboutIdleSlots(sql, this.table, this.slot!, this.config.warnRetainedBytes, this.config.onWarning);
    await this.readTable();
  }

  /** Reads the table again (its key and columns changed: a re-seed starts from what it is now). */
  async reloadTable(): Promise<void> {
    this.info = await this.catalog!.loadTable(this.config.tableName);
    await this.readTable();
  }

  /** Checks the table and reads its columns, codecs and partitions. */
  private async readTable(): Promise<void> {
    const catalog = this.catalog!;
    const sql = this.sql!;
    if (this.info!.replicaIdentity === 'n' && !this.oneShot) {
      throw definite('SCHEMA_INCOMPATIBLE', `table ${this.table} has REPLICA IDENTITY NOTHING, so updates and deletes cannot be followed`, {
        table: this.table,
        hint: `ALTER TABLE ${this.table} REPLICA IDENTITY DEFAULT;`,
      });
    }
    const info = this.info!;
    if (!this.oneShot && !(await catalog.currentKey(info.oid)).immediate) throw deferrableKey(info);
    if (!this.oneShot) this.outOfLine = await checkToastAtStart(catalog, sql, info, this.config);
    this.specs = info.columns;
    this.codecs = await catalog.codecs(this.specs, this.table, this.config.unknownTypes);
    if (info.partitioned) {
      this.partitions = await catalog.partitions(info.oid);
      checkReadable(info, this.partitions);
    }
  }

  private async openSql(): Promise<pg.Client> {
    const sql = new pg.Client(clientConfig(this.config, false));
    sql.on('error', () => {}); // surfaced by the next query
    try {
      await sql.connect();
    } catch (error) {
      await sql.end().catch(() => {});
      throw mapPgError(error, this.table, 'connecting');
    }
    return sql;
  }

  /** A new replication connection (the slot, the exported snapshot, the change stream). */
  connectReplication = async (): Promise<ReplicationConnection> => {
    try {
      return await ReplicationConnection.connect(clientConfig(this.config, true));
    } catch (error) {
      throw mapPgError(error, this.table, 'opening a replication connection');
    }
  };

  /** A new SQL connection (snapshot workers, the snapshot holder); errors are the caller's to map. */
  connectSql = async (): Promise<pg.Client> => {
    const client = new pg.Client(clientConfig(this.config, false));
    client.on('error', () => {});
    await client.connect();
    return client;
  };

  /**
   * Drops the replication slot, over the SQL connection or (when there is none) a new one
   * kept as it; on failure the connection is closed.
   */
  async dropSlot(slot: string): Promise<void> {
    let sql = this.sql;
    try {
      sql ??= await this.connectSql();
      this.sql = sql;
      await dropSlot(sql, slot, this.table);
    } catch (error) {
      await this.end();
      throw ConnectorError.is(error) ? error : mapPgError(error, this.table, 'dropping the slot');
    }
  }

  /** Closes the SQL connection, if open (a capture's shared one stays open). */
  async end(): Promise<void> {
    if (!this.membership) await this.sql?.end().catch(() => {});
    this.sql = null;
  }
}
