/** The Exasol → PostgreSQL translation layer, unit level and executed on PostgreSQL. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { translateStatement } from '../../src/testing/exasol/sql-translate.js';
import { startHarness, type Harness } from './support/fixtures.js';
import type { RawExasolClient } from './support/raw-client.js';

function pgSql(sql: string): string {
  const t = translateStatement(sql);
  assert.equal(t.kind, 'sql');
  return (t as { sql: string }).sql;
}

test('unquoted identifiers fold to quoted upper case; quoted ones, keywords and functions do not', () => {
  assert.equal(
    pgSql('select id, "mixedCase", lower(name) from s.t where x.y = 1'),
    'select "ID", "mixedCase", lower("NAME") from "S"."T" where "X"."Y" = 1',
  );
  assert.equal(pgSql("SELECT * FROM t WHERE note = ''"), 'SELECT * FROM "T" WHERE "NOTE" = NULL');
  assert.equal(pgSql('SELECT * FROM t LIMIT 10, 20'), 'SELECT * FROM "T" LIMIT 20 OFFSET 10');
  assert.equal(pgSql('SELECT a FROM t MINUS SELECT a FROM u'), 'SELECT "A" FROM "T" EXCEPT SELECT "A" FROM "U"');
  assert.equal(pgSql('SELECT HASH_MD5(a, b), HASHTYPE_MD5(a) FROM t'), 'SELECT md5(concat("A", "B")), md5(concat("A"))::uuid FROM "T"');
  assert.equal(pgSql('/*snapshot execution*/ SELECT 1;'), 'SELECT 1');
});

test('CREATE TABLE maps Exasol types to PostgreSQL storage types and keeps the Exasol ones', () => {
  const t = translateStatement(
    'CREATE OR REPLACE TABLE s.t (id DECIMAL(18,0) IDENTITY NOT NULL, v VARCHAR(20) UTF8, h HASHTYPE(32 BYTE), g GEOMETRY(4326), ' +
      'ts TIMESTAMP(9) WITH LOCAL TIME ZONE, d DOUBLE PRECISION, CONSTRAINT pk PRIMARY KEY (id) ENABLE, DISTRIBUTE BY id)',
  );
  assert.equal(t.kind, 'sql');
  if (t.kind !== 'sql') return;
  assert.equal(
    t.sql,
    // TIMESTAMP(7–9) is stored as text: PostgreSQL timestamps stop at microseconds
    'DROP TABLE IF EXISTS "S"."T"; CREATE TABLE "S"."T" ("ID" numeric(18,0) NOT NULL, "V" varchar(20), "H" bytea, "G" text, ' +
      '"TS" text, "D" double precision, CONSTRAINT "PK" PRIMARY KEY ("ID"))',
  );
  assert.deepEqual(
    t.declared?.columns.map((c) => c.type.type),
    ['DECIMAL', 'VARCHAR', 'HASHTYPE', 'GEOMETRY', 'TIMESTAMP', 'DOUBLE'],
  );
  assert.equal(t.declared?.columns[4].type.precision, 9);
});

test('MERGE clauses with WHERE / DELETE WHERE become PostgreSQL WHEN … AND … clauses', () => {
  assert.equal(
    pgSql(
      "MERGE INTO t USING s ON (t.id = s.id) WHEN MATCHED THEN UPDATE SET t.v = s.v WHERE s.op <> 'D' DELETE WHERE s.op = 'D' " +
        "WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v) WHERE s.op <> 'D'",
    ),
    'MERGE INTO "T" USING "S" ON ("T"."ID" = "S"."ID") WHEN MATCHED AND ( "S"."OP" = \'D\' ) THEN DELETE ' +
      'WHEN MATCHED AND ( "S"."OP" <> \'D\' ) THEN UPDATE SET "V" = "S"."V" WHEN NOT MATCHED AND ( "S"."OP" <> \'D\' ) THEN INSERT VALUES ("S"."ID", "S"."V")',
  );
});

test('session statements are recognised, not sent to PostgreSQL', () => {
  assert.deepEqual(translateStatement('open schema retail'), { kind: 'openSchema', schema: 'RETAIL' });
  assert.deepEqual(translateStatement("ALTER SESSION SET NLS_TIMESTAMP_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF9'"), {
    kind: 'alterSession',
    name: 'NLS_TIMESTAMP_FORMAT',
    value: 'YYYY-MM-DD HH24:MI:SS.FF9',
  });
  assert.equal(translateStatement('COMMIT').kind, 'commit');
  assert.equal(translateStatement('rollback').kind, 'rollback');
  assert.throws(() => translateStatement('SELECT 1; SELECT 2'), /one statement/);
});

let h: Harness;
let c: RawExasolClient;
before(async () => {
  h = await startHarness();
  c = await h.login();
  await c.ok('CREATE SCHEMA dialect');
  await c.ok(
    'CREATE TABLE customers (id DECIMAL(18,0) NOT NULL, name VARCHAR(50), note VARCHAR(100), CONSTRAINT pk_customers PRIMARY KEY (id))',
  );
  await c.ok("INSERT INTO customers VALUES (1, 'Ann', ''), (2, 'Bob', 'vip'), (3, 'Cy', NULL)");
});
after(async () => h?.stop());

const rows = async (sql: string) => (await c.ok(sql)).resultSet.data as unknown[][];

test("'' is NULL on write and in comparisons", async () => {
  assert.deepEqual(await rows('SELECT id FROM customers WHERE note IS NULL ORDER BY id'), [[1, 3]]);
  assert.deepEqual(await rows("SELECT COUNT(*) FROM customers WHERE note = ''"), [[0]]);
});

test('case folding: lower-case SQL reaches upper-case objects; quoted names stay exact', async () => {
  assert.deepEqual(await rows('select NAME from DIALECT.Customers where Id = 2'), [['Bob']]);
  await c.ok('CREATE TABLE "lower_t" ("v" DECIMAL(9,0))');
  await c.ok('INSERT INTO "lower_t" VALUES (7)');
  assert.deepEqual(await rows('SELECT "v" FROM "lower_t"'), [[7]]);
  assert.equal((await c.execute('SELECT v FROM lower_t')).json.status, 'error');
});

test('LIMIT/OFFSET, hash functions and HASHTYPE results', async () => {
  assert.deepEqual(await rows('SELECT id FROM customers ORDER BY id LIMIT 1 OFFSET 1'), [[2]]);
  const hashed = await c.ok("SELECT HASH_MD5('abc') AS hex, HASHTYPE_MD5('abc') AS ht FROM dual");
  assert.deepEqual(hashed.resultSet.data, [['900150983cd24fb0d6963f7d28e17f72'], ['900150983cd24fb0d6963f7d28e17f72']]);
  assert.deepEqual(hashed.resultSet.columns[1].dataType, { type: 'HASHTYPE', size: 32 });
  const sha = await c.ok("SELECT HASH_SHA256('abc') AS s FROM dual");
  assert.equal(sha.resultSet.data[0][0], 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

test('MERGE INTO … USING … ON … updates, deletes and inserts', async () => {
  await c.ok('CREATE TABLE changes (id DECIMAL(18,0), name VARCHAR(50), op CHAR(1))');
  await c.ok("INSERT INTO changes VALUES (1, 'Anna', 'U'), (2, NULL, 'D'), (4, 'Dee', 'I')");
  const merged = await c.ok(
    "MERGE INTO customers c USING changes s ON (c.id = s.id) WHEN MATCHED THEN UPDATE SET c.name = s.name WHERE s.op = 'U' " +
      "DELETE WHERE s.op = 'D' WHEN NOT MATCHED THEN INSERT (id, name) VALUES (s.id, s.name)",
  );
  assert.equal(merged.rowCount, 3);
  assert.deepEqual(await rows('SELECT id, name FROM customers ORDER BY id'), [
    [1, 3, 4],
    ['Anna', 'Cy', 'Dee'],
  ]);
});

test('metadata views describe columns, types, tables and the primary key', async () => {
  const columns = await rows(
    "SELECT column_name, column_type, column_ordinal_position, column_is_nullable FROM exa_all_columns WHERE column_schema = 'DIALECT' AND column_table = 'CUSTOMERS' ORDER BY column_ordinal_position",
  );
  assert.deepEqual(columns, [
    ['ID', 'NAME', 'NOTE'],
    ['DECIMAL(18,0)', 'VARCHAR(50) UTF8', 'VARCHAR(100) UTF8'],
    [1, 2, 3],
    [false, true, true],
  ]);
  const tables = await rows("SELECT table_name FROM SYS.EXA_ALL_TABLES WHERE table_schema = 'DIALECT' ORDER BY 1");
  assert.deepEqual(tables, [['CHANGES', 'CUSTOMERS', 'lower_t']]);
  const pk = await rows(
    "SELECT constraint_type, constraint_name, column_name, ordinal_position FROM exa_all_constraint_columns WHERE constraint_schema = 'DIALECT' AND constraint_table = 'CUSTOMERS'",
  );
  assert.deepEqual(pk, [['PRIMARY KEY'], ['PK_CUSTOMERS'], ['ID'], [1]]);
});

test('EXA_ALL_OBJECTS.LAST_COMMIT moves on commit, not on rollback, and not for other tables', async () => {
  const lastCommit = async (table: string) =>
    (await rows(`SELECT last_commit FROM exa_all_objects WHERE root_name = 'DIALECT' AND object_name = '${table}'`))[0][0] as string;
  const before = await lastCommit('CUSTOMERS');
  const other = await lastCommit('CHANGES');
  assert.match(before, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
  await c.ok("UPDATE customers SET name = 'Ann' WHERE id = 1");
  const afterAutocommit = await lastCommit('CUSTOMERS');
  assert.ok(afterAutocommit > before);
  assert.equal(await lastCommit('CHANGES'), other);

  await c.request({ command: 'setAttributes', attributes: { autocommit: false } });
  await c.ok("UPDATE customers SET name = 'Annie' WHERE id = 1");
  assert.equal(await lastCommit('CUSTOMERS'), afterAutocommit, 'uncommitted');
  await c.ok('ROLLBACK');
  assert.equal(await lastCommit('CUSTOMERS'), afterAutocommit, 'rolled back');
  await c.ok("UPDATE customers SET name = 'Annie' WHERE id = 1");
  const failed = await c.execute('INSERT INTO customers VALUES (1, NULL, NULL)');
  assert.equal(failed.json.exception.sqlCode, '27001', 'a failed statement keeps the transaction');
  await c.ok('COMMIT');
  assert.ok((await lastCommit('CUSTOMERS')) > afterAutocommit);
  assert.deepEqual(await rows('SELECT name FROM customers WHERE id = 1'), [['Annie']]);
  await c.request({ command: 'setAttributes', attributes: { autocommit: true } });
});

test('DROP SCHEMA … CASCADE removes the schema and closes it when open', async () => {
  await c.ok('CREATE SCHEMA doomed');
  await c.ok('CREATE TABLE t (a DECIMAL(9,0))');
  const dropped = await c.execute('DROP SCHEMA doomed CASCADE');
  assert.equal(dropped.json.attributes.currentSchema, '');
  assert.deepEqual(await rows("SELECT COUNT(*) FROM exa_all_tables WHERE table_schema = 'DOOMED'"), [[0]]);
});
