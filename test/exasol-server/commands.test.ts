/** execute, executeBatch, fetch, closeResultSet, getHosts, abortQuery, timeouts, types, faults. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from './support/fixtures.js';
import type { RawExasolClient } from './support/raw-client.js';

let h: Harness;
let c: RawExasolClient;
before(async () => {
  h = await startHarness({ nodes: 3 });
  c = await h.login();
  await c.ok('CREATE SCHEMA cmd');
  await c.ok('CREATE TABLE numbers (n DECIMAL(18,0), label VARCHAR(30))');
  await c.ok("INSERT INTO numbers SELECT x, 'number ' || x FROM generate_series(1, 2500) AS g(x)");
});
after(async () => h?.stop());

test('fewer than 1,000 rows come inline, column-major, without a handle', async () => {
  const result = await c.ok('SELECT n, label FROM numbers WHERE n <= 999 ORDER BY n');
  assert.equal(result.resultType, 'resultSet');
  const rs = result.resultSet;
  assert.equal(rs.resultSetHandle, undefined);
  assert.equal(rs.numRows, 999);
  assert.equal(rs.numRowsInMessage, 999);
  assert.equal(rs.numColumns, 2);
  assert.equal(rs.data.length, 2, 'one array per column');
  assert.equal(rs.data[0][998], 999);
  assert.equal(rs.data[1][0], 'number 1');
});

test('1,000 rows or more get a handle; fetch honours the byte budget and closeResultSet frees it', async () => {
  const rs = (await c.ok('SELECT n, label FROM numbers ORDER BY n')).resultSet;
  assert.equal(typeof rs.resultSetHandle, 'number');
  assert.equal(rs.numRows, 2500);
  assert.equal(rs.numRowsInMessage, 0);
  assert.equal(rs.data, undefined);
  const seen: number[] = [];
  let position = 0;
  let fetches = 0;
  while (position < rs.numRows) {
    const reply = await c.request({ command: 'fetch', resultSetHandle: rs.resultSetHandle, startPosition: position, numBytes: 4096 });
    const data = reply.json.responseData;
    assert.ok(reply.text.length < 4096 + 200, 'a fetch reply stays within the budget');
    assert.equal(data.data[0].length, data.numRows);
    seen.push(...data.data[0]);
    position += data.numRows;
    fetches++;
  }
  assert.ok(fetches > 10);
  assert.deepEqual(
    seen,
    Array.from({ length: 2500 }, (_, k) => k + 1),
  );
  const big = await c.request({ command: 'fetch', resultSetHandle: rs.resultSetHandle, startPosition: 0, numBytes: 64 * 1024 * 1024 });
  assert.equal(big.json.responseData.numRows, 2500);
  assert.equal((await c.request({ command: 'closeResultSet', resultSetHandles: [rs.resultSetHandle] })).json.status, 'ok');
  const gone = await c.request({ command: 'fetch', resultSetHandle: rs.resultSetHandle, startPosition: 0, numBytes: 1024 });
  assert.equal(gone.json.status, 'error');
});

test('executeBatch runs several statements and returns one result each', async () => {
  const reply = await c.request({
    command: 'executeBatch',
    sqlTexts: ['CREATE TABLE batch_t (a DECIMAL(9,0))', 'INSERT INTO batch_t VALUES (1), (2), (3)', 'SELECT COUNT(*) FROM batch_t'],
  });
  const results = reply.json.responseData.results;
  assert.equal(reply.json.responseData.numResults, 3);
  assert.deepEqual(results[0], { resultType: 'rowCount', rowCount: 0 });
  assert.deepEqual(results[1], { resultType: 'rowCount', rowCount: 3 });
  assert.deepEqual(results[2].resultSet.data, [[3]]);
});

test('getHosts lists one address per node', async () => {
  const reply = await c.request({ command: 'getHosts', hostIp: h.server.host });
  assert.equal(reply.json.responseData.numNodes, 3);
  assert.deepEqual(
    reply.json.responseData.nodes,
    h.server.nodes.map((n) => n.host),
  );
  if (h.server.loopbackAliases) assert.deepEqual(reply.json.responseData.nodes, ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
});

test('every node accepts sessions on its own address', async () => {
  for (const node of [2, 3]) {
    const other = await h.login({ node });
    assert.deepEqual((await other.ok('SELECT COUNT(*) FROM cmd.numbers')).resultSet.data, [[2500]]);
    await other.close();
  }
});

test('dataType objects and value encodings are exact for every supported type', async () => {
  await c.ok(`CREATE TABLE types_t (
    d DECIMAL(12,2), i BIGINT, dbl DOUBLE, v VARCHAR(10) ASCII, ch CHAR(4), b BOOLEAN, dt DATE, ts TIMESTAMP(3),
    tz TIMESTAMP WITH LOCAL TIME ZONE, ym INTERVAL YEAR(3) TO MONTH, ds INTERVAL DAY(4) TO SECOND(2), h HASHTYPE(16 BYTE), g GEOMETRY(4326))`);
  await c.ok(`INSERT INTO types_t VALUES (12.5, 123456789012345678901234567890, 0.1, 'abc', 'xy', FALSE, DATE '2024-02-29',
    TIMESTAMP '2024-02-29 23:59:58.123', TIMESTAMP '2024-01-01 00:00:00', INTERVAL '5-3' YEAR TO MONTH,
    INTERVAL '2 03:04:05.67' DAY TO SECOND, '0123456789abcdef0123456789abcdef', 'POINT (1 2)')`);
  const reply = await c.execute('SELECT * FROM types_t');
  const rs = reply.json.responseData.results[0].resultSet;
  assert.deepEqual(
    rs.columns.map((col: { dataType: unknown }) => col.dataType),
    [
      { type: 'DECIMAL', precision: 12, scale: 2 },
      { type: 'DECIMAL', precision: 36, scale: 0 },
      { type: 'DOUBLE' },
      { type: 'VARCHAR', size: 10, characterSet: 'ASCII' },
      { type: 'CHAR', size: 4, characterSet: 'UTF8' },
      { type: 'BOOLEAN' },
      { type: 'DATE', size: 4 },
      { type: 'TIMESTAMP', size: 8, withLocalTimeZone: false },
      { type: 'TIMESTAMP WITH LOCAL TIME ZONE', size: 8, withLocalTimeZone: true },
      { type: 'INTERVAL YEAR TO MONTH', size: 7, precision: 3 },
      { type: 'INTERVAL DAY TO SECOND', size: 17, precision: 4, fraction: 2 },
      { type: 'HASHTYPE', size: 32 },
      { type: 'GEOMETRY', size: 2000000, srid: 4326 },
    ],
  );
  assert.deepEqual(rs.data, [
    ['12.50'],
    ['123456789012345678901234567890'],
    [0.1],
    ['abc'],
    ['xy  '],
    [false],
    ['2024-02-29'],
    ['2024-02-29 23:59:58.123000'],
    ['2024-01-01 00:00:00.000000'],
    ['+005-03'],
    ['+0002 03:04:05.67'],
    ['0123456789abcdef0123456789abcdef'],
    ['POINT (1 2)'],
  ]);
  // Protocol v1 predates HASHTYPE and reports it as CHAR.
  const v1 = await h.login({ protocolVersion: 1 });
  const v1Type = (await v1.ok('SELECT h FROM cmd.types_t')).resultSet.columns[0].dataType;
  assert.deepEqual(v1Type, { type: 'CHAR', size: 32, characterSet: 'ASCII' });
  await v1.close();
});

test('TIMESTAMP(9) keeps nanoseconds: typed or plain literals, fetch text and EXPORT CSV under FF9', async () => {
  await c.ok('CREATE TABLE ts9_t (id DECIMAL(18,0), ts TIMESTAMP(9), tz TIMESTAMP(9) WITH LOCAL TIME ZONE)');
  await c.ok(
    `INSERT INTO ts9_t VALUES (1, TIMESTAMP '2024-02-29 23:59:58.123456789', '1969-12-31 23:59:59.999999999'), (2, '2262-04-11 23:47:16.854775807', NULL)`,
  );
  await c.ok("ALTER SESSION SET NLS_TIMESTAMP_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF9'");
  const rs = (await c.ok('SELECT ts, tz FROM ts9_t ORDER BY id')).resultSet;
  assert.deepEqual(rs.data, [
    ['2024-02-29 23:59:58.123456789', '2262-04-11 23:47:16.854775807'],
    ['1969-12-31 23:59:59.999999999', null],
  ]);
  const types = (await c.ok("SELECT column_type FROM exa_all_columns WHERE column_table = 'TS9_T' ORDER BY column_ordinal_position"))
    .resultSet.data[0];
  assert.deepEqual(types, ['DECIMAL(18,0)', 'TIMESTAMP(9)', 'TIMESTAMP(9) WITH LOCAL TIME ZONE']);
  await c.ok("ALTER SESSION SET NLS_TIMESTAMP_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF6'");
});

test('a statement error is an Exasol exception with a five-character SQL code', async () => {
  const syntax = await c.execute('SELEC 1');
  assert.equal(syntax.json.status, 'error');
  assert.equal(syntax.json.exception.sqlCode, '42000');
  const missing = await c.execute('SELECT * FROM no_such_table');
  assert.equal(missing.json.exception.sqlCode, '42000');
  await c.ok('CREATE TABLE pk_t (id DECIMAL(18,0) PRIMARY KEY)');
  await c.ok('INSERT INTO pk_t VALUES (1)');
  const duplicate = await c.execute('INSERT INTO pk_t VALUES (1)');
  assert.equal(duplicate.json.exception.sqlCode, '27001');
  assert.match(duplicate.json.exception.text, /^constraint violation - primary key/);
});

test('abortQuery (no reply of its own) fails the running statement with R0003', async () => {
  const started = Date.now();
  const pending = c.execute('SELECT pg_sleep(20)');
  await new Promise((r) => setTimeout(r, 200));
  c.send({ command: 'abortQuery' });
  const reply = await pending;
  assert.equal(reply.json.status, 'error');
  assert.equal(reply.json.exception.sqlCode, 'R0003');
  assert.ok(Date.now() - started < 5000);
  assert.equal((await c.ok('SELECT 1')).resultSet.data[0][0], 1, 'the session stays usable');
});

test('queryTimeout ends a long statement with R0001', async () => {
  const client = await h.login({ attributes: { queryTimeout: 1 } });
  const reply = await client.execute('SELECT pg_sleep(10)');
  assert.equal(reply.json.exception.sqlCode, 'R0001');
  await client.close();
});

test('fault: failStatement fails a matching statement with the given Exasol error', async () => {
  h.server.faults.failStatement({ match: /numbers/, sqlCode: '40001', text: 'GlobalTransactionRollback msg: Transaction collision' });
  const failed = await c.execute('SELECT COUNT(*) FROM numbers');
  assert.deepEqual(failed.json.exception, { text: 'GlobalTransactionRollback msg: Transaction collision', sqlCode: '40001' });
  assert.equal((await c.ok('SELECT COUNT(*) FROM numbers')).resultSet.data[0][0], 2500);
});

test('fault: closeWebSocketMidFetch drops the connection instead of answering a fetch', async () => {
  const client = await h.login();
  const rs = (await client.ok('SELECT n FROM cmd.numbers')).resultSet;
  const first = await client.request({ command: 'fetch', resultSetHandle: rs.resultSetHandle, startPosition: 0, numBytes: 1000 });
  assert.equal(first.json.status, 'ok');
  h.server.faults.closeWebSocketMidFetch();
  await assert.rejects(
    client.request({
      command: 'fetch',
      resultSetHandle: rs.resultSetHandle,
      startPosition: first.json.responseData.numRows,
      numBytes: 1000,
    }),
    /closed/,
  );
  assert.equal(client.closed, true);
});

test('resultSetMaxRows limits the rows of a result set', async () => {
  const client = await h.login({ attributes: { resultSetMaxRows: 5 } });
  const rs = (await client.ok('SELECT n FROM cmd.numbers ORDER BY n')).resultSet;
  assert.equal(rs.numRows, 5);
  await client.close();
});

test('feedbackInterval: Pong heartbeats arrive while a statement runs', async () => {
  const client = await h.login({ attributes: { feedbackInterval: 1 } });
  let pongs = 0;
  client.ws.on('pong', () => pongs++);
  await client.ok('SELECT pg_sleep(1.3)');
  assert.ok(pongs >= 1);
  await client.close();
});

test('CURRENT_SCHEMA is the open schema, NULL when none is open', async () => {
  const client = await h.login();
  assert.deepEqual((await client.ok('SELECT CURRENT_SCHEMA AS s')).resultSet.data, [[null]]);
  await client.ok('OPEN SCHEMA cmd');
  assert.deepEqual((await client.ok('SELECT CURRENT_SCHEMA AS s')).resultSet.data, [['CMD']]);
  await client.close();
});
