/**
 * Outputs that are not regular files, through the built CLI: `arrow:/dev/null`, `arrow:-`
 * piped into a reader, and a FIFO with a reader. Each has no durable length (no fsync, no
 * truncation), and each snapshot completes with exit 0.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordBatchReader } from 'apache-arrow';
import { startPostgres, type TestPostgres } from '../../src/testing/index.js';
import { builtCli, ensureBuiltCli } from '../helpers/built-cli.js';

const ROWS = 5000;
let server: TestPostgres;
const dir = mkdtempSync(join(tmpdir(), 'refstream-eo-outputs-'));

before(async () => {
  ensureBuiltCli();
  server = await startPostgres();
  await server.query(`CREATE TABLE public.items (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2))`);
  await server.query(`INSERT INTO public.items SELECT g, 'item ' || g, g * 1.5 FROM generate_series(1, ${ROWS}) g`);
});
after(async () => {
  await server?.stop();
});

/** Runs `refstream snapshot` into `sink`; resolves with the exit code, stdout bytes and stderr. */
/** `slot` names this run's checkpoint file (a one-shot snapshot uses no replication slot). */
function snapshot(slot: string, sink: string): Promise<{ code: number | null; out: Buffer; err: string }> {
  const child = spawn(
    process.execPath,
    [
      builtCli,
      'snapshot',
      '--source',
      server.connectionString,
      '--table',
      'public.items',
      '--sink',
      sink,
      '--checkpoint',
      join(dir, `${slot}.cp.json`),
      '--batch-rows',
      '1000',
      '--commit-rows',
      '1000',
      '--log-format',
      'json',
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out: Buffer.concat(out), err })));
}

function rowsIn(bytes: Uint8Array): number {
  let rows = 0;
  for (const reader of RecordBatchReader.readAll(bytes)) for (const batch of reader) rows += batch.numRows;
  return rows;
}

test('arrow:/dev/null completes the snapshot with exit 0 (no fsync on a character device)', async () => {
  const { code, err } = await snapshot('out_devnull', 'arrow:/dev/null');
  assert.equal(code, 0, err);
  const saved = JSON.parse(readFileSync(join(dir, 'out_devnull.cp.json'), 'utf8')) as {
    checkpoint: { phase: string };
    sinks: Record<string, unknown>;
  };
  assert.equal(saved.checkpoint.phase, 'changes');
  assert.deepEqual(saved.sinks, {}, '/dev/null has no resumable state');
});

test('arrow:- piped into a reader: the stream holds every row and the command exits 0', async () => {
  const { code, out, err } = await snapshot('out_stdout', 'arrow:-');
  assert.equal(code, 0, err);
  assert.equal(rowsIn(out), ROWS);
});

test('arrow:<fifo> with a reader: the reader gets every row and the command exits 0', async () => {
  const fifo = join(dir, 'pipe.arrow');
  execFileSync('mkfifo', [fifo]);
  const chunks: Buffer[] = [];
  const reader = createReadStream(fifo);
  reader.on('data', (c) => chunks.push(c as Buffer));
  const read = new Promise<void>((resolve) => reader.on('close', () => resolve()));
  const { code, err } = await snapshot('out_fifo', `arrow:${fifo}`);
  assert.equal(code, 0, err);
  await read;
  assert.equal(rowsIn(Buffer.concat(chunks)), ROWS);
});
