import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { runCli } from '../helpers/cli.js';
import { renderCliReference } from '../../src/cli/reference.js';

test('docs/cli.md is generated from the command table (run scripts/generate-cli-docs.ts after changing commands)', async () => {
  const committed = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');
  assert.equal(committed, await renderCliReference());
});

test('--help lists the commands, --version prints the version, unknown commands exit 2', async () => {
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /Commands:[\s\S]*inspect/);
  const version = await runCli(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.out, /^\d+\.\d+\.\d+\n$/);
  const unknown = await runCli(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown command "frobnicate".*--help/);
});

test('inspect names a missing file and exits 2', async () => {
  const missing = await runCli(['inspect', '/nonexistent/refstream.arrow']);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /cannot read \/nonexistent\/refstream\.arrow: ENOENT/);
});
