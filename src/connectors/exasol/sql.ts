/** SQL text helpers for Exasol: identifiers and literals (everything we send is generated here). */

/** A quoted identifier: `"Name"` with `""` escapes (quoted identifiers keep their case). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A quoted `"SCHEMA"."TABLE"`. */
export function qualified(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/** A string literal with `''` escapes. */
export function quoteString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
