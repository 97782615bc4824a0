/**
 * Folds the outputs of the file sinks the way a consumer does, and checks the exactly-once
 * properties on the way: every JSON line parses (no torn line), the Arrow file reads to its
 * end, change positions never go backwards and no (position, key) pair appears twice.
 */
import { readFileSync } from 'node:fs';
import { RecordBatchReader, type RecordBatch } from 'apache-arrow';
import { ReferenceTable } from '../../src/sdk/table.js';
import { batchInfo, POSITION_COLUMN } from '../../src/sdk/batch.js';
import { batchReaders, toJsonValue } from '../../src/sdk/values.js';
import { SNAPSHOT_START_METADATA } from '../../src/sinks/arrow-ipc.js';
import type { JsonlRecord } from '../../src/sinks/jsonl.js';

export interface Folded {
  /** Rows by JSON key, as JSON values (the same rendering as `ReferenceTable.toJSON()`). */
  rows: Map<string, Record<string, unknown>>;
  /** Change rows read (after the last snapshot start). */
  changes: number;
  /** Problems found: duplicate (position, key) pairs, positions going backwards. */
  problems: string[];
}

class PositionCheck {
  private last: string | null = null;
  private readonly seen = new Set<string>();
  constructor(private readonly problems: string[]) {}
  reset(): void {
    this.last = null;
    this.seen.clear();
  }
  see(position: string, key: string): void {
    const pair = `${position} ${key}`;
    if (this.seen.has(pair)) this.problems.push(`(position, key) twice: ${pair}`);
    this.seen.add(pair);
    if (this.last !== null && position < this.last) this.problems.push(`position ${position} after ${this.last}`);
    this.last = position;
  }
}

/** Folds a JSON Lines file; throws when a line does not parse or the file ends mid-line. */
export function foldJsonl(path: string): Folded {
  const text = readFileSync(path, 'utf8');
  if (text.length > 0 && !text.endsWith('\n')) throw new Error(`${path} ends with a torn line: ${JSON.stringify(text.slice(-80))}`);
  const rows = new Map<string, Record<string, unknown>>();
  const problems: string[] = [];
  const positions = new PositionCheck(problems);
  let changes = 0;
  let columns: JsonlRecord['columns'] | null = null;
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((line, i) => {
    let record: JsonlRecord;
    try {
      record = JSON.parse(line) as JsonlRecord;
    } catch {
      throw new Error(`${path}:${i + 1} is not JSON: ${JSON.stringify(line.slice(0, 120))}`);
    }
    if (record.op === 'schema') {
      // the rows folded so far take the new columns: renamed and dropped by identity, added as null
      const next = record.columns!;
      columns = record.previous ?? columns;
      if (columns !== null) {
        const from = (c: NonNullable<JsonlRecord['columns']>[number]) =>
          columns!.find((p) => (p.id !== null && c.id !== null ? p.id === c.id : p.name === c.name))?.name;
        for (const [key, row] of rows)
          rows.set(key, Object.fromEntries(next.map((c) => [c.name, from(c) === undefined ? null : (row[from(c)!] ?? null)])));
      }
      columns = next;
      return;
    }
    if (columns === null && record.row) columns = Object.keys(record.row).map((name) => ({ name, id: null, type: null }));
    if (record.op === 'truncate') {
      rows.clear();
      // A snapshot start (position null) begins a new history.
      if (record.position === null) {
        positions.reset();
        changes = 0;
      } else {
        positions.see(record.position, 'truncate');
        changes++;
      }
      return;
    }
    const key = JSON.stringify(record.key);
    if (record.position !== null) {
      positions.see(record.position, key);
      changes++;
    }
    if (record.op === 'delete') rows.delete(key);
    else rows.set(key, record.row!);
  });
  return { rows, changes, problems };
}

/**
 * Folds an Arrow IPC file of concatenated streams: a stream marked `refstream.snapshot_start`
 * drops everything before it. Throws when the file does not read to its end.
 */
export function foldArrow(path: string): Folded {
  const bytes = readFileSync(path);
  const problems: string[] = [];
  const positions = new PositionCheck(problems);
  let table = new ReferenceTable();
  let changes = 0;
  let lastStart: string | undefined;
  const batches: RecordBatch[] = [];
  for (const reader of RecordBatchReader.readAll(bytes)) for (const batch of reader) batches.push(batch);
  for (const batch of batches) {
    if (batch.schema.fields.length === 0) throw new Error(`${path}: a stream without columns`);
    const start = batch.schema.metadata.get(SNAPSHOT_START_METADATA);
    if (start !== undefined && start !== lastStart) {
      table = new ReferenceTable();
      positions.reset();
      changes = 0;
    }
    lastStart = start ?? lastStart;
    const info = batchInfo(batch);
    if (info.kind === 'changes') {
      const fields = batch.schema.fields;
      const readers = batchReaders(batch);
      const positionIndex = fields.findIndex((f) => f.name === POSITION_COLUMN);
      const keyIndexes = info.primaryKey.map((k) => fields.findIndex((f) => f.name === k));
      for (let i = 0; i < batch.numRows; i++) {
        const key = JSON.stringify(keyIndexes.map((c) => toJsonValue(fields[c]!, readers[c]!(i))));
        positions.see(readers[positionIndex]!(i) as string, key);
        changes++;
      }
    }
    table.apply(batch);
  }
  const rows = new Map<string, Record<string, unknown>>();
  for (const row of table.toJSON()) rows.set(JSON.stringify(row['id']), row);
  return { rows, changes, problems };
}

/** Rows sorted by their `id`, for comparisons. */
export function sortedRows(rows: Iterable<Record<string, unknown>>): Record<string, unknown>[] {
  return [...rows].sort((a, b) => String(a['id']).localeCompare(String(b['id']), 'en', { numeric: true }));
}
