import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectorError, redactSecrets, definite, transient } from '../../src/sdk/errors.js';
import { makeCheckpoint, parseCheckpoint } from '../../src/sdk/checkpoint.js';
import { FileCheckpointStore, storedCheckpoint } from '../../src/sdk/checkpoint-store.js';

test('ConnectorError.is recognises errors from another copy of the module', async () => {
  const other = (await import(`../../src/sdk/errors.ts?copy=${Date.now()}`)) as typeof import('../../src/sdk/errors.js');
  assert.notEqual(other.ConnectorError, ConnectorError, 'the module was loaded twice');
  const foreign = new other.ConnectorError('SLOT_MISSING', 'slot gone');
  assert.ok(ConnectorError.is(foreign));
  assert.ok(ConnectorError.is(foreign, 'SLOT_MISSING'));
  assert.equal((foreign as { kind: string }).kind, 'definite');
  assert.ok(!ConnectorError.is(foreign, 'CLOSED'));
  assert.ok(!((foreign as unknown) instanceof ConnectorError));
  assert.ok(!ConnectorError.is(new Error('plain')));
  assert.equal(new ConnectorError('CONNECTION_LOST', 'x').kind, 'transient');
  assert.equal(transient('X_CUSTOM', 'x').kind, 'transient');
  assert.equal(definite('CONNECTION_LOST', 'x').kind, 'definite');
});

test('secrets are removed from error messages and hints', () => {
  const e = definite('CONFIG_INVALID', 'cannot connect to postgres://app:hunter2@db:5432/x (password=hunter2)', {
    hint: "use sasl.password: 'hunter2' carefully",
  });
  assert.ok(!e.message.includes('hunter2'), e.message);
  assert.ok(!e.hint!.includes('hunter2'), e.hint);
  assert.match(e.message, /postgres:\/\/app:\*\*\*@db/);
  assert.equal(redactSecrets('nothing to hide'), 'nothing to hide');
  assert.ok(!JSON.stringify(e).includes('hunter2'));
});

test('URL passwords with an empty user or unencoded @ # : are redacted up to the last @ before the host', () => {
  assert.equal(redactSecrets('cannot reach postgres://:s3cret@db/x'), 'cannot reach postgres://:***@db/x');
  assert.equal(redactSecrets('cannot reach postgres://app:p@ss@db/x now'), 'cannot reach postgres://app:***@db/x now');
  assert.equal(redactSecrets('kafka://u:p#w@h:9092/t'), 'kafka://u:***@h:9092/t');
  assert.equal(redactSecrets('postgres://app@db/x'), 'postgres://app@db/x', 'a user without a password stays');
});

// Passwords as users type them into URLs: any printable characters but white space, including
// the URL delimiters @ # / ? : (white space would end the URL in free text).
const urlPart = (minLength: number) =>
  fc.string({ unit: fc.constantFrom(...Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i))), minLength, maxLength: 16 });

test('property: a password in a postgres:// or kafka:// URL inside a message never survives redaction', () => {
  fc.assert(
    fc.property(
      fc.constantFrom('postgres', 'postgresql', 'kafka', 'kafkas'),
      urlPart(0),
      urlPart(3),
      fc.constantFrom('db', 'db.example:5432', 'h1:9092,h2:9092', '[::1]:9092'),
      fc.constantFrom('/x', '/orders?tls=true', '/app#public.t', ''),
      fc.constantFrom('', 'failed: ', 'sink '),
      fc.constantFrom('', ' (retrying)', ', then kafka://other:9092/t'),
      (scheme, user, password, host, rest, prefix, suffix) => {
        const message = `${prefix}${scheme}://${user}:${password}@${host}${rest}${suffix}`;
        // only meaningful when the password shows nowhere else in the message
        fc.pre(!`${prefix}${scheme}://${user}:***@${host}${rest}${suffix}`.includes(password));
        const redacted = redactSecrets(message);
        assert.ok(!redacted.includes(password), `${JSON.stringify(message)} -> ${JSON.stringify(redacted)}`);
        assert.ok(redacted.includes(`${host}${rest}`), `the host stays readable: ${redacted}`);
      },
    ),
    { numRuns: 2000 },
  );
});

test('bad checkpoints are rejected with CHECKPOINT_INVALID naming the problem', () => {
  const good = makeCheckpoint('memory', 'public.t', 'changes', { seq: 3, index: 0 });
  assert.deepEqual(parseCheckpoint(JSON.stringify(good), { connector: 'memory', table: 'public.t' }), good);
  const cases: Array<[unknown, RegExp]> = [
    ['{not json', /not valid JSON/],
    [{ ...good, version: 99 }, /version 99 is not supported/],
    [{ ...good, table: 'public.other' }, /belongs to table public\.other/],
    [{ ...good, connector: 'postgres' }, /belongs to connector "postgres"/],
    [{ ...good, phase: 'middle' }, /phase/],
    [{ version: 1 }, /malformed/],
    [null, /malformed/],
  ];
  for (const [input, message] of cases) {
    assert.throws(
      () => parseCheckpoint(input, { connector: 'memory', table: 'public.t' }),
      (e: unknown) => ConnectorError.is(e, 'CHECKPOINT_INVALID') && e.kind === 'definite' && message.test(e.message),
      `input ${JSON.stringify(input)}`,
    );
  }
});

test('FileCheckpointStore saves atomically and reports a corrupt file clearly', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'refstream-cp-'));
  const store = new FileCheckpointStore(join(dir, 'nested', 'cp.json'));
  assert.equal(await store.load(), null);
  const cp = makeCheckpoint('memory', 'public.t', 'snapshot', { snapshotSeq: 1, offset: 5 });
  await store.save(storedCheckpoint(cp));
  await store.save(storedCheckpoint({ ...cp, position: { snapshotSeq: 1, offset: 6 } }, { 'jsonl:/out/t.jsonl': { bytes: 3 } }));
  assert.deepEqual(
    await store.load(),
    storedCheckpoint({ ...cp, position: { snapshotSeq: 1, offset: 6 } }, { 'jsonl:/out/t.jsonl': { bytes: 3 } }),
  );
  // A file written before sink states existed loads with no sink state.
  await writeFile(
    join(dir, 'nested', 'cp.json'),
    JSON.stringify({ format: 'refstream-checkpoint', savedAt: new Date().toISOString(), checkpoint: cp }),
  );
  assert.deepEqual(await store.load(), storedCheckpoint(cp));
  assert.match(await readFile(join(dir, 'nested', 'cp.json'), 'utf8'), /refstream-checkpoint/);
  await writeFile(join(dir, 'nested', 'cp.json'), '{"format":"refstream-checkpoint","checkpoint":{"version":1}');
  await assert.rejects(store.load(), (e: unknown) => ConnectorError.is(e, 'CHECKPOINT_INVALID') && /delete .*cp\.json/.test(e.hint ?? ''));
  await store.clear();
  assert.equal(await store.load(), null);
});
