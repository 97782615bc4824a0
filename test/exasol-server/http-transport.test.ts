/** The HTTP transport: tunnel handshake, EXPORT (PUT) and IMPORT (GET), TLS pinning, faults. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { createSelfSignedCertificate, startExasolTestServer, type SelfSignedCertificate } from '../../src/testing/index.js';
import { RawExasolClient } from './support/raw-client.js';
import { startHarness, type Harness } from './support/fixtures.js';
import { openTunnel, receiveUpload, serveDownload, type Tunnel } from './support/tunnel-client.js';

let h: Harness;
let c: RawExasolClient;
let cert: SelfSignedCertificate;
const tunnels: Tunnel[] = [];

before(async () => {
  h = await startHarness({ nodes: 3, transportTimeoutMs: 5000 });
  cert = createSelfSignedCertificate('tunnel-peer');
  c = await h.login();
  await c.ok('CREATE SCHEMA etl');
  await c.ok('CREATE TABLE src (id DECIMAL(18,0), name VARCHAR(40), flag BOOLEAN, ts TIMESTAMP)');
  await c.ok(
    "INSERT INTO src SELECT x, CASE WHEN x = 2 THEN 'with, comma' WHEN x = 3 THEN 'say \"hi\"' WHEN x = 4 THEN NULL ELSE 'n' || x END, x % 2 = 0, TIMESTAMP '2024-05-06 07:08:09.5' FROM generate_series(1, 10) AS g(x)",
  );
});

after(async () => {
  for (const t of tunnels) t.socket.destroy();
  await h?.stop();
});

async function tunnel(node = 1, tls = false): Promise<Tunnel> {
  const address = h.server.nodes[node - 1];
  const t = await openTunnel(address.host, address.port, tls ? cert : undefined);
  tunnels.push(t);
  return t;
}

test('the tunnel handshake answers 24 bytes: internal port (int32 LE) and the node address', async () => {
  const address = h.server.nodes[1];
  const socket = connect({ host: address.host, port: address.port });
  await new Promise((r) => socket.once('connect', r));
  socket.write(Buffer.from('02212102' + '01000000' + '01000000', 'hex'));
  const reply = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
  socket.destroy();
  assert.equal(reply.length, 24);
  assert.equal(reply.readInt32LE(0), 0);
  assert.ok(reply.readInt32LE(4) > 0);
  const host = reply.subarray(8).toString('ascii').replace(/\0+$/, '');
  assert.equal(host, address.host);
});

test('EXPORT of a table through one plain tunnel: chunked PUT, 200, then the row count', async () => {
  const t = await tunnel();
  const upload = receiveUpload(t.stream);
  const reply = c.execute(`EXPORT etl.src INTO CSV AT '${t.url}' FILE '000.csv'`);
  const received = await upload;
  assert.equal(received.method, 'PUT');
  assert.equal(received.path, '/000.csv');
  assert.equal(received.headers['transfer-encoding'], 'chunked');
  const lines = received.body.toString('utf8').split('\n');
  assert.equal(lines[0], '1,n1,FALSE,2024-05-06 07:08:09.500000');
  assert.equal(lines[1], '2,"with, comma",TRUE,2024-05-06 07:08:09.500000');
  assert.equal(lines[2], '3,"say ""hi""",FALSE,2024-05-06 07:08:09.500000');
  assert.equal(lines[3], '4,,TRUE,2024-05-06 07:08:09.500000');
  assert.deepEqual((await reply).json.responseData.results[0], { resultType: 'rowCount', rowCount: 10 });
});

test('EXPORT (query) with CSV options: separator, delimiter, NULL, CRLF, column names, gzip', async () => {
  const t = await tunnel();
  const upload = receiveUpload(t.stream);
  const reply = c.execute(
    `EXPORT (SELECT id, name FROM etl.src WHERE id <= 4 ORDER BY id) INTO CSV AT '${t.url}' FILE 'part.csv.gz' ` +
      `COLUMN SEPARATOR = ';' COLUMN DELIMITER = '''' NULL = 'NULL' ROW SEPARATOR = 'CRLF' ENCODING = 'UTF8' WITH COLUMN NAMES`,
  );
  const received = await upload;
  assert.equal((await reply).json.responseData.results[0].rowCount, 4);
  assert.equal(gunzipSync(received.body).toString('utf8'), 'ID;NAME\r\n1;n1\r\n2;with, comma\r\n3;say "hi"\r\n4;NULL\r\n');
});

test('parallel EXPORT across three nodes: one tunnel per node, rows split over the files', async () => {
  const ts = await Promise.all([tunnel(1), tunnel(2), tunnel(3)]);
  if (h.server.loopbackAliases)
    assert.deepEqual(
      ts.map((t) => t.internalHost),
      ['127.0.0.1', '127.0.0.2', '127.0.0.3'],
    );
  const uploads = ts.map((t) => receiveUpload(t.stream));
  const reply = c.execute(
    `EXPORT (SELECT id FROM etl.src ORDER BY id) INTO CSV ${ts.map((t, k) => `AT '${t.url}' FILE '00${k}.csv'`).join(' ')}`,
  );
  const bodies = (await Promise.all(uploads)).map((u) => u.body.toString('utf8'));
  assert.equal((await reply).json.responseData.results[0].rowCount, 10);
  assert.deepEqual(bodies, ['1\n2\n3\n', '4\n5\n6\n', '7\n8\n9\n10\n']);
  const heads = h.server.transcript
    .entries({ channel: 'http', direction: 'out' })
    .slice(-3)
    .map((e) => e.node);
  if (h.server.loopbackAliases) assert.deepEqual([...heads].sort(), [1, 2, 3], 'each node pushes through its own tunnel');
});

test('files beyond the row count receive empty bodies', async () => {
  const ts = await Promise.all([tunnel(1), tunnel(2)]);
  const uploads = ts.map((t) => receiveUpload(t.stream));
  const reply = c.execute(`EXPORT (SELECT 1 AS one FROM dual) INTO CSV AT '${ts[0].url}' FILE 'a.csv' AT '${ts[1].url}' FILE 'b.csv'`);
  const bodies = (await Promise.all(uploads)).map((u) => u.body.length);
  assert.deepEqual(bodies.sort(), [0, 2]);
  assert.equal((await reply).json.responseData.results[0].rowCount, 1);
});

test('TLS tunnel: the server is the TLS client and checks the PUBLIC KEY pin', async () => {
  const t = await tunnel(2, true);
  const upload = receiveUpload(t.stream);
  const reply = c.execute(
    `EXPORT (SELECT id FROM etl.src WHERE id = 1) INTO CSV AT '${t.url}' PUBLIC KEY '${cert.publicKeyPin}' FILE '001.csv'`,
  );
  assert.equal((await upload).body.toString(), '1\n');
  assert.equal((await reply).json.responseData.results[0].rowCount, 1);

  const wrong = await tunnel(2, true);
  const other = createSelfSignedCertificate('someone-else');
  const rejected = await c.execute(`EXPORT etl.src INTO CSV AT '${wrong.url}' PUBLIC KEY '${other.publicKeyPin}' FILE '001.csv'`);
  assert.equal(rejected.json.exception.sqlCode, '42636');
  assert.match(rejected.json.exception.text, /^ETL-5105: .*public key does not match/);
});

test('IMPORT: the server GETs the file through the tunnel and inserts the rows', async () => {
  await c.ok('CREATE TABLE dst (id DECIMAL(18,0), name VARCHAR(40), flag BOOLEAN)');
  const ts = await Promise.all([tunnel(1), tunnel(3, true)]);
  const served = [
    serveDownload(ts[0].stream, Buffer.from('1|"a|b"|1\r\n2||FALSE\r\n')),
    serveDownload(ts[1].stream, Buffer.from('3|c|true\r\n')),
  ];
  const reply = await c.execute(
    `IMPORT INTO dst FROM CSV AT '${ts[0].url}' FILE 'one.csv' AT '${ts[1].url}' PUBLIC KEY '${cert.publicKeyPin}' FILE 'two.csv' ` +
      `COLUMN SEPARATOR = '|' ROW SEPARATOR = 'CRLF'`,
  );
  assert.deepEqual(
    (await Promise.all(served)).map((s) => s.path),
    ['/one.csv', '/two.csv'],
  );
  assert.equal(reply.json.responseData.results[0].rowCount, 3);
  const rs = (await c.ok('SELECT id, name, flag FROM dst ORDER BY id')).resultSet;
  assert.deepEqual(rs.data, [
    [1, 2, 3],
    ['a|b', null, 'c'],
    [true, false, true],
  ]);
});

test('EXPORT to an address without a tunnel connects directly (ordinary HTTP server)', async () => {
  let body = '';
  const http = createServer((req, res) => {
    req.on('data', (d) => (body += d));
    req.on('end', () => res.end());
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as { port: number }).port;
  const reply = await c.execute(`EXPORT (SELECT 'direct' AS v FROM dual) INTO CSV AT 'http://127.0.0.1:${port}' FILE 'x.csv'`);
  await new Promise((r) => http.close(r));
  assert.equal(reply.json.responseData.results[0].rowCount, 1);
  assert.equal(body, 'direct\n');
});

test('fault: dropTunnelMidBody fails the EXPORT with ETL-5105 after the bytes sent', async () => {
  const t = await tunnel();
  h.server.faults.dropTunnelMidBody({ afterBytes: 5 });
  const received = receiveUpload(t.stream).catch((error: Error) => error);
  const reply = await c.execute(`EXPORT etl.src INTO CSV AT '${t.url}' FILE '000.csv'`);
  assert.equal(reply.json.exception.sqlCode, '42636');
  assert.match(
    reply.json.exception.text,
    /^ETL-5105: Following error occured while writing data to external connection \[.*000\.csv failed after 5 bytes/,
  );
  assert.ok((await received) instanceof Error, 'the client saw a truncated body');
});

test('fault: stallBeforePut delays the request; a silent peer times out as ETL-5105', async () => {
  const t = await tunnel();
  h.server.faults.stallBeforePut({ ms: 300 });
  const started = Date.now();
  const upload = receiveUpload(t.stream);
  const reply = c.execute(`EXPORT (SELECT 1 AS one FROM dual) INTO CSV AT '${t.url}' FILE 'slow.csv'`);
  await upload;
  assert.ok(Date.now() - started >= 290);
  assert.equal((await reply).json.responseData.results[0].rowCount, 1);

  const silent = await tunnel();
  const timedOut = receiveUpload(silent.stream, { respond: false });
  const started2 = Date.now();
  const failed = await c.execute(`EXPORT (SELECT 1 AS one FROM dual) INTO CSV AT '${silent.url}' FILE 'never.csv'`);
  await timedOut;
  assert.match(failed.json.exception.text, /^ETL-5105: .*timed out/);
  assert.ok(Date.now() - started2 >= 4500);
});

test('an EXPORT naming an unknown tunnel fails with an ETL error', async () => {
  const reply = await c.execute("EXPORT etl.src INTO CSV AT 'http://127.0.0.1:1' FILE '000.csv'");
  assert.equal(reply.json.exception.sqlCode, '42636');
  assert.match(reply.json.exception.text, /Couldn't connect to server/);
});

test('abortQuery stops an EXPORT waiting for its peer', async () => {
  const t = await tunnel();
  const upload = receiveUpload(t.stream, { respond: false });
  const reply = c.execute(`EXPORT (SELECT 1 AS one FROM dual) INTO CSV AT '${t.url}' FILE 'stuck.csv'`);
  await upload;
  c.send({ command: 'abortQuery' });
  assert.equal((await reply).json.exception.sqlCode, 'R0003');
});

test('releases before 8.32 reject PUBLIC KEY (a second server sharing the same PostgreSQL)', async () => {
  const old = await startExasolTestServer({ postgres: { connectionString: h.server.postgresConnectionString }, releaseVersion: '7.1.6' });
  const client = await RawExasolClient.connect(old.url);
  try {
    assert.equal((await client.login()).json.responseData.releaseVersion, '7.1.6');
    const t = await tunnel();
    const reply = await client.execute(`EXPORT etl.src INTO CSV AT '${t.url}' PUBLIC KEY '${cert.publicKeyPin}' FILE '001.csv'`);
    assert.equal(reply.json.exception.sqlCode, '42000');
    assert.deepEqual((await client.ok('SELECT COUNT(*) FROM etl.src')).resultSet.data, [[10]], 'same data, shared PostgreSQL');
  } finally {
    await client.close();
    await old.stop();
  }
});
