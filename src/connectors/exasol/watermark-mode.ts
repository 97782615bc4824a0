/**
 * Watermark change mode: rows whose `(watermark, key)` is past the cursor, in that order.
 * Finds inserts and updates (not deletes); relies on writers assigning watermarks in commit
 * order. See docs/connectors/exasol.md.
 */
import type { RecordBatch } from 'apache-arrow';
import { BatchBuilder } from '../../sdk/batch.js';
import type { ExasolConnection } from './connection.js';
import { endChangeRow, type BatchLimits } from './change-batch.js';
import { quoteIdent } from './sql.js';
import {
  compareWatermarks,
  keyValueText,
  literalOf,
  selectList,
  sortableWatermark,
  tupleGreaterThan,
  type TableShape,
} from './table-shape.js';

/** Position after the last delivered row: its watermark, key, and ordinal among rows of that watermark. */
export interface WatermarkCursor {
  /** Canonical watermark text; null before anything was seen (empty snapshot). */
  wm: string | null;
  /** Key of the last row at `wm`; null means "every row at `wm`" (the snapshot's end). */
  key: string[] | null;
  ordinal: number;
}

/** The query of the rows after `cursor`, at most `limit` of them. */
export function watermarkQuery(shape: TableShape, cursor: WatermarkCursor, limit: number): string {
  const wm = shape.watermark!;
  const keys = shape.keyIndexes.map((i) => shape.columns[i]!);
  const w = quoteIdent(wm.column.name);
  let where = '';
  if (cursor.wm !== null) {
    const lit = literalOf(wm.column.type, cursor.wm);
    where =
      cursor.key === null ? ` WHERE ${w} > ${lit}` : ` WHERE ${w} > ${lit} OR (${w} = ${lit} AND (${tupleGreaterThan(keys, cursor.key)}))`;
  }
  const extra = [`${w} AS "RS__WM"`, wm.inserted ? `${quoteIdent(wm.inserted.name)} AS "RS__INS"` : 'NULL AS "RS__INS"'];
  const order = [w, ...keys.map((k) => quoteIdent(k.name))].join(', ');
  return `SELECT ${selectList(shape)}, ${extra.join(', ')} FROM ${shape.sqlName}${where} ORDER BY ${order} LIMIT ${limit}`;
}

/** What one watermark poll found. The cursor only moves when the poll succeeds. */
export interface WatermarkPoll {
  batch: RecordBatch | null;
  cursor: WatermarkCursor;
  /** The batch limit was reached: more rows may be waiting (do not gate the next poll). */
  more: boolean;
}

/** Reads the next change batch after `cursor`. */
export async function pollWatermarkChanges(
  connection: ExasolConnection,
  shape: TableShape,
  start: WatermarkCursor,
  options: BatchLimits & { fetchBytes: number; signal?: AbortSignal | undefined },
): Promise<WatermarkPoll> {
  const wm = shape.watermark!;
  const builder = new BatchBuilder(shape.descriptor, 'changes');
  const n = shape.columns.length;
  let cursor = start;
  let fetched = 0;
  let more = false;
  const sql = watermarkQuery(shape, start, options.batchRows);
  outer: for await (const page of connection.query(sql, { fetchBytes: options.fetchBytes, signal: options.signal, table: shape.name })) {
    for (let r = 0; r < page.numRows; r++) {
      if (builder.rows > 0 && builder.byteLength >= options.batchBytes) {
        more = true;
        break outer;
      }
      fetched++;
      const wmText = keyValueText(wm.column.type, page.data[n]![r]);
      const insertedAt = page.data[n + 1]![r];
      // an insert when the row was created after the position this poll started from
      const inserted =
        wm.inserted !== undefined &&
        (start.wm === null ||
          (insertedAt !== null && compareWatermarks(wm.inserted.type, keyValueText(wm.inserted.type, insertedAt), start.wm) > 0));
      const ordinal = cursor.wm === wmText ? cursor.ordinal + 1 : 0;
      for (let i = 0; i < n; i++) shape.codecs[i]!.appendJson(builder.columns[i]!, page.data[i]![r] ?? null);
      endChangeRow(
        builder,
        n,
        inserted ? 'insert' : 'update',
        `${sortableWatermark(wm.column.type, wmText)}/${ordinal.toString(16).padStart(8, '0')}`,
      );
      cursor = { wm: wmText, key: shape.keyIndexes.map((i) => keyValueText(shape.columns[i]!.type, page.data[i]![r])), ordinal };
    }
  }
  return { batch: builder.rows > 0 ? builder.finish() : null, cursor, more: more || fetched >= options.batchRows };
}
