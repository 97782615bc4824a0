/**
 * Rows of a topic written before a schema change, read after it: each row is decoded with the
 * schema its partition had when it was written and mapped to the latest one (renamed and
 * dropped columns followed by `refstream.column_id`, added ones null), so a reader that saw a
 * newer schema record on another partition still reads older rows right.
 */
import { sameTableSchema, type TableDescriptor } from '../../sdk/batch.js';
import { diffColumns } from '../../sdk/schema-change.js';

/** A row's JSON written with `written` columns, as the `latest` columns name them. */
export function asLatest(json: Record<string, unknown>, written: TableDescriptor | null, latest: TableDescriptor): Record<string, unknown> {
  if (written === null || written === latest || sameTableSchema(written.fields, latest.fields)) return json;
  const out: Record<string, unknown> = {};
  for (const c of diffColumns(written.fields, latest.fields)) {
    if (c.kind === 'kept') out[c.to.name] = json[c.from.name] ?? null;
    else if (c.kind === 'added') out[c.to.name] = null;
  }
  return out;
}
