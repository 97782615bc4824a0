/**
 * Following a table's schema through row images. An image carries no attnums, only a column
 * count and each column's type oid, and it has the layout the table had when it was written —
 * which, for a reader that is behind or restarted from a checkpoint, can be an intermediate
 * one, older than the catalog. So an image is matched against the attributes that could be
 * live at any time since the delivered layout: the catalog keeps dropped attributes with their
 * attnum, attnums only grow, a drop is never undone, and a type change keeps the attnum.
 *
 * A rename or a type change that keeps the type oid (varchar(n) → varchar(m), numeric
 * precision) changes no image: those are followed from the catalog ({@link followCatalog}).
 * What the sinks cannot follow in place is reported as a problem, as in logical mode
 * (relation-evolution.ts): a dropped, renamed or retyped key column, a narrowed type.
 */
import { widens } from '../relation-evolution.js';
import type { ColumnSpec } from '../types.js';
import type { Attribute } from './columns.js';
import type { ImageColumn } from './image.js';

/** One column of an image layout: the attribute it holds and the type oid images carry for it. */
export interface LayoutSlot {
  attnum: number;
  typeOid: number;
}

/** The delivered columns matched to a new layout, and what cannot be followed. */
export interface LayoutEvolution {
  specs: ColumnSpec[];
  columns: ImageColumn[];
  /** Names of the columns delivered for the first time. */
  added: string[];
  problems: string[];
}

type TypeOf = Pick<ColumnSpec, 'typeOid' | 'typmod' | 'sourceType'>;

/** `specs` with the attnum of each (by name, for checkpoints that did not record it). */
export function withAttnums(specs: readonly ColumnSpec[], attributes: readonly Attribute[]): ColumnSpec[] {
  return specs.map((s) => {
    if (s.attnum !== undefined) return s;
    const a = attributes.find((x) => !x.dropped && x.name === s.name);
    return a ? { ...s, attnum: a.attnum } : s;
  });
}

/**
 * The layout images had when `specs` were delivered: the delivered attributes and the live
 * generated ones before the last of them (generated columns after it, if they existed then,
 * are found by {@link matchImage} like added ones).
 */
export function layoutOf(specs: readonly ColumnSpec[], attributes: readonly Attribute[]): LayoutSlot[] {
  const delivered = new Map(specs.map((s) => [s.attnum, s]));
  const last = Math.max(0, ...specs.map((s) => s.attnum ?? 0));
  const out: LayoutSlot[] = [];
  for (const a of attributes) {
    const s = delivered.get(a.attnum);
    if (s) out.push({ attnum: a.attnum, typeOid: s.typeOid });
    else if (a.generated && !a.dropped && a.attnum < last) out.push({ attnum: a.attnum, typeOid: a.typeOid });
  }
  return out;
}

/** The layout found for an image, and whether it is the only one that fits. */
export interface ImageMatch {
  slots: LayoutSlot[];
  certain: boolean;
}

/** Layouts collected before choosing among them (more only means the image is ambiguous). */
const MAX_SOLUTIONS = 32;

/**
 * The layout of an image with type oids `oids`, written at or after `baseline` (a layout known
 * to be true), or `null` when none fits. Each attribute of `baseline` that is live now is in it
 * (with its type then, now, or one in between); one dropped since may or may not be;
 * attributes added since are there up to some attnum, less those dropped meanwhile (whose type
 * the catalog no longer knows). Where several layouts fit — a column dropped and one of the
 * same type added — the one with the fewest such ghosts is taken, then the earliest; it is
 * `certain` only when no other fits, and only a certain layout becomes the next baseline, so
 * a wrong guess never keeps a later image from being matched.
 */
export function matchImage(baseline: readonly LayoutSlot[], attributes: readonly Attribute[], oids: readonly number[]): ImageMatch | null {
  const known = new Map(baseline.map((s) => [s.attnum, s]));
  const last = Math.max(0, ...baseline.map((s) => s.attnum));
  const candidates = attributes.filter((a) => known.has(a.attnum) || a.attnum > last);
  const solutions: LayoutSlot[][] = [];
  const dead = new Set<string>(); // states with no way to the end (memoised: the search stays polynomial)
  const picked: LayoutSlot[] = [];
  const search = (ci: number, ii: number, adding: boolean): boolean => {
    if (solutions.length >= MAX_SOLUTIONS) return true;
    if (oids.length - ii > candidates.length - ci) return false;
    if (ci === candidates.length) {
      solutions.push([...picked]);
      return true;
    }
    const state = `${ci}/${ii}/${adding}`;
    if (dead.has(state)) return false;
    const a = candidates[ci]!;
    const was = known.get(a.attnum);
    const oid = oids[ii];
    const present = (fits: boolean): boolean => {
      if (!fits || oid === undefined) return false;
      picked.push({ attnum: a.attnum, typeOid: oid });
      const found = search(ci + 1, ii + 1, adding);
      picked.pop();
      return found;
    };
    const absent = (stillAdding: boolean) => search(ci + 1, ii, stillAdding);
    const fitsNow = (now: number) => oid === now || (oid !== undefined && widensOid(oid, now));
    // every way on, earliest first (each is explored: all solutions are collected)
    const ways: Array<() => boolean> = was
      ? a.dropped
        ? [() => present(oid === was.typeOid || (oid !== undefined && widensOid(was.typeOid, oid))), () => absent(adding)]
        : [() => present(oid === was.typeOid || fitsNow(a.typeOid) || (oid !== undefined && widensOid(was.typeOid, oid)))]
      : !adding
        ? [() => absent(false)]
        : a.dropped
          ? [() => absent(false), () => present(true), () => absent(true)]
          : [() => absent(false), () => present(fitsNow(a.typeOid))];
    let found = false;
    for (const way of ways) found = way() || found;
    if (!found) dead.add(state);
    return found;
  };
  search(0, 0, true);
  if (solutions.length === 0) return null;
  const ghosts = (slots: LayoutSlot[]) =>
    slots.filter((s) => !known.has(s.attnum) && attributes.find((a) => a.attnum === s.attnum)!.dropped).length;
  const best = solutions.reduce((b, s) => (ghosts(s) < ghosts(b) ? s : b));
  return { slots: best, certain: solutions.length === 1 };
}

/**
 * The delivered columns for images of layout `slots`: kept ones renamed (names from the
 * catalog) or retyped (the type the images carry), dropped ones left out, added ones appended
 * in attnum order. Generated attributes, and ones added and dropped again since, are skipped.
 */
export async function evolveSpecs(
  slots: readonly LayoutSlot[],
  attributes: readonly Attribute[],
  specs: readonly ColumnSpec[],
  key: readonly string[],
  formatType: (oid: number, typmod: number) => Promise<string>,
): Promise<LayoutEvolution> {
  const byNumber = new Map(attributes.map((a) => [a.attnum, a]));
  const out: ColumnSpec[] = [];
  const columns: ImageColumn[] = [];
  const added: string[] = [];
  const problems: string[] = [];
  const typeFor = async (a: Attribute, oid: number): Promise<TypeOf> =>
    !a.dropped && a.typeOid === oid
      ? { typeOid: oid, typmod: a.typmod, sourceType: a.sourceType }
      : { typeOid: oid, typmod: -1, sourceType: await formatType(oid, -1) };
  for (const slot of slots) {
    const a = byNumber.get(slot.attnum)!;
    const spec = specs.find((s) => s.attnum === slot.attnum);
    if (!spec) {
      if (a.generated || a.dropped) {
        columns.push({ name: a.name, typeOid: slot.typeOid, index: -1, attnum: slot.attnum });
        continue;
      }
      const type = await typeFor(a, slot.typeOid);
      out.push({ name: a.name, ...type, nullable: true, attnum: a.attnum });
      added.push(a.name);
    } else {
      let type: TypeOf = spec;
      if (slot.typeOid !== spec.typeOid) type = await typeFor(a, slot.typeOid);
      else if (!a.dropped && a.typeOid === spec.typeOid && a.typmod !== spec.typmod) type = a;
      const next: ColumnSpec = { ...spec, name: a.dropped ? spec.name : a.name, ...pickType(type) };
      problems.push(...changeProblems(spec, next, key));
      out.push(next);
    }
    columns.push({ name: out.at(-1)!.name, typeOid: slot.typeOid, index: out.length - 1, attnum: slot.attnum });
  }
  for (const s of specs) {
    if (!slots.some((slot) => slot.attnum === s.attnum) && key.includes(s.name)) problems.push(`key column ${s.name} was dropped`);
  }
  return { specs: out, columns, added, problems };
}

/**
 * What the catalog says that no image shows: renames and type changes that keep the type oid
 * (applied now), and changes that will not be followable when images show them (reported now:
 * a key column dropped, renamed or retyped, a type narrowed or changed to another kind).
 */
export function followCatalog(
  attributes: readonly Attribute[],
  specs: readonly ColumnSpec[],
  key: readonly string[],
): { specs: ColumnSpec[]; problems: string[] } {
  const byNumber = new Map(attributes.map((a) => [a.attnum, a]));
  const problems: string[] = [];
  const out = specs.map((spec) => {
    const a = spec.attnum === undefined ? undefined : byNumber.get(spec.attnum);
    if (!a) return spec;
    if (a.dropped) {
      if (key.includes(spec.name)) problems.push(`key column ${spec.name} was dropped`);
      return spec; // images show when
    }
    if (a.typeOid !== spec.typeOid) {
      // images show when; whether it can be followed is known now
      problems.push(...changeProblems(spec, { ...spec, name: a.name, ...pickType(a) }, key));
      return { ...spec, name: a.name };
    }
    const next = { ...spec, name: a.name, ...pickType(a) };
    problems.push(...changeProblems(spec, next, key));
    return next;
  });
  return { specs: out, problems };
}

/** Whether type `from` widens to `to` whatever their type modifiers. */
function widensOid(from: number, to: number): boolean {
  return widens({ typeOid: from, typmod: -1 }, { typeOid: to, typmod: -1 });
}

function pickType(t: TypeOf): TypeOf {
  return { typeOid: t.typeOid, typmod: t.typmod, sourceType: t.sourceType };
}

/** Why the change from `was` to `now` cannot be followed in place (none: it can). */
function changeProblems(was: ColumnSpec, now: ColumnSpec, key: readonly string[]): string[] {
  const renamed = now.name !== was.name;
  const retyped = now.typeOid !== was.typeOid || now.typmod !== was.typmod;
  if (key.includes(was.name)) {
    if (renamed) return [`key column ${was.name} was renamed to ${now.name}`];
    if (retyped) return [`key column ${was.name} was changed from ${was.sourceType} to ${now.sourceType}`];
    return [];
  }
  if (retyped && !widens(was, now))
    return [`column ${now.name} changed type from ${was.sourceType} to ${now.sourceType}, which is not a widening`];
  return [];
}
