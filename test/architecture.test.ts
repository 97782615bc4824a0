// The dependency rules of docs/architecture.md, read off the import graph of src/ and
// conformance-tests/ (type-only imports count: they are edges a reader follows too).
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(relative(root, path));
  }
  return out;
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;

/** Relative imports of a file, resolved to repository paths of .ts files. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8').replace(/^\s*(\/\/.*|\*.*)$/gm, '');
  const targets: string[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const spec = match[1]!;
    const base = join(dirname(file), spec);
    const candidates = [base.replace(/\.js$/, '.ts'), base.replace(/\.js$/, '/index.ts'), `${base}.ts`, join(base, 'index.ts')];
    const found = candidates.find((c) => existsSync(join(root, c)) && statSync(join(root, c)).isFile());
    if (found) targets.push(found);
  }
  return targets;
}

type Area =
  | { kind: 'sdk' }
  | { kind: 'generic' }
  | { kind: 'entry' }
  | { kind: 'system'; system: string }
  | { kind: 'testing'; system: string | null }
  | { kind: 'cli' }
  | { kind: 'conformance'; target: boolean };

function areaOf(file: string): Area {
  const parts = file.split('/');
  if (parts[0] === 'conformance-tests') return { kind: 'conformance', target: parts[1] === 'targets' };
  if (file === 'src/index.ts') return { kind: 'entry' };
  switch (parts[1]) {
    case 'sdk':
      return { kind: 'sdk' };
    case 'sinks':
    case 'sources':
      return { kind: 'generic' };
    case 'connectors':
      return { kind: 'system', system: parts[2]! };
    case 'testing':
      return { kind: 'testing', system: parts.length > 3 ? parts[2]! : parts[2] === 'index.ts' ? null : parts[2]!.replace(/\.ts$/, '') };
    case 'cli':
      return { kind: 'cli' };
  }
  throw new Error(`${file} is in no known folder: add it to docs/architecture.md and to this test`);
}

/** Why an import breaks a rule, or null when it is allowed. */
function violation(from: string, to: string): string | null {
  const a = areaOf(from);
  const b = areaOf(to);
  const lower = b.kind === 'sdk' || b.kind === 'generic';
  switch (a.kind) {
    case 'sdk':
      return b.kind === 'sdk' ? null : 'src/sdk imports nothing else in src';
    case 'generic':
    case 'entry':
      return lower ? null : 'generic code (sinks, sources, the root entry) imports only sdk and generic folders, never a system';
    case 'system':
      if (lower || (b.kind === 'system' && b.system === a.system)) return null;
      if (b.kind === 'system')
        return `a system folder never imports another (connectors/${a.system} → connectors/${b.system}); lift shared code into a generic module`;
      return `connectors/${a.system} imports only sdk, generic folders and its own folder`;
    case 'testing':
      if (lower || b.kind === 'testing') return null;
      if (b.kind === 'system' && (b.system === a.system || to === 'src/connectors/postgres/oids.ts')) return null;
      return `src/testing/${a.system ?? ''} reaches only its own system's connector (and the dependency-free connectors/postgres/oids.ts)`;
    case 'cli':
      if (lower || b.kind === 'cli' || b.kind === 'testing') return null;
      if (b.kind === 'system')
        return to.endsWith(`connectors/${b.system}/index.ts`)
          ? null
          : `the CLI reaches a connector only through its index.ts (refstream/${b.system})`;
      if (to === 'conformance-tests/cli.ts') return null;
      return 'the CLI reaches the conformance suite only through conformance-tests/cli.ts';
    case 'conformance':
      if (lower || b.kind === 'conformance') return null;
      if (a.target && ((b.kind === 'system' && to.endsWith('/index.ts')) || b.kind === 'testing')) return null;
      return 'the conformance suite imports only sdk and generic code; its targets/ may use connector entries and test servers';
  }
}

const files = [...sourceFiles(join(root, 'src')), ...sourceFiles(join(root, 'conformance-tests'))].sort();
const graph = new Map(files.map((f) => [f, importsOf(f)]));

test('every import follows the folder rules of docs/architecture.md', () => {
  const broken: string[] = [];
  for (const [from, targets] of graph) {
    for (const to of targets) {
      if (!graph.has(to)) continue; // test-only modules and fixtures are not part of the product graph
      const why = violation(from, to);
      if (why) broken.push(`${from} → ${to}: ${why}`);
    }
  }
  assert.deepEqual(broken, [], `import rules broken:\n${broken.join('\n')}`);
});

test('there is no import cycle in src/ or conformance-tests/ (type-only imports included)', () => {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next].join(' → '));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) visit(file);
  assert.deepEqual(cycles, [], `import cycles:\n${cycles.join('\n')}`);
});

test('the rules catch what they promise to (a check of the checker)', () => {
  assert.match(violation('src/sdk/sync.ts', 'src/sinks/jsonl.ts') ?? '', /sdk imports nothing/);
  assert.match(violation('src/sinks/jsonl.ts', 'src/connectors/kafka/wire.ts') ?? '', /never a system/);
  assert.match(violation('src/connectors/kafka/source.ts', 'src/connectors/postgres/lsn.ts') ?? '', /never imports another/);
  assert.match(violation('src/cli/endpoints.ts', 'src/connectors/kafka/client.ts') ?? '', /only through its index/);
  assert.equal(violation('src/testing/exasol/exasol-types.ts', 'src/connectors/postgres/oids.ts'), null);
  assert.equal(violation('src/connectors/postgres/sink.ts', 'src/sinks/json/cells.ts'), null);
  assert.ok(graph.size > 100, `read ${graph.size} files`);
  assert.ok(
    [...graph.values()].some((t) => t.length > 0),
    'imports were found',
  );
});
