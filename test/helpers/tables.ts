import type { TableDescriptor } from '../../src/sdk/batch.js';
import { testTableDescriptor } from '../../conformance-tests/targets/test-table-descriptor.js';

/** The standard test table of the conformance suite (docs/conformance.md). */
export function standardDescriptor(table = 'public.items'): TableDescriptor {
  return testTableDescriptor(table);
}

/** A row of the standard test table for id `id`, version `v`. */
export function standardRow(id: bigint, v = 0): Record<string, unknown> {
  return {
    id,
    name: `name-${id}-${v}`,
    amount: `${Number(id % 1000n)}.${String(v % 100).padStart(2, '0')}`,
    updated_at: new Date(Date.UTC(2024, 0, 1) + Number(id) * 1000 + v),
    active: (id + BigInt(v)) % 2n === 0n,
    note: v % 3 === 0 ? null : `note ${v} ✓`,
  };
}
