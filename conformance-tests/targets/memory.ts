/**
 * Conformance target: the in-memory reference source (`MemorySource` over a `MemoryStore`).
 * Also the base the self-test's faulty sources wrap.
 */
import { MemorySource, MemoryStore } from '../../src/sources/memory/index.js';
import type { ReferenceTableSource } from '../../src/sdk/source.js';
import type { ConformanceTarget, SourceOptions, TableHarness, TestRow } from '../types.js';
import { testTableDescriptor } from './test-table-descriptor.js';

/**
 * A harness over a fresh MemoryStore. `wrap` lets the self-test decorate every source;
 * `defaults` are source options used when the suite does not ask for others.
 */
export function memoryHarness(
  wrap: (source: ReferenceTableSource, options: SourceOptions) => ReferenceTableSource = (s) => s,
  defaults: SourceOptions = {},
): TableHarness & { store: MemoryStore } {
  const store = new MemoryStore(testTableDescriptor());
  return {
    store,
    async createSource(requested: SourceOptions = {}) {
      const options = { ...defaults, ...requested };
      const config = {
        ...(options.batchRows !== undefined ? { batchRows: options.batchRows } : {}),
        ...(options.maxWaitMs !== undefined ? { maxWaitMs: options.maxWaitMs } : {}),
      };
      return wrap(new MemorySource(store, config), options);
    },
    async insert(rows: TestRow[]) {
      store.insert(rows);
    },
    async update(rows: TestRow[]) {
      store.update(rows);
    },
    async delete(ids: bigint[]) {
      store.delete(ids);
    },
    async truncate() {
      store.truncate();
    },
    async interrupt() {
      store.interrupt();
    },
    async teardown() {},
  };
}

const memoryTarget: ConformanceTarget = {
  name: 'memory',
  capabilities: { changes: 'log', deletes: true, exactlyOnce: true, midSnapshotResume: true, transactions: true },
  setup: async () => memoryHarness(),
};

export default memoryTarget;
