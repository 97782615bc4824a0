/**
 * The runner core: selection, bypass reasons, verdicts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { selectChecks } from './catalogue.js';
import { exitCode, runConformance } from './runner.js';
import memoryTarget from './targets/memory.js';

test('selectChecks takes IDs and prefixes and rejects unknown IDs', () => {
  assert.deepEqual(
    selectChecks(['snap-01', 'LIFE-0*']).map((c) => c.id),
    ['LIFE-01', 'LIFE-02', 'LIFE-03', 'LIFE-04', 'LIFE-05', 'LIFE-06', 'SNAP-01'],
  );
  assert.throws(() => selectChecks(['SNAP-99']), /no conformance check matches SNAP-99/);
});

test('bypassed checks are skipped with their reason, and count under strict', async () => {
  const report = await runConformance(memoryTarget, {
    only: ['SNAP-01', 'VAL-01'],
    bypass: { 'VAL-01': 'no empty string upstream' },
    seed: 1,
  });
  const val = report.results.find((r) => r.id === 'VAL-01')!;
  assert.equal(val.status, 'skip');
  assert.equal(val.reason, 'bypassed: no empty string upstream');
  assert.equal(exitCode(report), 0);
  assert.equal(exitCode(report, true), 1);
  await assert.rejects(runConformance(memoryTarget, { only: ['SNAP-01'], bypass: { 'NOPE-01': 'x' } }), /NOPE-01/);
});

test('a claim the source does not declare fails CAP-01 as a contradiction', async () => {
  const report = await runConformance({ ...memoryTarget, capabilities: { changes: 'poll' } }, { only: ['CAP-01'], seed: 1 });
  assert.equal(report.results[0]!.status, 'fail');
  assert.deepEqual(report.contradicted, ['changes']);
  assert.equal(report.ok, false);
});
