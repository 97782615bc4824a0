/**
 * Row image layouts (src/connectors/postgres/trigger/layout.ts), against simulated migrations:
 * random sequences of columns dropped, added and widened (int2 → int4 → int8), after which a
 * reader that was at some layout meets images of later ones, skipping any number of them (as
 * a reader that is behind, or restored from a checkpoint, does). Whatever the types, every
 * image is matched (the reader never gets stuck); where every column has a type of its own,
 * each image is matched to exactly the attributes it was written with.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Attribute } from '../../src/connectors/postgres/trigger/columns.js';
import { followCatalog, matchImage, type LayoutSlot } from '../../src/connectors/postgres/trigger/layout.js';

const INT2 = 21;
const INT4 = 23;
const INT8 = 20;
const TEXT = 25;
const BOOL = 16;

type Op = { kind: 'drop'; pick: number } | { kind: 'add'; type: number } | { kind: 'widen'; pick: number };

interface Simulated {
  layouts: LayoutSlot[][];
  attributes: Attribute[];
}

/** Runs `ops` on a table (key: attnum 1) with columns of `initial` types; `typeOf(attnum, type)` picks the stored oid. */
function simulate(initial: number[], ops: Op[], unique: boolean): Simulated {
  const typeOf = (attnum: number, type: number) => (unique ? 100_000 + attnum : type);
  const attrs: Array<{ attnum: number; typeOid: number; dropped: boolean }> = [{ attnum: 1, typeOid: INT4, dropped: false }];
  for (const t of initial) attrs.push({ attnum: attrs.length + 1, typeOid: typeOf(attrs.length + 1, t), dropped: false });
  const layout = () => attrs.filter((a) => !a.dropped).map((a) => ({ attnum: a.attnum, typeOid: a.typeOid }));
  const layouts = [layout()];
  for (const op of ops) {
    const live = attrs.filter((a) => !a.dropped && a.attnum !== 1);
    if (op.kind === 'drop') {
      if (live.length === 0) continue;
      live[op.pick % live.length]!.dropped = true;
    } else if (op.kind === 'add') {
      attrs.push({ attnum: attrs.length + 1, typeOid: typeOf(attrs.length + 1, op.type), dropped: false });
    } else {
      const ints = live.filter((a) => a.typeOid === INT2 || a.typeOid === INT4);
      if (unique || ints.length === 0) continue;
      const a = ints[op.pick % ints.length]!;
      a.typeOid = a.typeOid === INT2 ? INT4 : INT8;
    }
    layouts.push(layout());
  }
  const attributes = attrs.map((a) => ({
    attnum: a.attnum,
    name: a.dropped ? `........pg.dropped.${a.attnum}........` : `c${a.attnum}`,
    typeOid: a.dropped ? 0 : a.typeOid,
    typmod: -1,
    sourceType: '',
    nullable: true,
    generated: false,
    dropped: a.dropped,
  }));
  return { layouts, attributes };
}

const types = fc.constantFrom(INT2, INT4, INT8, TEXT, BOOL);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), pick: fc.nat(10) }),
  fc.record({ kind: fc.constant('add' as const), type: types }),
  fc.record({ kind: fc.constant('widen' as const), pick: fc.nat(10) }),
);
/** A reader's start layout and the later layouts it meets images of (in order, any skipped). */
const run = (unique: boolean) =>
  fc
    .record({
      initial: fc.array(types, { minLength: 0, maxLength: 4 }),
      ops: fc.array(op, { maxLength: 8 }),
      picks: fc.array(fc.nat(), { maxLength: 12 }),
    })
    .map(({ initial, ops, picks }) => {
      const sim = simulate(initial, ops, unique);
      const n = sim.layouts.length;
      const start = picks.length > 0 ? picks[0]! % n : 0;
      const seen = picks
        .slice(1)
        .map((p) => start + (p % (n - start)))
        .sort((a, b) => a - b);
      return { sim, start, seen };
    });

const oids = (layout: readonly LayoutSlot[]) => layout.map((s) => s.typeOid);

describe('trigger capture: row image layouts', () => {
  it('every image of a later layout is matched, whatever the types (the reader never gets stuck)', () => {
    fc.assert(
      fc.property(run(false), ({ sim, start, seen }) => {
        let baseline = sim.layouts[start]!;
        let current = baseline;
        for (const k of seen) {
          const image = oids(sim.layouts[k]!);
          if (JSON.stringify(image) === JSON.stringify(oids(current))) continue;
          const matched = matchImage(baseline, sim.attributes, image);
          assert.ok(matched, `layout ${k} ${JSON.stringify(sim.layouts[k])} from ${JSON.stringify(baseline)}`);
          assert.deepEqual(oids(matched.slots), image);
          if (matched.certain) {
            assert.deepEqual(matched.slots, sim.layouts[k], 'a certain match is the layout the image was written with');
            baseline = matched.slots;
          }
          current = matched.slots;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('with a type of its own per column, each image is matched to the attributes it was written with (but for ones added and dropped again, never delivered)', () => {
    fc.assert(
      fc.property(run(true), ({ sim, start, seen }) => {
        let baseline = sim.layouts[start]!;
        // attributes added and dropped again since the start are never delivered: which of them an image holds does not matter
        const ghost = (s: LayoutSlot) =>
          !sim.layouts[start]!.some((b) => b.attnum === s.attnum) && sim.attributes.find((a) => a.attnum === s.attnum)!.dropped;
        const delivered = (slots: LayoutSlot[]) => slots.map((s) => (ghost(s) ? 'ghost' : s.attnum));
        for (const k of seen) {
          const matched = matchImage(baseline, sim.attributes, oids(sim.layouts[k]!));
          assert.ok(matched);
          assert.deepEqual(delivered(matched.slots), delivered(sim.layouts[k]!), `layout ${k} from ${JSON.stringify(baseline)}`);
          if (matched.certain) baseline = matched.slots;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('the catalog check follows a rename and a same-oid widening, and reports key changes and narrowing', () => {
    const attr = (attnum: number, name: string, typeOid: number, typmod: number, sourceType: string): Attribute => ({
      attnum,
      name,
      typeOid,
      typmod,
      sourceType,
      nullable: true,
      generated: false,
      dropped: false,
    });
    const specs = [
      { name: 'id', typeOid: INT4, typmod: -1, sourceType: 'integer', nullable: false, attnum: 1 },
      { name: 'name', typeOid: 1043, typmod: 24, sourceType: 'character varying(20)', nullable: true, attnum: 2 },
      { name: 'pop', typeOid: INT4, typmod: -1, sourceType: 'integer', nullable: true, attnum: 3 },
    ];
    const followed = followCatalog(
      [attr(1, 'id', INT4, -1, 'integer'), attr(2, 'label', 1043, 44, 'character varying(40)'), attr(3, 'pop', INT8, -1, 'bigint')],
      specs,
      ['id'],
    );
    assert.deepEqual(followed.problems, []);
    assert.deepEqual(
      followed.specs.map((s) => [s.name, s.sourceType]),
      [
        ['id', 'integer'],
        ['label', 'character varying(40)'],
        ['pop', 'integer'], // images show when it changes
      ],
    );
    const narrowed = followCatalog(
      [attr(1, 'key', INT4, -1, 'integer'), attr(2, 'name', 1043, 9, 'character varying(5)'), attr(3, 'pop', TEXT, -1, 'text')],
      specs,
      ['id'],
    );
    assert.equal(narrowed.problems.length, 3, narrowed.problems.join('; '));
    assert.match(narrowed.problems.join('; '), /key column id was renamed to key.*name.*not a widening.*pop.*not a widening/);
  });
});
