/**
 * Exasol's system objects on top of PostgreSQL: schema "SYS" with the views a connector uses
 * for discovery (EXA_ALL_TABLES, EXA_ALL_COLUMNS, EXA_ALL_CONSTRAINT_COLUMNS, EXA_ALL_OBJECTS
 * with LAST_COMMIT, …, DUAL), plus two bookkeeping tables the server maintains: the Exasol
 * type of every column (PostgreSQL cannot tell HASHTYPE or GEOMETRY apart from their storage
 * types) and the creation / last-commit time of every table.
 */
import type pg from 'pg';
import { exasolTypeFromPostgres, exasolTypeText, type ExasolType } from './exasol-types.js';
import type { DeclaredColumn, TableRef } from './sql-translate.js';

const COLUMN_TYPES = '"SYS"."EXA_TESTSERVER_COLUMN_TYPES"';
const OBJECT_TIMES = '"SYS"."EXA_TESTSERVER_OBJECT_TIMES"';
const USER_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'SYS', 'public') AND n.nspname NOT LIKE 'pg\\_%'`;

/** Creates (idempotently) the SYS schema, bookkeeping tables and system views. */
export async function installCatalog(client: pg.ClientBase): Promise<void> {
  await client.query('BEGIN');
  try {
    // Serialise concurrent installs into the same database (several test servers, one Postgres).
    await client.query('SELECT pg_advisory_xact_lock(72657374)');
    await client.query(`CREATE SCHEMA IF NOT EXISTS "SYS"`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${COLUMN_TYPES} (
      schema_name text NOT NULL, table_name text NOT NULL, column_name text NOT NULL,
      exa_type jsonb NOT NULL, column_type text NOT NULL,
      PRIMARY KEY (schema_name, table_name, column_name))`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${OBJECT_TIMES} (
      schema_name text NOT NULL, table_name text NOT NULL,
      created timestamp(6) NOT NULL, last_commit timestamp(6) NOT NULL,
      PRIMARY KEY (schema_name, table_name))`);
    for (const statement of systemViews()) await client.query(statement);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

function systemViews(): string[] {
  const views: Record<string, string> = {
    DUAL: `SELECT 'X'::varchar(1) AS "DUMMY"`,
    EXA_ALL_SCHEMAS: `SELECT n.nspname::varchar(128) AS "SCHEMA_NAME", 'SYS'::varchar(128) AS "SCHEMA_OWNER",
        n.oid::bigint::numeric(18,0) AS "SCHEMA_OBJECT_ID", false AS "SCHEMA_IS_VIRTUAL", NULL::varchar(2000) AS "SCHEMA_COMMENT"
      FROM pg_namespace n WHERE ${USER_SCHEMAS}`,
    EXA_ALL_TABLES: `SELECT n.nspname::varchar(128) AS "TABLE_SCHEMA", c.relname::varchar(128) AS "TABLE_NAME",
        'SYS'::varchar(128) AS "TABLE_OWNER", c.oid::bigint::numeric(18,0) AS "TABLE_OBJECT_ID", false AS "TABLE_IS_VIRTUAL",
        false AS "TABLE_HAS_DISTRIBUTION_KEY", false AS "TABLE_HAS_PARTITION_KEY",
        greatest(c.reltuples, 0)::numeric(18,0) AS "TABLE_ROW_COUNT", 0::numeric(9,1) AS "DELETE_PERCENTAGE",
        NULL::varchar(2000) AS "TABLE_COMMENT"
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND ${USER_SCHEMAS}`,
    EXA_ALL_COLUMNS: `SELECT n.nspname::varchar(128) AS "COLUMN_SCHEMA", c.relname::varchar(128) AS "COLUMN_TABLE",
        (CASE c.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END)::varchar(40) AS "COLUMN_OBJECT_TYPE",
        a.attname::varchar(128) AS "COLUMN_NAME",
        coalesce(t.column_type, upper(format_type(a.atttypid, a.atttypmod)))::varchar(300) AS "COLUMN_TYPE",
        (t.exa_type->>'typeId')::numeric(18,0) AS "COLUMN_TYPE_ID",
        (t.exa_type->>'maxsize')::numeric(18,0) AS "COLUMN_MAXSIZE",
        (t.exa_type->>'precision')::numeric(18,0) AS "COLUMN_NUM_PREC",
        (t.exa_type->>'scale')::numeric(18,0) AS "COLUMN_NUM_SCALE",
        a.attnum::numeric(18,0) AS "COLUMN_ORDINAL_POSITION", false AS "COLUMN_IS_VIRTUAL",
        (NOT a.attnotnull) AS "COLUMN_IS_NULLABLE", false AS "COLUMN_IS_DISTRIBUTION_KEY",
        NULL::numeric(18,0) AS "COLUMN_PARTITION_KEY_ORDINAL_POSITION",
        pg_get_expr(d.adbin, d.adrelid)::varchar(2000) AS "COLUMN_DEFAULT", NULL::varchar(2000) AS "COLUMN_IDENTITY",
        'SYS'::varchar(128) AS "COLUMN_OWNER", c.oid::bigint::numeric(18,0) AS "COLUMN_OBJECT_ID", NULL::varchar(20) AS "STATUS",
        col_description(c.oid, a.attnum)::varchar(2000) AS "COLUMN_COMMENT"
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      LEFT JOIN ${COLUMN_TYPES} t ON t.schema_name = n.nspname AND t.table_name = c.relname AND t.column_name = a.attname
      WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v') AND ${USER_SCHEMAS}`,
    EXA_ALL_CONSTRAINTS: `SELECT n.nspname::varchar(128) AS "CONSTRAINT_SCHEMA", c.relname::varchar(128) AS "CONSTRAINT_TABLE",
        (CASE con.contype WHEN 'p' THEN 'PRIMARY KEY' WHEN 'f' THEN 'FOREIGN KEY' ELSE 'NOT NULL' END)::varchar(40) AS "CONSTRAINT_TYPE",
        con.conname::varchar(128) AS "CONSTRAINT_NAME", true AS "CONSTRAINT_ENABLED", 'SYS'::varchar(128) AS "CONSTRAINT_OWNER"
      FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE con.contype IN ('p', 'f') AND ${USER_SCHEMAS}`,
    EXA_ALL_CONSTRAINT_COLUMNS: `SELECT n.nspname::varchar(128) AS "CONSTRAINT_SCHEMA", c.relname::varchar(128) AS "CONSTRAINT_TABLE",
        (CASE con.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'FOREIGN KEY' END)::varchar(40) AS "CONSTRAINT_TYPE",
        con.conname::varchar(128) AS "CONSTRAINT_NAME", 'SYS'::varchar(128) AS "CONSTRAINT_OWNER",
        k.ord::numeric(18,0) AS "ORDINAL_POSITION", a.attname::varchar(128) AS "COLUMN_NAME",
        rn.nspname::varchar(128) AS "REFERENCED_SCHEMA", rc.relname::varchar(128) AS "REFERENCED_TABLE",
        ra.attname::varchar(128) AS "REFERENCED_COLUMN"
      FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
      LEFT JOIN pg_class rc ON rc.oid = con.confrelid LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
      LEFT JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = con.confkey[k.ord]
      WHERE con.contype IN ('p', 'f') AND ${USER_SCHEMAS}`,
    EXA_ALL_OBJECTS: `SELECT c.relname::varchar(128) AS "OBJECT_NAME",
        (CASE c.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END)::varchar(40) AS "OBJECT_TYPE",
        o.created::timestamp(6) AS "CREATED", o.last_commit::timestamp(6) AS "LAST_COMMIT", 'SYS'::varchar(128) AS "OWNER",
        c.oid::bigint::numeric(18,0) AS "OBJECT_ID", n.nspname::varchar(128) AS "ROOT_NAME", 'SCHEMA'::varchar(40) AS "ROOT_TYPE",
        n.oid::bigint::numeric(18,0) AS "ROOT_ID", false AS "OBJECT_IS_VIRTUAL", NULL::varchar(2000) AS "OBJECT_COMMENT"
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN ${OBJECT_TIMES} o ON o.schema_name = n.nspname AND o.table_name = c.relname
      WHERE c.relkind IN ('r', 'p', 'v') AND ${USER_SCHEMAS}
      UNION ALL
      SELECT n.nspname::varchar(128), 'SCHEMA'::varchar(40), NULL::timestamp(6), NULL::timestamp(6), 'SYS'::varchar(128),
        n.oid::bigint::numeric(18,0), NULL::varchar(128), NULL::varchar(40), NULL::numeric(18,0), false, NULL::varchar(2000)
      FROM pg_namespace n WHERE ${USER_SCHEMAS}`,
  };
  const statements = Object.entries(views).map(([name, body]) => `CREATE OR REPLACE VIEW "SYS"."${name}" AS ${body}`);
  // EXA_USER_* and EXA_DBA_* show the same objects: the test server has a single user.
  for (const name of ['SCHEMAS', 'TABLES', 'COLUMNS', 'CONSTRAINTS', 'CONSTRAINT_COLUMNS', 'OBJECTS']) {
    for (const prefix of ['EXA_USER_', 'EXA_DBA_']) {
      statements.push(`CREATE OR REPLACE VIEW "SYS"."${prefix}${name}" AS SELECT * FROM "SYS"."EXA_ALL_${name}"`);
    }
  }
  return statements;
}

const TYPE_IDS: Record<string, number> = {
  DECIMAL: 3,
  DOUBLE: 8,
  VARCHAR: 12,
  CHAR: 1,
  BOOLEAN: 16,
  DATE: 91,
  TIMESTAMP: 93,
  'INTERVAL YEAR TO MONTH': -103,
  'INTERVAL DAY TO SECOND': -104,
  HASHTYPE: -106,
  GEOMETRY: 123,
};

function catalogEntry(type: ExasolType): Record<string, unknown> {
  const maxsize = type.type === 'DECIMAL' ? type.precision : type.type === 'HASHTYPE' ? (type.bytes ?? 16) * 2 : type.size;
  return { ...type, typeId: TYPE_IDS[type.type], maxsize };
}

/** Resolves an unqualified table against the current schema. */
export function qualify(ref: TableRef, currentSchema: string): { schema: string; table: string } {
  return { schema: ref.schema ?? currentSchema, table: ref.table };
}

/**
 * Records the Exasol types of a table after DDL: declared types where the statement named them,
 * otherwise derived from the PostgreSQL column types.
 */
export async function recordTableTypes(
  client: pg.ClientBase,
  schema: string,
  table: string,
  declared: DeclaredColumn[] = [],
  keepExisting = false,
): Promise<void> {
  if (!keepExisting) await client.query(`DELETE FROM ${COLUMN_TYPES} WHERE schema_name = $1 AND table_name = $2`, [schema, table]);
  const { rows } = await client.query<{ attname: string; atttypid: number; atttypmod: number }>(
    `SELECT a.attname, a.atttypid, a.atttypmod FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
    [schema, table],
  );
  for (const row of rows) {
    const type = declared.find((c) => c.name === row.attname)?.type ?? exasolTypeFromPostgres(Number(row.atttypid), Number(row.atttypmod));
    await client.query(`INSERT INTO ${COLUMN_TYPES} VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, [
      schema,
      table,
      row.attname,
      JSON.stringify(catalogEntry(type)),
      exasolTypeText(type),
    ]);
  }
}

/** The recorded Exasol types of a table's columns by attnum, taken before an ALTER TABLE. */
export async function typesByAttnum(
  client: pg.ClientBase,
  schema: string,
  table: string,
): Promise<Map<number, { exaType: unknown; columnType: string }>> {
  const { rows } = await client.query<{ attnum: number; exa_type: unknown; column_type: string }>(
    `SELECT a.attnum, t.exa_type, t.column_type FROM ${COLUMN_TYPES} t
       JOIN pg_namespace n ON n.nspname = t.schema_name JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.table_name
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = t.column_name AND NOT a.attisdropped
      WHERE t.schema_name = $1 AND t.table_name = $2`,
    [schema, table],
  );
  return new Map(rows.map((r) => [Number(r.attnum), { exaType: r.exa_type, columnType: r.column_type }]));
}

/**
 * After an ALTER TABLE: each column keeps the Exasol type recorded before (found by attnum, so
 * a renamed column keeps it), a column given a type (`declared`: ADD, MODIFY) takes that one,
 * dropped columns are forgotten, and new ones get a type derived from their storage.
 */
export async function recordAlteredTypes(
  client: pg.ClientBase,
  schema: string,
  table: string,
  before: Map<number, { exaType: unknown; columnType: string }>,
  declared: DeclaredColumn[] = [],
): Promise<void> {
  const { rows } = await client.query<{ attname: string; attnum: number }>(
    `SELECT a.attname, a.attnum FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
    [schema, table],
  );
  await client.query(`DELETE FROM ${COLUMN_TYPES} WHERE schema_name = $1 AND table_name = $2`, [schema, table]);
  for (const row of rows) {
    if (declared.some((c) => c.name === row.attname)) continue;
    const kept = before.get(Number(row.attnum));
    if (!kept) continue;
    await client.query(`INSERT INTO ${COLUMN_TYPES} VALUES ($1, $2, $3, $4, $5)`, [
      schema,
      table,
      row.attname,
      JSON.stringify(kept.exaType),
      kept.columnType,
    ]);
  }
  await recordTableTypes(client, schema, table, declared, true);
}

/** Fills in types for tables created behind the server's back (e.g. directly in PostgreSQL). */
export async function recordMissingTypes(client: pg.ClientBase): Promise<void> {
  const { rows } = await client.query<{ nspname: string; relname: string }>(
    `SELECT DISTINCT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       LEFT JOIN ${COLUMN_TYPES} t ON t.schema_name = n.nspname AND t.table_name = c.relname AND t.column_name = a.attname
      WHERE c.relkind IN ('r', 'p', 'v') AND ${USER_SCHEMAS} AND t.column_name IS NULL`,
  );
  for (const row of rows) await recordTableTypes(client, row.nspname, row.relname, [], true);
}

/** Exasol types of the columns of the given tables, keyed by `tableOid:attnum`. */
export async function loadColumnTypes(client: pg.ClientBase, tableOids: number[]): Promise<Map<string, ExasolType>> {
  const result = new Map<string, ExasolType>();
  if (tableOids.length === 0) return result;
  const { rows } = await client.query<{ oid: string; attnum: string; exa_type: ExasolType }>(
    `SELECT c.oid::text AS oid, a.attnum::text AS attnum, t.exa_type FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid
       JOIN ${COLUMN_TYPES} t ON t.schema_name = n.nspname AND t.table_name = c.relname AND t.column_name = a.attname
      WHERE c.oid = ANY($1::oid[])`,
    [tableOids],
  );
  for (const row of rows) {
    const type = typeof row.exa_type === 'string' ? (JSON.parse(row.exa_type) as ExasolType) : row.exa_type;
    result.set(`${row.oid}:${row.attnum}`, type);
  }
  return result;
}

/** Marks tables as committed now (LAST_COMMIT), inside the caller's transaction. */
export async function touchTables(client: pg.ClientBase, tables: { schema: string; table: string }[], created = false): Promise<void> {
  for (const { schema, table } of tables) {
    await client.query(
      `INSERT INTO ${OBJECT_TIMES} VALUES ($1, $2, clock_timestamp() AT TIME ZONE 'UTC', clock_timestamp() AT TIME ZONE 'UTC')
       ON CONFLICT (schema_name, table_name) DO UPDATE SET last_commit = EXCLUDED.last_commit${created ? ', created = EXCLUDED.created' : ''}`,
      [schema, table],
    );
  }
}

/** Forgets a dropped table or schema. */
export async function forgetObjects(client: pg.ClientBase, schema: string, table?: string): Promise<void> {
  const where = table === undefined ? 'schema_name = $1' : 'schema_name = $1 AND table_name = $2';
  const params = table === undefined ? [schema] : [schema, table];
  await client.query(`DELETE FROM ${COLUMN_TYPES} WHERE ${where}`, params);
  await client.query(`DELETE FROM ${OBJECT_TIMES} WHERE ${where}`, params);
}
