import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { renderCliReference } from '../../src/cli/reference.js';

function capture() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c) => (out += c));
  stderr.on('data', (c) => (err += c));
  return { context: { stdout, stderr, env: {} }, text: () => ({ out, err }) };
}

test('docs/cli.md is generated from the command table (run scripts/generate-cli-docs.ts after changing commands)', () => {
  const committed = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');
  assert.equal(committed, renderCliReference());
});

test('--help lists the commands, --version prints the version, unknown commands exit 2', async () => {
  const a = capture();
  assert.equal(await main(['--help'], a.context), 0);
  assert.match(a.text().out, /Commands:[\s\S]*inspect/);
  const b = capture();
  assert.equal(await main(['--version'], b.context), 0);
  assert.match(b.text().out, /^\d+\.\d+\.\d+\n$/);
  const c = capture();
  assert.equal(await main(['frobnicate'], c.context), 2);
  assert.match(c.text().err, /unknown command "frobnicate".*--help/);
});

test('inspect names a missing file and exits 2', async () => {
  const a = capture();
  assert.equal(await main(['inspect', '/nonexistent/refstream.arrow'], a.context), 2);
  assert.match(a.text().err, /cannot read \/nonexistent\/refstream\.arrow: ENOENT/);
});
