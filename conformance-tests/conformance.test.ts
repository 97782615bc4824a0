/**
 * Runs the conformance suite against every target in `targets/` (CI entry point).
 * `REFSTREAM_CONFORMANCE_SEED` replays a seed; `REFSTREAM_CONFORMANCE_RUNS` sets the property runs;
 * `REFSTREAM_CONFORMANCE_SKIP_POSTGRES=1` leaves the Postgres target out (no server binaries).
 */
import { after, test } from 'node:test';
import { registerConformance } from './index.js';
import memoryTarget from './targets/memory.js';
import postgresTarget, {
  postgresCaptureTarget,
  postgresPartitionedTarget,
  postgresTargetWith,
  stopPostgresTarget,
} from './targets/postgres.js';
import postgresTriggerTarget, { postgresTriggerTargetWith, stopPostgresTriggerTarget } from './targets/postgres-trigger.js';

const seed = process.env.REFSTREAM_CONFORMANCE_SEED ? Number(process.env.REFSTREAM_CONFORMANCE_SEED) : 20261121;
const numRuns = process.env.REFSTREAM_CONFORMANCE_RUNS ? Number(process.env.REFSTREAM_CONFORMANCE_RUNS) : undefined;

registerConformance(test, memoryTarget, { seed, numRuns: numRuns ?? 60 });

if (process.env.REFSTREAM_CONFORMANCE_SKIP_POSTGRES !== '1') {
  after(stopPostgresTarget);
  registerConformance(test, postgresTarget, {
    seed,
    numRuns: numRuns ?? 15,
    // Known connector failures go here as `expectedFailures: { 'ID': 'reason + issue' }`:
    // reported as todo while failing, and failing the run once fixed.
  });
  // a table of a capture: one slot and stream shared with a busy neighbour table
  registerConformance(test, postgresCaptureTarget, { seed, numRuns: numRuns ?? 8 });
  // the same connector on a partitioned table
  registerConformance(test, postgresPartitionedTarget, { seed, numRuns: numRuns ?? 8 });
  // the same connector with schema evolution off: the checks whose outcome depends on it
  registerConformance(test, postgresTargetWith('postgres (schemaEvolution: false)', { schemaEvolution: false }), {
    seed,
    only: ['CAP-01', 'SCH-04', 'SCH-06N'],
  });
  // trigger capture, on a server with wal_level = replica (no logical replication)
  after(stopPostgresTriggerTarget);
  registerConformance(test, postgresTriggerTarget, { seed, numRuns: numRuns ?? 15 });
  registerConformance(test, postgresTriggerTargetWith('postgres trigger capture (schemaEvolution: false)', { schemaEvolution: false }), {
    seed,
    only: ['CAP-01', 'SCH-04', 'SCH-06N'],
  });
}
