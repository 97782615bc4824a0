/**
 * Default slot and publication names: one per table (no two tables share a slot), unchanged for
 * plain lower-case names; and publications refstream did not create are never altered.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import { defaultObjectName, isValidSlotName, type QualifiedName } from '../../src/connectors/postgres/identifiers.js';
import { drainSnapshot, pollChanges, uniqueName } from './helpers.js';

const nameOf = (schema: string, name: string) => defaultObjectName('refstream', { schema, name });

describe('default slot and publication names', () => {
  it('keep the plain name for lower-case names, so existing slots are found again', () => {
    assert.equal(nameOf('public', 'customers'), 'refstream_public_customers');
    assert.equal(nameOf('public', 'customers_v2'), 'refstream_public_customers_v2');
    assert.equal(nameOf('sales2024', 'orders'), 'refstream_sales2024_orders');
  });

  it('differ for names the plain mapping would fold together', () => {
    const pairs: Array<[QualifiedName, QualifiedName]> = [
      [
        { schema: 'public', name: 'Customers' },
        { schema: 'public', name: 'customers' },
      ],
      [
        { schema: 'a_b', name: 'c' },
        { schema: 'a', name: 'b_c' },
      ],
      [
        { schema: 'public', name: 'order-items' },
        { schema: 'public', name: 'order_items' },
      ],
      [
        { schema: 'public', name: 'x'.repeat(60) + 'A' },
        { schema: 'public', name: 'x'.repeat(60) + 'a' },
      ],
    ];
    for (const [a, b] of pairs) {
      const na = defaultObjectName('refstream', a);
      const nb = defaultObjectName('refstream', b);
      assert.notEqual(na, nb, `${JSON.stringify(a)} and ${JSON.stringify(b)}`);
      assert.ok(isValidSlotName(na) && isValidSlotName(nb), `${na} / ${nb}`);
    }
  });

  it('property: distinct tables get distinct, valid names', () => {
    const part = fc.string({ unit: fc.constantFrom('a', 'b', 'A', '_', '1', '-', ' ', '.', 'é', '"'), minLength: 1, maxLength: 70 });
    fc.assert(
      fc.property(part, part, part, part, (s1, n1, s2, n2) => {
        fc.pre(s1 !== s2 || n1 !== n2);
        const a = nameOf(s1, n1);
        const b = nameOf(s2, n2);
        assert.ok(isValidSlotName(a), a);
        assert.notEqual(a, b, `${s1}.${n1} and ${s2}.${n2} share ${a}`);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('default names and publications on a real server', () => {
  let pg: TestPostgres;
  before(async () => {
    pg = await startPostgres();
  });
  after(() => pg?.stop());

  it('public."Customers" and public.customers sync side by side, each with its own slot and publication', async () => {
    await pg.query(`CREATE TABLE public."Customers" (id int8 PRIMARY KEY, v text)`);
    await pg.query(`CREATE TABLE public.customers (id int8 PRIMARY KEY, v text)`);
    await pg.query(`INSERT INTO public."Customers" VALUES (1, 'upper')`);
    await pg.query(`INSERT INTO public.customers VALUES (1, 'lower')`);
    const upper = new PostgresSource({ connectionString: pg.connectionString, table: 'public."Customers"', maxWaitMs: 200 });
    const lower = new PostgresSource({ connectionString: pg.connectionString, table: 'public.customers', maxWaitMs: 200 });
    try {
      assert.equal(
        (await drainSnapshot(upper)).reduce((n, b) => n + b.numRows, 0),
        1,
      );
      assert.equal(
        (await drainSnapshot(lower)).reduce((n, b) => n + b.numRows, 0),
        1,
      );
      await pg.query(`INSERT INTO public."Customers" VALUES (2, 'upper')`);
      await pg.query(`INSERT INTO public.customers VALUES (2, 'lower')`);
      assert.deepEqual(
        (await pollChanges(upper, 1)).map((r) => r.values),
        [['2', 'upper']],
      );
      assert.deepEqual(
        (await pollChanges(lower, 1)).map((r) => r.values),
        [['2', 'lower']],
      );
      const slots = (await pg.query<{ slot_name: string }>(`SELECT slot_name FROM pg_replication_slots ORDER BY 1`)).map(
        (r) => r.slot_name,
      );
      assert.equal(slots.length, 2, slots.join());
      assert.ok(slots.includes('refstream_public_customers'), 'the plain name is kept for public.customers');
    } finally {
      await upper.close({ dropSlot: true });
      await lower.close({ dropSlot: true });
    }
  });

  it('a publication refstream did not create is not altered: the start fails with a hint', async () => {
    const theirs = uniqueName('theirs');
    const t = uniqueName('pubt');
    await pg.query(`CREATE TABLE ${t}_other (id int8 PRIMARY KEY)`);
    await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY)`);
    await pg.query(`CREATE PUBLICATION ${theirs} FOR TABLE ${t}_other`);
    const source = new PostgresSource({
      connectionString: pg.connectionString,
      table: t,
      slot: uniqueName('s'),
      publication: theirs,
      maxWaitMs: 200,
    });
    try {
      const failure = await source.pollSnapshot().then(
        () => assert.fail('expected the start to fail'),
        (error: unknown) => error,
      );
      assert.ok(ConnectorError.is(failure), String(failure));
      assert.equal(failure.code, 'PUBLICATION_MISSING');
      assert.equal(failure.kind, 'definite');
      assert.match(failure.message, /refstream did not create it/);
      assert.match(failure.hint ?? '', new RegExp(`ALTER PUBLICATION "${theirs}" ADD TABLE "public"."${t}"`));
    } finally {
      await source.close({ dropSlot: true });
    }
    const published = await pg.query<{ tablename: string }>(`SELECT tablename FROM pg_publication_tables WHERE pubname = $1`, [theirs]);
    assert.deepEqual(
      published.map((r) => r.tablename),
      [`${t}_other`],
      'the publication is unchanged',
    );
  });

  it('a publication refstream created is extended with a second table', async () => {
    const shared = uniqueName('shared');
    const t1 = uniqueName('pub1');
    const t2 = uniqueName('pub2');
    await pg.query(`CREATE TABLE ${t1} (id int8 PRIMARY KEY)`);
    await pg.query(`CREATE TABLE ${t2} (id int8 PRIMARY KEY)`);
    const first = new PostgresSource({
      connectionString: pg.connectionString,
      table: t1,
      slot: uniqueName('s'),
      publication: shared,
      maxWaitMs: 200,
    });
    const second = new PostgresSource({
      connectionString: pg.connectionString,
      table: t2,
      slot: uniqueName('s'),
      publication: shared,
      maxWaitMs: 200,
    });
    try {
      await drainSnapshot(first);
      await drainSnapshot(second);
    } finally {
      await first.close({ dropSlot: true });
      await second.close({ dropSlot: true });
    }
    const published = await pg.query<{ tablename: string }>(`SELECT tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1`, [
      shared,
    ]);
    assert.deepEqual(
      published.map((r) => r.tablename),
      [t1, t2],
    );
  });
});
