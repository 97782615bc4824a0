/**
 * The COPY decoder's inline fast paths (int2/4/8, float4/8, bool, text, bytea, uuid, date,
 * timestamp(tz), numeric with a scale) give exactly what each column codec's `decodeBinary`
 * gives, for random values PostgreSQL itself encodes; the BigInt-free numeric and timestamp
 * arithmetic is also checked against PostgreSQL's own rendering of each value. Batches end
 * near `batchBytes` although the decoder reads the batch size only now and then.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { BatchBuilder } from '../../src/sdk/batch.js';
import { batchReaders } from '../../src/sdk/values.js';
import { Catalog } from '../../src/connectors/postgres/catalog.js';
import { CopyDecoder } from '../../src/connectors/postgres/copy-decoder.js';
import { CopyOut } from '../../src/connectors/postgres/copy-out.js';
import { FAST, type ColumnCodec } from '../../src/connectors/postgres/types.js';
import { PG_VERSIONS, jsonRows } from './helpers.js';

/** Column name, type and a generator of its values as PostgreSQL input text (null for NULL). */
const COLUMNS: [name: string, type: string, values: fc.Arbitrary<string | null>][] = [
  ['i2', 'int2', fc.integer({ min: -32768, max: 32767 }).map(String)],
  ['i4', 'int4', fc.integer().map(String)],
  ['i8', 'int8', fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String)],
  ['f4', 'float4', fc.oneof(fc.float().map(floatText), fc.constantFrom('NaN', 'Infinity', '-Infinity', '-0'))],
  ['f8', 'float8', fc.oneof(fc.double().map(floatText), fc.constantFrom('NaN', 'Infinity', '-Infinity', '-0'))],
  ['b', 'bool', fc.boolean().map(String)],
  ['t', 'text', fc.string({ unit: 'grapheme', maxLength: 90 }).map((s) => s.replace(/\0/g, ''))],
  ['by', 'bytea', fc.uint8Array({ maxLength: 90 }).map((a) => `\\x${Buffer.from(a).toString('hex')}`)],
  ['u', 'uuid', fc.uuid()],
  ['d', 'date', fc.oneof(fc.integer({ min: -2_451_000, max: 2_900_000 }).map(dayText), fc.constantFrom('infinity', '-infinity'))],
  ['ts', 'timestamp', timestampText()],
  ['tz', 'timestamptz', timestampText().map((t) => (t.endsWith('infinity') ? t : `${t}+00`))],
  ['n12', 'numeric(12,2)', decimalText(12, 2)],
  ['n20', 'numeric(20,6)', decimalText(20, 6)],
  ['n18', 'numeric(18,0)', decimalText(18, 0)],
  ['n38', 'numeric(38,10)', decimalText(38, 10)],
  ['n5', 'numeric(5,5)', decimalText(5, 5)],
];

function floatText(x: number): string {
  return Object.is(x, -0) ? '-0' : String(x);
}

function dayText(daysSince2000: number): string {
  const iso = new Date(Date.UTC(2000, 0, 1) + daysSince2000 * 86_400_000).toISOString();
  const year = Number(iso.slice(0, iso.indexOf('-', 1)));
  const monthDay = iso.slice(iso.indexOf('T') - 6, iso.indexOf('T'));
  // years ≤ 0 are written as BC (ISO year 0 is 1 BC)
  return year <= 0 ? `${String(1 - year).padStart(4, '0')}${monthDay} BC` : `${String(year).padStart(4, '0')}${monthDay}`;
}

/** Timestamps from year 1 to 9999 with microseconds (both sides of the 2^52 µs fast range), and ±infinity. */
function timestampText(): fc.Arbitrary<string> {
  return fc.oneof(
    fc
      .tuple(fc.integer({ min: -62_135_596_800, max: 253_402_300_799 }), fc.integer({ min: 0, max: 999_999 }))
      .map(
        ([seconds, micros]) =>
          `${new Date(seconds * 1000).toISOString().slice(0, 19).replace('T', ' ')}.${String(micros).padStart(6, '0')}`,
      ),
    fc.constantFrom('infinity', '-infinity'),
  );
}

/** Decimals that fit numeric(precision, scale): digits of every length, so values land on both sides of 2^53 unscaled. */
function decimalText(precision: number, scale: number): fc.Arbitrary<string> {
  const digits = (n: number) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 0, maxLength: n }).map((d) => d.join(''));
  return fc.tuple(fc.boolean(), digits(precision - scale), digits(scale)).map(([negative, whole, fraction]) => {
    const text = `${whole || '0'}${fraction ? `.${fraction}` : ''}`;
    return negative ? `-${text}` : text;
  });
}

const row = fc.tuple(...COLUMNS.map(([, , values]) => fc.option(values, { freq: 6 })));

for (const version of PG_VERSIONS) {
  describe(`postgres ${version}: COPY decoder fast paths`, () => {
    let server: TestPostgres;
    let client: pg.Client;
    let codecs: ColumnCodec[];

    before(async () => {
      server = await startPostgres({ version });
      client = new pg.Client({ connectionString: server.connectionString });
      await client.connect();
      await client.query(`CREATE TABLE fast (id int4 PRIMARY KEY, ${COLUMNS.map(([name, type]) => `${name} ${type}`).join(', ')})`);
      const catalog = new Catalog(client, 'public.fast');
      const table = await catalog.loadTable({ schema: 'public', name: 'fast' });
      codecs = await catalog.codecs(table.columns, table.display);
    });
    after(async () => {
      await client.end();
      await server.stop();
    });

    const copy = async (): Promise<Buffer> => {
      const chunks: Buffer[] = [];
      for await (const chunk of client.query(new CopyOut('COPY fast TO STDOUT (FORMAT binary)')) as AsyncIterable<Buffer>)
        chunks.push(chunk);
      return Buffer.concat(chunks);
    };

    const decode = (raw: Buffer, with_: ColumnCodec[], maxBytes = 1 << 30) => {
      const decoder = new CopyDecoder(with_, false, 'public.fast');
      const builder = new BatchBuilder({ table: 'public.fast', primaryKey: ['id'], fields: with_.map((c) => c.field) }, 'snapshot');
      decoder.feed(raw);
      const sizes: number[] = [];
      while (decoder.decode(builder, 1 << 20, maxBytes) === 'full') {
        sizes.push(builder.byteLength);
        builder.finish();
      }
      assert.equal(decoder.ended, true);
      return { batch: builder.finish(), sizes };
    };

    it('every column type the decoder inlines is inlined', () => {
      const inlined = codecs.filter((c) => c.fast !== FAST.none).map((c) => c.spec.name);
      assert.deepEqual(inlined, ['id', ...COLUMNS.map(([name]) => name)]);
    });

    it('the inline paths decode random values exactly as the codecs do, and as PostgreSQL prints them', { timeout: 300_000 }, async () => {
      const slow = codecs.map((c) => ({ ...c, fast: FAST.none }));
      const names = COLUMNS.map(([name]) => name);
      await fc.assert(
        fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 97 }), async (rows, cut) => {
          await client.query('TRUNCATE fast');
          await client.query(`INSERT INTO fast SELECT * FROM json_populate_recordset(null::fast, $1)`, [
            JSON.stringify(rows.map((r, i) => Object.fromEntries([['id', i], ...r.map((v, k) => [names[k], v])]))),
          ]);
          const raw = await copy();
          // the fast decoder gets the bytes in two pieces, as a socket may split them
          const split = Math.floor((raw.length * cut) / 100);
          const fastDecoder = new CopyDecoder(codecs, false, 'public.fast');
          const builder = new BatchBuilder({ table: 'public.fast', primaryKey: ['id'], fields: codecs.map((c) => c.field) }, 'snapshot');
          fastDecoder.feed(raw.subarray(0, split));
          fastDecoder.decode(builder, 1 << 20, 1 << 30);
          fastDecoder.feed(raw.subarray(split));
          fastDecoder.decode(builder, 1 << 20, 1 << 30);
          assert.equal(fastDecoder.ended, true);
          const fastBatch = builder.finish();
          assert.deepEqual(jsonRows(fastBatch), jsonRows(decode(raw, slow).batch));

          // PostgreSQL's own rendering: numerics as text, timestamps as µs since the Unix epoch
          const printed = await client.query<Record<string, string | null>>(
            `SELECT ${['n12', 'n20', 'n18', 'n38', 'n5'].map((n) => `${n}::text AS ${n}`).join(', ')},
                    ${['ts', 'tz']
                      .map(
                        (n) =>
                          `CASE WHEN isfinite(${n}) THEN (extract(epoch FROM ${n}) * 1000000)::numeric(30,0)::text ELSE ${n}::text END AS ${n}`,
                      )
                      .join(', ')}
             FROM fast ORDER BY id`,
          );
          const readers = batchReaders(fastBatch);
          const json = jsonRows(fastBatch);
          const at = (name: string) => names.indexOf(name) + 1;
          printed.rows.forEach((p, i) => {
            for (const n of ['n12', 'n20', 'n18', 'n38', 'n5']) assert.equal(json[i]![at(n)], p[n], `${n} of row ${i}`);
            for (const n of ['ts', 'tz']) {
              const cell = readers[at(n)]!(i) as bigint | null;
              const expected =
                p[n] === 'infinity' ? 2n ** 63n - 1n : p[n] === '-infinity' ? -(2n ** 63n) : p[n] === null ? null : BigInt(p[n]);
              assert.equal(cell, expected, `${n} of row ${i}`);
            }
          });
        }),
        { numRuns: 40 },
      );
    });

    it('batches end near batchBytes', async () => {
      await client.query('TRUNCATE fast');
      await client.query(
        `INSERT INTO fast (id, t, n38, by) SELECT g, repeat('x', (g * 37) % 900), g * 1.5, CASE WHEN g % 3 = 0 THEN NULL ELSE '\\x00ff'::bytea END FROM generate_series(1, 20000) g`,
      );
      const raw = await copy();
      const maxBytes = 64 * 1024;
      const { sizes } = decode(raw, codecs, maxBytes);
      assert.ok(sizes.length > 10, `${sizes.length} batches`);
      for (const size of sizes)
        assert.ok(size >= maxBytes && size <= maxBytes * 1.5 + 4096, `a batch of ${size} bytes for batchBytes ${maxBytes}`);
    });
  });
}
