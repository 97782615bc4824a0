/**
 * The Exasol client: login (RSA), TLS fingerprint pinning, compression, lossless numbers,
 * byte-bounded fetch, abortQuery, and the error mapping (login failure → definite, closed
 * WebSocket → transient, 42000 → definite, 40001 → transient). Passwords never in errors.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ExasolConnection, ExasolSource, parseDsn, parseLosslessJson } from '../../src/connectors/exasol/index.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { startExasolTestServer, type ExasolTestServer } from '../../src/testing/index.js';
import { connect } from './helpers.js';

let server: ExasolTestServer;
let tlsServer: ExasolTestServer;
const SECRET = 'S3cret-Pa55word';

before(async () => {
  server = await startExasolTestServer({ password: SECRET });
  tlsServer = await startExasolTestServer({ tls: true, password: SECRET, postgres: { connectionString: server.postgresConnectionString } });
  const admin = await connect(server);
  await admin.execute('CREATE SCHEMA CLIENT');
  await admin.execute('CREATE TABLE CLIENT.MANY (ID DECIMAL(18,0), BIG DECIMAL(18,0), TXT VARCHAR(100))');
  await admin.execute(`INSERT INTO CLIENT.MANY SELECT g, 999999999999999999 - g, 'row ' || g FROM generate_series(1, 1500) g`);
  await admin.close();
});
after(async () => {
  await tlsServer?.stop();
  await server?.stop();
});

const isDefinite = (code: string) => (e: unknown) => ConnectorError.is(e, code) && (e as ConnectorError).kind === 'definite';
const isTransient = (code: string) => (e: unknown) => ConnectorError.is(e, code) && (e as ConnectorError).kind === 'transient';

test('lossless JSON keeps integers beyond 2^53 and leaves strings alone', () => {
  const parsed = parseLosslessJson(
    '{"a":[9007199254740993,-12345678901234567890,1.5,"x 12345678901234567890 y",3],"b":"\\"12345678901234567\\""}',
  ) as any;
  assert.deepEqual(parsed.a, ['9007199254740993', '-12345678901234567890', 1.5, 'x 12345678901234567890 y', 3]);
  assert.equal(parsed.b, '"12345678901234567"');
});

test('login with RSA; session id beyond 2^53 is kept exactly; the session is pinned to UTC', async () => {
  const c = await connect(server, { password: SECRET });
  try {
    assert.match(c.session.sessionId, /^\d{19}$/);
    assert.ok(BigInt(c.session.sessionId) > 2n ** 53n);
    const page = await collect(c, 'SELECT SESSIONTIMEZONE AS TZ FROM DUAL').catch(() => null);
    if (page) assert.equal(page[0]![0], 'UTC');
    const frames = server.transcript.entries({ channel: 'websocket', direction: 'in' }).map((e) => e.text);
    assert.ok(
      frames.some((t) => t.includes("TIME_ZONE = 'UTC'")),
      'ALTER SESSION SET TIME_ZONE sent at connect',
    );
    assert.ok(!frames.some((t) => t.includes(SECRET)), 'the password never travels in clear text');
  } finally {
    await c.close();
  }
});

test('a wrong password is a definite AUTHENTICATION_FAILED that does not contain the password', async () => {
  await assert.rejects(
    connect(server, { password: 'wrong-Pa55' }),
    (e: unknown) => isDefinite('AUTHENTICATION_FAILED')(e) && !(e as Error).message.includes('wrong-Pa55'),
  );
  server.faults.rejectLogin();
  await assert.rejects(connect(server, { password: SECRET }), isDefinite('AUTHENTICATION_FAILED'));
});

test('DECIMAL(18,0) near 10^18 and 1500 rows arrive exactly through handle + byte-bounded fetch', async () => {
  const c = await connect(server, { password: SECRET });
  try {
    const fetchesBefore = server.transcript
      .entries({ channel: 'websocket', direction: 'in' })
      .filter((e) => e.text.includes('"fetch"')).length;
    let rows = 0;
    let pages = 0;
    for await (const page of c.query('SELECT ID, BIG FROM CLIENT.MANY ORDER BY ID', { fetchBytes: 8 * 1024 })) {
      pages++;
      for (let r = 0; r < page.numRows; r++) {
        const id = BigInt(page.data[0]![r] as number | string);
        assert.equal(String(page.data[1]![r]), String(999999999999999999n - id));
        rows++;
      }
    }
    assert.equal(rows, 1500);
    const fetches =
      server.transcript.entries({ channel: 'websocket', direction: 'in' }).filter((e) => e.text.includes('"fetch"')).length - fetchesBefore;
    assert.ok(pages > 3 && fetches === pages, `${pages} pages / ${fetches} fetches: the byte budget bounds each fetch`);
  } finally {
    await c.close();
  }
});

test('compression: frames after login are zlib binary frames, results unchanged', async () => {
  const c = await connect(server, { password: SECRET, compression: true });
  try {
    const rows = await collect(c, 'SELECT COUNT(*) AS N FROM CLIENT.MANY');
    assert.equal(String(rows[0]![0]), '1500');
    assert.equal(c.attributes.compressionEnabled ?? true, true);
    const last = server.transcript.entries({ channel: 'websocket', direction: 'out' }).at(-1)!;
    assert.equal(last.compressed, true);
  } finally {
    await c.close();
  }
});

test('TLS: the pinned fingerprint is checked before credentials are sent', async () => {
  const base = { host: tlsServer.host, port: tlsServer.port, user: tlsServer.user, password: SECRET, tls: true };
  const ok = await ExasolConnection.connect({ ...base, fingerprint: tlsServer.fingerprint });
  await ok.close();
  const logins = () =>
    tlsServer.transcript.entries({ channel: 'websocket', direction: 'in' }).filter((e) => e.text.includes('"login"')).length;
  const before = logins();
  await assert.rejects(ExasolConnection.connect({ ...base, fingerprint: 'AB'.repeat(32) }), isDefinite('TLS_FINGERPRINT_MISMATCH'));
  assert.equal(logins(), before, 'no login was attempted on a certificate that does not match');
  const { hosts, fingerprint } = parseDsn(tlsServer.dsn);
  assert.equal(fingerprint, tlsServer.fingerprint);
  assert.equal(hosts[0]!.port, tlsServer.port);
});

test('42000 (syntax, unknown object) is definite; 40001 is a transient SERIALIZATION_CONFLICT', async () => {
  const c = await connect(server, { password: SECRET });
  try {
    await assert.rejects(
      c.execute('SELEKT 1'),
      (e: unknown) => ConnectorError.is(e) && (e as ConnectorError).kind === 'definite' && /42000/.test((e as Error).message),
    );
    await assert.rejects(
      c.execute('SELECT * FROM CLIENT.NOPE'),
      (e: unknown) => ConnectorError.is(e) && (e as ConnectorError).kind === 'definite',
    );
    server.faults.failStatement({ match: 'COLLIDE', sqlCode: '40001', text: 'GlobalTransactionRollback msg: Transaction collision' });
    await assert.rejects(c.execute("SELECT 'COLLIDE' AS X FROM DUAL"), isTransient('SERIALIZATION_CONFLICT'));
    // the session stays usable after errors
    assert.equal(String((await collect(c, 'SELECT 7 AS X FROM DUAL'))[0]![0]), '7');
  } finally {
    await c.close();
  }
});

test('a WebSocket closed mid-fetch fails the command with a transient CONNECTION_LOST', async () => {
  const c = await connect(server, { password: SECRET });
  server.faults.closeWebSocketMidFetch();
  await assert.rejects(collect(c, 'SELECT ID FROM CLIENT.MANY'), isTransient('CONNECTION_LOST'));
  assert.equal(c.isOpen, false);
  await assert.rejects(c.execute('SELECT 1 AS X FROM DUAL'), isTransient('CONNECTION_LOST'));
  await c.close();
});

test('abort: a running statement gets abortQuery and the call rejects with AbortError; the session stays usable', async () => {
  const c = await connect(server, { password: SECRET });
  try {
    const controller = new AbortController();
    const started = Date.now();
    const running = c.execute('SELECT pg_sleep(5) AS S FROM DUAL', { signal: controller.signal });
    setTimeout(() => controller.abort(), 150);
    await assert.rejects(running, (e: unknown) => (e as Error).name === 'AbortError');
    assert.ok(Date.now() - started < 3000, 'aborted promptly');
    assert.ok(server.transcript.entries({ channel: 'websocket', direction: 'in' }).some((e) => e.text.includes('"abortQuery"')));
    assert.equal(String((await collect(c, 'SELECT 8 AS X FROM DUAL'))[0]![0]), '8');
  } finally {
    await c.close();
  }
});

test('an abortQuery that comes after its statement finished aborts nothing: the next statements run (as in Exasol)', async () => {
  const c = await connect(server, { password: SECRET });
  try {
    for (let i = 0; i < 20; i++) {
      assert.equal(String((await collect(c, `SELECT ${i} AS X FROM DUAL`))[0]![0]), String(i));
      // too late for the statement above; it must not reach the one below
      c.abortQuery();
      // a statement that runs long enough for a stray cancel to reach it
      assert.equal(String((await collect(c, 'SELECT CASE WHEN pg_sleep(0.05) IS NULL THEN 0 ELSE 7 END AS X FROM DUAL'))[0]![0]), '7');
    }
  } finally {
    await c.close();
  }
});

test('bad config fails before connecting, listing every problem, never showing the password', () => {
  assert.throws(
    () =>
      new ExasolSource({
        user: '',
        password: 'hunter2-secret',
        schema: 'S',
        table: 'T',
        mode: 'watermark',
        batchRows: 0,
        fingerprint: 'xyz',
      } as never),
    (e: unknown) => {
      const m = (e as Error).message;
      return (
        isDefinite('CONFIG_INVALID')(e) &&
        /dsn/.test(m) &&
        /user/.test(m) &&
        /watermark/.test(m) &&
        /batchRows/.test(m) &&
        /fingerprint/.test(m) &&
        !m.includes('hunter2-secret')
      );
    },
  );
});

test('a missing table is a definite TABLE_NOT_FOUND', async () => {
  const source = new ExasolSource({
    host: server.host,
    port: server.port,
    user: server.user,
    password: SECRET,
    tls: false,
    schema: 'CLIENT',
    table: 'MISSING',
    mode: 'diff',
    diff: { stateDir: '/tmp' },
  });
  await assert.rejects(source.pollSnapshot(), isDefinite('TABLE_NOT_FOUND'));
  await source.close();
});

async function collect(c: ExasolConnection, sql: string): Promise<unknown[][]> {
  const rows: unknown[][] = [];
  for await (const page of c.query(sql)) for (let r = 0; r < page.numRows; r++) rows.push(page.data.map((col) => col[r]));
  return rows;
}
