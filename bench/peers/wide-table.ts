/** The wide table of the peer benchmark: 30 columns of mixed types, every fifth column nullable with NULLs. */
import type { TestPostgres } from '../../src/testing/postgres.js';

/** Column name, PostgreSQL type and the expression that fills it from `g` (the row number). */
const KINDS: [type: string, expression: string][] = [
  ['int4', '(g % 2000000000)::int4'],
  ['int8', 'g * 1000003'],
  ['int2', '(g % 30000)::int2'],
  ['float8', 'g / 7.0::float8'],
  ['float4', '(g % 100000) / 3.0::float4'],
  ['numeric(12,2)', '(g % 1000000) / 100.0'],
  ['numeric(20,6)', 'g * 1.000001'],
  ['text', "'text value ' || g"],
  ['varchar(40)', 'md5(g::text)'],
  ['bool', 'g % 2 = 0'],
  ['date', "date '2000-01-01' + (g % 10000)::int"],
  ['timestamp', "timestamp '2020-01-01' + g * interval '1 second'"],
  ['timestamptz', "timestamptz '2024-01-01 00:00:00+00' + g * interval '1 millisecond'"],
  ['uuid', 'md5(g::text)::uuid'],
  ['bytea', "decode(lpad(to_hex(g), 8, '0'), 'hex')"],
];

/** 30 columns after the primary key: the 15 kinds twice; the second round's every fifth column has NULLs. */
export const WIDE_COLUMNS = 30;

/** Creates `name` with `rows` rows of the wide shape (id int8 primary key + 29 mixed columns = 30). */
export async function createWideTable(pg: TestPostgres, name: string, rows: number): Promise<void> {
  const columns: { name: string; type: string; expression: string }[] = [];
  for (let k = 0; columns.length < WIDE_COLUMNS - 1; k++) {
    const [type, expression] = KINDS[k % KINDS.length]!;
    const nullable = k >= KINDS.length && k % 5 === 0;
    columns.push({ name: `c${k + 1}`, type, expression: nullable ? `CASE WHEN g % 4 = 0 THEN NULL ELSE ${expression} END` : expression });
  }
  await pg.query(`DROP TABLE IF EXISTS ${name}`);
  await pg.query(`CREATE TABLE ${name} (id int8 PRIMARY KEY, ${columns.map((c) => `${c.name} ${c.type}`).join(', ')})`);
  const step = 250_000;
  for (let start = 1; start <= rows; start += step) {
    const end = Math.min(rows, start + step - 1);
    await pg.query(
      `INSERT INTO ${name} SELECT g, ${columns.map((c) => c.expression).join(', ')} FROM generate_series(${start}::int8, ${end}::int8) g`,
    );
  }
  await pg.query(`VACUUM ANALYZE ${name}`);
}
