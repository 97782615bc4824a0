/**
 * The JSON report: the whole {@link ConformanceReport}, stable field order, for tooling and
 * the generated capability matrix.
 */
import type { SinkConformanceReport } from '../sinks/types.js';
import type { ConformanceReport } from '../types.js';

/** The report as pretty-printed JSON text. */
export function toJsonReport(report: ConformanceReport | SinkConformanceReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
