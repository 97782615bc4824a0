/**
 * Sink conformance target: MemorySink. The destination is one ReferenceTable that every sink
 * instance of a harness writes into (standing in for state that outlives a restart).
 */
import { ReferenceTable } from '../../../src/sdk/table.js';
import { MemorySink } from '../../../src/sinks/memory.js';
import type { SinkConformanceTarget, SinkHarness, StoredRow } from '../../sinks/types.js';

/** A harness over a fresh ReferenceTable. */
export function memorySinkHarness(): SinkHarness & { table: ReferenceTable } {
  const table = new ReferenceTable();
  return {
    table,
    async createSink() {
      return new MemorySink(table);
    },
    async readBack() {
      return table.toJSON() as StoredRow[];
    },
    async teardown() {},
  };
}

const memorySinkTarget: SinkConformanceTarget = {
  name: 'memory (MemorySink)',
  setup: async () => memorySinkHarness(),
};

export default memorySinkTarget;
