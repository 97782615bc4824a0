/**
 * Column builders vs apache-arrow's generic `Builder` (makeBuilder), 1M rows × 6 columns of
 * the standard test-table shape: int64, utf8, decimal(12,2), timestamp(µs, UTC), bool,
 * nullable utf8. Both sides start from the same JS values and end with a RecordBatch.
 *
 *   node --import tsx bench/builders.ts [rows]
 */
import { Bool, Decimal, Field, Int64, RecordBatch, Schema, Struct, TimeUnit, Timestamp, Utf8, makeBuilder, makeData } from 'apache-arrow';
import { BatchBuilder, column, type TableDescriptor } from '../src/sdk/batch.js';

const rows = Number(process.argv[2] ?? 1_000_000);
const descriptor: TableDescriptor = {
  table: 'public.items',
  primaryKey: ['id'],
  fields: [
    column('id', new Int64(), false),
    column('name', new Utf8(), false),
    column('amount', new Decimal(2, 12, 128), false),
    column('updated_at', new Timestamp(TimeUnit.MICROSECOND, 'UTC'), false),
    column('active', new Bool(), false),
    column('note', new Utf8(), true),
  ],
};

// Inputs as a connector would have them before building: ints as bigint, decimals as
// unscaled bigints, timestamps as bigint µs.
const ids = new Array<bigint>(rows);
const names = new Array<string>(rows);
const amounts = new Array<bigint>(rows);
const stamps = new Array<bigint>(rows);
// apache-arrow's timestamp setter takes epoch milliseconds as a number
const stampsMs = new Array<number>(rows);
const flags = new Array<boolean>(rows);
const notes = new Array<string | null>(rows);
for (let i = 0; i < rows; i++) {
  ids[i] = BigInt(i + 1);
  names[i] = `customer-${i}`;
  amounts[i] = BigInt((i * 7) % 100000);
  stampsMs[i] = 1_700_000_000_000 + i;
  stamps[i] = BigInt(stampsMs[i]!) * 1000n;
  flags[i] = (i & 1) === 0;
  notes[i] = i % 3 === 0 ? null : `note ${i}`;
}

function buildOurs(): RecordBatch {
  const b = new BatchBuilder(descriptor, 'snapshot');
  const [id, name, amount, ts, active, note] = b.columns as any[];
  for (let i = 0; i < rows; i++) {
    id.appendBigInt(ids[i]);
    name.appendString(names[i]);
    amount.appendUnscaled(amounts[i]);
    ts.appendBigInt(stamps[i]);
    active.append(flags[i]);
    const n = notes[i];
    if (n === null) note.appendNull();
    else note.appendString(n);
    b.endRow();
  }
  return b.finish();
}

function buildGeneric(): RecordBatch {
  const fields = descriptor.fields as Field[];
  const builders = fields.map((f) => makeBuilder({ type: f.type, nullValues: [null, undefined] }));
  const [id, name, amount, ts, active, note] = builders as any[];
  const words = new Uint32Array(4);
  for (let i = 0; i < rows; i++) {
    id.append(ids[i]);
    name.append(names[i]);
    const v = BigInt.asUintN(128, amounts[i]!);
    words[0] = Number(v & 0xffffffffn);
    words[1] = Number((v >> 32n) & 0xffffffffn);
    words[2] = Number((v >> 64n) & 0xffffffffn);
    words[3] = Number(v >> 96n);
    amount.append(words);
    ts.append(stampsMs[i]);
    active.append(flags[i]);
    note.append(notes[i]);
  }
  const children = builders.map((b) => b.finish().flush());
  const schema = new Schema(fields);
  return new RecordBatch(schema, makeData({ type: new Struct(fields), length: rows, nullCount: 0, children }));
}

function time(label: string, fn: () => RecordBatch): number {
  const best: number[] = [];
  let out: RecordBatch | null = null;
  for (let run = 0; run < 3; run++) {
    const t0 = process.hrtime.bigint();
    out = fn();
    best.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  best.sort((a, b) => a - b);
  const seconds = best[Math.floor(best.length / 2)]!;
  if (out!.numRows !== rows) throw new Error(`${label} built ${out!.numRows} rows`);
  console.log(`${label.padEnd(28)} ${(rows / seconds / 1e6).toFixed(2)} M rows/s  (median of 3: ${(seconds * 1000).toFixed(0)} ms)`);
  return rows / seconds;
}

// Same content check before timing.
const a = buildOurs();
const g = buildGeneric();
for (const i of [0, 1, 2, rows - 1]) {
  const x = JSON.stringify(a.get(i)?.toJSON(), (_k, v) => (typeof v === 'bigint' ? String(v) : v));
  const y = JSON.stringify(g.get(i)?.toJSON(), (_k, v) => (typeof v === 'bigint' ? String(v) : v));
  if (x !== y) throw new Error(`row ${i} differs:\n${x}\n${y}`);
}

console.log(`column builders vs apache-arrow Builder: ${rows.toLocaleString('en')} rows × 6 columns`);
const generic = time('apache-arrow makeBuilder', buildGeneric);
const ours = time('refstream column builders', buildOurs);
console.log(`ratio: ${(ours / generic).toFixed(2)}× (target ≥ 3×)`);
