/**
 * The table's row type as row images carry it (every column in attribute order, generated
 * ones included), matched against the columns a reader delivers, and the schema changes an
 * image can reveal: columns added (schema evolution) or anything else (incompatible).
 */
import { definite, type ConnectorError } from '../../../sdk/errors.js';
import type { Queryable } from '../queryable.js';
import { mapPgError } from '../errors.js';
import type { ColumnSpec } from '../types.js';
import type { ImageColumn } from './image.js';

/** One attribute of the table (not dropped), as `pg_attribute` has it now. */
export interface RowTypeColumn {
  name: string;
  typeOid: number;
  typmod: number;
  sourceType: string;
  nullable: boolean;
  generated: boolean;
}

/** The table's attributes now, in attribute order. */
export async function loadRowType(client: Queryable, oid: number, table: string): Promise<RowTypeColumn[]> {
  try {
    const { rows } = await client.query(
      `SELECT attname, atttypid::text AS atttypid, atttypmod, attnotnull, attgenerated <> '' AS generated,
              format_type(atttypid, atttypmod) AS st
         FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
      [oid],
    );
    return (rows as { attname: string; atttypid: string; atttypmod: number; attnotnull: boolean; generated: boolean; st: string }[]).map(
      (r) => ({
        name: r.attname,
        typeOid: Number(r.atttypid),
        typmod: r.atttypmod,
        sourceType: r.st,
        nullable: !r.attnotnull,
        generated: r.generated,
      }),
    );
  } catch (error) {
    throw mapPgError(error, table, 'reading the columns');
  }
}

/**
 * The image columns for delivering `specs`: the attributes up to the last delivered one (and
 * generated ones right after it), each mapped to its index in `specs`. `specs` must be the
 * first delivered (not generated) attributes, unchanged; columns added after them arrive as
 * evolution with the first image that carries them.
 */
export function imageColumnsFor(rowType: readonly RowTypeColumn[], specs: readonly ColumnSpec[], table: string): ImageColumn[] {
  const out: ImageColumn[] = [];
  let matched = 0;
  for (const attr of rowType) {
    if (attr.generated) {
      out.push({ name: attr.name, typeOid: attr.typeOid, index: -1 });
      continue;
    }
    if (matched === specs.length) break;
    const spec = specs[matched]!;
    if (attr.name !== spec.name || attr.typeOid !== spec.typeOid || attr.typmod !== spec.typmod) throw columnChanged(spec, attr, table);
    out.push({ name: attr.name, typeOid: attr.typeOid, index: matched++ });
  }
  if (matched < specs.length) throw columnGone(specs[matched]!.name, table);
  // generated columns after the last delivered one belong to the images only if no delivered
  // column follows them: an added column comes after them either way
  return out;
}

/** A delivered column that is gone from the table (dropped or renamed). */
export function columnGone(name: string, table: string): ConnectorError {
  return definite('SCHEMA_INCOMPATIBLE', `column ${name} of ${table} was dropped or renamed`, {
    table,
    hint: 'restore the column, or delete the checkpoint and take a new snapshot',
  });
}

function columnChanged(spec: ColumnSpec, attr: RowTypeColumn, table: string): ConnectorError {
  if (attr.name !== spec.name) return columnGone(spec.name, table);
  return definite('SCHEMA_INCOMPATIBLE', `column ${spec.name} of ${table} changed type from ${spec.sourceType} to ${attr.sourceType}`, {
    table,
    hint: 'delete the checkpoint and take a new snapshot',
  });
}

/**
 * Checks that the delivered columns are still the table's first columns (names and types),
 * for the periodic catalog check: a rename or a type change writes no change row.
 */
export function checkStillPrefix(rowType: readonly RowTypeColumn[], specs: readonly ColumnSpec[], table: string): void {
  imageColumnsFor(rowType, specs, table);
}
