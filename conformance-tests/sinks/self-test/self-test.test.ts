/**
 * The sink suite's own test: the correct reference sink passes, and every planted fault is
 * caught by the check that targets it, with a message naming the first diverging key and the
 * options that replay the check.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { runSinkConformance } from '../runner.js';
import type { SinkCheckResult } from '../types.js';
import { faultyTarget, sinkFaults, type SinkFault } from './faulty-sinks.js';

const SETTINGS = { seed: 11, numRuns: 40, timeoutMs: 10_000 };
const results = new Map<SinkFault | null, SinkCheckResult[]>();

before(async () => {
  for (const fault of [null, ...sinkFaults]) results.set(fault, (await runSinkConformance(faultyTarget(fault), SETTINGS)).results);
});

test('the correct reference sink passes every check (control)', () => {
  const failed = results.get(null)!.filter((r) => r.status === 'fail');
  assert.deepEqual(
    failed.map((r) => `${r.id}: ${r.reason}`),
    [],
  );
});

for (const fault of sinkFaults) {
  test(`fault ${fault.name} (${fault.description}) fails ${fault.expect}${fault.property ? ' and SINK-11' : ''}`, () => {
    const list = results.get(fault)!;
    for (const id of [fault.expect, ...(fault.property ? ['SINK-11'] : [])]) {
      const result = list.find((r) => r.id === id);
      assert.ok(result, `${id} did not run`);
      assert.equal(result.status, 'fail', `${id} did not fail (${result.status}${result.reason ? `: ${result.reason}` : ''})`);
      assert.match(result.reason!, new RegExp(`replay: refstream conformance --sink <module> --only ${id} --seed ${SETTINGS.seed}\\)$`));
      if (!['SINK-05N', 'SINK-06N', 'SINK-12'].includes(id)) assert.match(result.reason!, /first diverging key id=-?\d+ /, result.reason);
    }
  });
}
