/**
 * The CLI entry: per-check lines, the summary line, reports, exit codes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runConformanceCli } from './cli.js';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const MEMORY = here('./targets/memory.ts');
const FAULTY = here('./self-test/fixtures/faulty-target.ts');
const NOT_A_TARGET = here('./self-test/fixtures/not-a-target.ts');

const dir = await mkdtemp(join(tmpdir(), 'refstream-conformance-cli-'));
after(() => rm(dir, { recursive: true, force: true }));

async function cli(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runConformanceCli(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

test('a passing run prints one line per check and the summary, writes reports, exits 0', async () => {
  const json = join(dir, 'report.json');
  const junit = join(dir, 'report.xml');
  const { code, out } = await cli([
    'conformance',
    MEMORY,
    '--only',
    'CAP-01,SNAP-02,CHG-09',
    '--seed',
    '3',
    '--json',
    json,
    '--junit',
    junit,
  ]);
  assert.equal(code, 0);
  assert.ok(out.some((l) => /^CAP-01\s+MUST\s+pass/.test(l)));
  assert.ok(
    out.some((l) => /^CHG-09\s+MUST\s+skip .*needs changes = "none"/.test(l)),
    'skips print their reason',
  );
  assert.equal(out.at(-1), '2 passed, 0 failed, 1 skipped');
  const report = JSON.parse(await readFile(json, 'utf8')) as { ok: boolean; settings: { seed: number }; results: unknown[] };
  assert.equal(report.ok, true);
  assert.equal(report.settings.seed, 3);
  assert.equal(report.results.length, 3);
  const xml = await readFile(junit, 'utf8');
  assert.match(xml, /<testcase [^>]*name="CAP-01 \[MUST\]/);
  assert.match(xml, /<skipped message="needs changes = &quot;none&quot;/);
});

test('--strict fails a run with skipped checks', async () => {
  const { code, out } = await cli([MEMORY, '--only', 'CHG-09', '--strict']);
  assert.equal(code, 1);
  assert.equal(out.at(-2), '0 passed, 0 failed, 1 skipped');
});

test('a failed MUST check exits 1 and names the check', async () => {
  const { code, out } = await cli([FAULTY, '--only', 'CHG-02,CHG-01']);
  assert.equal(code, 1);
  assert.ok(out.some((l) => /^CHG-02\s+MUST\s+FAIL .*arrived as \["insert"\]/.test(l)));
  assert.equal(out.at(-1), '1 passed, 1 failed, 0 skipped');
});

test('usage and loading errors exit 2', async () => {
  assert.equal((await cli([])).code, 2);
  assert.equal((await cli([NOT_A_TARGET])).code, 2);
  assert.equal((await cli([MEMORY, '--only', 'NOPE-01'])).code, 2);
  assert.equal((await cli([MEMORY, '--seed', 'x'])).code, 2);
});

const MEMORY_SINK = here('./targets/sinks/memory.ts');
const FAULTY_SINK = here('./sinks/self-test/fixtures/faulty-sink-target.ts');

test('--sink runs the sink suite: one line per check, skips with their reason, reports, exit 0', async () => {
  const json = join(dir, 'sink-report.json');
  const junit = join(dir, 'sink-report.xml');
  const { code, out } = await cli([
    'conformance',
    '--sink',
    MEMORY_SINK,
    '--only',
    'SINK-01,SINK-05N,SINK-11',
    '--seed',
    '5',
    '--json',
    json,
    '--junit',
    junit,
  ]);
  assert.equal(code, 0, out.join('\n'));
  assert.equal(out[0], 'refstream sink conformance: memory (MemorySink)');
  assert.ok(out.some((l) => /^SINK-01\s+MUST\s+pass/.test(l)));
  assert.ok(out.some((l) => /^SINK-05N\s+MUST\s+skip .*needs addColumn = false.*SINK-05 covers this case/.test(l)));
  assert.equal(out.at(-1), '2 passed, 0 failed, 1 skipped');
  const report = JSON.parse(await readFile(json, 'utf8')) as { ok: boolean; settings: { seed: number }; results: unknown[] };
  assert.equal(report.ok, true);
  assert.equal(report.settings.seed, 5);
  assert.equal(report.results.length, 3);
  assert.match(await readFile(junit, 'utf8'), /<testcase [^>]*name="SINK-01 \[MUST\]/);
});

test('--sink with a faulty sink exits 1, naming the first diverging key and the replay options', async () => {
  const { code, out } = await cli(['--sink', FAULTY_SINK, '--only', 'SINK-06', '--seed', '2']);
  assert.equal(code, 1);
  assert.ok(
    out.some((l) =>
      /^SINK-06\s+MUST\s+FAIL .*first diverging key id=\d+ .*\(replay: refstream conformance --sink <module> --only SINK-06 --seed 2\)$/.test(
        l,
      ),
    ),
    out.join('\n'),
  );
});

test('--sink usage and loading errors exit 2', async () => {
  assert.equal((await cli(['--sink', NOT_A_TARGET])).code, 2);
  assert.equal((await cli(['--sink', MEMORY_SINK, MEMORY])).code, 2);
  assert.equal((await cli(['--sink', MEMORY_SINK, '--only', 'NOPE-01'])).code, 2);
});
