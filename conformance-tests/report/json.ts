/**
 * The JSON report: the whole {@link ConformanceReport}, stable field order, for tooling and
 * the generated capability matrix.
 */
import type { ConformanceReport } from '../types.js';

/** The report as pretty-printed JSON text. */
export function toJsonReport(report: ConformanceReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
