/**
 * Table metadata from Exasol's system views: columns with their types, the primary key, and
 * `LAST_COMMIT` (the change gate of polling).
 */
import { definite } from '../../sdk/errors.js';
import type { ExasolConnection } from './connection.js';
import { quoteString } from './sql.js';

/** A column as the catalog describes it. */
export interface CatalogColumn {
  name: string;
  typeText: string;
  nullable: boolean;
}

/** Columns and primary key of a table. */
export interface CatalogTable {
  columns: CatalogColumn[];
  primaryKey: string[];
}

/** Reads all rows of a small catalog query as objects (column name → value). */
export async function queryObjects(connection: ExasolConnection, sql: string, signal?: AbortSignal): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const page of connection.query(sql, { signal })) {
    for (let r = 0; r < page.numRows; r++) {
      const row: Record<string, unknown> = {};
      page.columns.forEach((c, i) => (row[c.name] = page.data[i]![r]));
      rows.push(row);
    }
  }
  return rows;
}

/** Loads columns and primary key; definite `TABLE_NOT_FOUND` when the table does not exist. */
export async function loadTable(connection: ExasolConnection, schema: string, table: string, signal?: AbortSignal): Promise<CatalogTable> {
  const where = `WHERE COLUMN_SCHEMA = ${quoteString(schema)} AND COLUMN_TABLE = ${quoteString(table)}`;
  const columns = await queryObjects(
    connection,
    `SELECT COLUMN_NAME, COLUMN_TYPE, COLUMN_IS_NULLABLE, COLUMN_ORDINAL_POSITION FROM EXA_ALL_COLUMNS ${where} ORDER BY COLUMN_ORDINAL_POSITION`,
    signal,
  );
  if (columns.length === 0) {
    throw definite('TABLE_NOT_FOUND', `table ${schema}.${table} does not exist or is not visible to this user`, {
      table: `${schema}.${table}`,
      hint: 'check schema and table names (unquoted names are stored upper-case) and grant SELECT on the table',
    });
  }
  const keys = await queryObjects(
    connection,
    `SELECT COLUMN_NAME, ORDINAL_POSITION FROM EXA_ALL_CONSTRAINT_COLUMNS WHERE CONSTRAINT_SCHEMA = ${quoteString(schema)} AND CONSTRAINT_TABLE = ${quoteString(
      table,
    )} AND CONSTRAINT_TYPE = 'PRIMARY KEY' ORDER BY ORDINAL_POSITION`,
    signal,
  );
  return {
    columns: columns.map((c) => ({
      name: String(c.COLUMN_NAME),
      typeText: String(c.COLUMN_TYPE),
      nullable: c.COLUMN_IS_NULLABLE === true || c.COLUMN_IS_NULLABLE === 'TRUE',
    })),
    primaryKey: keys.map((k) => String(k.COLUMN_NAME)),
  };
}

/** One column of the first row a catalog query returns, or null when there is no row or no value. */
async function catalogValue(connection: ExasolConnection, sql: string, column: string, signal?: AbortSignal): Promise<unknown> {
  const rows = await queryObjects(connection, sql, signal);
  const value = rows[0]?.[column];
  return value === undefined ? null : value;
}

/** `LAST_COMMIT` of the table as text, or null when the catalog has none. */
export async function lastCommit(
  connection: ExasolConnection,
  schema: string,
  table: string,
  signal?: AbortSignal,
): Promise<string | null> {
  const value = await catalogValue(
    connection,
    `/*snapshot execution*/ SELECT LAST_COMMIT FROM EXA_ALL_OBJECTS WHERE ROOT_NAME = ${quoteString(schema)} AND OBJECT_NAME = ${quoteString(table)}`,
    'LAST_COMMIT',
    signal,
  );
  return value === null ? null : String(value);
}

/** The catalog's row count of the table (`EXA_ALL_TABLES.TABLE_ROW_COUNT`), or null when unknown. */
export async function tableRowCount(
  connection: ExasolConnection,
  schema: string,
  table: string,
  signal?: AbortSignal,
): Promise<number | null> {
  const value = await catalogValue(
    connection,
    `/*snapshot execution*/ SELECT TABLE_ROW_COUNT FROM EXA_ALL_TABLES WHERE TABLE_SCHEMA = ${quoteString(schema)} AND TABLE_NAME = ${quoteString(table)}`,
    'TABLE_ROW_COUNT',
    signal,
  );
  return value === null ? null : Number(value);
}

/**
 * `OBJECT_ID` of the table or view (`EXA_ALL_OBJECTS`) as text: a table dropped and re-created under
 * the same name gets a new one. Null when the catalog does not list the table.
 */
export async function tableObjectId(
  connection: ExasolConnection,
  schema: string,
  table: string,
  signal?: AbortSignal,
): Promise<string | null> {
  const value = await catalogValue(
    connection,
    `SELECT OBJECT_ID FROM EXA_ALL_OBJECTS WHERE ROOT_NAME = ${quoteString(schema)} AND OBJECT_NAME = ${quoteString(table)} AND OBJECT_TYPE IN ('TABLE', 'VIEW')`,
    'OBJECT_ID',
    signal,
  );
  return value === null ? null : String(value);
}
