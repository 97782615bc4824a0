/**
 * `refstream conformance <module> | --sink <module> [--json out.json] [--junit out.xml] [--seed N] [--only ID,…]
 * [--num-runs N] [--timeout MS] [--converge-ms MS] [--shrink-ms MS|auto] [--strict]`
 *
 * The module's default export is a {@link ConformanceTarget}. Prints one line per check and a
 * final `N passed, N failed, N skipped` line; exits non-zero when a MUST check fails or a
 * declared capability is contradicted (with `--strict`, also when a check was skipped).
 * With `--sink <module>` the module's default export is a {@link SinkConformanceTarget} and
 * the sink suite runs instead.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { toJsonReport } from './report/json.js';
import { toJunitXml } from './report/junit.js';
import { footerLines, headerLines, resultLine, summaryLine } from './report/text.js';
import { exitCode, resolveSettings, runConformance } from './runner.js';
import { runSinkConformance } from './sinks/runner.js';
import type { SinkConformanceTarget } from './sinks/types.js';
import type { ConformanceTarget, RunSettings } from './types.js';

/** Where the CLI writes its lines (replaceable in tests). */
export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

const USAGE =
  'usage: refstream conformance <module> | --sink <module> [--json out.json] [--junit out.xml] [--seed N] [--only ID,…] [--num-runs N] [--timeout MS] [--converge-ms MS] [--shrink-ms MS|auto] [--strict]';

function integerOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`--${name} must be a non-negative integer, got ${value}`);
  return n;
}

/** Loads a target module and returns its default export, checking its shape. */
export async function loadTarget(modulePath: string): Promise<ConformanceTarget> {
  const loaded = (await import(pathToFileURL(resolve(modulePath)).href)) as { default?: unknown };
  let target = loaded.default as Record<string, unknown> | undefined;
  // a CommonJS module compiled from `export default` nests it once more
  if (target && typeof target === 'object' && 'default' in target && typeof target.setup !== 'function')
    target = target.default as Record<string, unknown>;
  if (!target || typeof target !== 'object' || typeof target.name !== 'string' || typeof target.setup !== 'function') {
    throw new TypeError(`${modulePath} must default-export a ConformanceTarget ({ name, capabilities?, setup() })`);
  }
  return target as unknown as ConformanceTarget;
}

/** Loads a sink target module and returns its default export, checking its shape. */
export async function loadSinkTarget(modulePath: string): Promise<SinkConformanceTarget> {
  const loaded = (await import(pathToFileURL(resolve(modulePath)).href)) as { default?: unknown };
  let target = loaded.default as Record<string, unknown> | undefined;
  if (target && typeof target === 'object' && 'default' in target && typeof target.setup !== 'function')
    target = target.default as Record<string, unknown>;
  if (!target || typeof target !== 'object' || typeof target.name !== 'string' || typeof target.setup !== 'function') {
    throw new TypeError(`${modulePath} must default-export a SinkConformanceTarget ({ name, capabilities?, setup() })`);
  }
  return target as unknown as SinkConformanceTarget;
}

/** Runs the sink suite for the CLI: one line per check, capabilities and summary, reports. */
async function runSinkCli(
  modulePath: string,
  settings: RunSettings,
  only: string[] | undefined,
  values: { json?: string | undefined; junit?: string | undefined; strict?: boolean | undefined },
  io: CliOutput,
): Promise<number> {
  let target: SinkConformanceTarget;
  try {
    target = await loadSinkTarget(modulePath);
  } catch (error) {
    io.err((error as Error).message);
    return 2;
  }
  io.out(`refstream sink conformance: ${target.name}`);
  io.out(`seed ${settings.seed}, ${settings.numRuns} property runs (replay with --seed ${settings.seed})`);
  let report;
  try {
    report = await runSinkConformance(target, { ...settings, ...(only ? { only } : {}), onResult: (r) => io.out(resultLine(r)) });
  } catch (error) {
    io.err((error as Error).message);
    return 2;
  }
  io.out(`capabilities ${JSON.stringify(report.capabilities)}`);
  io.out(summaryLine(report));
  if (values.json) await writeFile(values.json, toJsonReport(report));
  if (values.junit) await writeFile(values.junit, toJunitXml(report));
  if (!report.ok) return 1;
  if (values.strict && report.summary.skipped > 0) {
    io.out(`--strict: ${report.summary.skipped} skipped checks count as failures`);
    return 1;
  }
  return 0;
}

/**
 * Runs the CLI with `argv` (the arguments after `refstream conformance`; a leading
 * `conformance` is ignored) and returns the exit code: 0 ok, 1 conformance failure, 2 usage
 * or loading error.
 */
export async function runConformanceCli(
  argv: readonly string[],
  io: CliOutput = { out: (l) => console.log(l), err: (l) => console.error(l) },
): Promise<number> {
  const args = argv[0] === 'conformance' ? argv.slice(1) : [...argv];
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        json: { type: 'string' },
        junit: { type: 'string' },
        seed: { type: 'string' },
        only: { type: 'string' },
        'num-runs': { type: 'string' },
        timeout: { type: 'string' },
        'converge-ms': { type: 'string' },
        'shrink-ms': { type: 'string' },
        strict: { type: 'boolean', default: false },
        sink: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  if (positionals.length !== (values.sink === undefined ? 1 : 0)) {
    io.err(USAGE);
    return 2;
  }
  let target: ConformanceTarget;
  let settings;
  let only: string[] | undefined;
  try {
    settings = resolveSettings({
      ...(values.seed !== undefined ? { seed: integerOption(values.seed, 'seed')! } : {}),
      ...(values['num-runs'] !== undefined ? { numRuns: integerOption(values['num-runs'], 'num-runs')! } : {}),
      ...(values.timeout !== undefined ? { timeoutMs: integerOption(values.timeout, 'timeout')! } : {}),
      ...(values['converge-ms'] !== undefined ? { convergeMs: integerOption(values['converge-ms'], 'converge-ms')! } : {}),
      ...(values['shrink-ms'] !== undefined
        ? { shrinkMs: values['shrink-ms'] === 'auto' ? ('auto' as const) : integerOption(values['shrink-ms'], 'shrink-ms')! }
        : {}),
    });
    only = values.only
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (values.sink !== undefined) return await runSinkCli(values.sink, settings, only, values, io);
    target = await loadTarget(positionals[0]!);
  } catch (error) {
    io.err((error as Error).message);
    return 2;
  }
  for (const line of headerLines(target.name, settings.seed, settings.numRuns)) io.out(line);
  let report;
  try {
    report = await runConformance(target, { ...settings, ...(only ? { only } : {}), onResult: (r) => io.out(resultLine(r)) });
  } catch (error) {
    io.err((error as Error).message);
    return 2;
  }
  for (const line of footerLines(report)) io.out(line);
  if (values.json) await writeFile(values.json, toJsonReport(report));
  if (values.junit) await writeFile(values.junit, toJunitXml(report));
  const code = exitCode(report, values.strict);
  if (values.strict && report.summary.skipped > 0) io.out(`--strict: ${report.summary.skipped} skipped checks count as failures`);
  return code;
}
