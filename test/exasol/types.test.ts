/**
 * Type mapping: every supported Exasol type round-trips exactly through the snapshot (parallel
 * EXPORT over 3 nodes, and paged fetch) and through diff-mode changes (JSON), including
 * DECIMAL(36,0) beyond 2^53 and TIMESTAMP(9); unsupported types fail with UNSUPPORTED_TYPE.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TimeUnit } from 'apache-arrow';
import type { ExasolConnection } from '../../src/connectors/exasol/index.js';
import { parseExasolType, SRID_METADATA } from '../../src/connectors/exasol/index.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { startExasolTestServer, type ExasolTestServer } from '../../src/testing/index.js';
import { connect, drainSnapshot, rowsOf, show, sourceFor } from './helpers.js';

let server: ExasolTestServer;
let admin: ExasolConnection;
const stateDir = mkdtempSync(join(tmpdir(), 'refstream-exasol-types-'));

const DDL = `CREATE TABLE TYPES.ALL_TYPES (
  ID DECIMAL(18,0) PRIMARY KEY, D36 DECIMAL(36,0), D18 DECIMAL(18,0), D12 DECIMAL(12,2), D36S DECIMAL(36,10), I INT, BI BIGINT,
  DBL DOUBLE, B BOOLEAN, C CHAR(5), V VARCHAR(100), DT DATE, TS3 TIMESTAMP(3), TS6 TIMESTAMP(6), TS9 TIMESTAMP(9),
  TSL TIMESTAMP(6) WITH LOCAL TIME ZONE, IYM INTERVAL YEAR(2) TO MONTH, IDS INTERVAL DAY(3) TO SECOND(3),
  H HASHTYPE(16 BYTE), G GEOMETRY(4326))`;

/** Literal per column and the exact cell expected back. */
const ROW_1 = {
  values: `1, 123456789012345678901234567890123456, 999999999999999999, -12345.67, -12345678901234567890123456.0123456789, -42, -9007199254740993,
    1.5e-300, TRUE, 'ab', 'Grüße 😀 "q", x', '1900-02-28', '2024-02-29 12:34:56.789', '1969-12-31 23:59:59.999999', '2262-04-11 23:47:16.854775807',
    '2024-06-30 23:59:59.123456', '12-11', '123 04:05:06.789', '0123456789abcdef0123456789abcdef', 'POINT (1 2)'`,
  expected: {
    ID: '1',
    D36: '123456789012345678901234567890123456',
    D18: '999999999999999999',
    D12: '-12345.67',
    D36S: '-12345678901234567890123456.0123456789',
    I: '-42',
    BI: '-9007199254740993',
    DBL: 1.5e-300,
    B: true,
    C: 'ab   ',
    V: 'Grüße 😀 "q", x',
    DT: -25509, // Date.UTC(1900, 1, 28) / 86400000
    TS3: 1709210096789n,
    TS6: -1n,
    TS9: 9223372036854775807n,
    TSL: 1719791999123456n,
    IYM: 'i155/0/0',
    IDS: `i0/123/${(4n * 3600n + 5n * 60n + 6n) * 1_000_000_000n + 789_000_000n}`,
    H: '0123456789abcdef0123456789abcdef',
    G: 'POINT (1 2)',
  } as Record<string, unknown>,
};
const ROW_2_NULLS = `2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL`;

before(async () => {
  server = await startExasolTestServer({ nodes: 3 });
  admin = await connect(server);
  await admin.execute('CREATE SCHEMA TYPES');
  await admin.execute(DDL);
  await admin.execute(`INSERT INTO TYPES.ALL_TYPES VALUES (${ROW_1.values})`);
  await admin.execute(`INSERT INTO TYPES.ALL_TYPES VALUES (${ROW_2_NULLS})`);
});
after(async () => {
  await admin?.close();
  await server?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

/** Comparable form of a cell: intervals as text, bytes as hex. */
function comparable(cell: unknown): unknown {
  if (cell instanceof Uint8Array) return Buffer.from(cell).toString('hex');
  if (cell !== null && typeof cell === 'object' && 'months' in cell) {
    const iv = cell as { months: number; days: number; nanoseconds: bigint };
    return `i${iv.months}/${iv.days}/${iv.nanoseconds}`;
  }
  return cell;
}

function assertRow(row: Record<string, unknown> | undefined, expected: Record<string, unknown>, how: string): void {
  assert.ok(row, `${how}: row missing`);
  for (const [column, value] of Object.entries(expected)) {
    assert.deepEqual(
      comparable(row[column]),
      value,
      `${how}: column ${column} is ${show(comparable(row[column]))}, expected ${show(value)}`,
    );
  }
}

for (const method of ['export', 'fetch'] as const) {
  test(`every type round-trips exactly through the snapshot (${method})`, async () => {
    const source = sourceFor(server, { schema: 'TYPES', table: 'ALL_TYPES', mode: 'diff', diff: { stateDir }, snapshot: { method } });
    try {
      const batches = await drainSnapshot(source);
      const rows = rowsOf(batches).sort((a, b) => Number(a.ID) - Number(b.ID));
      assert.equal(rows.length, 2);
      assertRow(rows[0], ROW_1.expected, method);
      for (const [column, value] of Object.entries(rows[1]!))
        if (column !== 'ID') assert.equal(value, null, `${method}: ${column} of the NULL row is ${show(value)}`);
      const fields = new Map(batches[0]!.schema.fields.map((f) => [f.name, f]));
      const d36 = fields.get('D36')!.type as unknown as { precision: number; scale: number; bitWidth: number };
      assert.deepEqual([d36.precision, d36.scale, d36.bitWidth], [36, 0, 128]);
      assert.equal((fields.get('TS9')!.type as { unit: TimeUnit }).unit, TimeUnit.NANOSECOND);
      assert.equal((fields.get('TS3')!.type as { unit: TimeUnit }).unit, TimeUnit.MILLISECOND);
      assert.equal((fields.get('TSL')!.type as { timezone: string }).timezone, 'UTC');
      assert.equal((fields.get('TS6')!.type as { timezone: string | null }).timezone, null);
      assert.equal(fields.get('H')!.type.toString(), 'FixedSizeBinary[16]');
      assert.equal(fields.get('G')!.metadata.get(SRID_METADATA), '4326');
      assert.equal(fields.get('D12')!.metadata.get('refstream.source_type'), 'DECIMAL(12,2)');
    } finally {
      await source.close();
    }
  });
}

test('every type round-trips exactly through diff-mode changes (JSON path)', async () => {
  const source = sourceFor(server, { schema: 'TYPES', table: 'ALL_TYPES', mode: 'diff', diff: { stateDir }, maxWaitMs: 0 });
  try {
    await drainSnapshot(source);
    await admin.execute(`INSERT INTO TYPES.ALL_TYPES VALUES (${ROW_1.values.replace(/^1,/, '3,')})`);
    const batch = await source.pollChanges();
    assert.ok(batch);
    const [row] = rowsOf([batch]);
    assertRow(row, { ...ROW_1.expected, ID: '3', _change_type: 'insert' }, 'changes');
  } finally {
    await admin.execute('DELETE FROM TYPES.ALL_TYPES WHERE ID = 3');
    await source.close();
  }
});

test('an int64 override delivers DECIMAL(p ≤ 19, 0) as Int64, and rejects other columns', async () => {
  const source = sourceFor(server, {
    schema: 'TYPES',
    table: 'ALL_TYPES',
    mode: 'diff',
    diff: { stateDir },
    columns: ['ID', 'BI'],
    columnTypes: { ID: 'int64' },
  });
  try {
    const rows = rowsOf(await drainSnapshot(source));
    assert.deepEqual(rows.map((r) => r.ID).sort(), [1n, 2n]);
  } finally {
    await source.close();
  }
  const bad = sourceFor(server, {
    schema: 'TYPES',
    table: 'ALL_TYPES',
    mode: 'diff',
    diff: { stateDir },
    columns: ['ID', 'D36'],
    columnTypes: { D36: 'int64' },
  });
  await assert.rejects(bad.pollSnapshot(), (e: unknown) => ConnectorError.is(e, 'CONFIG_INVALID') && /D36/.test((e as Error).message));
  await bad.close();
});

test('empty strings read back as NULL (Exasol has no empty string)', async () => {
  await admin.execute(`CREATE TABLE TYPES.EMPTY_STRINGS (ID DECIMAL(18,0) PRIMARY KEY, V VARCHAR(10))`);
  await admin.execute(`INSERT INTO TYPES.EMPTY_STRINGS VALUES (1, '')`);
  const source = sourceFor(server, { schema: 'TYPES', table: 'EMPTY_STRINGS', mode: 'diff', diff: { stateDir } });
  try {
    const rows = rowsOf(await drainSnapshot(source));
    assert.equal(rows[0]!.V, null);
  } finally {
    await source.close();
  }
});

test('a column type refstream cannot represent is a definite UNSUPPORTED_TYPE naming table, column and type', async () => {
  assert.equal(parseExasolType('VARBINARY(10)'), undefined);
  assert.deepEqual(parseExasolType('TIMESTAMP(9) WITH LOCAL TIME ZONE'), { kind: 'TIMESTAMP', precision: 9, localTimeZone: true });
  assert.deepEqual(parseExasolType('TIMESTAMP'), { kind: 'TIMESTAMP', precision: 3, localTimeZone: false });
  assert.deepEqual(parseExasolType('HASHTYPE(256 BIT)'), { kind: 'HASHTYPE', bytes: 32 });
  const { resolveColumn } = await import('../../src/connectors/exasol/types.js');
  assert.throws(
    () => resolveColumn('S.T', 'X', 'VARBINARY(10)', true),
    (e: unknown) =>
      ConnectorError.is(e, 'UNSUPPORTED_TYPE') &&
      (e as ConnectorError).kind === 'definite' &&
      /X/.test((e as Error).message) &&
      /S\.T/.test((e as Error).message) &&
      /VARBINARY/.test((e as Error).message),
  );
});
