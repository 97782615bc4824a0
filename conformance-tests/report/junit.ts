/**
 * JUnit XML, as CI systems read it: one testsuite per run, one testcase per check, skip
 * reasons kept in `<skipped message>`.
 */
import type { SinkCheckResult, SinkConformanceReport } from '../sinks/types.js';
import type { CheckResult, ConformanceReport } from '../types.js';

/** Escapes text for XML attributes and content (and drops characters XML 1.0 forbids). */
export function escapeXml(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}

function testcase(r: CheckResult | SinkCheckResult, suite: string): string {
  const open = `    <testcase classname="${escapeXml(`${suite}.${r.category}`)}" name="${escapeXml(`${r.id} [${r.level}] ${r.rule}`)}" time="${(r.durationMs / 1000).toFixed(3)}"`;
  const notes = r.notes.length > 0 ? `\n      <system-out>${escapeXml(r.notes.join('\n'))}</system-out>` : '';
  if (r.status === 'pass') return notes ? `${open}>${notes}\n    </testcase>` : `${open}/>`;
  if (r.status === 'skip') return `${open}>\n      <skipped message="${escapeXml(r.reason ?? '')}"/>${notes}\n    </testcase>`;
  const type = r.contradicts.length > 0 ? `contradicts ${r.contradicts.join(', ')}` : r.level;
  return `${open}>\n      <failure type="${escapeXml(type)}" message="${escapeXml(r.reason ?? '')}">${escapeXml(r.reason ?? '')}</failure>${notes}\n    </testcase>`;
}

/** The report as a JUnit XML document. */
export function toJunitXml(report: ConformanceReport | SinkConformanceReport): string {
  const suite = `refstream.conformance.${report.target}`;
  const { passed, failed, skipped } = report.summary;
  const total = passed + failed + skipped;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="refstream conformance" tests="${total}" failures="${failed}" skipped="${skipped}" time="${(report.durationMs / 1000).toFixed(3)}">`,
    `  <testsuite name="${escapeXml(suite)}" tests="${total}" failures="${failed}" skipped="${skipped}" timestamp="${report.startedAt}" time="${(report.durationMs / 1000).toFixed(3)}">`,
    `    <properties>\n      <property name="seed" value="${report.settings.seed}"/>\n      <property name="numRuns" value="${report.settings.numRuns}"/>\n      <property name="capabilities" value="${escapeXml(JSON.stringify(report.capabilities))}"/>\n    </properties>`,
    ...report.results.map((r) => testcase(r, suite)),
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
