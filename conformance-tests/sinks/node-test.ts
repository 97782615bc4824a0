/**
 * The `node:test` adapter of the sink suite: registers it inside a sink's own test file.
 *
 * ```ts
 * import { test } from 'node:test';
 * import { registerSinkConformance } from 'refstream/conformance';
 * registerSinkConformance(test, mySinkTarget);
 * ```
 */
import type { TestFunctionLike } from '../adapters/node-test.js';
import { resultLine } from '../report/text.js';
import { resolveSettings, type RunOptions } from '../runner.js';
import type { CheckResult } from '../types.js';
import { selectSinkChecks } from './catalogue.js';
import { runSinkCheck, sinkCapabilities, sinkSkipReason } from './runner.js';
import type { SinkConformanceTarget } from './types.js';

/**
 * Registers one test named `sink conformance: <target>` with a subtest per check. Skips carry
 * their reason; a failed MUST check fails its subtest (its message names the first diverging
 * key and the options that replay it).
 */
export function registerSinkConformance(
  test: TestFunctionLike,
  target: SinkConformanceTarget,
  options: Omit<RunOptions, 'onResult'> = {},
): void {
  const settings = resolveSettings(options);
  const selected = selectSinkChecks(options.only);
  const budget = selected.reduce((ms, c) => ms + settings.timeoutMs * (c.slow ? 4 : 1), 60_000);
  test(`sink conformance: ${target.name}`, { timeout: budget }, async (t) => {
    const caps = sinkCapabilities(target);
    t.diagnostic?.(`capabilities ${JSON.stringify(caps)}; seed ${settings.seed} (replay with --seed ${settings.seed})`);
    for (const check of selected) {
      const skip = sinkSkipReason(check, caps, options.bypass);
      await t.test(`${check.id} [${check.level}] ${check.rule}`, skip ? { skip } : {}, async (sub) => {
        const result = await runSinkCheck(check, target, caps, settings, options.bypass);
        for (const note of result.notes) sub.diagnostic?.(note);
        sub.diagnostic?.(`${check.id} took ${result.durationMs} ms`);
        if (result.status === 'skip') return sub.skip?.(result.reason);
        if (result.status === 'fail') {
          if (check.level !== 'MUST') sub.todo?.(`${check.level} check failed`);
          throw new Error(resultLine(result as unknown as CheckResult));
        }
      });
    }
  });
}
