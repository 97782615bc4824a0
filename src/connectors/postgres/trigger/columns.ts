/**
 * The table's attributes as row images carry them: every live column in attnum order,
 * generated ones included, dropped ones left out. The catalog keeps a dropped attribute (with
 * `attisdropped` and its attnum), so the layouts images had before and after each ALTER TABLE
 * can be told apart (layout.ts).
 */
import type { Queryable } from '../queryable.js';
import { mapPgError } from '../errors.js';

/** One attribute of the table as `pg_attribute` has it now, dropped ones included. */
export interface Attribute {
  attnum: number;
  /** For a dropped attribute, PostgreSQL's placeholder name (`........pg.dropped.N........`). */
  name: string;
  /** 0 for a dropped attribute. */
  typeOid: number;
  typmod: number;
  sourceType: string;
  nullable: boolean;
  generated: boolean;
  dropped: boolean;
}

/** The table's attributes now, in attnum order, dropped ones included. */
export async function loadAttributes(client: Queryable, oid: number, table: string): Promise<Attribute[]> {
  try {
    const { rows } = await client.query(
      `SELECT attnum, attname, atttypid::text AS atttypid, atttypmod, attnotnull, attgenerated <> '' AS generated, attisdropped,
              format_type(atttypid, atttypmod) AS st
         FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 ORDER BY attnum`,
      [oid],
    );
    type Row = {
      attnum: number;
      attname: string;
      atttypid: string;
      atttypmod: number;
      attnotnull: boolean;
      generated: boolean;
      attisdropped: boolean;
      st: string;
    };
    return (rows as Row[]).map((r) => ({
      attnum: r.attnum,
      name: r.attname,
      typeOid: Number(r.atttypid),
      typmod: r.atttypmod,
      sourceType: r.st,
      nullable: !r.attnotnull,
      generated: r.generated,
      dropped: r.attisdropped,
    }));
  } catch (error) {
    throw mapPgError(error, table, 'reading the columns');
  }
}
