/**
 * The standard test table as an Arrow table descriptor, for in-process targets.
 */
import { Bool, Decimal, Int64, TimeUnit, Timestamp, Utf8 } from 'apache-arrow';
import { column, type TableDescriptor } from '../../src/sdk/batch.js';

/** `id int64 primary key, name utf8, amount decimal(12,2), updated_at timestamp(µs, UTC), active bool, note utf8 nullable`. */
export function testTableDescriptor(table = 'conformance.test_table'): TableDescriptor {
  return {
    table,
    primaryKey: ['id'],
    fields: [
      column('id', new Int64(), false, 'bigint'),
      column('name', new Utf8(), false, 'text'),
      column('amount', new Decimal(2, 12, 128), false, 'numeric(12,2)'),
      column('updated_at', new Timestamp(TimeUnit.MICROSECOND, 'UTC'), false, 'timestamptz'),
      column('active', new Bool(), false, 'boolean'),
      column('note', new Utf8(), true, 'text'),
    ],
  };
}
