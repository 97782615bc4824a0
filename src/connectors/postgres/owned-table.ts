/**
 * The tables refstream keeps its own state in (checkpoints, leases) must belong to the role it
 * connects as: `CREATE TABLE IF NOT EXISTS` silently adopts a table another role created, whose
 * owner could rewrite the state and whose triggers would run with this role's privileges.
 */
import { definite } from '../../sdk/errors.js';
import type { Queryable } from './catalog.js';
import { quoteIdent } from './identifiers.js';

/** Fails with `PERMISSION_DENIED` when `tableSql` (quoted) exists and another role owns it. */
export async function checkTableOwner(client: Queryable, tableSql: string, what: string, holds: string, table?: string): Promise<void> {
  const { rows } = await client.query(
    `SELECT pg_get_userbyid(c.relowner) AS owner, current_user AS me, c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) AS mine
       FROM pg_class c WHERE c.oid = to_regclass($1)`,
    [tableSql],
  );
  const row = rows[0] as { owner: string; me: string; mine: boolean } | undefined;
  if (row && !row.mine) {
    throw definite(
      'PERMISSION_DENIED',
      `${what} ${tableSql} is owned by role ${row.owner}, not by ${row.me}: its owner could rewrite ${holds}, and its triggers would run as ${row.me}`,
      {
        ...(table !== undefined ? { table } : {}),
        hint: `check the table, then ALTER TABLE ${tableSql} OWNER TO ${quoteIdent(row.me)}; or keep ${holds} in a table of your own (postgres://…#schema.table)`,
      },
    );
  }
}

/**
 * Runs `CREATE TABLE IF NOT EXISTS …` (`createSql`) for `tableSql`. Two processes starting at
 * once may both pass the existence check; the loser's duplicate-key error is not a failure.
 */
export async function createTableIfMissing(client: Queryable, tableSql: string, createSql: string): Promise<void> {
  try {
    await client.query(createSql);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== '23505' && code !== '42P07') throw error;
    const { rows } = await client.query(`SELECT to_regclass($1) IS NOT NULL AS present`, [tableSql]);
    if (!(rows[0] as { present: boolean }).present) throw error;
  }
}
