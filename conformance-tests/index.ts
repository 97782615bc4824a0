/**
 * `refstream/conformance`: the conformance suite for refstream connectors.
 *
 * - {@link runConformance}: run the catalogue against a target, get a report (runner-agnostic);
 * - {@link registerConformance}: the same inside a `node:test` suite;
 * - {@link runConformanceCli}: the `refstream conformance <module>` command;
 * - {@link checks}: the catalogue (stable IDs, levels, capabilities, rules).
 *
 * @packageDocumentation
 * @module refstream/conformance
 */
export { checks, selectChecks } from './catalogue.js';
export { runConformance, runCheck, probeCapabilities, resolveSettings, exitCode, skipReason, DEFAULT_SETTINGS } from './runner.js';
export type { RunOptions } from './runner.js';
export { registerConformance } from './adapters/node-test.js';
export type { TestFunctionLike, TestContextLike, RegisterOptions } from './adapters/node-test.js';
export { runConformanceCli, loadTarget } from './cli.js';
export type { CliOutput } from './cli.js';
export { toJsonReport } from './report/json.js';
export { toJunitXml } from './report/junit.js';
export { resultLine, summaryLine } from './report/text.js';
export { requirementText, unmetRequirements, capabilityProblems } from './capabilities.js';
export { canonicalTestRow, makeRow, makeRows } from './test-table.js';
export type { CanonicalRow } from './test-table.js';
export type {
  ConformanceTarget,
  TargetQuirks,
  TableHarness,
  TestRow,
  SourceOptions,
  ConformanceReport,
  ConformanceCheck,
  CheckContext,
  CheckResult,
  CheckStatus,
  CapabilityRequirement,
  Category,
  Level,
  RunSettings,
} from './types.js';
