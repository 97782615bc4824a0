/**
 * The file sinks under crashes: `sync()` with a FileCheckpointStore, JSON Lines and Arrow IPC
 * sinks, crashes at every commit step (with torn and uncommitted bytes left in the files), and
 * resumes. The files must then fold to the table with every change exactly once, in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, createReadStream, mkdtempSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { MemoryStore, MemorySource } from '../../src/sources/memory/index.js';
import { JsonlSink } from '../../src/sinks/jsonl.js';
import { ArrowIpcSink } from '../../src/sinks/arrow-ipc.js';
import { sync, type KillPoint } from '../../src/sdk/sync.js';
import { FileCheckpointStore } from '../../src/sdk/checkpoint-store.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import { standardDescriptor, standardRow } from '../helpers/tables.js';
import { foldArrow, foldJsonl, sortedRows } from './fold.js';

const KILL_POINTS: KillPoint[] = ['after-write', 'after-flush', 'after-save', 'after-commit'];

function seededStore(rows: number): MemoryStore {
  const store = new MemoryStore(standardDescriptor());
  store.insert(Array.from({ length: rows }, (_, i) => standardRow(BigInt(i + 1))));
  return store;
}

/** Deterministic writes: updates, inserts, deletes and an occasional truncate-free key churn. */
function mutate(store: MemoryStore, step: number): void {
  const id = BigInt((step * 7919) % 50) + 1n;
  const existing = store.currentRows().some((r) => r[0] === id);
  store.transaction((tx) => {
    if (!existing) tx.insert(standardRow(id, step));
    else if (step % 5 === 0) tx.delete(id);
    else tx.update(standardRow(id, step));
  });
}

async function tableOf(store: MemoryStore): Promise<Record<string, unknown>[]> {
  const table = new ReferenceTable();
  const source = new MemorySource(store);
  let batch;
  while ((batch = await source.pollSnapshot())) table.apply(batch);
  await source.close();
  return sortedRows(table.toJSON());
}

class Crash extends Error {}

/** The durable length a checkpoint file holds for the file sink writing `path` (0 when none). */
function committedBytes(checkpointFile: string, path: string): number {
  let saved: { sinks?: Record<string, { bytes: number }> };
  try {
    saved = JSON.parse(readFileSync(checkpointFile, 'utf8'));
  } catch {
    return 0;
  }
  const entry = Object.entries(saved.sinks ?? {}).find(([name]) => name.endsWith(`:${path}`));
  return entry?.[1].bytes ?? 0;
}

interface Scenario {
  batchRows: number;
  commitRows: number;
  /** Per crash: where, after how many passes of that point, and the junk left behind. */
  crashes: Array<{ point: KillPoint; after: number; junk: 'none' | 'garbage' | 'torn' }>;
}

/** Runs the crash/resume loop of `scenario` and returns what the files fold to. */
async function crashLoop(dir: string, scenario: Scenario) {
  const store = seededStore(30);
  const jsonl = join(dir, 'out.jsonl');
  const arrow = join(dir, 'out.arrow');
  const checkpoints = new FileCheckpointStore(join(dir, 'cp.json'));
  let step = 0;
  const options = () => ({
    source: () => new MemorySource(store, { batchRows: scenario.batchRows, maxWaitMs: 2 }),
    checkpoints,
    commitEvery: { rows: scenario.commitRows, ms: 3 },
  });
  for (const crash of scenario.crashes) {
    const sinks = [new JsonlSink({ output: jsonl }), new ArrowIpcSink({ output: arrow })];
    let passes = 0;
    const run = sync({
      ...options(),
      sinks,
      closeSinks: false,
      killPoint: (point) => {
        if (step < 400) mutate(store, step++);
        if (point === crash.point && ++passes === crash.after) throw new Crash(`killed at ${point}`);
      },
    });
    await assert.rejects(run.done, (e: unknown) => ConnectorError.is(e) && /killed at/.test((e as Error).message));
    // What the dead process had buffered reaches the files (uncommitted bytes), then junk.
    await Promise.all(sinks.map((s) => s.close().catch(() => {})));
    if (crash.junk === 'garbage') {
      appendFileSync(jsonl, '{"op":"insert","key":{"id":"99');
      appendFileSync(arrow, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x40, 0, 0, 0, 1, 2, 3]));
    } else if (crash.junk === 'torn') {
      // The last uncommitted write was cut short (never below what was committed).
      for (const path of [jsonl, arrow]) {
        const committed = committedBytes(join(dir, 'cp.json'), path);
        const size = statSync(path).size;
        if (size - 3 > committed) truncateSync(path, size - 3);
      }
    }
  }
  for (let i = 0; i < 20; i++) mutate(store, step++);
  const target = store.seq;
  const sinks = [new JsonlSink({ output: jsonl }), new ArrowIpcSink({ output: arrow })];
  const last = sync({
    ...options(),
    sinks,
    until: () => false,
  });
  // Stop once the committed checkpoint is at the store's last change.
  while (!(
    last.progress.phase === 'changes' && JSON.stringify(last.progress.lastCheckpoint?.position ?? null).includes(`"seq":${target}`)
  )) {
    await new Promise((r) => setTimeout(r, 5));
    if (last.progress.phase === 'stopped') break;
  }
  last.stop();
  await last.done;
  return { expected: await tableOf(store), jsonl: foldJsonl(jsonl), arrow: foldArrow(arrow) };
}

test('crash at every commit step, with junk after the durable length: both files fold to the table, each change once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'refstream-eo-'));
  const crashes = KILL_POINTS.flatMap((point, i) => [
    { point, after: 1 + (i % 3), junk: 'garbage' as const },
    { point, after: 2, junk: 'torn' as const },
    { point, after: 3, junk: 'none' as const },
  ]);
  const result = await crashLoop(dir, { batchRows: 4, commitRows: 6, crashes });
  assert.deepEqual(result.jsonl.problems, []);
  assert.deepEqual(result.arrow.problems, []);
  assert.deepEqual(sortedRows(result.jsonl.rows.values()), result.expected);
  assert.deepEqual(sortedRows(result.arrow.rows.values()), result.expected);
  assert.ok(
    result.jsonl.changes > 50 && result.arrow.changes === result.jsonl.changes,
    `${result.jsonl.changes} / ${result.arrow.changes} changes`,
  );
});

test('property: any crash schedule and batch size leaves files that fold to the table with no duplicate (position, key)', async () => {
  const root = mkdtempSync(join(tmpdir(), 'refstream-eo-prop-'));
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 1, max: 25 }),
      fc.array(
        fc.record({
          point: fc.constantFrom(...KILL_POINTS),
          after: fc.integer({ min: 1, max: 5 }),
          junk: fc.constantFrom('none', 'garbage', 'torn') as fc.Arbitrary<'none' | 'garbage' | 'torn'>,
        }),
        { minLength: 1, maxLength: 6 },
      ),
      async (batchRows, commitRows, crashes) => {
        const dir = join(root, String(++run));
        execFileSync('mkdir', ['-p', dir]);
        const result = await crashLoop(dir, { batchRows, commitRows, crashes });
        assert.deepEqual(result.jsonl.problems, []);
        assert.deepEqual(result.arrow.problems, []);
        assert.deepEqual(sortedRows(result.jsonl.rows.values()), result.expected);
        assert.deepEqual(sortedRows(result.arrow.rows.values()), result.expected);
        assert.equal(result.arrow.changes, result.jsonl.changes);
      },
    ),
    { numRuns: 30 },
  );
});

test('a file shorter than its checkpoint says stops the run with SINK_STATE_MISMATCH and a hint; the file is left alone', async () => {
  for (const kind of ['jsonl', 'arrow'] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'refstream-eo-short-'));
    const path = join(dir, `out.${kind}`);
    const store = seededStore(20);
    const checkpoints = new FileCheckpointStore(join(dir, 'cp.json'));
    const make = () => (kind === 'jsonl' ? new JsonlSink({ output: path }) : new ArrowIpcSink({ output: path }));
    await sync({ source: () => new MemorySource(store, { batchRows: 5 }), sinks: [make()], checkpoints, stopAfterSnapshot: true }).done;
    const size = committedBytes(join(dir, 'cp.json'), path);
    assert.ok(size > 100, `committed ${size} bytes`);
    truncateSync(path, size - 10);
    const before = readFileSync(path);
    await assert.rejects(
      sync({ source: () => new MemorySource(store), sinks: [make()], checkpoints }).done,
      (e: unknown) =>
        ConnectorError.is(e, 'SINK_STATE_MISMATCH') &&
        e.message.includes(`${size - 10} bytes`) &&
        e.message.includes(`${size} bytes were committed`) &&
        /delete the checkpoint/.test(e.hint ?? ''),
    );
    assert.deepEqual(readFileSync(path), before, `${kind}: nothing was truncated or written`);
  }
});

test('a checkpoint without state for a non-empty file stops with SINK_STATE_MISSING; a new, empty file is started', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'refstream-eo-missing-'));
  const store = seededStore(10);
  const checkpoints = new FileCheckpointStore(join(dir, 'cp.json'));
  await sync({
    source: () => new MemorySource(store),
    sinks: [new JsonlSink({ output: join(dir, 'a.jsonl') })],
    checkpoints,
    stopAfterSnapshot: true,
  }).done;
  // Another file with content, unknown to the checkpoint:
  appendFileSync(join(dir, 'b.jsonl'), '{"op":"truncate","key":null,"row":null,"position":null}\n');
  await assert.rejects(
    sync({ source: () => new MemorySource(store), sinks: [new JsonlSink({ output: join(dir, 'b.jsonl') })], checkpoints }).done,
    (e: unknown) => ConnectorError.is(e, 'SINK_STATE_MISSING') && /b\.jsonl/.test(e.message) && /delete the checkpoint/.test(e.hint ?? ''),
  );
  // A file that does not exist yet continues from the checkpoint (changes only).
  store.update([standardRow(1n, 5)]);
  const run = sync({
    source: () => new MemorySource(store, { maxWaitMs: 2 }),
    sinks: [new JsonlSink({ output: join(dir, 'c.jsonl') })],
    checkpoints,
    until: (p) => p.changeRows >= 1,
  });
  await run.done;
  const lines = readFileSync(join(dir, 'c.jsonl'), 'utf8').trim().split('\n');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /"op":"update"/);
});

test('append: true keeps an existing file on a fresh start, and resumes exactly like the default', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'refstream-eo-append-'));
  const path = join(dir, 'out.jsonl');
  const old = '{"op":"snapshot","key":{"id":"1"},"row":{"id":"1"},"position":null}\n';
  appendFileSync(path, old);
  const store = seededStore(5);
  const checkpoints = new FileCheckpointStore(join(dir, 'cp.json'));
  await sync({
    source: () => new MemorySource(store),
    sinks: [new JsonlSink({ output: path, append: true })],
    checkpoints,
    stopAfterSnapshot: true,
  }).done;
  const committed = readFileSync(path, 'utf8');
  assert.ok(committed.startsWith(old), 'the old content is kept');
  appendFileSync(path, '{"op":"ins');
  store.delete([2n]);
  await sync({
    source: () => new MemorySource(store, { maxWaitMs: 2 }),
    sinks: [new JsonlSink({ output: path, append: true })],
    checkpoints,
    until: (p) => p.changeRows >= 1,
  }).done;
  const text = readFileSync(path, 'utf8');
  assert.ok(text.startsWith(committed), 'resumed at the committed length');
  assert.match(text.slice(committed.length), /^\{"op":"delete","key":\{"id":"2"\}/);
  assert.deepEqual(foldJsonl(path).problems, []);
});

test('a repeated snapshot in one Arrow file is marked: a reader dropping everything before the last start sees only the new snapshot', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'refstream-eo-restart-'));
  const path = join(dir, 'out.arrow');
  const sink = new ArrowIpcSink({ output: path });
  const store = seededStore(6);
  // First attempt: rows 1..6; then a row is deleted and the snapshot is taken again from scratch.
  await sync({ source: () => new MemorySource(store), sinks: [sink], closeSinks: false, stopAfterSnapshot: true }).done;
  store.delete([3n]);
  await sync({ source: () => new MemorySource(store), sinks: [sink], stopAfterSnapshot: true }).done;
  const folded = foldArrow(path);
  assert.deepEqual(sortedRows(folded.rows.values()), await tableOf(store));
  assert.equal(folded.rows.has('"3"'), false, 'the ghost of the first attempt is dropped');
});

test('arrow and jsonl sinks write to /dev/null and to a FIFO with a reader: the snapshot completes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'refstream-eo-fifo-'));
  const fifo = join(dir, 'pipe');
  execFileSync('mkfifo', [fifo]);
  let received = 0;
  const reader = createReadStream(fifo);
  reader.on('data', (c) => (received += c.length));
  const readerDone = new Promise<void>((r) => reader.on('close', () => r()));
  const store = seededStore(2000);
  const result = await sync({
    source: () => new MemorySource(store, { batchRows: 100 }),
    sinks: [new ArrowIpcSink({ output: '/dev/null' }), new JsonlSink({ output: '/dev/null' }), new ArrowIpcSink({ output: fifo })],
    checkpoints: new FileCheckpointStore(join(dir, 'cp.json')),
    commitEvery: { rows: 300 },
    stopAfterSnapshot: true,
  }).done;
  assert.equal(result.snapshotRows, 2000);
  assert.deepEqual(result.detachedSinks, []);
  await readerDone;
  assert.ok(received > 2000 * 20, `the FIFO reader got ${received} bytes`);
  const saved = JSON.parse(readFileSync(join(dir, 'cp.json'), 'utf8')) as { sinks: Record<string, unknown> };
  assert.deepEqual(saved.sinks, {}, 'outputs that are not regular files have no resumable state');
});
