/**
 * The conformance target of the NDJSON example: each `setup()` makes a fresh file in a temp
 * directory; the harness rewrites it atomically (temp file + rename) on every write, as an
 * upstream system would publish a new version of the file.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bool, Decimal, Int64, TimeUnit, Timestamp, Utf8 } from 'apache-arrow';
import { column } from '../../src/index.js';
import type { ConformanceTarget, TableHarness, TestRow } from '../../conformance-tests/index.js';
import { NdjsonSource } from './ndjson-source.js';

/** The conformance test table, as NdjsonSource columns. */
const fields = [
  column('id', new Int64(), false, 'json string (int64)'),
  column('name', new Utf8(), false, 'json string'),
  column('amount', new Decimal(2, 12, 128), false, 'json string (decimal 12,2)'),
  column('updated_at', new Timestamp(TimeUnit.MICROSECOND, 'UTC'), false, 'json string (ISO-8601)'),
  column('active', new Bool(), false, 'json boolean'),
  column('note', new Utf8(), true, 'json string or null'),
];

/** A test row as one JSON line (int64 and decimals as strings, so nothing is rounded). */
function toLine(row: TestRow): string {
  return JSON.stringify({
    id: row.id.toString(),
    name: row.name,
    amount: row.amount,
    updated_at: row.updated_at.toISOString(),
    active: row.active,
    note: row.note,
  });
}

async function setup(): Promise<TableHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'refstream-ndjson-'));
  const path = join(dir, 'table.ndjson');
  const rows = new Map<bigint, TestRow>();
  let version = 0;
  const publish = async () => {
    const temp = `${path}.${++version}.tmp`;
    await writeFile(temp, [...rows.values()].map(toLine).join('\n') + (rows.size > 0 ? '\n' : ''));
    await rename(temp, path);
  };
  await publish();
  return {
    async createSource(options = {}) {
      return new NdjsonSource({ path, table: 'files.conformance', primaryKey: ['id'], fields, ...options });
    },
    async insert(list) {
      for (const row of list) rows.set(row.id, row);
      await publish();
    },
    async update(list) {
      for (const row of list) rows.set(row.id, row);
      await publish();
    },
    async delete(ids) {
      for (const id of ids) rows.delete(id);
      await publish();
    },
    async truncate() {
      rows.clear();
      await publish();
    },
    async teardown() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const target: ConformanceTarget = {
  name: 'ndjson-file',
  capabilities: { changes: 'poll', deletes: true, exactlyOnce: true, midSnapshotResume: false },
  setup,
};

export default target;
