/**
 * Change batches of the benchmark `public.customers` table (the conformance test table's
 * shape): `rows` updates in batches of `batchRows`, positions 1…rows.
 */
import type { RecordBatch } from 'apache-arrow';
import { BatchBuilder, formatPosition, type TableDescriptor } from '../../src/sdk/batch.js';
import { testTableDescriptor } from '../../conformance-tests/targets/test-table-descriptor.js';

export const customersTable: TableDescriptor = testTableDescriptor('public.customers');

export function customerBatches(rows: number, batchRows: number): RecordBatch[] {
  const out: RecordBatch[] = [];
  const base = Date.UTC(2024, 0, 1);
  for (let start = 0; start < rows; start += batchRows) {
    const b = new BatchBuilder(customersTable, 'changes');
    for (let i = start; i < Math.min(rows, start + batchRows); i++) {
      const values = [
        BigInt(i),
        `customer ${i}`,
        `${i % 100000}.${String(i % 100).padStart(2, '0')}`,
        new Date(base + i * 1000),
        i % 2 === 0,
        i % 5 === 0 ? null : `note for customer ${i}`,
      ];
      b.appendChange('update', values, formatPosition(i + 1));
    }
    out.push(b.finish());
  }
  return out;
}
