import { readFile } from 'node:fs/promises';
import { RecordBatchReader } from 'apache-arrow';
import { batchInfo, CHANGE_TYPE_COLUMN } from '../sdk/batch.js';
import { parseCheckpoint } from '../sdk/checkpoint.js';
import { ConnectorError } from '../sdk/errors.js';
import { batchReaders } from '../sdk/values.js';
import type { Command } from './command.js';
import { CliError, EXIT } from './errors.js';

/** `refstream inspect <file>`: summarises an Arrow IPC file, a checkpoint file or a JSON Lines file. */
export const inspectCommand: Command = {
  name: 'inspect',
  synopsis: 'inspect <arrow file | checkpoint file | jsonl file>',
  summary: 'Summarise an Arrow IPC output, a checkpoint or a JSON Lines output (counts by kind and operation, schema, position range).',
  options: [],
  async run(args, { stdout }) {
    const path = args[0];
    if (!path) throw new CliError('missing file: refstream inspect <arrow file | checkpoint file | jsonl file>');
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      throw new CliError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    const summary = isArrowStream(bytes) ? summariseArrow(bytes) : summariseText(path, bytes.toString('utf8'));
    stdout.write(JSON.stringify(summary, null, 2) + '\n');
    return EXIT.ok;
  },
};

function isArrowStream(bytes: Buffer): boolean {
  // IPC stream messages start with the 0xFFFFFFFF continuation marker; files with "ARROW1".
  return (bytes.length >= 4 && bytes.readUInt32LE(0) === 0xffffffff) || bytes.subarray(0, 6).toString() === 'ARROW1';
}

function summariseArrow(bytes: Buffer) {
  const counts: Record<string, number> = {};
  let batches = 0;
  let streams = 0;
  let table: string | undefined;
  let primaryKey: string[] | undefined;
  let firstPosition: string | null = null;
  let lastPosition: string | null = null;
  const schemas = new Set<string>();
  for (const reader of RecordBatchReader.readAll(bytes)) {
    streams++;
    for (const batch of reader) {
      batches++;
      const info = batchInfo(batch);
      table = info.table;
      primaryKey = info.primaryKey;
      schemas.add(batch.schema.fields.map((f) => `${f.name}:${f.type}`).join(', '));
      if (info.kind === 'snapshot') counts.snapshot = (counts.snapshot ?? 0) + batch.numRows;
      else {
        const readers = batchReaders(batch);
        const typeIndex = batch.schema.fields.findIndex((f) => f.name === CHANGE_TYPE_COLUMN);
        const posIndex = typeIndex + 1;
        for (let i = 0; i < batch.numRows; i++) {
          const op = String(readers[typeIndex]!(i));
          counts[op] = (counts[op] ?? 0) + 1;
          const pos = readers[posIndex]!(i) as string;
          firstPosition ??= pos;
          lastPosition = pos;
        }
      }
    }
  }
  return { kind: 'arrow', table, primaryKey, streams, batches, rows: counts, firstPosition, lastPosition, schemas: [...schemas] };
}

function summariseText(path: string, text: string) {
  const trimmed = text.trim();
  if (trimmed.startsWith('{') && !trimmed.includes('\n')) {
    try {
      const parsed = JSON.parse(trimmed) as { checkpoint?: unknown };
      const checkpoint = parseCheckpoint(parsed.checkpoint ?? parsed);
      return { kind: 'checkpoint', ...checkpoint };
    } catch (error) {
      if (ConnectorError.is(error)) throw new CliError(`${path}: ${error.message}`, EXIT.failed);
    }
  }
  if (trimmed.startsWith('{') && trimmed.includes('"format": "refstream-checkpoint"')) {
    const parsed = JSON.parse(trimmed) as { checkpoint: unknown; savedAt?: string };
    try {
      return { kind: 'checkpoint', savedAt: parsed.savedAt, ...parseCheckpoint(parsed.checkpoint) };
    } catch (error) {
      throw new CliError(`${path}: ${(error as Error).message}`, EXIT.failed);
    }
  }
  const counts: Record<string, number> = {};
  let lines = 0;
  let lastPosition: string | null = null;
  for (const [n, line] of trimmed.split('\n').entries()) {
    if (!line) continue;
    let record: { op?: string; position?: string | null };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      throw new CliError(`${path}:${n + 1}: not a JSON line (expected an Arrow IPC file, a checkpoint or JSON Lines)`);
    }
    lines++;
    counts[record.op ?? '?'] = (counts[record.op ?? '?'] ?? 0) + 1;
    if (record.position) lastPosition = record.position;
  }
  return { kind: 'jsonl', lines, rows: counts, lastPosition };
}
