/**
 * Conformance target: `ExasolSource` in diff mode (key + row hash compared with the previous
 * state: inserts, updates and deletes, exactly once across restores) on the Exasol test server.
 */
import type { ConformanceTarget } from '../types.js';
import { exasolHarness, sharedTestServer, testServerTarget, type ExasolTarget } from './exasol-harness.js';

/** The diff-mode target over the given database (default: a shared Exasol test server). */
export function exasolDiffTarget(target?: () => ExasolTarget): ConformanceTarget {
  return {
    name: 'exasol (diff mode)',
    capabilities: { changes: 'poll', deletes: true, exactlyOnce: true, midSnapshotResume: false, transactions: false },
    // Exasol has no empty string: '' is stored as NULL.
    quirks: { emptyStringIsNull: true },
    setup: async () => exasolHarness(target ? target() : testServerTarget(await sharedTestServer()), 'diff'),
  };
}

export default exasolDiffTarget();
