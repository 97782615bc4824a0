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
/**
 * `convergeMs` is far above anything a check should wait: comparisons are final once the
 * marker arrives, so no fault may make a check sit out this limit (asserted below).
 */
const CONVERGE_MS = 20_000;
const SETTINGS = { seed: SEED, numRuns: 10, timeoutMs: 3_000, convergeMs: CONVERGE_MS };
/** Checks that observe the whole process and so cannot share it with concurrent runs. */
const PROCESS_WIDE = ['LIFE-05', 'MEM-02'];
const CONCURRENT = checks.map((c) => c.id).filter((id) => !PROCESS_WIDE.includes(id));

function faultyTarget(fault: Fault | null): ConformanceTarget {
  if (!fault) return { name: 'memory (unmodified)', setup: async () => memoryHarness(undefined, FAST) };
  return { name: `faulty:${fault.name}`, setup: async () => memoryHarness((source, options) => fault.wrap(source, options), FAST) };
}

/** Results per fault (index `null` = the unmodified source), in catalogue order. */
const results = new Map<Fault | null, CheckResult[]>();
/** Wall time of each subject's runs (the concurrent and the process-wide part summed). */
const durations = new Map<Fault | null, number>();

async function runAll(only: string[], concurrently: boolean): Promise<void> {
  const subjects: (Fault | null)[] = [null, ...faults, ...tolerated];
  const runOne = async (fault: Fault | null) => {
    const started = Date.now();
    const report = await runConformance(faultyTarget(fault), { ...SETTINGS, only });
    results.set(fault, [...(results.get(fault) ?? []), ...report.results]);
    durations.set(fault, (durations.get(fault) ?? 0) + Date.now() - started);
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
    return `  ${killed(list) ? 'killed  ' : 'SURVIVED'} ${fault.name.padEnd(28)} ${String(durations.get(fault)).padStart(6)} ms  expected ${fault.expect.padEnd(8)} failed: ${failed.join(', ') || '-'}`;
  });
  const count = faults.filter((f) => killed(results.get(f) ?? [])).length;
  console.log(
    `conformance self-test (seed ${SEED}), control ${durations.get(null)} ms\n${lines.join('\n')}\nkill rate: ${count}/${faults.length} (${((100 * count) / faults.length).toFixed(0)}%)`,
  );
});

test('the unmodified memory source passes (control)', () => {
  const failed = (results.get(null) ?? []).filter((r) => r.status === 'fail');
  assert.deepEqual(
    failed.map((r) => `${r.id}: ${r.reason}`),
    [],
  );
});

for (const behaviour of tolerated) {
  test(`tolerated: ${behaviour.name} (${behaviour.description}) passes`, () => {
    const failed = (results.get(behaviour) ?? []).filter((r) => r.status === 'fail' && r.level === 'MUST');
    assert.deepEqual(
      failed.map((r) => `${r.id}: ${r.reason}`),
      [],
    );
  });
}

for (const fault of faults) {
  test(`fault ${fault.name} (${fault.description}) fails ${fault.expect}`, () => {
    const list = results.get(fault) ?? [];
    const expected = list.find((r) => r.id === fault.expect);
    assert.ok(expected, `${fault.expect} did not run`);
    assert.equal(
      expected.status,
      'fail',
      `${fault.expect} did not fail (${expected.status}${expected.reason ? `: ${expected.reason}` : ''})`,
    );
    assert.ok(killed(list), 'no MUST check failed');
  });
}

/**
 * Failure reasons that mean a check sat out `convergeMs` or the runner's time limit instead of
 * comparing. (ERR-02's shorter silence limit is its rule for a swallowed failure, not a wait for convergence.)
 */
const WAITED = new RegExp(`no change delivered for ${CONVERGE_MS} ms|did not arrive within|[A-Z]+-\\d+N? did not settle within`);

test('no check on any faulty source waits out convergeMs or its time limit: every verdict comes from a final comparison', () => {
  const waited = [...results.entries()].flatMap(([fault, list]) =>
    list.filter((r) => r.status === 'fail' && WAITED.test(r.reason ?? '')).map((r) => `${fault?.name ?? 'control'} ${r.id}: ${r.reason}`),
  );
  assert.deepEqual(waited, []);
  const slowest = Math.max(...[...results.values()].flat().map((r) => r.durationMs));
  assert.ok(slowest < CONVERGE_MS / 2, `a check took ${slowest} ms with convergeMs = ${CONVERGE_MS}`);
});

test('every faulty source gets its verdict within twice the control time (with margin for a shared machine)', () => {
  const control = durations.get(null)!;
  // concurrent lanes share two cores, so allow a fixed margin on top of the factor of two
  const limit = 2 * control + 4_000;
  const slow = faults.filter((f) => durations.get(f)! > limit).map((f) => `${f.name}: ${durations.get(f)} ms`);
  assert.deepEqual(slow, [], `control passed in ${control} ms; limit ${limit} ms`);
});
