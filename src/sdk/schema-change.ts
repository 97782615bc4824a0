/**
 * What changed between two schemas of one table (docs/concepts.md#schema-changes): columns
 * matched by their stable identity (`refstream.column_id` field metadata, e.g. PostgreSQL's
 * attnum) where both sides have one, else by name; each kept column renamed, widened, both or
 * neither; the others added or dropped. Sinks use it to follow a change (the in-memory table
 * re-maps its rows, table sinks alter their target), the CLI to log it.
 */
import type { DataType, Field } from 'apache-arrow';
import { METADATA } from './batch.js';
import type { Cell } from './values.js';

/** One column's fate. */
export type ColumnChange =
  | { kind: 'added'; to: Field; toIndex: number }
  | { kind: 'dropped'; from: Field; fromIndex: number }
  | {
      kind: 'kept';
      from: Field;
      to: Field;
      fromIndex: number;
      toIndex: number;
      renamed: boolean;
      /** `same`: same Arrow type; `widened`: every old value fits the new type; `incompatible`: anything else. */
      type: 'same' | 'widened' | 'incompatible';
    };

/** The stable identity of a column, if the source gives one. */
export function columnId(field: Field): string | undefined {
  return field.metadata.get(METADATA.columnId);
}

/** Matches the columns of `from` and `to` (identity first, then name). */
export function diffColumns(from: readonly Field[], to: readonly Field[]): ColumnChange[] {
  const used = new Set<number>();
  const changes: ColumnChange[] = [];
  const matchOf = (f: Field): number => {
    const id = columnId(f);
    if (id !== undefined) {
      const byId = to.findIndex((t, i) => !used.has(i) && columnId(t) === id);
      if (byId >= 0) return byId;
      // the other side carries identities too: a column without a match was dropped
      if (to.some((t) => columnId(t) !== undefined)) return -1;
    }
    return to.findIndex((t, i) => !used.has(i) && t.name === f.name && (columnId(t) === undefined || id === undefined));
  };
  from.forEach((f, fromIndex) => {
    const toIndex = matchOf(f);
    if (toIndex < 0) {
      changes.push({ kind: 'dropped', from: f, fromIndex });
      return;
    }
    used.add(toIndex);
    const t = to[toIndex]!;
    changes.push({ kind: 'kept', from: f, to: t, fromIndex, toIndex, renamed: f.name !== t.name, type: typeChange(f.type, t.type) });
  });
  to.forEach((t, toIndex) => {
    if (!used.has(toIndex)) changes.push({ kind: 'added', to: t, toIndex });
  });
  return changes;
}

/** Whether a value of type `from` always fits `to` unchanged (integers wider, decimals with more digits). */
export function typeChange(from: DataType, to: DataType): 'same' | 'widened' | 'incompatible' {
  if (String(from) === String(to)) return 'same';
  const a = from as DataType & { bitWidth?: number; isSigned?: boolean; precision?: number; scale?: number; unit?: number };
  const b = to as DataType & { bitWidth?: number; isSigned?: boolean; precision?: number; scale?: number; unit?: number };
  if (a.typeId === 2 && b.typeId === 2) return a.isSigned === b.isSigned && b.bitWidth! > a.bitWidth! ? 'widened' : 'incompatible';
  if (a.typeId === 7 && b.typeId === 7) return b.scale === a.scale && b.precision! >= a.precision! ? 'widened' : 'incompatible';
  return 'incompatible';
}

/** A cell of type `from` as a cell of the wider type `to` (64-bit integers are bigints). */
export function widenCell(cell: Cell, from: DataType, to: DataType): Cell {
  if (cell === null) return null;
  const b = to as DataType & { bitWidth?: number };
  if (from.typeId === 2 && b.typeId === 2 && b.bitWidth === 64 && typeof cell === 'number') return BigInt(cell);
  return cell;
}

/** One line per changed column, e.g. `name → label`, `pop Int32 → Int64`, `+ area`, `- code`. */
export function describeColumnChanges(changes: ColumnChange[]): string[] {
  const lines: string[] = [];
  for (const c of changes) {
    if (c.kind === 'added') lines.push(`+ ${c.to.name} ${sourceTypeOf(c.to)}`);
    else if (c.kind === 'dropped') lines.push(`- ${c.from.name}`);
    else if (c.renamed || c.type !== 'same' || sourceTypeOf(c.from) !== sourceTypeOf(c.to))
      lines.push(
        `${c.from.name}${c.renamed ? ` → ${c.to.name}` : ''}${sourceTypeOf(c.from) !== sourceTypeOf(c.to) ? ` ${sourceTypeOf(c.from)} → ${sourceTypeOf(c.to)}` : ''}`,
      );
  }
  return lines;
}

function sourceTypeOf(f: Field): string {
  return f.metadata.get(METADATA.sourceType) ?? String(f.type);
}
