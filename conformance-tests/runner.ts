/**
 * The runner-agnostic core: runs checks against a target and collects a report. The CLI and
 * the test-runner adapters are thin layers over {@link runCheck} and {@link runConformance}.
 */
import type { ReferenceTableSource, SourceCapabilities } from '../src/sdk/source.js';
import { CheckFailure, CheckSkipped, describeError, within } from './assert.js';
import { CAPABILITY_NAMES, capabilityProblems, unmetRequirements } from './capabilities.js';
import { checks as catalogue, selectChecks } from './catalogue.js';
import type {
  CheckContext,
  CheckResult,
  ConformanceCheck,
  ConformanceReport,
  ConformanceTarget,
  RunSettings,
  SourceOptions,
  TableHarness,
} from './types.js';

/** Options of {@link runConformance}. */
export interface RunOptions extends Partial<RunSettings> {
  /** Check IDs to run (`CKPT-*` prefixes allowed); default all. */
  only?: readonly string[];
  /**
   * Checks that cannot apply to this source, ID → reason (e.g. a database without an empty
   * string cannot run VAL-01). They are reported as skipped with the reason; `--strict` still fails them.
   */
  bypass?: Readonly<Record<string, string>>;
  /** Called after each check (progress output). */
  onResult?: (result: CheckResult) => void;
}

/** Default settings: modest property runs so a real database finishes in about a minute. */
export const DEFAULT_SETTINGS: RunSettings = { seed: 0, numRuns: 25, timeoutMs: 60_000, convergeMs: 10_000, shrinkMs: 'auto' };

/** The settings of a run: defaults, then `options`; a missing seed becomes a random one (printed in the report). */
export function resolveSettings(options: Partial<RunSettings> = {}): RunSettings {
  return {
    seed: options.seed ?? Math.floor(Math.random() * 2 ** 31),
    numRuns: options.numRuns ?? DEFAULT_SETTINGS.numRuns,
    timeoutMs: options.timeoutMs ?? DEFAULT_SETTINGS.timeoutMs,
    convergeMs: options.convergeMs ?? DEFAULT_SETTINGS.convergeMs,
    shrinkMs: options.shrinkMs ?? DEFAULT_SETTINGS.shrinkMs,
  };
}

/**
 * The capabilities checks run under: the source's declaration with the target's claims on
 * top (a claim the source does not declare is verified as claimed, and CAP-01 reports the
 * disagreement). Creates one probe source on a throwaway table.
 */
export async function probeCapabilities(target: ConformanceTarget): Promise<SourceCapabilities> {
  const harness = await target.setup();
  try {
    const source = await harness.createSource();
    try {
      const declared = source.capabilities as unknown;
      const problems = capabilityProblems(declared);
      if (problems.length > 0) throw new TypeError(`the source's capabilities are invalid: ${problems.join('; ')}`);
      return { ...(declared as SourceCapabilities), ...(target.capabilities ?? {}) };
    } finally {
      await source.close();
    }
  } finally {
    await harness.teardown();
  }
}

/** Why a check cannot run under `caps` and `harness` (or is bypassed), or undefined when it can. */
export function skipReason(
  check: ConformanceCheck,
  caps: SourceCapabilities,
  harness?: TableHarness,
  bypass?: Readonly<Record<string, string>>,
): string | undefined {
  const bypassed = bypass?.[check.id];
  if (bypassed !== undefined) return `bypassed: ${bypassed}`;
  const unmet = unmetRequirements(check.requires, caps);
  if (unmet.length > 0) return `${unmet.join('; ')}${check.counterpart ? `; ${check.counterpart} covers this case` : ''}`;
  for (const hook of check.needsHarness ?? []) {
    if (harness && typeof harness[hook] !== 'function') return `the harness has no ${hook}() hook`;
  }
  return undefined;
}

/** Capability claims a failed check contradicts: the ones it verifies that are claimed (true, or a change stream). */
function contradictions(check: ConformanceCheck, caps: SourceCapabilities, error: unknown): (keyof SourceCapabilities)[] {
  const names = new Set<keyof SourceCapabilities>();
  for (const name of check.verifies ?? []) {
    const value = caps[name];
    if (value === true || (name === 'changes' && value !== 'none')) names.add(name);
  }
  if (error instanceof CheckFailure)
    for (const name of error.contradicts) if ((CAPABILITY_NAMES as string[]).includes(name)) names.add(name as keyof SourceCapabilities);
  return [...names];
}

/**
 * Runs one check on a fresh table: setup → run (with a time limit) → close every source it
 * created → teardown. Never throws; the outcome is in the result.
 */
export async function runCheck(
  check: ConformanceCheck,
  target: ConformanceTarget,
  caps: SourceCapabilities,
  settings: RunSettings,
  bypass?: Readonly<Record<string, string>>,
): Promise<CheckResult> {
  const started = Date.now();
  const notes: string[] = [];
  const result = (status: CheckResult['status'], reason?: string, contradicts: (keyof SourceCapabilities)[] = []): CheckResult => ({
    id: check.id,
    level: check.level,
    category: check.category,
    rule: check.rule,
    status,
    ...(reason !== undefined ? { reason } : {}),
    notes,
    contradicts,
    durationMs: Date.now() - started,
  });
  /** A failure reason ends with the command line that replays the check alone. */
  const failed = (reason: string, contradicts: (keyof SourceCapabilities)[] = []) =>
    result('fail', `${reason} (replay: --only ${check.id} --seed ${settings.seed})`, contradicts);
  const capabilitySkip = skipReason(check, caps, undefined, bypass);
  if (capabilitySkip) return result('skip', capabilitySkip);

  let harness: TableHarness;
  try {
    harness = await target.setup();
  } catch (error) {
    return failed(`target.setup() failed: ${describeError(error)}`);
  }
  const hookSkip = skipReason(check, caps, harness);
  const sources: ReferenceTableSource[] = [];
  const controller = new AbortController();
  const ctx: CheckContext = {
    target,
    harness,
    capabilities: caps,
    settings,
    signal: controller.signal,
    async createSource(options?: SourceOptions) {
      const source = await harness.createSource(options);
      sources.push(source);
      return source;
    },
    skip(reason: string): never {
      throw new CheckSkipped(reason);
    },
    note(message: string) {
      notes.push(message);
    },
  };
  const limit = settings.timeoutMs * (check.slow ? 4 : 1);
  let outcome: CheckResult;
  try {
    if (hookSkip) throw new CheckSkipped(hookSkip);
    await within(check.run(ctx), limit, check.id);
    outcome = result('pass');
  } catch (error) {
    controller.abort();
    if (error instanceof CheckSkipped) outcome = result('skip', error.message);
    else if (error instanceof CheckFailure) outcome = failed(error.message, contradictions(check, caps, error));
    else outcome = failed(`unexpected ${describeError(error)}`, contradictions(check, caps, error));
  }
  for (const source of sources) {
    try {
      await within(source.close(), 10_000, 'close()');
    } catch (error) {
      if (outcome.status === 'pass') outcome = failed(`close() after the check failed: ${describeError(error)}`);
    }
  }
  try {
    await within(harness.teardown(), 30_000, 'harness.teardown()');
  } catch (error) {
    notes.push(`teardown failed: ${describeError(error)}`);
  }
  outcome.durationMs = Date.now() - started;
  return outcome;
}

/** Runs the selected checks one after another and returns the report. */
export async function runConformance(target: ConformanceTarget, options: RunOptions = {}): Promise<ConformanceReport> {
  const settings = resolveSettings(options);
  const selected = selectChecks(options.only, catalogue);
  for (const id of Object.keys(options.bypass ?? {})) selectChecks([id], catalogue); // unknown IDs throw
  const startedAt = new Date();
  const results: CheckResult[] = [];
  let caps: SourceCapabilities | null = null;
  try {
    caps = await probeCapabilities(target);
  } catch (error) {
    for (const check of selected) {
      const r: CheckResult = {
        id: check.id,
        level: check.level,
        category: check.category,
        rule: check.rule,
        status: 'fail',
        reason: `could not create a source: ${describeError(error)}`,
        notes: [],
        contradicts: [],
        durationMs: 0,
      };
      results.push(r);
      options.onResult?.(r);
    }
  }
  if (caps) {
    for (const check of selected) {
      const r = await runCheck(check, target, caps, settings, options.bypass);
      results.push(r);
      options.onResult?.(r);
    }
  }
  return buildReport(target, caps, settings, startedAt, results);
}

/** Assembles the report and its verdict. */
export function buildReport(
  target: ConformanceTarget,
  caps: SourceCapabilities | null,
  settings: RunSettings,
  startedAt: Date,
  results: CheckResult[],
): ConformanceReport {
  const contradicted = [...new Set(results.flatMap((r) => r.contradicts))];
  const summary = {
    passed: results.filter((r) => r.status === 'pass').length,
    failed: results.filter((r) => r.status === 'fail').length,
    skipped: results.filter((r) => r.status === 'skip').length,
  };
  const mustFailed = results.some((r) => r.status === 'fail' && r.level === 'MUST');
  return {
    target: target.name,
    capabilities: caps,
    claims: { ...(target.capabilities ?? {}) },
    settings,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    results,
    summary,
    contradicted,
    ok: !mustFailed && contradicted.length === 0,
  };
}

/** The exit code for a report: 1 when a MUST check failed or a claim was contradicted; with `strict`, also when anything was skipped. */
export function exitCode(report: ConformanceReport, strict = false): number {
  if (!report.ok) return 1;
  if (strict && report.summary.skipped > 0) return 1;
  return 0;
}
