/**
 * Human-readable report lines: one per check, and the closing summary line CI parsers read.
 */
import type { SinkCheckResult } from '../sinks/types.js';
import type { CheckResult, ConformanceReport } from '../types.js';

const STATUS = { pass: 'pass', fail: 'FAIL', skip: 'skip' } as const;

/** `SNAP-01   MUST   pass   12 ms` or `CKPT-04   MUST   skip   needs …`. */
export function resultLine(r: CheckResult | SinkCheckResult): string {
  const reason = r.reason ? `  ${r.reason}` : '';
  const contradicted = r.contradicts.length > 0 ? `  [contradicts ${r.contradicts.join(', ')}]` : '';
  return `${r.id.padEnd(9)} ${r.level.padEnd(6)} ${STATUS[r.status].padEnd(4)} ${String(r.durationMs).padStart(6)} ms${reason}${contradicted}`;
}

/** `N passed, N failed, N skipped`. */
export function summaryLine(report: Pick<ConformanceReport, 'summary'>): string {
  const { passed, failed, skipped } = report.summary;
  return `${passed} passed, ${failed} failed, ${skipped} skipped`;
}

/** The header printed before the checks run. */
export function headerLines(target: string, seed: number, numRuns: number): string[] {
  return [`refstream conformance: ${target}`, `seed ${seed}, ${numRuns} property runs (replay with --seed ${seed})`];
}

/** Lines printed after the checks: contradicted claims and the summary. */
export function footerLines(report: ConformanceReport): string[] {
  const lines: string[] = [];
  if (report.capabilities) lines.push(`capabilities ${JSON.stringify(report.capabilities)}`);
  if (report.contradicted.length > 0) lines.push(`contradicted capability claims: ${report.contradicted.join(', ')}`);
  lines.push(summaryLine(report));
  return lines;
}
