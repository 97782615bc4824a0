/**
 * Sink conformance targets: the JSON Lines and Arrow IPC file sinks. Each destination is a
 * file in a temporary folder; read back as a consumer reads it, with a plain fold (a snapshot
 * start drops what came before, changes apply in file order, truncate clears).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordBatchReader, type RecordBatch } from 'apache-arrow';
import { CHANGE_TYPE_COLUMN, batchInfo } from '../../../src/sdk/batch.js';
import { batchReaders, toJsonValue } from '../../../src/sdk/values.js';
import { ArrowIpcSink, SNAPSHOT_START_METADATA } from '../../../src/sinks/arrow-ipc.js';
import { JsonlSink, type JsonlRecord } from '../../../src/sinks/jsonl.js';
import type { SinkConformanceTarget, SinkHarness, StoredRow } from '../../sinks/types.js';

/** Folds a JSON Lines file; a torn or unparsable line is an error (the sink must never leave one). */
export function foldJsonl(text: string): StoredRow[] {
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
    if (record.op === 'truncate') rows.clear();
    else if (record.op === 'delete') rows.delete(JSON.stringify(record.key));
    else rows.set(JSON.stringify(record.key), record.row as StoredRow);
  });
  return [...rows.values()];
}

/** Folds an Arrow IPC file of concatenated streams; a stream marked `refstream.snapshot_start` drops what came before. */
export function foldArrowIpc(bytes: Uint8Array): StoredRow[] {
  const rows = new Map<string, StoredRow>();
  let lastStart: string | undefined;
  const batches: RecordBatch[] = [];
  for (const reader of RecordBatchReader.readAll(bytes)) for (const batch of reader) batches.push(batch);
  for (const batch of batches) {
    const start = batch.schema.metadata.get(SNAPSHOT_START_METADATA);
    if (start !== undefined && start !== lastStart) rows.clear();
    lastStart = start ?? lastStart;
    const info = batchInfo(batch);
    const fields = batch.schema.fields.slice(0, info.tableColumnCount);
    const readers = batchReaders(batch);
    const typeIndex = batch.schema.fields.findIndex((f) => f.name === CHANGE_TYPE_COLUMN);
    const keyIndexes = info.primaryKey.map((k) => fields.findIndex((f) => f.name === k));
    for (let i = 0; i < batch.numRows; i++) {
      const type = typeIndex >= 0 ? String(readers[typeIndex]!(i)) : 'snapshot';
      if (type === 'truncate') {
        rows.clear();
        continue;
      }
      const key = JSON.stringify(keyIndexes.map((c) => toJsonValue(fields[c]!, readers[c]!(i))));
      if (type === 'delete') rows.delete(key);
      else rows.set(key, Object.fromEntries(fields.map((f, c) => [f.name, toJsonValue(f, readers[c]!(i))])) as StoredRow);
    }
  }
  return [...rows.values()];
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
