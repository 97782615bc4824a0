/**
 * `refstream conformance --sink` as a user runs it: the built binary in its own process,
 * loading a TypeScript target module through tsx.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { ensureBuiltCli, runBuiltCli } from '../../test/helpers/built-cli.js';

before(() => ensureBuiltCli());

test('the built CLI passes the JSON Lines sink and exits 0', async () => {
  const r = await runBuiltCli(
    ['conformance', '--sink', 'conformance-tests/targets/sinks/jsonl.ts', '--only', 'SINK-01,SINK-08', '--seed', '3'],
    {
      nodeArgs: ['--import', 'tsx'],
    },
  );
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /^SINK-08\s+MUST\s+pass/m);
  assert.match(r.out, /^2 passed, 0 failed, 0 skipped$/m);
});

test('the built CLI fails a faulty sink with exit 1 and names the first diverging key', async () => {
  const r = await runBuiltCli(
    ['conformance', '--sink', 'conformance-tests/sinks/self-test/fixtures/faulty-sink-target.ts', '--only', 'SINK-06'],
    {
      nodeArgs: ['--import', 'tsx'],
    },
  );
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(r.out, /^SINK-06\s+MUST\s+FAIL .*first diverging key id=\d+/m);
});
