/**
 * Conformance target: `ExasolSource` in watermark mode (inserts and updates; deletes are
 * not observed, so the suite runs the `deletes: false` checks) on the Exasol test server.
 */
import type { ConformanceTarget } from '../types.js';
import { exasolHarness, sharedTestServer, testServerTarget, type ExasolTarget } from './exasol-harness.js';

/** The watermark-mode target over the given database (default: a shared Exasol test server). */
export function exasolWatermarkTarget(target?: () => ExasolTarget): ConformanceTarget {
  return {
    name: 'exasol (watermark mode)',
    capabilities: { changes: 'poll', deletes: false, exactlyOnce: false, midSnapshotResume: false, transactions: false },
    // Exasol has no empty string: '' is stored as NULL.
    quirks: { emptyStringIsNull: true },
    setup: async () => exasolHarness(target ? target() : testServerTarget(await sharedTestServer()), 'watermark'),
  };
}

export default exasolWatermarkTarget();
