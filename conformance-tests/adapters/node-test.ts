/**
 * The `node:test` adapter: registers the suite inside a connector's own test file.
 *
 * ```ts
 * import { test } from 'node:test';
 * import { registerConformance } from 'refstream/conformance';
 * registerConformance(test, myTarget);
 * ```
 *
 * It takes the test function as an argument (typed structurally) rather than importing a
 * runner, so the suite works with any runner exposing the same shape.
 */
import { selectChecks } from '../catalogue.js';
import { resultLine } from '../report/text.js';
import { probeCapabilities, resolveSettings, runCheck, skipReason, type RunOptions } from '../runner.js';
import type { ConformanceTarget } from '../types.js';

/** The part of a `node:test` test context the adapter uses. */
export interface TestContextLike {
  test(name: string, options: { skip?: string | boolean; timeout?: number }, fn: (t: TestContextLike) => Promise<void>): Promise<unknown>;
  diagnostic?(message: string): void;
  skip?(message?: string): void;
  todo?(message?: string): void;
}

/** The part of `node:test`'s `test` function the adapter uses. */
export type TestFunctionLike = (name: string, options: { timeout?: number }, fn: (t: TestContextLike) => Promise<void>) => unknown;

/** Options of {@link registerConformance}. */
export interface RegisterOptions extends Omit<RunOptions, 'onResult'> {
  /**
   * Known failures, check ID → reason (with an issue link). Such a check is reported as a
   * `todo` while it fails, and fails the run once it passes, so the entry gets removed.
   */
  expectedFailures?: Readonly<Record<string, string>>;
}

/**
 * Registers one test named `conformance: <target>` with a subtest per check. Skips carry
 * their reason; a failed MUST check (or contradicted claim) fails its subtest; a failed
 * SHOULD/MAY check is reported as a failing `todo`, which does not fail the run.
 */
export function registerConformance(test: TestFunctionLike, target: ConformanceTarget, options: RegisterOptions = {}): void {
  const settings = resolveSettings(options);
  const selected = selectChecks(options.only);
  const budget = selected.reduce((ms, c) => ms + settings.timeoutMs * (c.slow ? 4 : 1), 60_000);
  test(`conformance: ${target.name}`, { timeout: budget }, async (t) => {
    const caps = await probeCapabilities(target);
    t.diagnostic?.(`capabilities ${JSON.stringify(caps)}; seed ${settings.seed} (replay with --seed ${settings.seed})`);
    for (const check of selected) {
      const skip = skipReason(check, caps, undefined, options.bypass);
      await t.test(`${check.id} [${check.level}] ${check.rule}`, skip ? { skip } : {}, async (sub) => {
        const result = await runCheck(check, target, caps, settings, options.bypass);
        for (const note of result.notes) sub.diagnostic?.(note);
        if (result.status === 'skip') {
          // skipped at run time (e.g. a missing harness hook): report it with the reason
          sub.skip?.(result.reason);
          return;
        }
        const known = options.expectedFailures?.[check.id];
        if (known !== undefined) {
          if (result.status === 'pass') throw new Error(`${check.id} passes now: remove it from expectedFailures (${known})`);
          sub.todo?.(`expected failure: ${known}`);
          throw new Error(resultLine(result));
        }
        if (result.status === 'fail') {
          if (check.level !== 'MUST' && result.contradicts.length === 0) sub.todo?.(`${check.level} check failed`);
          throw new Error(resultLine(result));
        }
      });
    }
  });
}
