/**
 * The same protocol checks against a real Exasol, when one is reachable. Set
 * `EXASOL_DSN=host:port` (optionally `EXASOL_USER`, `EXASOL_PASSWORD`, default sys/exasol) to
 * run them, e.g. against `exasol/docker-db`. Without it they are reported as skipped, never
 * as passed. Differences between these results and the test server's point at the server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawExasolClient } from './support/raw-client.js';
import { openTunnel, receiveUpload } from './support/tunnel-client.js';

const dsn = process.env.EXASOL_DSN;
const skip = dsn ? false : 'EXASOL_DSN not set: no real Exasol to compare the test server with (set EXASOL_DSN=host:port to run)';

function parseDsn(value: string): { host: string; port: number } {
  const match = /^([^:/]+)(?:\/[0-9A-Fa-f]+)?:(\d+)$/.exec(value);
  if (!match) throw new Error(`EXASOL_DSN must look like host:port, got ${value}`);
  return { host: match[1], port: Number(match[2]) };
}

async function login(): Promise<RawExasolClient> {
  const { host, port } = parseDsn(dsn!);
  const client = await RawExasolClient.connect(`wss://${host}:${port}`, { rejectUnauthorized: false });
  const reply = await client.login({ user: process.env.EXASOL_USER ?? 'sys', password: process.env.EXASOL_PASSWORD ?? 'exasol' });
  assert.equal(reply.json.status, 'ok', reply.text);
  return client;
}

test('real Exasol: login, DECIMAL encoding and the handle threshold match the test server', { skip }, async () => {
  const client = await login();
  try {
    const small = await client.ok(
      'SELECT CAST(999999999999999999 AS DECIMAL(18,0)) AS d18, CAST(123456789012345678901234567890 AS DECIMAL(36,0)) AS d36',
    );
    assert.deepEqual(small.resultSet.columns[0].dataType, { type: 'DECIMAL', precision: 18, scale: 0 });
    const raw = (await client.execute('SELECT CAST(999999999999999999 AS DECIMAL(18,0)) AS d18 FROM dual')).text;
    assert.match(raw, /999999999999999999/);
    const big = await client.ok('SELECT LEVEL AS n FROM dual CONNECT BY LEVEL <= 1500');
    assert.equal(typeof big.resultSet.resultSetHandle, 'number');
  } finally {
    await client.close();
  }
});

test('real Exasol: EXPORT through a plain tunnel arrives as a chunked PUT', { skip }, async () => {
  const { host, port } = parseDsn(dsn!);
  const client = await login();
  const tunnel = await openTunnel(host, port);
  try {
    const upload = receiveUpload(tunnel.stream);
    const reply = client.execute(`EXPORT (SELECT 1 AS one FROM dual) INTO CSV AT '${tunnel.url}' FILE '000.csv'`);
    const received = await upload;
    assert.equal(received.method, 'PUT');
    assert.equal(received.body.toString(), '1\n');
    assert.equal((await reply).json.responseData.results[0].rowCount, 1);
  } finally {
    tunnel.socket.destroy();
    await client.close();
  }
});
