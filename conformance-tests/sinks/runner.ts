/**
 * The runner-agnostic core of the sink suite: runs sink checks against a target and collects
 * a report. The CLI (`refstream conformance --sink`) and the node:test adapter are thin
 * layers over {@link runSinkCheck} and {@link runSinkConformance}.
 */
import type { Sink } from '../../src/sdk/sink.js';
import { CheckFailure, CheckSkipped, describeError, within } from '../assert.js';
import { resolveSettings, type RunOptions } from '../runner.js';
import type { RunSettings } from '../types.js';
import { sinkChecks, selectSinkChecks } from './catalogue.js';
import type {
  SinkCapabilities,
  SinkCheck,
  SinkCheckContext,
  SinkCheckResult,
  SinkConformanceReport,
  SinkConformanceTarget,
  SinkHarness,
} from './types.js';

/** Options of {@link runSinkConformance}. */
export interface SinkRunOptions extends Omit<RunOptions, 'onResult'> {
  /** Called after each check (progress output). */
  onResult?: (result: SinkCheckResult) => void;
}

/** The capabilities checks run under: the target's declarations, true where it declares nothing. */
export function sinkCapabilities(target: SinkConformanceTarget): SinkCapabilities {
  return { addColumn: true, truncate: true, ...(target.capabilities ?? {}) };
}

/** Why a check cannot run under `caps` (or is bypassed), or undefined when it can. */
export function sinkSkipReason(check: SinkCheck, caps: SinkCapabilities, bypass?: Readonly<Record<string, string>>): string | undefined {
  const bypassed = bypass?.[check.id];
  if (bypassed !== undefined) return `bypassed: ${bypassed}`;
  const unmet = Object.entries(check.requires ?? {})
    .filter(([name, value]) => caps[name as keyof SinkCapabilities] !== value)
    .map(
      ([name, value]) => `needs ${name} = ${String(value)} (the target declares ${name}: ${String(caps[name as keyof SinkCapabilities])})`,
    );
  if (unmet.length > 0) return `${unmet.join('; ')}${check.counterpart ? `; ${check.counterpart} covers this case` : ''}`;
  return undefined;
}

/** What a check's context needs to clean up afterwards. */
interface Resources {
  harnesses: SinkHarness[];
  sinks: Sink[];
}

function context(
  target: SinkConformanceTarget,
  harness: SinkHarness,
  caps: SinkCapabilities,
  settings: RunSettings,
  signal: AbortSignal,
  notes: string[],
  resources: Resources,
): SinkCheckContext {
  return {
    target,
    harness,
    capabilities: caps,
    settings,
    signal,
    async createSink() {
      const sink = await harness.createSink();
      resources.sinks.push(sink);
      return sink;
    },
    async fresh() {
      const next = await target.setup();
      resources.harnesses.push(next);
      return context(target, next, caps, settings, signal, notes, resources);
    },
    skip(reason: string): never {
      throw new CheckSkipped(reason);
    },
    note(message: string) {
      notes.push(message);
    },
  };
}

/**
 * Runs one check on a fresh destination: setup → run (with a time limit) → close every sink
 * it created → teardown. Never throws; the outcome is in the result. A failure reason ends
 * with the options that replay the check alone.
 */
export async function runSinkCheck(
  check: SinkCheck,
  target: SinkConformanceTarget,
  caps: SinkCapabilities,
  settings: RunSettings,
  bypass?: Readonly<Record<string, string>>,
): Promise<SinkCheckResult> {
  const started = Date.now();
  const notes: string[] = [];
  const result = (status: SinkCheckResult['status'], reason?: string): SinkCheckResult => ({
    id: check.id,
    level: check.level,
    category: check.category,
    rule: check.rule,
    status,
    ...(reason !== undefined ? { reason } : {}),
    notes,
    contradicts: [],
    durationMs: Date.now() - started,
  });
  const failed = (reason: string) =>
    result('fail', `${reason} (replay: refstream conformance --sink <module> --only ${check.id} --seed ${settings.seed})`);
  const skip = sinkSkipReason(check, caps, bypass);
  if (skip) return result('skip', skip);

  const resources: Resources = { harnesses: [], sinks: [] };
  let harness: SinkHarness;
  try {
    harness = await target.setup();
  } catch (error) {
    return failed(`target.setup() failed: ${describeError(error)}`);
  }
  resources.harnesses.push(harness);
  const missingHook = check.needsHarness?.find((hook) => typeof harness[hook] !== 'function');
  const controller = new AbortController();
  const ctx = context(target, harness, caps, settings, controller.signal, notes, resources);
  let outcome: SinkCheckResult;
  try {
    if (missingHook) throw new CheckSkipped(`the harness has no ${missingHook}() hook`);
    await within(check.run(ctx), settings.timeoutMs * (check.slow ? 4 : 1), check.id);
    outcome = result('pass');
  } catch (error) {
    controller.abort();
    if (error instanceof CheckSkipped) outcome = result('skip', error.message);
    else if (error instanceof CheckFailure) outcome = failed(error.message);
    else outcome = failed(`unexpected ${describeError(error)}`);
  }
  // Closing twice is part of the contract (SINK-04), so sinks the check closed are closed again quietly.
  for (const sink of resources.sinks) await within(sink.close(), 10_000, 'close()').catch(() => undefined);
  for (const h of resources.harnesses) {
    try {
      await within(h.teardown(), 30_000, 'harness.teardown()');
    } catch (error) {
      notes.push(`teardown failed: ${describeError(error)}`);
    }
  }
  outcome.durationMs = Date.now() - started;
  return outcome;
}

/** Runs the selected sink checks one after another and returns the report. */
export async function runSinkConformance(target: SinkConformanceTarget, options: SinkRunOptions = {}): Promise<SinkConformanceReport> {
  const settings = resolveSettings(options);
  const selected = selectSinkChecks(options.only, sinkChecks);
  for (const id of Object.keys(options.bypass ?? {})) selectSinkChecks([id], sinkChecks); // unknown IDs throw
  const caps = sinkCapabilities(target);
  const startedAt = new Date();
  const results: SinkCheckResult[] = [];
  for (const check of selected) {
    const r = await runSinkCheck(check, target, caps, settings, options.bypass);
    results.push(r);
    options.onResult?.(r);
  }
  const summary = {
    passed: results.filter((r) => r.status === 'pass').length,
    failed: results.filter((r) => r.status === 'fail').length,
    skipped: results.filter((r) => r.status === 'skip').length,
  };
  return {
    target: target.name,
    capabilities: caps,
    settings,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    results,
    summary,
    ok: !results.some((r) => r.status === 'fail' && r.level === 'MUST'),
  };
}
