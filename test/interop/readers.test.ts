/**
 * Cross-implementation readers: refstream's Arrow IPC output (a file, and a stream on stdout)
 * and its JSON Lines output are read by pyarrow, polars and DuckDB, and every value they read
 * — rendered as PostgreSQL text — must equal what psql prints for the same rows. The CLI runs
 * as a separate process, exactly as a user runs it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { PROJECT_ROOT, pythonEnv, type PythonEnv } from './python-env.js';

const READERS = ['pyarrow', 'polars', 'duckdb'] as const;
const READ_SCRIPT = join(PROJECT_ROOT, 'test/interop/read_outputs.py');
const CLI = join(PROJECT_ROOT, 'src/cli/main.ts');

/** Column name and PostgreSQL type, in table order (also what the Python renderer needs). */
const COLUMNS: [string, string, string][] = [
  ['id', 'int8', 'int8 PRIMARY KEY'],
  ['big', 'int8', 'int8'],
  ['amount', 'numeric(20,6)', 'numeric(20,6)'],
  ['wide', 'numeric(38,10)', 'numeric(38,10)'],
  ['at', 'timestamptz', 'timestamptz'],
  ['label', 'text', 'text'],
  ['payload', 'bytea', 'bytea'],
  ['uid', 'uuid', 'uuid'],
  ['ints', 'int8[]', 'int8[]'],
  ['tags', 'text[]', 'text[]'],
  ['flag', 'bool', 'bool'],
];

/** Hand-picked edge rows; generated rows follow so that the output spans many batches. */
const EDGE_ROWS = `
INSERT INTO interop VALUES
 (9007199254740993, -9223372036854775808, 12345678901234.123456, 9999999999999999999999999999.9999999999,
  '2024-02-29 23:59:59.999999+00', 'astral 😀🎉 and e' || U&'\\0301' || ' combining, ' || U&'\\+01F468\\200D\\+01F469\\200D\\+01F467' || ' zwj',
  '\\x00ff10'::bytea, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{9007199254740993,NULL,-3}',
  ARRAY['a b', '', NULL, 'NULL', 'q"uote', 'back\\slash', 'com,ma', '{brace}', '😀'], true),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (-1, 9223372036854775807, -0.000001, -0.0000000001, '1969-12-31 23:59:59.000001+00', '', '\\x'::bytea,
  '00000000-0000-0000-0000-000000000000', '{}', '{}', false),
 (3, 0, 0, 0, '1970-01-01 00:00:00+00', E'tab\\tnew\\nline', '\\x0a0d09'::bytea,
  'ffffffff-ffff-ffff-ffff-ffffffffffff', '{NULL}', '{NULL,x}', NULL),
 (4, 1, 1.5, 1.5, '2262-04-11 23:47:16.854775+00', 'Ünïcödé ｆｕｌｌｗｉｄｔｈ 中文 עברית', '\\xdeadbeef'::bytea,
  'f47ac10b-58cc-4372-a567-0e02b2c3d479', '{-9223372036854775808}', '{"only"}', true);
INSERT INTO interop
SELECT g, g::int8 * 1000000007, g * 1.25, g / 7.0, '2000-01-01 00:00:00+00'::timestamptz + g * interval '1 second 1 microsecond',
       repeat('é', g % 5) || g, decode(lpad(to_hex(g), 8, '0'), 'hex'), md5(g::text)::uuid,
       ARRAY[g, -g], ARRAY[g::text, NULL], g % 2 = 0
FROM generate_series(100, 1099) g;`;

let pg: TestPostgres;
let dir: string;
let py: PythonEnv;

before(async () => {
  py = pythonEnv(join(PROJECT_ROOT, 'test/interop/requirements.txt'));
  pg = await startPostgres();
  await pg.query(`CREATE TABLE interop (${COLUMNS.map(([n, , ddl]) => `${n} ${ddl}`).join(', ')})`);
  await pg.query(EDGE_ROWS);
  dir = await mkdtemp(join(tmpdir(), 'refstream-interop-'));
});

after(async () => {
  await pg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** What psql prints for the table (TimeZone UTC), one array of cells per row, NULL as null. */
function psqlRows(): (string | null)[][] {
  const NULL = '\u2205NULL\u2205';
  const out = spawnSync(
    'psql',
    [
      '-X',
      '-q',
      '-A',
      '-t',
      '-v',
      'ON_ERROR_STOP=1',
      '-F',
      '\x1f',
      '-R',
      '\x1e',
      '-P',
      `null=${NULL}`,
      '-d',
      pg.connectionString,
      '-c',
      'SELECT * FROM interop ORDER BY id',
    ],
    { encoding: 'utf8', env: { ...process.env, PGTZ: 'UTC', PGCLIENTENCODING: 'UTF8' } },
  );
  if (out.error || out.status !== 0) throw new Error(`psql failed: ${out.error?.message ?? out.stderr}`);
  return out.stdout
    .replace(/\n$/, '')
    .split('\x1e')
    .filter((r) => r.length > 0)
    .map((r) => r.split('\x1f').map((c) => (c === NULL ? null : c)));
}

/** Runs `refstream snapshot` with `sinks`; returns its stdout bytes. */
async function snapshot(sinks: string[]): Promise<Buffer> {
  const args = [
    '--import',
    'tsx',
    CLI,
    'snapshot',
    '--source',
    pg.connectionString,
    '--table',
    'public.interop',
    '--batch-rows',
    '97',
    '--checkpoint',
    join(dir, `cp-${Math.random()}.json`),
  ];
  for (const s of sinks) args.push('--sink', s);
  const child = spawn(process.execPath, args, {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.equal(code, 0, `refstream snapshot exited ${code}: ${err}`);
  return Buffer.concat(out);
}

interface ReaderOutput {
  streams: number;
  rows: (string | null)[][];
}

function read(reader: string, format: 'arrow' | 'jsonl', source: string, stdin?: Buffer): ReaderOutput {
  const columns = JSON.stringify(COLUMNS.map(([n, t]) => [n, t]));
  const out = spawnSync(py.python, [READ_SCRIPT, reader, format, source, columns], {
    input: stdin,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, TZ: 'UTC' },
  });
  if (out.error || out.status !== 0) throw new Error(`${reader} reading ${format} ${source} failed: ${out.error?.message ?? out.stderr}`);
  return JSON.parse(out.stdout) as ReaderOutput;
}

/** Compares row by row so a mismatch names the row and column instead of dumping 1000 rows. */
function assertSameRows(actual: (string | null)[][], expected: (string | null)[][], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: row count`);
  for (let i = 0; i < expected.length; i++) {
    for (let c = 0; c < COLUMNS.length; c++) {
      if (actual[i]![c] !== expected[i]![c]) {
        assert.fail(
          `${what}: row id=${expected[i]![0]} column ${COLUMNS[c]![0]} (${COLUMNS[c]![1]}): read ${JSON.stringify(actual[i]![c])}, psql prints ${JSON.stringify(expected[i]![c])}`,
        );
      }
    }
  }
}

test('pyarrow, polars and DuckDB read an Arrow IPC file, an IPC stream on stdout and JSON Lines with the values psql prints', async () => {
  const expected = psqlRows();
  assert.equal(expected.length, 1005);
  assert.equal(
    expected
      .find((r) => r[0] === '2')!
      .slice(1)
      .every((c) => c === null),
    true,
    'the all-NULL row is NULL in psql',
  );

  const arrowFile = join(dir, 'interop.arrow');
  const jsonlFile = join(dir, 'interop.jsonl');
  await snapshot([`arrow:${arrowFile}`, `jsonl:${jsonlFile}`]);
  const stdout = await snapshot(['arrow:-']);
  assert.ok(stdout.length > 0, 'arrow:- wrote the stream to stdout');

  for (const reader of READERS) {
    const file = read(reader, 'arrow', arrowFile);
    assertSameRows(file.rows, expected, `${reader} / Arrow IPC file`);
    const piped = read(reader, 'arrow', '-', stdout);
    assertSameRows(piped.rows, expected, `${reader} / Arrow IPC stream on stdout`);
    const jsonl = read(reader, 'jsonl', jsonlFile);
    assertSameRows(jsonl.rows, expected, `${reader} / JSON Lines`);
  }
});

test('the readers read concatenated IPC streams stream by stream, and a later snapshot start replaces what came before', async () => {
  const expected = psqlRows();
  const once = await snapshot(['arrow:-']);
  // Two snapshot streams back to back. A reader that stops at the first end-of-stream marker
  // sees only the first; one that ignores the snapshot-start metadata keeps every row twice.
  const twice = Buffer.concat([once, once]);
  for (const reader of READERS) {
    const out = read(reader, 'arrow', '-', twice);
    assert.equal(out.streams, 2, `${reader}: streams found`);
    assertSameRows(out.rows, expected, `${reader} / two concatenated snapshot streams`);
  }
});
