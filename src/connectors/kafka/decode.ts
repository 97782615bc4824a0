/**
 * Decoding refstream topic records back into Arrow rows: the inverse of the sink's JSON
 * rendering (`toJsonValue`), driven by the table schema.
 */
import { tableFromIPC, type DataType, type Field } from 'apache-arrow';
import { descriptorOf, type TableDescriptor } from '../../sdk/batch.js';
import { definite } from '../../sdk/errors.js';

/** The table descriptor carried by a `schema` control record (an Arrow IPC stream). */
export function descriptorFromIpc(bytes: Uint8Array): TableDescriptor {
  return descriptorOf(tableFromIPC(bytes).schema);
}

/** Converts one JSON value (as the sink wrote it) into what the column builder appends. */
function fromJson(field: Field, value: unknown, table: string): unknown {
  if (value === null || value === undefined) return null;
  const type = field.type as DataType & { children?: Field[] };
  switch (type.typeId) {
    case 4: // Binary: base64
      return Uint8Array.from(Buffer.from(String(value), 'base64'));
    case 11:
      throw definite('UNSUPPORTED_TYPE', `column ${field.name} of ${table}: interval values cannot be read back from JSON`, { table });
    case 12: {
      const child = type.children![0]!;
      return (value as unknown[]).map((v) => fromJson(child, v, table));
    }
    default:
      return value;
  }
}

/** Values of a row, in table column order, from its JSON object (missing columns are null). */
export function rowFromJson(descriptor: TableDescriptor, json: Record<string, unknown>): unknown[] {
  return descriptor.fields.map((f) => fromJson(f, json[f.name], descriptor.table));
}

/** Values of a key-only row (for deletes): key columns from the key JSON, the rest null. */
export function keyRowFromJson(descriptor: TableDescriptor, key: Record<string, unknown>): unknown[] {
  const keys = new Set(descriptor.primaryKey);
  return descriptor.fields.map((f) => (keys.has(f.name) ? fromJson(f, key[f.name], descriptor.table) : null));
}

/** Parses a record's JSON (key or value), reporting which record was unreadable. */
export function parseJson(bytes: Buffer, where: string, table: string): Record<string, unknown> {
  try {
    const value = JSON.parse(bytes.toString('utf8')) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError('not a JSON object');
    return value as Record<string, unknown>;
  } catch (error) {
    throw definite('SCHEMA_INCOMPATIBLE', `${where} is not a JSON object of the refstream upsert format: ${(error as Error).message}`, {
      table,
      hint: "read topics written by KafkaSink with format 'json'",
    });
  }
}
