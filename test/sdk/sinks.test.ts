import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordBatchReader } from 'apache-arrow';
import { MemoryStore, MemorySource } from '../../src/sources/memory/index.js';
import { JsonlSink, type JsonlRecord } from '../../src/sinks/jsonl.js';
import { ArrowIpcSink } from '../../src/sinks/arrow-ipc.js';
import { MemorySink } from '../../src/sinks/memory.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import { sync } from '../../src/sdk/sync.js';
import fc from 'fast-check';
import { BatchBuilder, batchInfo, formatPosition } from '../../src/sdk/batch.js';
import { batchReaders, toJsonValue } from '../../src/sdk/values.js';
import { standardDescriptor, standardRow } from '../helpers/tables.js';

/** Syncs `store` into `sinks` until the snapshot and `changeRows` changes made by `changes` were delivered. */
async function runOnce(store: MemoryStore, sinks: ConstructorParameters<typeof Object>[0][], changes: () => void, changeRows: number) {
  const memory = new MemorySink();
  const run = sync({
    source: () => new MemorySource(store, { batchRows: 3, maxWaitMs: 5 }),
    sinks: [...(sinks as never[]), memory],
    commitEvery: { rows: 1, ms: 1 },
  });
  // waits on progress, not on time: a loaded machine may take longer than any fixed sleep
  const until = async (done: () => boolean) => {
    for (let waited = 0; !done(); waited += 5) {
      if (waited > 10_000) throw new Error(`the run did not get there: ${JSON.stringify(run.progress)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  await until(() => run.progress.phase === 'changes');
  changes();
  await until(() => run.progress.changeRows >= changeRows);
  run.stop();
  await run.done;
  return memory.table;
}

test('JSON Lines sink writes {op,key,row,position} lines that fold to the table', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'refstream-jsonl-'));
  const path = join(dir, 'out.jsonl');
  const store = new MemoryStore(standardDescriptor());
  store.insert([
    standardRow(1n),
    standardRow(2n),
    { ...standardRow(9007199254740993n), updated_at: new Date('2024-05-06T07:08:09.123Z'), note: 'big' },
  ]);
  const expected = await runOnce(
    store,
    [new JsonlSink({ output: path })],
    () => {
      store.update([standardRow(1n, 5)]);
      store.delete([2n]);
      store.insert([standardRow(4n, 1)]);
    },
    3,
  );
  const lines = (await readFile(path, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as JsonlRecord);
  assert.deepEqual(lines[0], { op: 'truncate', key: null, row: null, position: null });
  assert.deepEqual(
    lines.slice(1, 4).map((l) => l.op),
    ['snapshot', 'snapshot', 'snapshot'],
  );
  const big = lines.find((l) => l.key?.id === '9007199254740993');
  assert.ok(big, 'int64 beyond 2^53 is rendered exactly as a string');
  assert.equal(big!.row!.amount, '993.00');
  assert.match(String(big!.row!.updated_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  const del = lines.find((l) => l.op === 'delete')!;
  assert.deepEqual(del.key, { id: '2' });
  assert.equal(del.row, null);
  assert.match(del.position!, /^[0-9a-f]{16}\/[0-9a-f]{8}$/);
  // fold the file by key
  const folded = new Map<string, unknown>();
  for (const l of lines) {
    if (l.op === 'truncate') folded.clear();
    else if (l.op === 'delete') folded.delete(JSON.stringify(l.key));
    else folded.set(JSON.stringify(l.key), l.row);
  }
  assert.deepEqual(
    [...folded.values()].sort((a: any, b: any) => a.id.localeCompare(b.id)),
    [...expected.toJSON()].sort((a: any, b: any) => String(a.id).localeCompare(String(b.id))),
  );
});

test('Arrow IPC sink writes concatenated streams that keep each batch schema and metadata', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'refstream-arrow-'));
  const path = join(dir, 'out.arrow');
  const store = new MemoryStore(standardDescriptor());
  store.insert(Array.from({ length: 10 }, (_, i) => standardRow(BigInt(i + 1))));
  const expected = await runOnce(
    store,
    [new ArrowIpcSink({ output: path })],
    () => {
      store.update([standardRow(3n, 7)]);
      store.delete([4n]);
    },
    2,
  );
  const bytes = await readFile(path);
  const table = new ReferenceTable();
  const kinds: string[] = [];
  for (const reader of RecordBatchReader.readAll(bytes)) {
    for (const batch of reader) {
      kinds.push(batchInfo(batch).kind);
      table.apply(batch);
    }
  }
  assert.ok(kinds.includes('snapshot') && kinds.includes('changes'), kinds.join());
  assert.deepEqual(table.toJSON(), expected.toJSON());
  assert.equal(table.size, 9);
});

test('JSON Lines bytes equal JSON.stringify of toJsonValue for any rows, changes, truncates and slices', async () => {
  const descriptor = standardDescriptor();
  const dir = await mkdtemp(join(tmpdir(), 'refstream-jsonl-prop-'));
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.tuple(
          fc.constantFrom('insert', 'update', 'delete', 'truncate'),
          fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
          fc.string({ unit: 'binary' }),
          fc.option(fc.string({ unit: 'grapheme' })),
        ),
        { minLength: 1, maxLength: 25 },
      ),
      fc.nat(),
      async (changes, cut) => {
        const builder = new BatchBuilder(descriptor, 'changes');
        changes.forEach(([type, id, name, note], i) => {
          const values = type === 'truncate' ? null : [id, name, '12.50', new Date(Date.UTC(2024, 0, 1) + i * 1001), i % 2 === 0, note];
          builder.appendChange(type, type === 'delete' ? [id, null, null, null, null, null] : values, formatPosition(i + 1));
        });
        const full = builder.finish();
        const batch = full.slice(cut % full.numRows);
        const path = join(dir, `out-${++run}.jsonl`);
        const sink = new JsonlSink({ output: path });
        await sink.write(batch);
        await sink.close();
        // The reference: objects of toJsonValue, serialised by JSON.stringify.
        const fields = batch.schema.fields;
        const readers = batchReaders(batch);
        const info = batchInfo(batch);
        const n = info.tableColumnCount;
        let expected = '';
        for (let i = 0; i < batch.numRows; i++) {
          const op = readers[n]!(i) as string;
          const key =
            op === 'truncate'
              ? null
              : Object.fromEntries(
                  info.primaryKey.map((k) => {
                    const c = fields.findIndex((f) => f.name === k);
                    return [k, toJsonValue(fields[c]!, readers[c]!(i))];
                  }),
                );
          const row =
            op === 'truncate' || op === 'delete'
              ? null
              : Object.fromEntries(fields.slice(0, n).map((f, c) => [f.name, toJsonValue(f, readers[c]!(i))]));
          expected += JSON.stringify({ op, key, row, position: readers[n + 1]!(i) }) + '\n';
        }
        assert.equal(await readFile(path, 'utf8'), expected);
      },
    ),
    { numRuns: 100 },
  );
});
