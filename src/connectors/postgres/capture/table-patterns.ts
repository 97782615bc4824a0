/**
 * Table names with wildcards (`public.dim_*`, `sales.?_codes`): `*` matches any run of
 * characters and `?` one character, in an unquoted schema or table part (folded to lower case
 * as PostgreSQL folds unquoted names). Resolved against the catalog at start: ordinary and
 * partitioned tables, never the partitions of a partitioned table (its root carries them).
 */
import { definite } from '../../../sdk/errors.js';
import type { Queryable } from '../queryable.js';
import { mapPgError } from '../errors.js';
import { parseQualifiedName, type QualifiedName } from '../identifiers.js';

/** Whether `text` is a pattern rather than one table's name. */
export function isTablePattern(text: string): boolean {
  let quoted = false;
  for (const c of text) {
    if (c === '"') quoted = !quoted;
    else if (!quoted && (c === '*' || c === '?')) return true;
  }
  return false;
}

/** The LIKE patterns of a table pattern, or `undefined` when it is not one. */
export function likePatterns(text: string, defaultSchema = 'public'): { schema: string; name: string } | undefined {
  const parts = text.split('.');
  if (parts.length > 2 || parts.some((p) => !/^[A-Za-z0-9_$*?\u0080-\uffff]+$/.test(p))) return undefined;
  const like = (part: string) =>
    part
      .toLowerCase()
      .replace(/[\\%_]/g, (c) => `\\${c}`)
      .replace(/\*/g, '%')
      .replace(/\?/g, '_');
  return parts.length === 1 ? { schema: like(defaultSchema), name: like(parts[0]!) } : { schema: like(parts[0]!), name: like(parts[1]!) };
}

/**
 * The tables `specs` name (each a table name or a pattern), without duplicates, patterns
 * expanded in name order. A pattern that matches nothing, or a text that is neither, is an
 * error naming it.
 */
export async function resolveTables(client: Queryable, specs: string[]): Promise<QualifiedName[]> {
  const out: QualifiedName[] = [];
  const seen = new Set<string>();
  const add = (name: QualifiedName) => {
    const key = JSON.stringify([name.schema, name.name]);
    if (seen.has(key)) return;
    seen.add(key);
    out.push(name);
  };
  for (const spec of specs) {
    if (!isTablePattern(spec)) {
      const name = parseQualifiedName(spec);
      if (!name) throw badTables(`${spec} is not "table" or "schema.table"`);
      add(name);
      continue;
    }
    const like = likePatterns(spec);
    if (!like) throw badTables(`${spec}: a pattern is schema.table with * and ? in unquoted parts (letters, digits, _ and $)`);
    let rows: Array<{ schema: string; name: string }>;
    try {
      ({ rows } = await client.query(
        `SELECT n.nspname AS schema, c.relname AS name
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
            AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
            AND n.nspname LIKE $1 AND c.relname LIKE $2
          ORDER BY 1, 2`,
        [like.schema, like.name],
      ));
    } catch (error) {
      throw mapPgError(error, spec, 'listing the tables a pattern matches');
    }
    if (rows.length === 0) throw badTables(`${spec} matches no table`);
    for (const row of rows) add({ schema: row.schema, name: row.name });
  }
  return out;
}

/** A table name or pattern that names nothing usable: definite `CONFIG_INVALID`. */
function badTables(message: string) {
  return definite('CONFIG_INVALID', message, { hint: 'name tables as schema.table; * and ? match any characters and one character' });
}
