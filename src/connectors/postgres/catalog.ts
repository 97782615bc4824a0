/**
 * Catalog queries on a normal (SQL) connection: server checks, table shape, types,
 * privileges, publication and slot state. Every identifier is passed as a bind parameter.
 */
import { definite, type ConnectorError } from '../../sdk/errors.js';
import { columnCodec, dependentOids, type ColumnCodec, type ColumnSpec, type PgTypeInfo, type UnknownTypes } from './types.js';
import { displayName, quoteIdent, quoteLiteral, quoteQualified, type QualifiedName } from './identifiers.js';
import { parseLsn } from './lsn.js';
import { mapPgError } from './errors.js';
import { emitHeartbeat } from './heartbeat.js';

// OIDs are unsigned 32-bit: they are read as text and parsed (an ::int cast turns those past
// 2^31 negative, and they would never match the unsigned OIDs of the replication stream).

/** What the source knows about its table. */
export interface TableInfo {
  oid: number;
  name: QualifiedName;
  /** `schema.table` as shown in metadata and errors. */
  display: string;
  /** d default, n nothing, f full, i index */
  replicaIdentity: string;
  columns: ColumnSpec[];
  primaryKey: string[];
  relpages: number;
  /** A partitioned table: rows live in its leaf partitions, changes are published as the root's. */
  partitioned: boolean;
}

/** A partition (leaf or itself partitioned) below a partitioned table. */
export interface Partition {
  oid: number;
  name: QualifiedName;
  /** A leaf holds rows; other partitions are partitioned again. */
  leaf: boolean;
  /** `oid@xmin` of its pg_inherits row: changes when it is detached and attached again. */
  attachment: string;
  /** Heap pages, for planning snapshot ranges. */
  pages: number;
  /** Its storage: a new one after TRUNCATE, VACUUM FULL, CLUSTER or a rewriting ALTER. */
  relfilenode: number;
  /** xmin of its pg_class row: the transaction that last changed it (a TRUNCATE's, for one). */
  classXmin: number;
  /** A foreign table: its rows are elsewhere and its changes are never published. */
  foreign: boolean;
}

/**
 * `CREATE PUBLICATION` for the table (a partitioned one published through its root). With
 * `marked`, also the comment by which `refstream drop` knows refstream created it (hints for
 * users leave it out: a publication a user creates is theirs).
 */
export function createPublicationSql(publication: string, table: TableInfo, marked = false): string {
  const withRoot = table.partitioned ? ' WITH (publish_via_partition_root = true)' : '';
  const create = `CREATE PUBLICATION ${quoteIdent(publication)} FOR TABLE ${quoteQualified(table.name)}${withRoot}`;
  return marked
    ? `${create}; COMMENT ON PUBLICATION ${quoteIdent(publication)} IS ${quoteLiteral(`${PUBLICATION_MARKER} for ${table.display}`)}`
    : create;
}

/** Start of the comment on publications refstream created. */
export const PUBLICATION_MARKER = 'created by refstream';

/** State of a replication slot. */
export interface SlotState {
  plugin: string;
  database: string;
  active: boolean;
  confirmedFlush: bigint | null;
  /** `lost` (or a non-null invalidation reason) means the slot can no longer be used. */
  invalid: boolean;
}

/** A minimal SQL client: what `pg.Client` and `pg.Pool` have in common. */
export type { Queryable } from './queryable.js';
import type { Queryable } from './queryable.js';

export class Catalog {
  private readonly types = new Map<number, PgTypeInfo>();
  private readonly typeNames = new Map<string, string>();

  constructor(
    /** The SQL connection the catalog reads through. */
    readonly client: Queryable,
    private readonly table: string,
  ) {}

  private async q<T = Record<string, unknown>>(sql: string, params: unknown[] = [], context = 'catalog query'): Promise<T[]> {
    try {
      return (await this.client.query(sql, params)).rows as T[];
    } catch (error) {
      throw mapPgError(error, this.table, context);
    }
  }

  /** Server major version; refstream needs 14 or later (binary pgoutput). */
  async serverMajor(): Promise<number> {
    const [row] = await this.q<{ v: string }>('SELECT current_setting($1) AS v', ['server_version_num']);
    const major = Math.floor(Number(row!.v) / 10000);
    if (major < 14) {
      throw definite('SERVER_VERSION', `PostgreSQL ${major} is not supported by the refstream Postgres connector (needs 14 or later)`, {
        table: this.table,
        hint: 'upgrade the server to PostgreSQL 14 or later',
      });
    }
    return major;
  }

  /** Fails with `WAL_LEVEL` unless `wal_level = logical`. */
  async checkWalLevel(): Promise<void> {
    const [row] = await this.q<{ v: string }>('SELECT current_setting($1) AS v', ['wal_level']);
    if (row!.v !== 'logical') {
      throw definite('WAL_LEVEL', `wal_level is "${row!.v}", logical replication needs "logical"`, {
        table: this.table,
        hint: 'ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL',
      });
    }
  }

  /** Fails with `PERMISSION_DENIED` unless the user may open replication connections. */
  async checkReplicationPrivilege(): Promise<void> {
    const [row] = await this.q<{ ok: boolean; u: string }>(
      'SELECT (rolreplication OR rolsuper) AS ok, current_user AS u FROM pg_roles WHERE rolname = current_user',
    );
    if (!row?.ok) {
      throw definite('PERMISSION_DENIED', `role ${row?.u ?? 'current_user'} lacks the REPLICATION attribute`, {
        table: this.table,
        hint: `ALTER ROLE ${quoteIdent(row?.u ?? 'user')} WITH REPLICATION;`,
      });
    }
  }

  /** Loads the table's oid, columns, primary key and replica identity. */
  async loadTable(name: QualifiedName): Promise<TableInfo> {
    const display = displayName(name);
    const [rel] = await this.q<{ oid: string; relkind: string; relreplident: string; relpages: number; sel: boolean; u: string }>(
      `SELECT c.oid::text AS oid, c.relkind, c.relreplident, c.relpages::int AS relpages,
              has_table_privilege(c.oid, 'SELECT') AS sel, current_user AS u
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
      [name.schema, name.name],
    );
    if (!rel) {
      throw definite('TABLE_NOT_FOUND', `table ${display} does not exist (or is not visible to this user)`, {
        table: display,
        hint: 'check the schema and table name; quote mixed-case names like "MySchema"."MyTable"',
      });
    }
    if (!rel.sel) {
      throw definite('PERMISSION_DENIED', `role ${rel.u} may not SELECT from ${display}`, {
        table: display,
        hint: `GRANT SELECT ON ${quoteQualified(name)} TO ${quoteIdent(rel.u)};`,
      });
    }
    const oid = Number(rel.oid);
    const columns = await this.loadColumns(oid);
    // The primary key — or, under REPLICA IDENTITY USING INDEX, that index (unique, NOT NULL
    // columns): pgoutput identifies deleted and re-keyed rows by it, so it must be the key.
    const keyOf = (which: 'indisprimary' | 'indisreplident') =>
      this.q<{ attname: string }>(
        `SELECT a.attname FROM pg_index i
           CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
          WHERE i.indrelid = $1 AND i.${which} ORDER BY k.ord`,
        [oid],
      );
    const pk = await keyOf(rel.relreplident === 'i' ? 'indisreplident' : 'indisprimary');
    if (pk.length === 0) {
      throw definite('NO_PRIMARY_KEY', `table ${display} has no primary key (and no replica identity index)`, {
        table: display,
        hint: `ALTER TABLE ${quoteQualified(name)} ADD PRIMARY KEY (…); or, with a unique index on NOT NULL columns, ALTER TABLE ${quoteQualified(name)} REPLICA IDENTITY USING INDEX <index>;`,
      });
    }
    return {
      oid,
      name,
      display,
      replicaIdentity: rel.relreplident,
      columns,
      primaryKey: pk.map((r) => r.attname),
      relpages: rel.relpages,
      partitioned: rel.relkind === 'p',
    };
  }

  /**
   * The table's key as it is now: the primary key, or under REPLICA IDENTITY USING INDEX that
   * index's columns (as {@link loadTable} chooses it; `columns` empty when there is none), and
   * whether its uniqueness is checked per row (`immediate`; false for a DEFERRABLE key).
   */
  async currentKey(oid: number): Promise<{ columns: string[]; immediate: boolean }> {
    const rows = await this.q<{ attname: string; immediate: boolean }>(
      `SELECT a.attname, i.indimmediate AS immediate FROM pg_class c
         JOIN pg_index i ON i.indrelid = c.oid AND CASE WHEN c.relreplident = 'i' THEN i.indisreplident ELSE i.indisprimary END
         CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
        WHERE c.oid = $1 ORDER BY k.ord`,
      [oid],
    );
    return { columns: rows.map((r) => r.attname), immediate: rows.every((r) => r.immediate) };
  }

  /**
   * Every partition below a partitioned table, at any depth. Plain catalog reads (not
   * `pg_partition_tree`), so inside a transaction with an imported snapshot they show the
   * partitions as of that snapshot.
   */
  async partitions(oid: number): Promise<Partition[]> {
    const rows = await this.q<{
      oid: string;
      nspname: string;
      relname: string;
      isleaf: boolean;
      is_foreign: boolean;
      attached: string;
      relfilenode: string;
      xmin: string;
      pages: string;
    }>(
      `WITH RECURSIVE tree AS (
         SELECT i.inhrelid AS relid, i.xmin AS attached FROM pg_inherits i WHERE i.inhparent = $1::oid
         UNION ALL
         SELECT i.inhrelid, i.xmin FROM pg_inherits i JOIN tree ON i.inhparent = tree.relid
       )
       SELECT c.oid::text AS oid, n.nspname, c.relname, c.relkind <> 'p' AS isleaf, c.relkind = 'f' AS is_foreign,
              tree.attached::text AS attached, c.relfilenode::text AS relfilenode, c.xmin::text AS xmin,
              CASE WHEN c.relkind = 'r' THEN (pg_relation_size(c.oid) / current_setting('block_size')::int)::text ELSE '0' END AS pages
         FROM tree JOIN pg_class c ON c.oid = tree.relid JOIN pg_namespace n ON n.oid = c.relnamespace
        ORDER BY c.oid::int8`,
      [oid],
    );
    return rows.map((r) => ({
      oid: Number(r.oid),
      name: { schema: r.nspname, name: r.relname },
      leaf: r.isleaf,
      attachment: `${r.oid}@${r.attached}`,
      pages: Number(r.pages),
      relfilenode: Number(r.relfilenode),
      classXmin: Number(r.xmin),
      foreign: r.is_foreign,
    }));
  }

  /**
   * Whether a table holds a row version older than transaction `xid` (its rows survived that
   * transaction: a rewrite keeps them, a TRUNCATE does not).
   */
  async hasRowsOlderThan(name: QualifiedName, xid: number): Promise<boolean> {
    const [row] = await this.q<{ older: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM ONLY ${quoteQualified(name)} WHERE age(xmin) > age($1::text::xid)) AS older`,
      [String(xid)],
    );
    return row!.older;
  }

  /**
   * Of the columns `names` just added to the table, those that gave rows already in it a value
   * without writing any change event: a fast default (`atthasmissing`: a constant stored in the
   * catalog, shown for every older row), or a rewrite that filled the rows (a volatile default,
   * an identity or generated column: the rewritten rows carry the xmin of the transaction that
   * added the column). A default set later (`SET DEFAULT`) fills no existing row and is not
   * reported; nor is a fast default when no row older than the column is left (the stream
   * deletes the others).
   */
  async addedColumnsWithValues(table: TableInfo, names: string[]): Promise<string[]> {
    // a partitioned table keeps a fast default in its leaves' attributes, not its own
    const rows = await this.q<{ attname: string; atthasmissing: boolean; xmin: string }>(
      `SELECT r.attname, r.xmin::text AS xmin,
              EXISTS (SELECT 1 FROM pg_attribute l
                       WHERE l.attname = r.attname AND l.atthasmissing AND NOT l.attisdropped
                         AND (l.attrelid = $1 OR l.attrelid IN (SELECT relid FROM pg_partition_tree($1::oid::regclass)))) AS atthasmissing
         FROM pg_attribute r
        WHERE r.attrelid = $1 AND r.attname = ANY($2::text[]) AND NOT r.attisdropped ORDER BY r.attnum`,
      [table.oid, names],
    );
    const from = `${table.partitioned ? '' : 'ONLY '}${quoteQualified(table.name)}`;
    const out: string[] = [];
    for (const r of rows) {
      // older rows show the missing value; rewritten rows carry the adding transaction's xmin
      const where = r.atthasmissing ? 'age(xmin) > age($1::text::xid)' : 'xmin = $1::text::xid';
      const [row] = await this.q<{ filled: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${from} WHERE ${where}) AS filled`, [r.xmin]);
      if (row!.filled) out.push(r.attname);
    }
    return out;
  }

  /** The server's current WAL write position. */
  async currentWalLsn(): Promise<bigint> {
    const [row] = await this.q<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    return parseLsn(row!.lsn);
  }

  /** Whether a table holds no row (of its own: `ONLY`). */
  async isEmpty(name: QualifiedName): Promise<boolean> {
    const [row] = await this.q<{ empty: boolean }>(`SELECT NOT EXISTS (SELECT 1 FROM ONLY ${quoteQualified(name)}) AS empty`);
    return row!.empty;
  }

  private async loadColumns(oid: number): Promise<ColumnSpec[]> {
    const rows = await this.q<{ attname: string; atttypid: string; atttypmod: number; attnotnull: boolean; st: string; attnum: number }>(
      `SELECT attname, atttypid::text AS atttypid, atttypmod, attnotnull, format_type(atttypid, atttypmod) AS st, attnum
         FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`,
      [oid],
    );
    return rows.map((r) => ({
      name: r.attname,
      typeOid: Number(r.atttypid),
      typmod: r.atttypmod,
      sourceType: r.st,
      nullable: !r.attnotnull,
      attnum: r.attnum,
    }));
  }

  /** Every column of the table by attnum, dropped ones included (their attnum is never reused). */
  async attributes(oid: number): Promise<Array<{ attnum: number; name: string; dropped: boolean; notNull: boolean }>> {
    const rows = await this.q<{ attnum: number; attname: string; attisdropped: boolean; attnotnull: boolean }>(
      `SELECT attnum, attname, attisdropped, attnotnull FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND attgenerated = '' ORDER BY attnum`,
      [oid],
    );
    return rows.map((r) => ({ attnum: r.attnum, name: r.attname, dropped: r.attisdropped, notNull: r.attnotnull }));
  }

  /**
   * The columns PostgreSQL may store out of line (TOAST): variable-length types with storage
   * `extended` or `external` (and `main`, out of line as a last resort). An update that leaves
   * such a value unchanged sends no value for it.
   */
  async outOfLineColumns(oid: number): Promise<string[]> {
    const rows = await this.q<{ attname: string }>(
      `SELECT attname FROM pg_attribute
        WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attlen = -1 AND attstorage IN ('x', 'e', 'm') ORDER BY attnum`,
      [oid],
    );
    return rows.map((r) => r.attname);
  }

  /** Whether `name` is still a table with this oid (false once dropped). */
  async tableExists(oid: number): Promise<boolean> {
    const rows = await this.q('SELECT 1 FROM pg_class WHERE oid = $1', [oid]);
    return rows.length > 0;
  }

  /** Loads catalog info for the given type oids and everything they depend on. */
  async loadTypes(oids: number[]): Promise<void> {
    let pending = oids.filter((o) => !this.types.has(o));
    while (pending.length > 0) {
      const rows = await this.q<{
        oid: string;
        typname: string;
        nspname: string;
        typtype: string;
        typbasetype: string;
        typtypmod: number;
        typelem: string;
        typcategory: string;
      }>(
        `SELECT t.oid::text AS oid, t.typname, n.nspname, t.typtype, t.typbasetype::text AS typbasetype, t.typtypmod,
                t.typelem::text AS typelem, t.typcategory
           FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = ANY($1::oid[])`,
        [pending],
      );
      const next: number[] = [];
      for (const r of rows) {
        const info: PgTypeInfo = {
          oid: Number(r.oid),
          name: r.typname,
          schema: r.nspname,
          typtype: r.typtype,
          baseType: Number(r.typbasetype),
          baseTypmod: r.typtypmod,
          elem: Number(r.typelem),
          category: r.typcategory,
        };
        this.types.set(info.oid, info);
        for (const d of dependentOids(info)) if (!this.types.has(d)) next.push(d);
      }
      for (const o of pending)
        if (!this.types.has(o))
          this.types.set(o, { oid: o, name: `oid ${o}`, schema: '', typtype: '?', baseType: 0, baseTypmod: -1, elem: 0, category: '' });
      pending = next;
    }
  }

  /** `format_type(oid, typmod)`, cached (Relation messages carry only oid and typmod). */
  async formatType(oid: number, typmod: number): Promise<string> {
    const key = `${oid}/${typmod}`;
    let name = this.typeNames.get(key);
    if (name === undefined) {
      const [row] = await this.q<{ t: string }>('SELECT format_type($1::oid, $2::int) AS t', [oid, typmod]);
      name = row!.t;
      this.typeNames.set(key, name);
    }
    return name;
  }

  /** Codecs of the given columns (loads their types first). */
  async codecs(columns: ColumnSpec[], table: string, unknownTypes: UnknownTypes = 'error'): Promise<ColumnCodec[]> {
    await this.loadTypes(columns.map((c) => c.typeOid));
    return columns.map((c) => columnCodec(c, table, (oid) => this.types.get(oid), unknownTypes));
  }

  /**
   * Makes sure the publication exists and publishes the table (creating it, or adding the table
   * to one refstream created, when allowed), and publishes all of it (see
   * {@link publicationProblem}). A publication without refstream's marker comment is never
   * altered. Fails with `PUBLICATION_MISSING` or `CONFIG_INVALID` otherwise.
   */
  async ensurePublication(publication: string, table: TableInfo, create: boolean): Promise<void> {
    const problem = await this.publicationProblem(publication, table);
    if (!problem) return;
    if (!create || problem.code !== 'PUBLICATION_MISSING') throw problem;
    const [existing] = await this.q<{ comment: string | null }>(
      `SELECT obj_description(oid, 'pg_publication') AS comment FROM pg_publication WHERE pubname = $1`,
      [publication],
    );
    if (existing && !(existing.comment ?? '').startsWith(PUBLICATION_MARKER)) {
      // a publication of someone else's (a subscriber's): adding a table would break its apply worker
      throw definite(
        'PUBLICATION_MISSING',
        `publication ${publication} does not publish ${table.display}, and refstream did not create it, so refstream does not change it`,
        {
          table: table.display,
          hint: `if no subscriber of ${publication} minds the extra table: ${problem.hint!} otherwise choose a publication name of its own (publication option, --publication) or leave it out for the default`,
        },
      );
    }
    // one simple-query message: a new publication and its marker comment are created in one transaction
    await this.q(existing ? problem.hint! : createPublicationSql(publication, table, true), [], 'creating the publication');
    const after = await this.publicationProblem(publication, table);
    if (after) throw after;
  }

  /**
   * Why the publication does not deliver every change of the table, as the definite error to
   * raise (its hint is the SQL that fixes it), or `null` when it does:
   * - `PUBLICATION_MISSING`: it does not exist, or does not include the table;
   * - `CONFIG_INVALID`: it does not publish inserts, updates, deletes and truncates; it
   *   publishes a partitioned table's partitions as tables of their own; or (PostgreSQL 15+)
   *   it has a row filter or a column list for the table. Each of these would silently leave
   *   rows stale in the sinks.
   */
  async publicationProblem(publication: string, table: TableInfo): Promise<ConnectorError | null> {
    const pubSql = quoteIdent(publication);
    const tableSql = quoteQualified(table.name);
    const [pub] = await this.q<{ puballtables: boolean; everything: boolean; viaroot: boolean }>(
      `SELECT puballtables, (pubinsert AND pubupdate AND pubdelete AND pubtruncate) AS everything, pubviaroot AS viaroot
         FROM pg_publication WHERE pubname = $1`,
      [publication],
    );
    if (!pub) {
      return definite('PUBLICATION_MISSING', `publication ${publication} does not exist`, {
        table: table.display,
        hint: `${createPublicationSql(publication, table)};`,
      });
    }
    if (!pub.everything) {
      return definite('CONFIG_INVALID', `publication ${publication} does not publish every kind of change`, {
        table: table.display,
        hint: `ALTER PUBLICATION ${pubSql} SET (publish = 'insert, update, delete, truncate');`,
      });
    }
    // Without publish_via_partition_root, changes arrive as the leaf partitions' own, which
    // this source does not read.
    if (table.partitioned && !pub.viaroot) {
      return definite('CONFIG_INVALID', `publication ${publication} publishes the partitions of ${table.display} as separate tables`, {
        table: table.display,
        hint: `ALTER PUBLICATION ${pubSql} SET (publish_via_partition_root = true); or configure a publication of its own`,
      });
    }
    const [entry] = await this.q<{ j: { attnames?: string[] | null; rowfilter?: string | null } }>(
      'SELECT to_jsonb(t) AS j FROM pg_publication_tables t WHERE pubname = $1 AND schemaname = $2 AND tablename = $3',
      [publication, table.name.schema, table.name.name],
    );
    if (!entry) {
      return definite('PUBLICATION_MISSING', `publication ${publication} does not publish ${table.display}`, {
        table: table.display,
        hint: `ALTER PUBLICATION ${pubSql} ADD TABLE ${tableSql};`,
      });
    }
    // Row filters and column lists exist from PostgreSQL 15 on (to_jsonb: older servers lack the
    // columns). A column list is told by pg_publication_rel.prattrs, as attnames also lacks the
    // columns dropped from the table since.
    const [rel] = await this.q<{ cols: boolean }>(
      `SELECT coalesce(to_jsonb(r) -> 'prattrs', 'null'::jsonb) <> 'null'::jsonb AS cols
         FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid WHERE p.pubname = $1 AND r.prrelid = $2::oid`,
      [publication, String(table.oid)],
    );
    const republish = `ALTER PUBLICATION ${pubSql} DROP TABLE ${tableSql}; ALTER PUBLICATION ${pubSql} ADD TABLE ${tableSql};`;
    if (entry.j.rowfilter != null) {
      return definite(
        'CONFIG_INVALID',
        `publication ${publication} has a row filter for ${table.display} (WHERE ${entry.j.rowfilter}): changes of the other rows would never arrive`,
        {
          table: table.display,
          hint: `${republish} (publishes it without a row filter), or configure a publication of its own`,
        },
      );
    }
    if (rel?.cols) {
      const published = Array.isArray(entry.j.attnames) ? ` (${entry.j.attnames.join(', ')})` : '';
      return definite(
        'CONFIG_INVALID',
        `publication ${publication} has a column list for ${table.display}${published}: the other columns would never be updated`,
        {
          table: table.display,
          hint: `${republish} (publishes every column), or configure a publication of its own`,
        },
      );
    }
    return null;
  }

  /** The slot's state, or `null` when it does not exist. */
  async slotState(slot: string): Promise<SlotState | null> {
    const [row] = await this.q<Record<string, unknown>>('SELECT * FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    if (!row) return null;
    const confirmed = row.confirmed_flush_lsn as string | null;
    return {
      plugin: String(row.plugin ?? ''),
      database: String(row.database ?? ''),
      active: row.active === true,
      confirmedFlush: confirmed ? parseLsn(confirmed) : null,
      invalid: row.wal_status === 'lost' || (row.invalidation_reason !== undefined && row.invalidation_reason !== null),
    };
  }

  /** The session holding the slot (its walsender), or `null` when none does. */
  async slotHolder(slot: string): Promise<{ pid: number; application: string | null } | null> {
    const [row] = await this.q<{ pid: number | null; app: string | null }>(
      `SELECT s.active_pid AS pid, a.application_name AS app FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid
        WHERE s.slot_name = $1`,
      [slot],
    );
    return row && row.pid !== null ? { pid: Number(row.pid), application: row.app } : null;
  }

  /** The slot's holder and confirmed position, or `null` when it does not exist. */
  async slotActive(slot: string): Promise<{ activePid: number | null; confirmedFlush: bigint | null; invalid: boolean } | null> {
    const [row] = await this.q<Record<string, unknown>>('SELECT * FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    if (!row) return null;
    const confirmed = row.confirmed_flush_lsn as string | null;
    return {
      activePid: row.active_pid === null || row.active_pid === undefined ? null : Number(row.active_pid),
      confirmedFlush: confirmed ? parseLsn(confirmed) : null,
      invalid: row.wal_status === 'lost' || (row.invalidation_reason !== undefined && row.invalidation_reason !== null),
    };
  }

  /** Writes a logical heartbeat message when the server's WAL is past `position` (see heartbeat.ts). */
  async emitHeartbeat(position: string): Promise<boolean> {
    try {
      return await emitHeartbeat(this.client, position);
    } catch (error) {
      throw mapPgError(error, this.table, 'sending a heartbeat');
    }
  }

  /** Current database name. */
  async currentDatabase(): Promise<string> {
    const [row] = await this.q<{ d: string }>('SELECT current_database() AS d');
    return row!.d;
  }
}
