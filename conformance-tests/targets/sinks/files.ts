/**
 * Sink conformance targets: the JSON Lines and Arrow IPC file sinks. Each destination is a
 * file in a temporary folder; read back as a consumer reads it, with a plain fold (a snapshot
 * start drops what came before, changes apply in file order, truncate clears).
 *
 * These sinks promise exactly-once files (a resumed run cuts the file back to its committed
 * length), so a change whose (position, key) appears twice since the last snapshot start is
 * read back as a second row: the suite reports the key as stored twice.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordBatchReader, type RecordBatch } from 'apache-arrow';
import { CHANGE_TYPE_COLUMN, POSITION_COLUMN, batchInfo } from '../../../src/sdk/batch.js';
import { batchReaders, toJsonValue } from '../../../src/sdk/values.js';
import { ArrowIpcSink, SNAPSHOT_START_METADATA } from '../../../src/sinks/arrow-ipc.js';
import { JsonlSink, type JsonlRecord } from '../../../src/sinks/jsonl.js';
import type { SinkConformanceTarget, SinkHarness, StoredRow } from '../../sinks/types.js';

/** Remembers the (position, key) pairs of changes since the last snapshot start, and the rows repeated. */
class Repeats {
  private readonly seen = new Set<string>();
  readonly rows: StoredRow[] = [];
  reset(): void {
    this.seen.clear();
    this.rows.length = 0;
  }
  see(position: string | null, key: string, row: StoredRow | null): void {
    if (position === null) return;
    const pair = `${position} ${key}`;
    if (this.seen.has(pair) && row !== null) this.rows.push(row);
    this.seen.add(pair);
  }
}

/** Folds a JSON Lines file; a torn or unparsable line is an error (the sink must never leave one). */
export function foldJsonl(text: string): StoredRow[] {
  const repeats = new Repeats();
  if (text.length > 0 && !text.endsWith('\n')) throw new Error(`the file ends with a torn line: ${JSON.stringify(text.slice(-80))}`);
  const rows = new Map<string, StoredRow>();
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((line, i) => {
    let record: JsonlRecord;
    try {
      record = JSON.parse(line) as JsonlRecord;
    } catch {
      throw new Error(`line ${i + 1} is not JSON: ${JSON.stringify(line.slice(0, 120))}`);
    }
    if (record.op === 'schema') return; // the rows carry their columns by name
    if (record.op === 'truncate' && record.position === null) repeats.reset();
    repeats.see(record.position, JSON.stringify(record.key), record.row as StoredRow | null);
    if (record.op === 'truncate') rows.clear();
    else if (record.op === 'delete') rows.delete(JSON.stringify(record.key));
    else rows.set(JSON.stringify(record.key), record.row as StoredRow);
  });
  return [...rows.values(), ...repeats.rows];
}

/** Folds an Arrow IPC file of concatenated streams; a stream marked `refstream.snapshot_start` drops what came before. */
export function foldArrowIpc(bytes: Uint8Array): StoredRow[] {
  const rows = new Map<string, StoredRow>();
  const repeats = new Repeats();
  let lastStart: string | undefined;
  const batches: RecordBatch[] = [];
  for (const reader of RecordBatchReader.readAll(bytes)) for (const batch of reader) batches.push(batch);
  for (const batch of batches) {
    const start = batch.schema.metadata.get(SNAPSHOT_START_METADATA);
    if (start !== undefined && start !== lastStart) {
      rows.clear();
      repeats.reset();
    }
    lastStart = start ?? lastStart;
    const info = batchInfo(batch);
    const fields = batch.schema.fields.slice(0, info.tableColumnCount);
    const readers = batchReaders(batch);
    const typeIndex = batch.schema.fields.findIndex((f) => f.name === CHANGE_TYPE_COLUMN);
    const positionIndex = batch.schema.fields.findIndex((f) => f.name === POSITION_COLUMN);
    const keyIndexes = info.primaryKey.map((k) => fields.findIndex((f) => f.name === k));
    for (let i = 0; i < batch.numRows; i++) {
      const type = typeIndex >= 0 ? String(readers[typeIndex]!(i)) : 'snapshot';
      const position = positionIndex >= 0 ? (readers[positionIndex]!(i) as string) : null;
      if (type === 'truncate') {
        repeats.see(position, 'truncate', null);
        rows.clear();
        continue;
      }
      const key = JSON.stringify(keyIndexes.map((c) => toJsonValue(fields[c]!, readers[c]!(i))));
      const row =
        type === 'delete' ? null : (Object.fromEntries(fields.map((f, c) => [f.name, toJsonValue(f, readers[c]!(i))])) as StoredRow);
      repeats.see(position, key, row);
      if (row === null) rows.delete(key);
      else rows.set(key, row);
    }
  }
  return [...rows.values(), ...repeats.rows];
}

let counter = 0;

async function fileHarness(
  extension: string,
  open: (path: string) => JsonlSink | ArrowIpcSink,
  fold: (bytes: Buffer) => StoredRow[],
): Promise<SinkHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'refstream-sink-conformance-'));
  const path = join(dir, `out-${++counter}.${extension}`);
  return {
    async createSink() {
      return open(path);
    },
    async readBack() {
      const bytes = await readFile(path).catch((error: NodeJS.ErrnoException) =>
        error.code === 'ENOENT' ? Buffer.alloc(0) : Promise.reject(error),
      );
      return fold(bytes);
    },
    async teardown() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** JsonlSink writing a regular file (exactly-once through its checkpoint state). */
export const jsonlSinkTarget: SinkConformanceTarget = {
  name: 'jsonl (JsonlSink, file)',
  setup: () =>
    fileHarness(
      'jsonl',
      (output) => new JsonlSink({ output }),
      (bytes) => foldJsonl(bytes.toString('utf8')),
    ),
};

/** ArrowIpcSink writing a regular file (exactly-once through its checkpoint state). */
export const arrowIpcSinkTarget: SinkConformanceTarget = {
  name: 'arrow (ArrowIpcSink, file)',
  setup: () => fileHarness('arrow', (output) => new ArrowIpcSink({ output }), foldArrowIpc),
};
