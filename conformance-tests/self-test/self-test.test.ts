/**
 * The suite's own test: it must fail every planted fault with the check that targets it.
 * Prints the kill rate (faults caught by a failing MUST check or a contradicted claim).
 *
 * To stay within a minute, the faulty sources run concurrently — except the checks that
 * measure the whole process (active handles, memory), which run afterwards one at a time.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { checks } from '../catalogue.js';
import { runConformance } from '../runner.js';
import { memoryHarness } from '../targets/memory.js';
import type { CheckResult, ConformanceTarget } from '../types.js';
import { faults, leakedTimers, tolerated, type Fault } from './faults.js';

const SEED = 7;
/** Short waits: the memory source answers at once, so long waits only slow the run. */
const FAST = { maxWaitMs: 5 };
const SETTINGS = { seed: SEED, numRuns: 10, timeoutMs: 3_000, convergeMs: 300 };
/** Checks that observe the whole process and so cannot share it with concurrent runs. */
const PROCESS_WIDE = ['LIFE-05', 'MEM-02'];
const CONCURRENT = checks.map((c) => c.id).filter((id) => !PROCESS_WIDE.includes(id));

function faultyTarget(fault: Fault | null): ConformanceTarget {
  if (!fault) return { name: 'memory (unmodified)', setup: async () => memoryHarness(undefined, FAST) };
  return { name: `faulty:${fault.name}`, setup: async () => memoryHarness((source, options) => fault.wrap(source, options), FAST) };
}

/** Results per fault (index `null` = the unmodified source), in catalogue order. */
const results = new Map<Fault | null, CheckResult[]>();

async function runAll(only: string[], concurrently: boolean): Promise<void> {
  const subjects: (Fault | null)[] = [null, ...faults, ...tolerated];
  const runOne = async (fault: Fault | null) => {
    const report = await runConformance(faultyTarget(fault), { ...SETTINGS, only });
    results.set(fault, [...(results.get(fault) ?? []), ...report.results]);
  };
  // a bounded pool keeps timing checks (CHG-08, ABRT-*) clear of event-loop stalls
  const width = concurrently ? 8 : 1;
  let next = 0;
  const lane = async () => {
    while (next < subjects.length) await runOne(subjects[next++]!);
  };
  await Promise.all(Array.from({ length: width }, lane));
}

function killed(list: CheckResult[]): boolean {
  return list.some((r) => r.status === 'fail' && (r.level === 'MUST' || r.contradicts.length > 0));
}

before(async () => {
  await runAll(CONCURRENT, true);
  await runAll(PROCESS_WIDE, false);
});

after(() => {
  for (const timer of leakedTimers) clearInterval(timer);
  const lines = faults.map((fault) => {
    const list = results.get(fault) ?? [];
    const failed = list.filter((r) => r.status === 'fail').map((r) => r.id);
    return `  ${killed(list) ? 'killed  ' : 'SURVIVED'} ${fault.name.padEnd(28)} expected ${fault.expect.padEnd(8)} failed: ${failed.join(', ') || '-'}`;
  });
  const count = faults.filter((f) => killed(results.get(f) ?? [])).length;
  console.log(`conformance self-test (seed ${SEED})\n${lines.join('\n')}\nkill rate: ${count}/${faults.length} (${((100 * count) / faults.length).toFixed(0)}%)`);
});

test('the unmodified memory source passes (control)', () => {
  const failed = (results.get(null) ?? []).filter((r) => r.status === 'fail');
  assert.deepEqual(failed.map((r) => `${r.id}: ${r.reason}`), []);
});

for (const behaviour of tolerated) {
  test(`tolerated: ${behaviour.name} (${behaviour.description}) passes`, () => {
    const failed = (results.get(behaviour) ?? []).filter((r) => r.status === 'fail' && r.level === 'MUST');
    assert.deepEqual(failed.map((r) => `${r.id}: ${r.reason}`), []);
  });
}

for (const fault of faults) {
  test(`fault ${fault.name} (${fault.description}) fails ${fault.expect}`, () => {
    const list = results.get(fault) ?? [];
    const expected = list.find((r) => r.id === fault.expect);
    assert.ok(expected, `${fault.expect} did not run`);
    assert.equal(expected.status, 'fail', `${fault.expect} did not fail (${expected.status}${expected.reason ? `: ${expected.reason}` : ''})`);
    assert.ok(killed(list), 'no MUST check failed');
  });
}
