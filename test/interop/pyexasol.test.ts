/**
 * pyexasol, Exasol's official Python client, against the Exasol test server: it must log in
 * (plain, TLS with the certificate fingerprint pinned, compressed), return typed query results
 * and export through its HTTP transport (export_to_pandas, export_to_callback, export_parallel
 * over three nodes) — and every value must equal what the PostgreSQL behind the server holds.
 * A second official client next to @exasol/exasol-driver-ts keeps the server honest: whatever
 * both accept from it, they accept from a real Exasol.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { ExasolConnection } from '../../src/connectors/exasol/index.js';
import { startExasolTestServer, type ExasolTestServer } from '../../src/testing/index.js';
import { PROJECT_ROOT, pythonEnv, type PythonEnv } from './python-env.js';

const CHECK_SCRIPT = join(PROJECT_ROOT, 'test/interop/pyexasol_check.py');
const TABLE = 'PYX.T';
/** More than 1,000 rows, so the query goes through a result-set handle and `fetch`. */
const GENERATED_ROWS = 2500;

const COLUMNS: [name: string, exasolType: string, ddl: string][] = [
  ['ID', 'DECIMAL', 'DECIMAL(18,0) PRIMARY KEY'],
  ['BIG', 'DECIMAL', 'DECIMAL(36,0)'],
  ['AMOUNT', 'DECIMAL', 'DECIMAL(20,6)'],
  ['LABEL', 'VARCHAR', 'VARCHAR(200) UTF8'],
  ['DAY', 'DATE', 'DATE'],
  ['AT', 'TIMESTAMP', 'TIMESTAMP(6)'],
  ['FLAG', 'BOOLEAN', 'BOOLEAN'],
];

const EDGE_ROWS = [
  `1, 123456789012345678901234567890123456, 12345678901234.123456, 'astral 😀🎉, "quoted", combining e\u0301 and\nnew line', DATE '2024-02-29', TIMESTAMP '2024-02-29 23:59:59.999999', TRUE`,
  `2, NULL, NULL, NULL, NULL, NULL, NULL`,
  `9007199254740993, -9007199254740993, -0.000001, 'Ünïcödé ｆｕｌｌｗｉｄｔｈ 中文 עברית', DATE '1900-01-01', TIMESTAMP '1969-12-31 23:59:59.000001', FALSE`,
  `999999999999999999, 0, 0, 'NULL', DATE '9999-12-31', TIMESTAMP '1970-01-01 00:00:00', NULL`,
];

type Cell = string | boolean | null;
interface CheckOutput {
  session: { protocol_version: number; release_version: string; encrypted: boolean; compression: boolean };
  types: Record<string, string>;
  query: { rows: Cell[][]; python_types: Record<string, string[]> };
  pandas: { rows: Cell[][] };
  callback: { rows: Cell[][] };
  parallel?: { nodes: string[]; file_rows: number[]; rows: Cell[][] };
}

let server: ExasolTestServer;
let py: PythonEnv;
let expected: Cell[][];

before(async () => {
  py = pythonEnv(join(PROJECT_ROOT, 'test/interop/requirements.txt'));
  server = await startExasolTestServer({ nodes: 3, tls: true });
  const admin = await ExasolConnection.connect({
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    tls: false,
  });
  try {
    await admin.execute('CREATE SCHEMA PYX');
    await admin.execute(`CREATE TABLE ${TABLE} (${COLUMNS.map(([n, , ddl]) => `${n} ${ddl}`).join(', ')})`);
    for (const row of EDGE_ROWS) await admin.execute(`INSERT INTO ${TABLE} VALUES (${row})`);
    await admin.execute(`INSERT INTO ${TABLE} SELECT * FROM (VALUES ${generatedRows()}) AS g`);
  } finally {
    await admin.close();
  }
  expected = await heldRows();
});

after(async () => {
  await server?.stop();
});

/** Generated rows, as literal VALUES (the test server passes them on to PostgreSQL). */
function generatedRows(): string {
  const rows: string[] = [];
  for (let g = 100; g < 100 + GENERATED_ROWS; g++) {
    const day = new Date(Date.UTC(2000, 0, 1) + g * 86_400_000).toISOString().slice(0, 10);
    const at = new Date(Date.UTC(2001, 0, 1) + g * 1_001)
      .toISOString()
      .replace('T', ' ')
      .replace('Z', `${String(g % 1000).padStart(3, '0')}`);
    rows.push(
      `(${g}, ${BigInt(g) * 1_000_000_007_000_000_007n}, ${g}.${String(g * 7)
        .padStart(6, '0')
        .slice(
          -6,
        )}, '${'é'.repeat(g % 5)}row ${g}', DATE '${day}', TIMESTAMP '${at}', ${g % 3 === 0 ? 'NULL' : g % 2 === 0 ? 'TRUE' : 'FALSE'})`,
    );
  }
  return rows.join(', ');
}

/** The rows as the PostgreSQL behind the server stores them, in the canonical form of pyexasol_check.py. */
async function heldRows(): Promise<Cell[][]> {
  const client = new pg.Client({
    connectionString: server.postgresConnectionString,
    types: { getTypeParser: () => (text: string) => text },
  });
  await client.connect();
  try {
    await client.query("SET DateStyle = 'ISO, YMD'");
    const result = await client.query<Record<string, string | null>>(`SELECT * FROM "PYX"."T" ORDER BY "ID"`);
    return result.rows.map((row) => COLUMNS.map(([name, type]) => canonical(row[name] ?? null, type)));
  } finally {
    await client.end();
  }
}

/** PostgreSQL text → the canonical text pyexasol_check.py prints for the same value. */
function canonical(text: string | null, exasolType: string): Cell {
  if (text === null) return null;
  switch (exasolType) {
    case 'DECIMAL': {
      const trimmed = text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
      return trimmed === '-0' ? '0' : trimmed;
    }
    case 'TIMESTAMP': {
      const [whole, fraction = ''] = text.split('.');
      return `${whole}.${fraction.padEnd(6, '0')}`;
    }
    case 'BOOLEAN':
      return text === 't';
    default:
      return text;
  }
}

function runCheck(options: Record<string, unknown>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      py.python,
      [CHECK_SCRIPT, JSON.stringify({ user: server.user, password: server.password, table: TABLE, order_by: 'ID', ...options })],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`pyexasol_check.py exited with ${code}:\n${stderr}`));
      try {
        resolve(JSON.parse(stdout) as Record<string, unknown>);
      } catch {
        reject(new Error(`pyexasol_check.py printed no JSON:\n${stdout}\n${stderr}`));
      }
    });
  });
}

/** Rows ordered by the ID column, numerically. */
function byId(rows: Cell[][]): Cell[][] {
  return [...rows].sort((a, b) => (BigInt(a[0] as string) < BigInt(b[0] as string) ? -1 : 1));
}

/** The first row that differs, for a readable failure. */
function assertSameRows(actual: Cell[][], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: row count`);
  for (let r = 0; r < expected.length; r++) assert.deepEqual(actual[r], expected[r], `${what}: row ${r} (ID ${String(expected[r]![0])})`);
}

function assertAllPaths(out: CheckOutput, mode: string): void {
  assert.deepEqual(out.types, Object.fromEntries(COLUMNS.map(([n, t]) => [n, t])), `${mode}: column types`);
  assertSameRows(out.query.rows, `${mode} query`);
  // Typed results through pyexasol's exasol_mapper: no value arrives as a string it would have to parse.
  assert.deepEqual(
    out.query.python_types,
    { ID: ['int'], BIG: ['int'], AMOUNT: ['Decimal'], LABEL: ['str'], DAY: ['date'], AT: ['datetime'], FLAG: ['bool'] },
    `${mode}: Python types`,
  );
  assertSameRows(out.pandas.rows, `${mode} export_to_pandas`);
  // A table export has no order (neither has Exasol's); compare by primary key.
  assertSameRows(byId(out.callback.rows), `${mode} export_to_callback`);
}

test('pyexasol over a plain WebSocket: typed query results and HTTP-transport exports equal the stored rows', async () => {
  const out = (await runCheck({ dsn: `${server.host}:${server.port}`, encryption: false, parallel: 3 })) as unknown as CheckOutput;
  assert.equal(out.session.encrypted, false);
  assert.equal(out.session.protocol_version, 3);
  assertAllPaths(out, 'plain');
  const parallel = out.parallel!;
  assert.equal(parallel.nodes.length, 3, 'export_parallel spans the three nodes');
  assert.equal(parallel.file_rows.length, 3);
  assert.ok(
    parallel.file_rows.every((n) => n > 0),
    `every file got rows: ${parallel.file_rows.join(', ')}`,
  );
  assertSameRows(byId(parallel.rows), 'plain export_parallel');
});

test('pyexasol over TLS with the certificate fingerprint pinned, compressed: same rows, TLS HTTP transport with PUBLIC KEY', async () => {
  server.transcript.clear();
  const out = (await runCheck({ dsn: server.dsn, encryption: true, compression: true, parallel: 2 })) as unknown as CheckOutput;
  assert.equal(out.session.encrypted, true);
  assert.equal(out.session.compression, true);
  assertAllPaths(out, 'tls');
  assertSameRows(byId(out.parallel!.rows), 'tls export_parallel');
  assert.ok(
    server.transcript.entries().some((e) => e.channel === 'websocket' && e.compressed === true),
    'frames after login were zlib-compressed',
  );
  const exports = server.transcript
    .entries()
    .filter((e) => e.channel === 'websocket' && e.direction === 'in' && /EXPORT/.test(e.text))
    .map((e) => e.text);
  assert.ok(exports.length >= 3, `EXPORT statements recorded: ${exports.length}`);
  for (const sql of exports) assert.match(sql, /FILE '\d{3}(\.csv)?\.gz'/, 'compressed exports use gzip files');
  for (const sql of exports)
    assert.match(
      sql,
      /AT 'https:\/\/[^']+' PUBLIC KEY 'sha256\/\/[A-Za-z0-9+/=]+'/,
      'encrypted exports go through https with a pinned key',
    );
});

test('pyexasol refuses a TLS server whose certificate does not match the pinned fingerprint', async () => {
  const wrong = server.fingerprint!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
  const out = await runCheck({ dsn: `${server.host}/${wrong}:${server.port}`, encryption: true, expect_failure: true });
  assert.match(String(out.connect_error), /fingerprint/i, `connect error: ${String(out.connect_error)}`);
  const good = await runCheck({ dsn: server.dsn, encryption: true, expect_failure: true });
  assert.deepEqual(good, { connected: true }, 'the right fingerprint connects');
});
