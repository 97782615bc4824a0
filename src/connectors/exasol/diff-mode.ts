/**
 * Diff change mode: key + row hash of every row, computed in Exasol, compared with the
 * previous state; the changed rows are then read with their hash (so the new state matches
 * the values delivered). Finds inserts, updates and deletes. See docs/connectors/exasol.md.
 */
import type { RecordBatch } from 'apache-arrow';
import { BatchBuilder, formatPosition } from '../../sdk/batch.js';
import type { ExasolConnection } from './connection.js';
import { endChangeRow, type BatchLimits } from './change-batch.js';
import type { PendingChange } from './diff-state.js';
import { quoteIdent } from './sql.js';
import { keyText, keyValueText, literalOf, rowHashExpression, selectList, type TableShape } from './table-shape.js';

/** Changed keys are read back this many per statement. */
const KEYS_PER_READ = 500;

/** The changes since `previous` and the state after them; null when nothing changed. */
export async function computeDiff(
  connection: ExasolConnection,
  shape: TableShape,
  previous: ReadonlyMap<string, string>,
  options: { fetchBytes: number; signal?: AbortSignal | undefined },
): Promise<{ changes: PendingChange[]; hashes: Map<string, string> } | null> {
  const keys = shape.keyIndexes.map((i) => shape.columns[i]!);
  const query = (sql: string) => connection.query(sql, { fetchBytes: options.fetchBytes, signal: options.signal, table: shape.name });
  const seen = new Set<string>();
  const changed: string[][] = [];
  const scan = `SELECT ${keys.map((k) => quoteIdent(k.name)).join(', ')}, ${rowHashExpression(shape)} AS "RS__HASH" FROM ${shape.sqlName}`;
  for await (const page of query(scan)) {
    for (let r = 0; r < page.numRows; r++) {
      const parts = keys.map((k, j) => keyValueText(k.type, page.data[j]![r]));
      const key = keyText(parts);
      seen.add(key);
      if (previous.get(key) !== String(page.data[keys.length]![r])) changed.push(parts);
    }
  }
  const deleted: string[] = [];
  for (const key of previous.keys()) if (!seen.has(key)) deleted.push(key);
  if (changed.length === 0 && deleted.length === 0) return null;

  const hashes = new Map(previous);
  const changes: PendingChange[] = [];
  const n = shape.columns.length;
  for (let start = 0; start < changed.length; start += KEYS_PER_READ) {
    const slice = changed.slice(start, start + KEYS_PER_READ);
    const predicate =
      keys.length === 1
        ? `${quoteIdent(keys[0]!.name)} IN (${slice.map((p) => literalOf(keys[0]!.type, p[0]!)).join(', ')})`
        : slice.map((p) => `(${keys.map((k, j) => `${quoteIdent(k.name)} = ${literalOf(k.type, p[j]!)}`).join(' AND ')})`).join(' OR ');
    const found = new Set<string>();
    for await (const page of query(
      `SELECT ${selectList(shape)}, ${rowHashExpression(shape)} AS "RS__HASH" FROM ${shape.sqlName} WHERE ${predicate}`,
    )) {
      for (let r = 0; r < page.numRows; r++) {
        const key = keyText(shape.keyIndexes.map((i) => keyValueText(shape.columns[i]!.type, page.data[i]![r])));
        found.add(key);
        changes.push({
          type: previous.has(key) ? 'update' : 'insert',
          values: Array.from({ length: n }, (_, i) => page.data[i]![r] ?? null),
        });
        hashes.set(key, String(page.data[n]![r]));
      }
    }
    // rows deleted between the scan and this read
    for (const parts of slice) {
      const key = keyText(parts);
      if (!found.has(key) && previous.has(key)) deleted.push(key);
    }
  }
  for (const key of deleted) {
    const parts = JSON.parse(key) as string[];
    const values: unknown[] = shape.columns.map(() => null);
    shape.keyIndexes.forEach((ci, j) => (values[ci] = parts[j]));
    changes.push({ type: 'delete', values });
    hashes.delete(key);
  }
  return changes.length > 0 ? { changes, hashes } : null;
}

/** The batch of `changes` from index `from` (positions `epoch/index`); returns it and the next index. */
export function diffChangeBatch(
  shape: TableShape,
  changes: readonly PendingChange[],
  from: number,
  epoch: number,
  limits: BatchLimits,
): { batch: RecordBatch; next: number } {
  const n = shape.columns.length;
  const builder = new BatchBuilder(shape.descriptor, 'changes');
  let next = from;
  while (next < changes.length && builder.rows < limits.batchRows) {
    if (builder.rows > 0 && builder.byteLength >= limits.batchBytes) break;
    const change = changes[next]!;
    for (let i = 0; i < n; i++) shape.codecs[i]!.appendJson(builder.columns[i]!, change.values[i] ?? null);
    endChangeRow(builder, n, change.type, formatPosition(epoch, next));
    next++;
  }
  return { batch: builder.finish(), next };
}
