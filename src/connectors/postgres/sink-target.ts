/**
 * The target table of a `PostgresTableSink` following the source's schema: columns added,
 * renamed (matched by `refstream.column_id`, which the sink records as each column's comment),
 * retyped (a widening, or anything once a re-seed emptied the table), dropped (only columns the
 * sink created and marked: a column the user added to the target is never touched), and a new
 * primary key after a re-seed. With `alter: false` the needed statements are refused, listed.
 */
import type { Field } from 'apache-arrow';
import { definite } from '../../sdk/errors.js';
import { columnId } from '../../sdk/schema-change.js';
import { quoteIdent, quoteLiteral, quoteQualified, type QualifiedName } from './identifiers.js';

/** The comment by which the sink knows a target column it created: `refstream column <id>`. */
const MARKER = 'refstream column ';

interface TargetColumn {
  name: string;
  type: string;
  id: string | null;
}

type Query = (sql: string, params?: unknown[]) => Promise<{ rows: unknown[] }>;

/** The comment statement recording `field`'s identity on its target column. */
export function markColumnSql(target: QualifiedName, field: Field): string | null {
  const id = columnId(field);
  return id === undefined ? null : `COMMENT ON COLUMN ${quoteQualified(target)}.${quoteIdent(field.name)} IS ${quoteLiteral(MARKER + id)}`;
}

/**
 * Brings the existing target in line with `fields` and `primaryKey`. `emptied`: the batch
 * starts with a truncate (a re-seed), so the table is emptied first and any change is allowed.
 */
export async function followSchema(
  query: Query,
  o: {
    target: QualifiedName;
    display: string;
    fields: Field[];
    primaryKey: string[];
    emptied: boolean;
    alter: boolean;
    pgType: (f: Field) => string;
  },
): Promise<void> {
  const table = quoteQualified(o.target);
  const { rows } = await query(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, col_description(a.attrelid, a.attnum) AS comment
       FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [table],
  );
  const columns: TargetColumn[] = (rows as Array<{ name: string; type: string; comment: string | null }>).map((r) => ({
    name: r.name,
    type: r.type,
    id: r.comment?.startsWith(MARKER) ? r.comment.slice(MARKER.length) : null,
  }));
  const statements: string[] = [];
  const matched = new Set<TargetColumn>();
  for (const f of o.fields) {
    const id = columnId(f);
    const column =
      (id !== undefined ? columns.find((c) => c.id === id) : undefined) ?? columns.find((c) => c.name === f.name && !matched.has(c));
    const type = o.pgType(f);
    if (!column) {
      statements.push(`ALTER TABLE ${table} ADD COLUMN ${quoteIdent(f.name)} ${type}`);
    } else {
      matched.add(column);
      if (column.name !== f.name) statements.push(`ALTER TABLE ${table} RENAME COLUMN ${quoteIdent(column.name)} TO ${quoteIdent(f.name)}`);
      if (normalType(column.type) !== normalType(type))
        statements.push(`ALTER TABLE ${table} ALTER COLUMN ${quoteIdent(f.name)} TYPE ${type} USING ${quoteIdent(f.name)}::${type}`);
      if (id !== undefined && column.id === id) continue;
    }
    const mark = markColumnSql(o.target, f);
    if (mark) statements.push(mark);
  }
  for (const c of columns) if (!matched.has(c) && c.id !== null) statements.push(`ALTER TABLE ${table} DROP COLUMN ${quoteIdent(c.name)}`);
  const key = await primaryKeyOf(query, table);
  if (key !== null && key.columns.join('\u0000') !== o.primaryKey.join('\u0000')) {
    if (!o.emptied) {
      throw definite(
        'SCHEMA_INCOMPATIBLE',
        `the key of ${o.display} changed from (${key.columns.join(', ')}) to (${o.primaryKey.join(', ')}) while the target holds rows`,
        {
          table: o.display,
          hint: 'the source re-seeds the table after a key change (onIncompatibleSchemaChange: resnapshot); or recreate the target',
        },
      );
    }
    statements.push(
      `ALTER TABLE ${table} DROP CONSTRAINT ${quoteIdent(key.name)}, ADD PRIMARY KEY (${o.primaryKey.map(quoteIdent).join(', ')})`,
    );
  }
  const changes = statements.filter((s) => !s.startsWith('COMMENT'));
  if (changes.length === 0) {
    for (const s of statements) await query(s);
    return;
  }
  if (!o.alter) {
    throw definite('SCHEMA_INCOMPATIBLE', `target table ${o.display} does not match the source's columns, and the sink may not alter it`, {
      table: o.display,
      hint: `run ${changes.join('; ')}; — or let the sink alter its target (alterTable: true; CLI postgres://…?alterTable=true#table)`,
    });
  }
  if (o.emptied) await query(`DELETE FROM ${table}`);
  for (const s of statements) await query(s);
}

async function primaryKeyOf(query: Query, table: string): Promise<{ name: string; columns: string[] } | null> {
  const { rows } = await query(
    `SELECT c.conname::text AS name, array_agg(a.attname::text ORDER BY k.ord) AS columns
       FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
      WHERE c.conrelid = $1::regclass AND c.contype = 'p' GROUP BY c.conname`,
    [table],
  );
  const row = rows[0] as { name: string; columns: string[] } | undefined;
  return row ?? null;
}

/** Type names as `format_type` prints them and as the sink writes them compare equal. */
function normalType(type: string): string {
  return type
    .toLowerCase()
    .replace(/\s+/g, '')
    .replace(/^int8$/, 'bigint')
    .replace(/^int4$/, 'integer')
    .replace(/^int2$/, 'smallint')
    .replace(/^bool$/, 'boolean')
    .replace(/^float8$/, 'doubleprecision')
    .replace(/^float4$/, 'real')
    .replace(/^varchar/, 'charactervarying')
    .replace(/^timestamptz/, 'timestampwithtimezone')
    .replace(/^timestamp(\(\d\))?$/, 'timestamp$1withouttimezone');
}
