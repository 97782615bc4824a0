/** Login handshake, protocol versions, compression and session attributes over raw frames. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from './support/fixtures.js';

let h: Harness;
before(async () => {
  h = await startHarness({ password: 'top-secret' });
});
after(async () => h?.stop());

test('login replies with a 1024-bit RSA key as PKCS#1 PEM and upper-case hex modulus', async () => {
  const client = await h.connect();
  const reply = await client.request({ command: 'login', protocolVersion: 3 });
  const data = reply.json.responseData;
  assert.equal(reply.json.status, 'ok');
  assert.match(data.publicKeyPem, /^-----BEGIN RSA PUBLIC KEY-----\n/);
  assert.match(data.publicKeyModulus, /^[0-9A-F]{256}$/);
  assert.equal(data.publicKeyExponent, '010001');
  await client.close();
});

test('a correct password logs in; the session info matches Exasol and the session id exceeds 2^53', async () => {
  const client = await h.connect();
  const reply = await client.login({ password: 'top-secret' });
  assert.equal(reply.json.status, 'ok');
  const info = reply.json.responseData;
  assert.equal(info.protocolVersion, 3);
  assert.equal(info.productName, 'EXASolution');
  assert.equal(info.maxDataMessageSize, 67108864);
  assert.equal(info.identifierQuoteString, '"');
  const rawId = /"sessionId":(\d+)/.exec(reply.text)![1];
  assert.ok(BigInt(rawId) > 2n ** 53n, 'raw session id digits beyond 2^53');
  await client.close();
});

test('protocol versions 1–3 are accepted and higher requests are downgraded to 3', async () => {
  for (const [requested, expected] of [
    [1, 1],
    [2, 2],
    [3, 3],
    [5, 3],
  ]) {
    const client = await h.connect();
    const reply = await client.login({ password: 'top-secret', protocolVersion: requested });
    assert.equal(reply.json.responseData.protocolVersion, expected, `requested v${requested}`);
    await client.close();
  }
});

test('a wrong password or user is rejected with Exasol error 08004 and never logged', async () => {
  for (const options of [{ password: 'nope' }, { user: 'other', password: 'top-secret' }]) {
    const client = await h.connect();
    const reply = await client.login(options);
    assert.deepEqual(reply.json, {
      status: 'error',
      exception: { text: 'Connection exception - authentication failed.', sqlCode: '08004' },
    });
    await client.close();
  }
  assert.ok(!h.server.transcript.toJsonLines().includes('top-secret'));
});

test('fault: rejectLogin fails the next login even with the right password', async () => {
  h.server.faults.rejectLogin({ text: 'Too many sessions', sqlCode: '08004' });
  const first = await h.connect();
  assert.equal((await first.login({ password: 'top-secret' })).json.exception.text, 'Too many sessions');
  const second = await h.connect();
  assert.equal((await second.login({ password: 'top-secret' })).json.status, 'ok');
  await Promise.all([first.close(), second.close()]);
});

test('useCompression: every frame after the login reply is a zlib binary frame, both ways', async () => {
  const client = await h.connect();
  const login = await client.login({ password: 'top-secret', useCompression: true });
  assert.equal(login.binary, false, 'the login reply itself is not compressed');
  const reply = await client.execute('SELECT 1 AS one');
  assert.equal(reply.binary, true);
  assert.deepEqual(reply.json.responseData.results[0].resultSet.data, [[1]]);
  assert.equal((await client.request({ command: 'getAttributes' })).json.attributes.compressionEnabled, true);
  await client.close();
});

test('session attributes: login attributes, setAttributes, getAttributes and echoes of changes', async () => {
  const client = await h.login({ password: 'top-secret', attributes: { autocommit: false, queryTimeout: 30 } });
  let attributes = (await client.request({ command: 'getAttributes' })).json.attributes;
  assert.equal(attributes.autocommit, false);
  assert.equal(attributes.queryTimeout, 30);
  assert.equal(attributes.currentSchema, '');
  assert.equal(attributes.snapshotTransactionsEnabled, false);
  const set = await client.request({ command: 'setAttributes', attributes: { autocommit: true, snapshotTransactionsEnabled: true } });
  assert.equal(set.json.status, 'ok');
  assert.deepEqual(set.json.attributes, { autocommit: true, snapshotTransactionsEnabled: true });
  await client.ok('CREATE SCHEMA attr_schema');
  const opened = await client.execute('OPEN SCHEMA attr_schema');
  assert.deepEqual(opened.json.attributes, { currentSchema: 'ATTR_SCHEMA' });
  const viaAttribute = await client.execute('SELECT 1', { currentSchema: '' });
  assert.equal(viaAttribute.json.attributes.currentSchema, '');
  attributes = (await client.request({ command: 'getAttributes' })).json.attributes;
  assert.equal(attributes.snapshotTransactionsEnabled, true);
  assert.equal(attributes.currentSchema, '');
  const missing = await client.execute('OPEN SCHEMA no_such_schema');
  assert.equal(missing.json.exception.sqlCode, '42000');
  await client.close();
});

test('disconnect answers ok and closes the connection; unknown commands get an error', async () => {
  const client = await h.login({ password: 'top-secret' });
  const unknown = await client.request({ command: 'noSuchCommand' });
  assert.equal(unknown.json.status, 'error');
  const token = await (await h.connect()).request({ command: 'loginToken', protocolVersion: 3 });
  assert.equal(token.json.status, 'error');
  const bye = await client.request({ command: 'disconnect' });
  assert.equal(bye.json.status, 'ok');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(client.closed, true);
});
