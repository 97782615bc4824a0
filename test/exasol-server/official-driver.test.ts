/**
 * Cross-check of the Exasol test server with the official client, @exasol/exasol-driver-ts
 * (its CommonJS build: the ESM entry crashes at connect()). Whatever this driver accepts from
 * the server it also accepts from a real Exasol, so these tests pin the server to the real
 * protocol rather than to our own reading of it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startExasolTestServer, type ExasolTestServer } from '../../src/testing/index.js';

const require = createRequire(import.meta.url);
const { ExasolDriver } = require('@exasol/exasol-driver-ts') as {
  ExasolDriver: new (factory: (url: string) => unknown, config: Record<string, unknown>) => OfficialDriver;
};

interface OfficialDriver {
  connect(): Promise<void>;
  close(): Promise<void>;
  query(
    sql: string,
  ): Promise<{ getColumns(): { name: string; dataType: Record<string, unknown> }[]; getRows(): Record<string, unknown>[] }>;
  execute(sql: string): Promise<number>;
  exportToCsvFile(source: string, filePath: string, csvOptions?: Record<string, unknown>): Promise<number>;
  importFromCsvFile(table: string, filePath: string, csvOptions?: Record<string, unknown>): Promise<number>;
}

let server: ExasolTestServer;
let dir: string;

before(async () => {
  server = await startExasolTestServer({ tls: true, password: 'driver-secret' });
  dir = await mkdtemp(join(tmpdir(), 'exasol-driver-'));
});

after(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function driver(options: Record<string, unknown> = {}): OfficialDriver {
  return new ExasolDriver((url) => new WebSocket(url, { rejectUnauthorized: false }), {
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    schema: '',
    ...options,
  });
}

async function withDriver<T>(options: Record<string, unknown>, body: (d: OfficialDriver) => Promise<T>): Promise<T> {
  const d = driver(options);
  await d.connect();
  try {
    return await body(d);
  } finally {
    await d.close();
  }
}

test('the official driver logs in over wss without compression and runs DDL, DML and queries', async () => {
  await withDriver({}, async (d) => {
    await d.execute('CREATE SCHEMA IF NOT EXISTS driver_check');
    await d.execute('OPEN SCHEMA driver_check');
    await d.execute('CREATE OR REPLACE TABLE items (id DECIMAL(18,0) PRIMARY KEY, name VARCHAR(40), active BOOLEAN)');
    assert.equal(await d.execute("INSERT INTO items VALUES (1, 'one', TRUE), (2, 'two', FALSE)"), 2);
    const result = await d.query('SELECT id, name, active FROM items ORDER BY id');
    assert.deepEqual(result.getRows(), [
      { ID: 1, NAME: 'one', ACTIVE: true },
      { ID: 2, NAME: 'two', ACTIVE: false },
    ]);
    assert.deepEqual(result.getColumns()[1].dataType, { type: 'VARCHAR', size: 40, characterSet: 'UTF8' });
  });
});

test('the official driver works with compression: frames after the login reply are zlib binary frames', async () => {
  server.transcript.clear();
  const rows = await withDriver({ compression: true }, async (d) => (await d.query('SELECT 42 AS answer')).getRows());
  assert.deepEqual(rows, [{ ANSWER: 42 }]);
  const frames = server.transcript.entries({ channel: 'websocket' });
  const loginReply = frames.findIndex((e) => e.direction === 'out' && e.text.includes('"sessionId"'));
  assert.ok(loginReply > 0);
  assert.ok(
    frames.slice(0, loginReply + 1).every((e) => !e.compressed),
    'login is uncompressed',
  );
  assert.ok(frames.slice(loginReply + 1).length > 0 && frames.slice(loginReply + 1).every((e) => e.compressed), 'the rest is compressed');
});

test('a wrong password is rejected by the server and the driver reports it', async () => {
  await assert.rejects(
    driver({ password: 'wrong' }).connect(),
    (error: unknown) => JSON.stringify(error).includes('08004') || String(error).includes('authentication'),
  );
  // The transcript never holds a password.
  const texts = server.transcript.entries({ channel: 'websocket', direction: 'in' }).map((e) => e.text);
  assert.ok(
    texts.some((t) => t.includes('"password":"***"')),
    'the credentials message is recorded masked',
  );
  assert.ok(!server.transcript.toJsonLines().includes('driver-secret'));
});

test('1,500 rows arrive through a result-set handle and fetch', async () => {
  server.transcript.clear();
  const rows = await withDriver({ fetchSize: 8 * 1024 }, async (d) => {
    await d.execute('OPEN SCHEMA driver_check');
    await d.execute('CREATE OR REPLACE TABLE many (id DECIMAL(18,0), label VARCHAR(20))');
    await d.execute("INSERT INTO many SELECT x, 'row ' || x FROM generate_series(1, 1500) AS g(x)");
    return (await d.query('SELECT id, label FROM many ORDER BY id')).getRows();
  });
  assert.equal(rows.length, 1500);
  assert.deepEqual(rows[0], { ID: 1, LABEL: 'row 1' });
  assert.deepEqual(rows[1499], { ID: 1500, LABEL: 'row 1500' });
  const sent = server.transcript.entries({ channel: 'websocket', direction: 'in' }).map((e) => JSON.parse(e.text));
  const fetches = sent.filter((m) => m.command === 'fetch');
  assert.ok(fetches.length > 1, 'the 8 KiB budget needs several fetches');
  assert.equal(fetches[0].startPosition, 0);
  assert.ok(sent.some((m) => m.command === 'closeResultSet'));
  const executeReply = server.transcript
    .entries({ channel: 'websocket', direction: 'out' })
    .find((e) => e.text.includes('"resultSetHandle"'));
  assert.match(executeReply!.text, /"numRows":1500,"numRowsInMessage":0/);
});

test('DECIMAL(18,0) and DECIMAL(36,0) values beyond 2^53 are sent exactly (the driver itself rounds them)', async () => {
  server.transcript.clear();
  const rows = await withDriver({}, async (d) => {
    await d.execute('OPEN SCHEMA driver_check');
    await d.execute('CREATE OR REPLACE TABLE big (d18 DECIMAL(18,0), d36 DECIMAL(36,0))');
    await d.execute('INSERT INTO big VALUES (999999999999999999, 123456789012345678901234567890123456)');
    return (await d.query('SELECT d18, d36 FROM big')).getRows();
  });
  const reply = server.transcript.entries({ channel: 'websocket', direction: 'out' }).find((e) => e.text.includes('"D18"'))!;
  // Raw frame: DECIMAL(18,0) as a JSON number, DECIMAL(36,0) as a string, both digit-exact.
  assert.match(reply.text, /"data":\[\[999999999999999999\],\["123456789012345678901234567890123456"\]\]/);
  assert.equal(rows[0].D36, '123456789012345678901234567890123456');
  assert.equal(rows[0].D18, 1e18, 'plain JSON.parse in the driver rounds the 18-digit number');
});

test('exportToCsvFile streams a table through the TLS tunnel with PUBLIC KEY pinning', async () => {
  server.transcript.clear();
  const file = join(dir, 'export.csv');
  const count = await withDriver({}, async (d) => {
    await d.execute('OPEN SCHEMA driver_check');
    return d.exportToCsvFile('items', file, { withColumnNames: true });
  });
  assert.equal(count, 2);
  assert.equal(await readFile(file, 'utf8'), 'ID,NAME,ACTIVE\n1,one,TRUE\n2,two,FALSE\n');
  const exportSql = server.transcript
    .entries({ channel: 'websocket', direction: 'in' })
    .map((e) => JSON.parse(e.text))
    .find((m) => typeof m.sqlText === 'string' && m.sqlText.startsWith('EXPORT'));
  assert.match(exportSql.sqlText, /AT 'https:\/\/127\.0\.0\.1:\d+' PUBLIC KEY 'sha256\/\/[A-Za-z0-9+/=]+' FILE '001\.csv'/);
  assert.ok(server.transcript.entries({ channel: 'http', direction: 'out' }).some((e) => e.text.startsWith('PUT /001.csv HTTP/1.1')));
});

test('importFromCsvFile loads a file through the TLS tunnel', async () => {
  const file = join(dir, 'import.csv');
  await writeFile(file, '10,ten,1\n11,"eleven, with comma",0\n12,,TRUE\n');
  const rows = await withDriver({}, async (d) => {
    await d.execute('OPEN SCHEMA driver_check');
    await d.execute('CREATE OR REPLACE TABLE imported (id DECIMAL(18,0), name VARCHAR(40), active BOOLEAN)');
    assert.equal(await d.importFromCsvFile('imported', file), 3);
    return (await d.query('SELECT id, name, active FROM imported ORDER BY id')).getRows();
  });
  assert.deepEqual(rows, [
    { ID: 10, NAME: 'ten', ACTIVE: true },
    { ID: 11, NAME: 'eleven, with comma', ACTIVE: false },
    { ID: 12, NAME: null, ACTIVE: true },
  ]);
});
