/**
 * Following a table's schema through the change stream: a Relation message lists the columns
 * as of its transaction (names and types, in attnum order, without their attnums). Matched
 * against the columns read so far by attnum — the catalog names each attnum, and a column
 * keeps its attnum through renames and type changes — each column is kept (perhaps renamed
 * or widened), dropped or added. Changes the sinks cannot follow in place are incompatible:
 * a dropped, renamed or retyped key column, a type narrowed or changed to another kind.
 */
import type { Catalog, TableInfo } from './catalog.js';
import type { RelationMessage } from './pgoutput.js';
import type { ColumnSpec } from './types.js';

/** What a Relation message changed. */
export interface Evolution {
  /** The columns as of the message (with their attnums where known). */
  specs: ColumnSpec[];
  /** One line per changed column (`name → label`, `pop integer → bigint`, `+ area numeric(10,1)`, `- code`); empty: unchanged. */
  described: string[];
  /** Names of added columns. */
  added: string[];
  /** Why the change cannot be followed in place, or `null`. */
  incompatible: string | null;
}

const INT2 = 21;
const INT4 = 23;
const INT8 = 20;
const TEXT = 25;
const VARCHAR = 1043;
const NUMERIC = 1700;
const TIMESTAMP = 1114;
const TIMESTAMPTZ = 1184;
const TIME = 1083;
const TIMETZ = 1266;

/** Whether a column of type `from` may become `to` with every value unchanged (a widening PostgreSQL does in place or by rewrite). */
export function widens(from: { typeOid: number; typmod: number }, to: { typeOid: number; typmod: number }): boolean {
  if (from.typeOid === to.typeOid && from.typmod === to.typmod) return true;
  const ints = [INT2, INT4, INT8];
  if (ints.includes(from.typeOid) && ints.includes(to.typeOid)) return ints.indexOf(to.typeOid) > ints.indexOf(from.typeOid);
  if (from.typeOid === VARCHAR && to.typeOid === TEXT) return true;
  if (from.typeOid === VARCHAR && to.typeOid === VARCHAR) return to.typmod === -1 || (from.typmod !== -1 && to.typmod >= from.typmod);
  if (from.typeOid === NUMERIC && to.typeOid === NUMERIC) {
    // typmod = ((precision << 16) | scale) + 4; -1: unconstrained, which is delivered as text (not a widening of a decimal)
    if (from.typmod === -1 || to.typmod === -1) return false;
    const p = (m: number) => ((m - 4) >> 16) & 0xffff;
    const s = (m: number) => (m - 4) & 0xffff;
    return s(from.typmod) === s(to.typmod) && p(to.typmod) >= p(from.typmod);
  }
  if ([TIMESTAMP, TIMESTAMPTZ, TIME, TIMETZ].includes(from.typeOid) && to.typeOid === from.typeOid) {
    // typmod: fractional digits, -1 for the default 6
    const digits = (m: number) => (m === -1 ? 6 : m);
    return digits(to.typmod) >= digits(from.typmod);
  }
  return false;
}

/** The columns of `rel` matched against `current`; see the module comment. */
export async function evolveColumns(catalog: Catalog, table: TableInfo, current: ColumnSpec[], rel: RelationMessage): Promise<Evolution> {
  const attributes = await catalog.attributes(table.oid);
  const liveByName = new Map(attributes.filter((a) => !a.dropped).map((a) => [a.name, a]));
  const byNumber = new Map(attributes.map((a) => [a.attnum, a]));
  // the attnum of each column the message lists: by its name in the catalog now, else (the
  // catalog moved on: renamed or dropped since) by the name it had when it was read
  const numbers: Array<number | undefined> = rel.columns.map((c) => liveByName.get(c.name)?.attnum);
  rel.columns.forEach((c, i) => {
    if (numbers[i] !== undefined) return;
    const earlier = current.find((s) => s.name === c.name && s.attnum !== undefined && !numbers.includes(s.attnum));
    if (earlier) numbers[i] = earlier.attnum;
  });
  const specs: ColumnSpec[] = [];
  for (const [i, c] of rel.columns.entries()) {
    const attnum = numbers[i];
    const attribute = attnum === undefined ? undefined : byNumber.get(attnum);
    specs.push({
      name: c.name,
      typeOid: c.typeOid,
      typmod: c.typmod,
      sourceType: await catalog.formatType(c.typeOid, c.typmod),
      nullable: attribute ? !attribute.notNull : true,
      ...(attnum !== undefined ? { attnum } : {}),
    });
  }
  const matched = new Set<number>();
  const described: string[] = [];
  const problems: string[] = [];
  const isKey = (name: string) => table.primaryKey.includes(name);
  for (const old of current) {
    const i = specs.findIndex(
      (s, k) => !matched.has(k) && (old.attnum !== undefined && s.attnum !== undefined ? s.attnum === old.attnum : s.name === old.name),
    );
    if (i < 0) {
      described.push(`- ${old.name}`);
      if (isKey(old.name)) problems.push(`key column ${old.name} was dropped`);
      continue;
    }
    matched.add(i);
    const now = specs[i]!;
    const renamed = now.name !== old.name;
    const retyped = now.typeOid !== old.typeOid || now.typmod !== old.typmod;
    if (!renamed && !retyped) continue;
    described.push(`${old.name}${renamed ? ` → ${now.name}` : ''}${retyped ? ` ${old.sourceType} → ${now.sourceType}` : ''}`);
    if (isKey(old.name))
      problems.push(
        `key column ${old.name} was ${renamed ? `renamed to ${now.name}` : `changed from ${old.sourceType} to ${now.sourceType}`}`,
      );
    else if (retyped && !widens(old, now))
      problems.push(`column ${now.name} changed type from ${old.sourceType} to ${now.sourceType}, which is not a widening`);
  }
  const added = specs.filter((_, i) => !matched.has(i));
  for (const s of added) described.push(`+ ${s.name} ${s.sourceType}`);
  return { specs, described, added: added.map((s) => s.name), incompatible: problems.length > 0 ? problems.join('; ') : null };
}
