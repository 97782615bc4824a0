/**
 * The target table of an `ExasolTableSink` following the stream's schema: columns added,
 * renamed (found by `refstream.column_id`, which the sink records as each column's comment, or
 * by name), retyped (`MODIFY COLUMN`: a widening, or anything once a re-seed emptied the table)
 * and dropped (only columns the sink created and marked: a column added to the target by hand
 * is never touched). With `alter: false` the needed statements are refused, listed in the hint.
 */
import type { Field } from 'apache-arrow';
import { definite } from '../../sdk/errors.js';
import { columnId, diffColumns, type ColumnChange } from '../../sdk/schema-change.js';
import { queryObjects } from './catalog.js';
import type { ExasolConnection } from './connection.js';
import { qualified, quoteIdent, quoteString } from './sql.js';

/** The comment by which the sink knows a target column it created: `refstream column <id>`. */
const MARKER = 'refstream column ';

interface TargetColumn {
  name: string;
  type: string;
  id: string | null;
}

/** Where the target is, and how its columns are typed. */
export interface TargetTable {
  schema: string;
  table: string;
  exasolType: (f: Field) => string;
}

/** The columns of `table` in `schema` (empty when it does not exist). */
export async function targetColumns(connection: ExasolConnection, schema: string, table: string): Promise<TargetColumn[]> {
  const rows = await queryObjects(
    connection,
    `SELECT COLUMN_NAME, COLUMN_TYPE, COLUMN_COMMENT FROM EXA_ALL_COLUMNS WHERE COLUMN_SCHEMA = ${quoteString(schema)} AND COLUMN_TABLE = ${quoteString(table)} ORDER BY COLUMN_ORDINAL_POSITION`,
  );
  return rows.map((r) => {
    const comment = r.COLUMN_COMMENT === null || r.COLUMN_COMMENT === undefined ? null : String(r.COLUMN_COMMENT);
    return {
      name: String(r.COLUMN_NAME),
      type: String(r.COLUMN_TYPE),
      id: comment?.startsWith(MARKER) ? comment.slice(MARKER.length) : null,
    };
  });
}

/** The statement recording `field`'s identity on its target column, when it has one. */
export function markColumnSql(target: TargetTable, field: Field): string | null {
  const id = columnId(field);
  return id === undefined
    ? null
    : `COMMENT ON COLUMN ${qualified(target.schema, target.table)}.${quoteIdent(field.name)} IS ${quoteString(MARKER + id)}`;
}

/**
 * Brings the existing target in line with `fields` (in the caller's transaction). Each field
 * finds its column by identity (the comment), by name, or by the name it had in `previous`
 * (the stream's columns before, when this process saw them): missing ones are added, renamed
 * ones renamed; a type changes where the stream's type changed (known from `previous`), or,
 * after a restart, where a column the sink created has another type than the field's. Only
 * columns the sink created and marked are dropped, so columns and types the user chose stay.
 * `emptied`: the target is emptied first (a re-seed), so any type change is allowed. Refuses
 * a changed key, and any change when `alter` is false.
 */
export async function followSchema(
  connection: ExasolConnection,
  target: TargetTable,
  o: { previous: Field[] | null; fields: Field[]; previousKey: string[] | null; primaryKey: string[]; emptied: boolean; alter: boolean },
): Promise<void> {
  const display = `${target.schema}.${target.table}`;
  const table = qualified(target.schema, target.table);
  if (o.previousKey !== null && o.previousKey.join('\u0000') !== o.primaryKey.join('\u0000')) {
    throw definite(
      'SCHEMA_INCOMPATIBLE',
      `the key of ${display} changed from (${o.previousKey.join(', ')}) to (${o.primaryKey.join(', ')}); ExasolTableSink does not change a target's primary key`,
      {
        table: display,
        hint: `recreate ${display} with PRIMARY KEY (${o.primaryKey.join(', ')}) and restart the sync from a new snapshot`,
      },
    );
  }
  const columns = await targetColumns(connection, target.schema, target.table);
  const before = new Map<Field, ColumnChange & { kind: 'kept' }>();
  for (const c of o.previous ? diffColumns(o.previous, o.fields) : []) if (c.kind === 'kept') before.set(c.to, c);
  const matched = new Set<TargetColumn>();
  const find = (f: Field): TargetColumn | undefined => {
    const free = columns.filter((c) => !matched.has(c));
    const id = columnId(f);
    const earlier = before.get(f)?.from.name;
    return (
      (id !== undefined ? free.find((c) => c.id === id) : undefined) ??
      free.find((c) => c.name === f.name) ??
      (earlier !== undefined ? free.find((c) => c.name === earlier) : undefined)
    );
  };
  const statements: string[] = [];
  for (const f of o.fields) {
    const column = find(f);
    const type = target.exasolType(f);
    if (!column) {
      statements.push(`ALTER TABLE ${table} ADD COLUMN ${quoteIdent(f.name)} ${type}`);
    } else {
      matched.add(column);
      if (column.name !== f.name) statements.push(`ALTER TABLE ${table} RENAME COLUMN ${quoteIdent(column.name)} TO ${quoteIdent(f.name)}`);
      const change = before.get(f);
      const retyped = change ? change.type !== 'same' : column.id !== null && normalType(column.type) !== normalType(type);
      if (retyped) {
        if (change?.type === 'incompatible' && !o.emptied) {
          throw definite(
            'SCHEMA_INCOMPATIBLE',
            `column ${f.name} of ${display} changed type from ${String(change.from.type)} to ${String(f.type)} while the target holds rows`,
            {
              table: display,
              hint: 'the source re-seeds the table after such a change (onIncompatibleSchemaChange: resnapshot); or recreate the target',
            },
          );
        }
        statements.push(`ALTER TABLE ${table} MODIFY COLUMN ${quoteIdent(f.name)} ${type}`);
      }
      if (columnId(f) === undefined || column.id === columnId(f)) continue;
    }
    const mark = markColumnSql(target, f);
    if (mark) statements.push(mark);
  }
  // only a column the sink created goes; one added to the target by hand stays
  for (const c of columns) if (!matched.has(c) && c.id !== null) statements.push(`ALTER TABLE ${table} DROP COLUMN ${quoteIdent(c.name)}`);
  const changes = statements.filter((s) => !s.startsWith('COMMENT'));
  if (changes.length > 0 && !o.alter) {
    throw definite('SCHEMA_INCOMPATIBLE', `target table ${display} does not match the stream's columns, and the sink may not alter it`, {
      table: display,
      hint: `run ${changes.join('; ')}; — or let the sink alter its target (alterTable: true)`,
    });
  }
  if (changes.length > 0 && o.emptied) await connection.execute(`DELETE FROM ${table}`);
  for (const s of statements) await connection.execute(s);
}

/** Column types as EXA_ALL_COLUMNS prints them and as the sink writes them compare equal. */
function normalType(type: string): string {
  return type
    .toUpperCase()
    .replace(/\s+/g, ' ')
    .replace(/ UTF8$/, '')
    .replace(/^DOUBLE PRECISION$/, 'DOUBLE')
    .trim();
}
