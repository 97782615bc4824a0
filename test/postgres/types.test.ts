/**
 * Type mapping: every supported PostgreSQL type through the snapshot (COPY binary) and the
 * change stream (pgoutput binary), compared with the expected lossless JSON; Arrow types and
 * source-type metadata; definite errors for unsupported types and unrepresentable values.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { PG_VERSIONS, drainSnapshot, jsonRows, pollChanges, sourceFor } from './helpers.js';

const COLUMNS = `
  id int4 PRIMARY KEY,
  i2 int2, i8 int8, f4 float4, f8 float8, b bool,
  t text, vc varchar(10), c char(3), nm name,
  n numeric(12,2), nbig numeric(38,10), nfree numeric,
  ts timestamp, tstz timestamptz, d date, iv interval,
  u uuid, j json, jb jsonb, by bytea,
  e mood, dom posint,
  ai int4[], at text[], an numeric(5,1)[]`;

const ROW_1 = `1, -32768, 9007199254740993, 1.5, -2.25e-300, true,
  'héllo ✓', 'short', 'ab', 'a_name',
  12.34, -1234567890123456789012345678.0123456789, 3.14159265358979323846264338327950288419716939937510,
  '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123456+02', '2024-02-29', '1 mon 2 days 03:04:05.000006',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": 1,  "b": [true]}', '{"b": [true], "a": 1}', '\\xdeadbeef',
  'happy', 5,
  ARRAY[1, NULL, 3], ARRAY['a', 'b"c'], ARRAY[1.5, -2.0]::numeric(5,1)[]`;

const EXPECTED_1 = [
  1,
  -32768,
  '9007199254740993',
  1.5,
  -2.25e-300,
  true,
  'héllo ✓',
  'short',
  'ab ',
  'a_name',
  '12.34',
  '-1234567890123456789012345678.0123456789',
  '3.14159265358979323846264338327950288419716939937510',
  '2024-01-02T03:04:05.123456',
  '2024-01-02T01:04:05.123456Z',
  '2024-02-29',
  'P1M2DT11045.000006S',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '{"a": 1,  "b": [true]}',
  '{"a": 1, "b": [true]}',
  '3q2+7w==',
  'happy',
  5,
  [1, null, 3],
  ['a', 'b"c'],
  ['1.5', '-2.0'],
];

const ROW_3 = `3, 0, -1, 0, 0, false, '', '', '', '',
  -0.01, 0, -0.5, '1969-12-31 23:59:59.999999', '1900-06-01 00:00:00+00', '1969-12-31', '-3 days -00:00:01',
  '00000000-0000-0000-0000-000000000000', 'null', '[]', '\\x',
  'sad', 1, '{}', '{}', '{}'`;

const EXPECTED_3 = [
  3,
  0,
  '-1',
  0,
  0,
  false,
  '',
  '',
  '   ',
  '',
  '-0.01',
  '0.0000000000',
  '-0.5',
  '1969-12-31T23:59:59.999999',
  '1900-06-01T00:00:00.000000Z',
  '1969-12-31',
  'P-3DT-1S',
  '00000000-0000-0000-0000-000000000000',
  'null',
  '[]',
  '',
  'sad',
  1,
  [],
  [],
  [],
];

const EXPECTED_TYPES: Record<string, string> = {
  id: 'Int32',
  i2: 'Int16',
  i8: 'Int64',
  f4: 'Float32',
  f8: 'Float64',
  b: 'Bool',
  t: 'Utf8',
  vc: 'Utf8',
  c: 'Utf8',
  nm: 'Utf8',
  n: 'Decimal[12e+2]',
  nbig: 'Decimal[38e+10]',
  nfree: 'Utf8',
  ts: 'Timestamp<MICROSECOND>',
  tstz: 'Timestamp<MICROSECOND, UTC>',
  d: 'Date32<DAY>',
  iv: 'Interval<MONTH_DAY_NANO>',
  u: 'FixedSizeBinary[16]',
  j: 'Utf8',
  jb: 'Utf8',
  by: 'Binary',
  e: 'Utf8',
  dom: 'Int32',
  ai: 'List<Int32>',
  at: 'List<Utf8>',
  an: 'List<Decimal[5e+1]>',
};

for (const version of PG_VERSIONS) {
  describe(`postgres ${version}: type mapping`, () => {
    let pg: TestPostgres;
    before(async () => {
      pg = await startPostgres({ version });
      await pg.query(`CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`);
      await pg.query(`CREATE DOMAIN posint AS int4 CHECK (VALUE > 0)`);
    });
    after(() => pg.stop());

    it('snapshot and changes decode every type exactly, with Arrow types and source types', async () => {
      await pg.query(`CREATE TABLE alltypes (${COLUMNS})`);
      await pg.query(`INSERT INTO alltypes VALUES (${ROW_1})`);
      await pg.query(`INSERT INTO alltypes (id) VALUES (2)`);
      await pg.query(`INSERT INTO alltypes VALUES (${ROW_3})`);
      const source = sourceFor(pg, 'alltypes');
      try {
        const batches = await drainSnapshot(source);
        const schema = batches[0]!.schema;
        const types = Object.fromEntries(schema.fields.map((f) => [f.name, String(f.type)]));
        assert.deepEqual(types, EXPECTED_TYPES);
        assert.equal(schema.fields.find((f) => f.name === 'u')!.metadata.get('refstream.source_type'), 'uuid');
        assert.equal(schema.fields.find((f) => f.name === 'n')!.metadata.get('refstream.source_type'), 'numeric(12,2)');
        assert.equal(schema.fields.find((f) => f.name === 'dom')!.metadata.get('refstream.source_type'), 'posint');
        assert.equal(schema.metadata.get('refstream.table'), 'public.alltypes');
        assert.equal(schema.metadata.get('refstream.primary_key'), '["id"]');
        assert.equal(schema.metadata.get('refstream.kind'), 'snapshot');
        const rows = batches.flatMap(jsonRows).sort((a, b) => (a[0] as number) - (b[0] as number));
        assert.deepEqual(rows[0], EXPECTED_1);
        assert.deepEqual(rows[1], [2, ...new Array(EXPECTED_1.length - 1).fill(null)]);
        assert.deepEqual(rows[2], EXPECTED_3);

        // the same values through pgoutput
        await pg.query(
          `INSERT INTO alltypes SELECT 101, i2, i8, f4, f8, b, t, vc, c, nm, n, nbig, nfree, ts, tstz, d, iv, u, j, jb, by, e, dom, ai, at, an FROM alltypes WHERE id = 1`,
        );
        await pg.query(`INSERT INTO alltypes (id) VALUES (102)`);
        await pg.query(
          `INSERT INTO alltypes SELECT 103, i2, i8, f4, f8, b, t, vc, c, nm, n, nbig, nfree, ts, tstz, d, iv, u, j, jb, by, e, dom, ai, at, an FROM alltypes WHERE id = 3`,
        );
        const changes = await pollChanges(source, 3);
        assert.deepEqual(
          changes.map((c) => c.type),
          ['insert', 'insert', 'insert'],
        );
        assert.deepEqual(changes[0]!.values, [101, ...EXPECTED_1.slice(1)]);
        assert.deepEqual(changes[1]!.values, [102, ...new Array(EXPECTED_1.length - 1).fill(null)]);
        assert.deepEqual(changes[2]!.values, [103, ...EXPECTED_3.slice(1)]);
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('pgoutput protocol 1 with text values (binaryValues: false) decodes every type the same way', async () => {
      const source = sourceFor(pg, 'alltypes', { binaryValues: false });
      try {
        await drainSnapshot(source);
        await pg.query(
          `INSERT INTO alltypes SELECT 201, i2, i8, f4, f8, b, t, vc, c, nm, n, nbig, nfree, ts, tstz, d, iv, u, j, jb, by, e, dom, ai, at, an FROM alltypes WHERE id = 1`,
        );
        await pg.query(`INSERT INTO alltypes (id) VALUES (202)`);
        await pg.query(
          `INSERT INTO alltypes SELECT 203, i2, i8, f4, f8, b, t, vc, c, nm, n, nbig, nfree, ts, tstz, d, iv, u, j, jb, by, e, dom, ai, at, an FROM alltypes WHERE id = 3`,
        );
        const changes = await pollChanges(source, 3);
        assert.deepEqual(changes[0]!.values, [201, ...EXPECTED_1.slice(1)]);
        assert.deepEqual(changes[1]!.values, [202, ...new Array(EXPECTED_1.length - 1).fill(null)]);
        assert.deepEqual(changes[2]!.values, [203, ...EXPECTED_3.slice(1)]);
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('an unsupported type is a definite UNSUPPORTED_TYPE naming table, column and type', async () => {
      await pg.query(`CREATE TABLE with_point (id int4 PRIMARY KEY, location point)`);
      const source = sourceFor(pg, 'with_point');
      try {
        await assert.rejects(source.pollSnapshot(), (e: unknown) => {
          assert.ok(ConnectorError.is(e, 'UNSUPPORTED_TYPE'));
          assert.equal(e.kind, 'definite');
          assert.match(e.message, /location/);
          assert.match(e.message, /point/);
          assert.match(e.message, /with_point/);
          assert.match(e.hint ?? '', /unknownTypes: 'text'/);
          return true;
        });
      } finally {
        await source.close();
      }
    });

    it("unknownTypes: 'text' delivers other types as PostgreSQL's text output, in snapshot and changes", async () => {
      await pg.query(`CREATE TYPE pair AS (a int, b text)`);
      await pg.query(`CREATE TABLE exotic (id int4 PRIMARY KEY, tm time, ttz timetz, mo money, ip inet, net cidr, mac macaddr,
        pt point, rng int4range, tsv tsvector, bits bit(3), ips inet[], pr pair, n int8)`);
      const values = `'12:34:56.789012', '01:02:03+05:30', 12.34, '10.1.2.3/24', '2001:db8::/32', '08:00:2b:01:02:03',
        '(1.5,-2)', '[1,10)', 'a fat cat', B'101', ARRAY['::1'::inet, '192.168.0.1'], ROW(1, 'x"y')::pair, 7`;
      await pg.query(
        `INSERT INTO exotic VALUES (1, ${values}), (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
      );
      const asText = async (id: number) =>
        // format('%s') renders with each type's output function, as a client sees the value.
        (
          await pg.query<Record<string, string | null>>(
            `SELECT ${['id', 'tm', 'ttz', 'mo', 'ip', 'net', 'mac', 'pt', 'rng', 'tsv', 'bits', 'ips', 'pr', 'n'].map((c) => `CASE WHEN ${c} IS NULL THEN NULL ELSE format('%s', ${c}) END AS ${c}`).join(', ')} FROM exotic WHERE id = ${id}`,
          )
        )[0]!;
      const expected = (row: Record<string, string | null>) =>
        Object.entries(row).map(([k, v]) => (v === null || k !== 'id' ? v : Number(v)));
      for (const binaryValues of [true, false]) {
        const source = sourceFor(pg, 'exotic', { unknownTypes: 'text', binaryValues });
        try {
          const batches = await drainSnapshot(source);
          const fields = batches[0]!.schema.fields;
          assert.equal(String(fields[1]!.type), 'Utf8');
          assert.equal(fields[1]!.metadata.get('refstream.source_type'), 'time without time zone');
          assert.equal(String(fields[13]!.type), 'Int64', 'mapped types keep their mapping');
          const rows = batches.flatMap(jsonRows).sort((a, b) => (a[0] as number) - (b[0] as number));
          assert.deepEqual(rows[0], expected(await asText(1)));
          assert.deepEqual(rows[1], expected(await asText(2)));
          await pg.query(`INSERT INTO exotic VALUES (${binaryValues ? 3 : 4}, ${values})`);
          await pg.query(`UPDATE exotic SET ip = '::ffff:1.2.3.4', rng = 'empty', tm = '23:59:59' WHERE id = 1`);
          const changes = await pollChanges(source, 2);
          assert.deepEqual(changes[0]!.values, expected(await asText(binaryValues ? 3 : 4)));
          assert.deepEqual(changes[1]!.values, expected(await asText(1)));
        } finally {
          await source.close({ dropSlot: true });
        }
      }
    });

    it("unknownTypes: 'text' and a text-only column added while streaming binary values: a definite error, and a restart reads it", async () => {
      await pg.query(`CREATE TABLE grows (id int4 PRIMARY KEY, v text)`);
      await pg.query(`INSERT INTO grows VALUES (1, 'a')`);
      const source = sourceFor(pg, 'grows', { unknownTypes: 'text' });
      const slot = (source.config as { slotName: string }).slotName;
      let checkpoint;
      try {
        await drainSnapshot(source);
        checkpoint = source.checkpoint();
        await source.commit(checkpoint);
        await pg.query(`ALTER TABLE grows ADD COLUMN ip inet`);
        await pg.query(`INSERT INTO grows VALUES (2, 'b', '10.0.0.1')`);
        await assert.rejects(
          pollChanges(source, 1),
          (e: unknown) => ConnectorError.is(e, 'SCHEMA_INCOMPATIBLE') && /\bip\b/.test(e.message) && /restart/.test(e.hint ?? ''),
        );
      } finally {
        await source.close();
      }
      const again = sourceFor(pg, 'grows', { unknownTypes: 'text', slot, publication: `p_${slot}` });
      try {
        await again.restore(checkpoint!);
        const [row] = await pollChanges(again, 1);
        assert.deepEqual(row!.values, [2, 'b', '10.0.0.1']);
      } finally {
        await again.close({ dropSlot: true });
      }
    });

    it('numeric NaN into a Decimal column is a definite error naming the column, never silent', async () => {
      await pg.query(`CREATE TABLE with_nan (id int4 PRIMARY KEY, price numeric(10,2))`);
      await pg.query(`INSERT INTO with_nan VALUES (1, 'NaN')`);
      const source = sourceFor(pg, 'with_nan');
      try {
        await assert.rejects(
          source.pollSnapshot(),
          (e: unknown) => ConnectorError.is(e, 'VALUE_OUT_OF_RANGE') && e.kind === 'definite' && /price/.test(e.message),
        );
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('numeric NaN in a change is a definite error too; unconstrained numeric keeps NaN as text', async () => {
      await pg.query(`CREATE TABLE with_nan2 (id int4 PRIMARY KEY, price numeric(10,2), free numeric)`);
      const source = sourceFor(pg, 'with_nan2');
      try {
        await drainSnapshot(source);
        await pg.query(`INSERT INTO with_nan2 VALUES (1, 1.25, 'NaN')`);
        const [row] = await pollChanges(source, 1);
        assert.deepEqual(row!.values, [1, '1.25', 'NaN']);
        await pg.query(`INSERT INTO with_nan2 VALUES (2, 'NaN', 1)`);
        await assert.rejects(pollChanges(source, 1), (e: unknown) => ConnectorError.is(e, 'VALUE_OUT_OF_RANGE') && /price/.test(e.message));
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('multi-dimensional arrays are rejected with UNSUPPORTED_TYPE naming the column', async () => {
      await pg.query(`CREATE TABLE with_matrix (id int4 PRIMARY KEY, m int4[])`);
      await pg.query(`INSERT INTO with_matrix VALUES (1, '{{1,2},{3,4}}')`);
      const source = sourceFor(pg, 'with_matrix');
      try {
        await assert.rejects(source.pollSnapshot(), (e: unknown) => ConnectorError.is(e, 'UNSUPPORTED_TYPE') && /\bm\b/.test(e.message));
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('large values (TOAST-sized text, bytea, jsonb) round-trip in snapshot and changes', async () => {
      await pg.query(`CREATE TABLE big_values (id int4 PRIMARY KEY, t text, by bytea, jb jsonb)`);
      const big = 'x'.repeat(300_000) + 'é';
      await pg.query(
        `INSERT INTO big_values VALUES (1, $1, decode(repeat('ab', 200000), 'hex'), json_build_object('k', $1::text)::jsonb)`,
        [big],
      );
      const source = sourceFor(pg, 'big_values', { batchBytes: 64 * 1024 });
      try {
        const [row] = (await drainSnapshot(source)).flatMap(jsonRows);
        assert.equal(row![1], big);
        assert.equal(Buffer.from(row![2] as string, 'base64').length, 200_000);
        assert.equal(JSON.parse(row![3] as string).k, big);
        await pg.query(`INSERT INTO big_values SELECT 2, t, by, jb FROM big_values WHERE id = 1`);
        const [change] = await pollChanges(source, 1);
        assert.deepEqual(change!.values.slice(1), row!.slice(1));
      } finally {
        await source.close({ dropSlot: true });
      }
    });
  });
}
