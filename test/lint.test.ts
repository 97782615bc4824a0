/**
 * The tree stays formatted (Prettier) and lint-clean (ESLint with typescript-eslint; type-aware
 * rules for the shipped code: floating promises, unsafe any). `npm run format` fixes the
 * formatting; `npm run lint` shows both reports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { root } from './helpers/built-cli.js';

function run(bin: string, args: string[]): { code: number | null; output: string } {
  const result = spawnSync(process.execPath, [join(root, 'node_modules', bin), ...args], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

test('Prettier finds nothing to reformat', { timeout: 120_000 }, () => {
  const { code, output } = run('prettier/bin/prettier.cjs', ['--check', '.']);
  assert.equal(code, 0, `run npm run format; files Prettier would change:\n${output.slice(0, 4000)}`);
});

test('ESLint finds no problem', { timeout: 300_000 }, () => {
  const { code, output } = run('eslint/bin/eslint.js', ['.']);
  assert.equal(code, 0, output.slice(0, 8000));
});
