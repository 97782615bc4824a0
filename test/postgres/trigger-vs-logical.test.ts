/**
 * Trigger capture and logical replication read the same workload on one table holding every
 * type the connector maps (and a generated column, and large out-of-line values an update
 * leaves unchanged): both deliver the same Arrow schemas and the same values — snapshot and
 * changes, inserts, updates, key changes, deletes and a truncate — apart from `_position`,
 * which each mode forms from its own source positions.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import type { RecordBatch } from 'apache-arrow';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import { batchReaders, readRow } from '../../src/sdk/values.js';
import { POSITION_COLUMN } from '../../src/sdk/batch.js';
import { PG_VERSIONS, drainSnapshot, jsonRows, sourceFor } from './helpers.js';

const COLUMNS = `
  id int4 PRIMARY KEY,
  i2 int2, i8 int8, f4 float4, f8 float8, b bool,
  t text, vc varchar(10), c char(3), nm name,
  n numeric(12,2), nbig numeric(38,10), nfree numeric,
  ts timestamp, tstz timestamptz, d date, iv interval,
  u uuid, j json, jb jsonb, by bytea,
  e mood, dom posint,
  ai int4[], at text[], an numeric(5,1)[],
  twice int8 GENERATED ALWAYS AS (i8 * 2) STORED,
  big text, bigb bytea`;

const NAMES = 'id, i2, i8, f4, f8, b, t, vc, c, nm, n, nbig, nfree, ts, tstz, d, iv, u, j, jb, by, e, dom, ai, at, an, big, bigb';
/** Incompressible, so stored out of line. */
const LARGE = `(SELECT string_agg(md5(g::text || $$x$$), '') FROM generate_series(1, 200) g)`;

const ROW_1 = `1, -32768, 9007199254740993, 1.5, -2.25e-300, true,
  'héllo ✓ 🧪', 'short', 'ab', 'a_name',
  12.34, -1234567890123456789012345678.0123456789, 3.14159265358979323846264338327950288419716939937510,
  '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123456+02', '2024-02-29', '1 mon 2 days 03:04:05.000006',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": 1,  "b": [true]}', '{"b": [true], "a": 1}', '\\xdeadbeef',
  'happy', 5,
  ARRAY[1, NULL, 3], ARRAY['a', 'b"c'], ARRAY[1.5, -2.0]::numeric(5,1)[], ${LARGE}, decode(${LARGE}, 'escape')`;

const ROW_3 = `3, 0, -1, 'NaN', '-Infinity', false, '', '', '', '',
  -0.01, 0, 'NaN', '1969-12-31 23:59:59.999999', 'infinity', '-infinity', '-3 days -00:00:01',
  '00000000-0000-0000-0000-000000000000', 'null', '[]', '\\x',
  'sad', 1, '{}', '{}', '{}', '', ''`;

/** Every row of `batches` as raw Arrow cells (bigint, typed arrays, …) and lossless JSON, without `_position`. */
function cells(batches: RecordBatch[]): { raw: unknown[][]; json: unknown[][] } {
  const raw: unknown[][] = [];
  const json: unknown[][] = [];
  for (const b of batches) {
    const p = b.schema.fields.findIndex((f) => f.name === POSITION_COLUMN);
    const readers = batchReaders(b);
    for (let i = 0; i < b.numRows; i++) raw.push(readRow(readers, i).filter((_, k) => k !== p));
    json.push(...jsonRows(b).map((r) => r.filter((_, k) => k !== p)));
  }
  return { raw, json };
}

/** A schema as text: fields with types, nullability and metadata, and the schema metadata. */
function schemaOf(batch: RecordBatch): string {
  const s = batch.schema;
  return JSON.stringify({
    fields: s.fields.map((f) => [f.name, String(f.type), f.nullable, [...f.metadata]]),
    metadata: [...s.metadata],
  });
}

async function readChanges(source: PostgresSource, rows: number): Promise<RecordBatch[]> {
  const out: RecordBatch[] = [];
  let n = 0;
  const deadline = Date.now() + 20_000;
  while (n < rows) {
    if (Date.now() > deadline)
      throw new Error(`expected ${rows} change rows, got ${n}: ${JSON.stringify(cells(out).json.map((r) => [r[0], r.at(-1)]))}`);
    const b = await source.pollChanges();
    if (b) {
      out.push(b);
      n += b.numRows;
    }
  }
  return out;
}

for (const version of PG_VERSIONS) {
  describe(`PostgreSQL ${version}: trigger capture and logical replication on the same workload`, () => {
    let pg: TestPostgres;
    before(async () => {
      pg = await startPostgres({ version });
      await pg.query(`CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`);
      await pg.query(`CREATE DOMAIN posint AS int4 CHECK (VALUE > 0)`);
    });
    after(() => pg.stop());

    it('deliver identical schemas and values for every type', async () => {
      await pg.query(`CREATE TABLE both_modes (${COLUMNS})`);
      await pg.query(`ALTER TABLE both_modes ALTER COLUMN big SET STORAGE EXTERNAL, ALTER COLUMN bigb SET STORAGE EXTERNAL`);
      await pg.query(`INSERT INTO both_modes (${NAMES}) VALUES (${ROW_1})`);
      await pg.query(`INSERT INTO both_modes (id) VALUES (2)`);
      await pg.query(`INSERT INTO both_modes (${NAMES}) VALUES (${ROW_3})`);
      const logical = sourceFor(pg, 'both_modes');
      const trigger = new PostgresSource({
        connectionString: pg.connectionString,
        table: 'both_modes',
        capture: 'trigger',
        installTriggers: true,
        maxWaitMs: 200,
      });
      try {
        const snapshots = [await drainSnapshot(logical), await drainSnapshot(trigger)];
        assert.equal(schemaOf(snapshots[1]![0]!), schemaOf(snapshots[0]![0]!), 'snapshot schemas');
        assert.ok(isDeepStrictEqual(cells(snapshots[1]!), cells(snapshots[0]!)), 'snapshot values');

        const copy = (id: number, from: number) =>
          `INSERT INTO both_modes (${NAMES}) SELECT ${id}, ${NAMES.split(', ').slice(1).join(', ')} FROM both_modes WHERE id = ${from}`;
        // [statement, change rows it makes]; each is read by both sources before the next runs
        // (logical replication reads unchanged out-of-line values by key: a later change of the
        // key would make it leave the row out, the snapshot of that later change covering it)
        const workload: [string, number][] = [
          [copy(101, 1), 1],
          [`INSERT INTO both_modes (id) VALUES (102)`, 1],
          [copy(103, 3), 1],
          // every column changes, then only a small one (the large values stay unchanged, out of line)
          [
            `UPDATE both_modes AS t SET (${NAMES.split(', ').slice(1).join(', ')}) = (SELECT ${NAMES.split(', ')
              .slice(1)
              .map((c) => `s.${c}`)
              .join(', ')} FROM both_modes s WHERE s.id = 3) WHERE t.id = 101`,
            1,
          ],
          [`UPDATE both_modes SET i2 = i2 + 1 WHERE id = 1`, 1],
          [`UPDATE both_modes SET id = 201 WHERE id = 1`, 2],
          [
            `BEGIN; UPDATE both_modes SET f8 = 'NaN', nfree = -0.0 WHERE id = 3; DELETE FROM both_modes WHERE id = 2; INSERT INTO both_modes (id, t) VALUES (2, 'again'); COMMIT`,
            3,
          ],
          [`DELETE FROM both_modes WHERE id = 103`, 1],
          [`TRUNCATE both_modes`, 1],
          [copy(301, 301), 0], // the table is empty: a statement that changes nothing
          [`INSERT INTO both_modes (${NAMES}) VALUES (${ROW_1.replace(/^1,/, '401,')})`, 1],
        ];
        const changes: RecordBatch[][] = [[], []];
        for (const [sql, rows] of workload) {
          await pg.query(sql);
          if (rows === 0) continue;
          changes[0]!.push(...(await readChanges(logical, rows)));
          changes[1]!.push(...(await readChanges(trigger, rows)));
        }
        const expectedRows = workload.reduce((n, [, rows]) => n + rows, 0);
        assert.equal(schemaOf(changes[1]![0]!), schemaOf(changes[0]![0]!), 'change schemas');
        const [fromLogical, fromTrigger] = changes.map(cells);
        assert.equal(fromTrigger!.raw.length, expectedRows);
        assert.deepEqual(fromTrigger!.json, fromLogical!.json);
        assert.ok(isDeepStrictEqual(fromTrigger!.raw, fromLogical!.raw), 'raw Arrow cells equal (NaN, -0, bigint, bytes)');
        // the update that left the large values unchanged carries them whole in both modes
        const big = NAMES.split(', ').indexOf('big');
        const unchanged = fromTrigger!.json.find((r) => r[0] === 1 && r.at(-1) === 'update')!;
        assert.equal((unchanged[big] as string).length, 6400);
      } finally {
        await logical.close({ dropSlot: true });
        await trigger.close();
      }
    });
  });
}
