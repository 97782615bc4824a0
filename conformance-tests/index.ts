/**
 * `refstream/conformance`: the conformance suite for refstream connectors.
 *
 * - {@link runConformance}: run the catalogue against a target, get a report (runner-agnostic);
 * - {@link registerConformance}: the same inside a `node:test` suite;
 * - {@link runConformanceCli}: the `refstream conformance <module>` command;
 * - {@link checks}: the catalogue (stable IDs, levels, capabilities, rules);
 * - {@link runSinkConformance}, {@link registerSinkConformance}, {@link sinkChecks}: the same for sinks
 *   (`refstream conformance --sink <module>`).
 *
 * @packageDocumentation
 * @module refstream/conformance
 */
export { checks, selectChecks } from './catalogue.js';
export { runConformance, runCheck, probeCapabilities, resolveSettings, exitCode, skipReason, DEFAULT_SETTINGS } from './runner.js';
export type { RunOptions } from './runner.js';
export { registerConformance } from './adapters/node-test.js';
export type { TestFunctionLike, TestContextLike, RegisterOptions } from './adapters/node-test.js';
export { runConformanceCli, loadTarget, loadSinkTarget } from './cli.js';
export { sinkChecks, selectSinkChecks } from './sinks/catalogue.js';
export { runSinkConformance, runSinkCheck, sinkCapabilities, sinkSkipReason } from './sinks/runner.js';
export type { SinkRunOptions } from './sinks/runner.js';
export { registerSinkConformance } from './sinks/node-test.js';
export type {
  SinkConformanceTarget,
  SinkHarness,
  SinkCapabilities,
  SinkQuirks,
  StoredRow,
  StoredValue,
  SinkCheck,
  SinkCheckContext,
  SinkCheckResult,
  SinkCategory,
  SinkConformanceReport,
} from './sinks/types.js';
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
  ExtraColumn,
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
