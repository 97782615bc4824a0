/**
 * Measures how fast the suite reaches its verdict on each planted fault, relative to the
 * time the unmodified memory source takes to pass. Runs every subject one after another
 * with the default settings (the ones `refstream conformance` uses) and prints one line per
 * fault, then min/median/max of the ratio.
 *
 * `node --import tsx conformance-tests/self-test/verdict-times.ts [seed]`
 */
import { runConformance, type RunOptions } from '../runner.js';
import { memoryHarness } from '../targets/memory.js';
import type { ConformanceTarget } from '../types.js';
import { faults, leakedTimers, type Fault } from './faults.js';

/** The target of a fault (null: the unmodified source), over the same harness settings either way. */
export function subjectTarget(fault: Fault | null): ConformanceTarget {
  const wrap = fault ? (s: Parameters<Fault['wrap']>[0], o: Parameters<Fault['wrap']>[1]) => fault.wrap(s, o) : undefined;
  return { name: fault ? `faulty:${fault.name}` : 'memory (unmodified)', setup: async () => memoryHarness(wrap, { maxWaitMs: 5 }) };
}

/** One subject's run: how long until the report, whether it passed, and the failed check IDs. */
export interface VerdictTime {
  name: string;
  ms: number;
  ok: boolean;
  failed: string[];
  /** The longest single check. */
  slowest: { id: string; ms: number };
}

export async function verdictTime(fault: Fault | null, options: RunOptions): Promise<VerdictTime> {
  const started = Date.now();
  const report = await runConformance(subjectTarget(fault), options);
  const slowest = report.results.reduce((a, r) => (r.durationMs > a.ms ? { id: r.id, ms: r.durationMs } : a), { id: '-', ms: 0 });
  return {
    name: fault?.name ?? 'control',
    ms: Date.now() - started,
    ok: report.ok,
    failed: report.results.filter((r) => r.status === 'fail').map((r) => r.id),
    slowest,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const seed = Number(process.argv[2] ?? 1);
  const control = await verdictTime(null, { seed });
  console.log(`control: ${control.ms} ms, ok ${control.ok} (slowest ${control.slowest.id} ${control.slowest.ms} ms)`);
  const ratios: number[] = [];
  for (const fault of faults) {
    const t = await verdictTime(fault, { seed });
    const ratio = t.ms / control.ms;
    ratios.push(ratio);
    console.log(
      `${fault.name.padEnd(28)} ${String(t.ms).padStart(6)} ms  ×${ratio.toFixed(2)}  ok ${t.ok}  failed ${t.failed.join(',')}  (slowest ${t.slowest.id} ${t.slowest.ms} ms)`,
    );
  }
  for (const timer of leakedTimers) clearInterval(timer);
  console.log(
    `ratio to control (${control.ms} ms): min ×${Math.min(...ratios).toFixed(2)}, median ×${median(ratios).toFixed(2)}, max ×${Math.max(...ratios).toFixed(2)}`,
  );
}
