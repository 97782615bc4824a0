/**
 * ExasolTableSink: IMPORT into staging + DELETE + MERGE in one transaction per flush; a
 * snapshot start replaces the table; replays are harmless; a failed flush leaves the target
 * as it was and can be retried.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BatchBuilder, formatPosition, type TableDescriptor } from '../../src/sdk/batch.js';
import { ExasolTableSink } from '../../src/connectors/exasol/index.js';
import type { ExasolConnection } from '../../src/connectors/exasol/index.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { testTableDescriptor } from '../../conformance-tests/targets/test-table-descriptor.js';
import { startExasolTestServer, type ExasolTestServer } from '../../src/testing/index.js';
import { connect, connectionConfig } from './helpers.js';

let server: ExasolTestServer;
let admin: ExasolConnection;
const descriptor: TableDescriptor = testTableDescriptor('public.items');

before(async () => {
  server = await startExasolTestServer({ nodes: 1 });
  admin = await connect(server);
});
after(async () => {
  await admin?.close();
  await server?.stop();
});

type Row = [bigint, string | null, string, Date, boolean, string | null];
const row = (id: number, v = 0): Row => [
  BigInt(id),
  `name ${id} v${v} "q", ü`,
  `${id}.${String(v).padStart(2, '0')}`,
  new Date(Date.UTC(2024, 0, 1, 0, 0, id, v)),
  v % 2 === 0,
  v === 2 ? null : `note\n${id}`,
];

function snapshot(rows: Row[]) {
  const b = new BatchBuilder(descriptor, 'snapshot');
  for (const r of rows) b.appendRow(r);
  return b.finish();
}
let seq = 0;
function changes(list: ['insert' | 'update' | 'delete' | 'truncate', Row | null][]) {
  const b = new BatchBuilder(descriptor, 'changes');
  for (const [type, r] of list) b.appendChange(type, type === 'delete' ? [r![0], null, null, null, null, null] : r, formatPosition(++seq));
  return b.finish();
}

async function tableRows(table: string): Promise<string[]> {
  const out: string[] = [];
  for await (const page of admin.query(
    `SELECT "id", "name", "amount", "updated_at", "active", "note" FROM SINKS."${table}" ORDER BY "id"`,
  )) {
    for (let r = 0; r < page.numRows; r++) out.push(JSON.stringify(page.data.map((c) => c[r])));
  }
  return out;
}

function expectedRows(rows: Row[]): string[] {
  return rows
    .sort((a, b) => Number(a[0] - b[0]))
    .map((r) =>
      JSON.stringify([
        String(r[0]),
        r[1],
        r[2].includes('.') ? `${r[2].split('.')[0]}.${r[2].split('.')[1]!.padEnd(2, '0')}` : `${r[2]}.00`,
        r[3].toISOString().replace('T', ' ').replace('Z', '000000'),
        r[4],
        r[5],
      ]),
    );
}

test('snapshot + insert/update/delete land in the target in one flush each; replaying them changes nothing', async () => {
  const sink = new ExasolTableSink({ ...connectionConfig(server), schema: 'SINKS', table: 'ITEMS', createTable: true });
  try {
    await sink.snapshotStart({ restart: false });
    const snap = snapshot([row(1), row(2), row(3)]);
    await sink.write(snap);
    await sink.flush();
    assert.deepEqual(await tableRows('ITEMS'), expectedRows([row(1), row(2), row(3)]));
    const batch = changes([
      ['insert', row(4)],
      ['update', row(1, 1)],
      ['delete', row(2)],
      ['update', row(4, 2)],
    ]);
    await sink.write(batch);
    await sink.flush();
    const want = expectedRows([row(1, 1), row(3), row(4, 2)]);
    assert.deepEqual(await tableRows('ITEMS'), want);
    // a replay after a crash re-delivers the same batches: the result does not change
    await sink.write(batch);
    await sink.flush();
    assert.deepEqual(await tableRows('ITEMS'), want);
    // a new snapshot replaces everything
    await sink.snapshotStart({ restart: true });
    await sink.write(snapshot([row(7)]));
    await sink.flush();
    assert.deepEqual(await tableRows('ITEMS'), expectedRows([row(7)]));
    await sink.write(
      changes([
        ['truncate', null],
        ['insert', row(8)],
      ]),
    );
    await sink.flush();
    assert.deepEqual(await tableRows('ITEMS'), expectedRows([row(8)]));
  } finally {
    await sink.close();
  }
  // a fresh sink (a restarted process) whose new snapshot is empty still empties the target
  const restarted = new ExasolTableSink({ ...connectionConfig(server), schema: 'SINKS', table: 'ITEMS' });
  try {
    await restarted.snapshotStart({ restart: true });
    await restarted.flush();
    assert.deepEqual(await tableRows('ITEMS'), []);
  } finally {
    await restarted.close();
  }
});

test('a failing flush rolls back the whole transaction and can be retried', async () => {
  const sink = new ExasolTableSink({ ...connectionConfig(server), schema: 'SINKS', table: 'ITEMS2', createTable: true });
  try {
    await sink.write(snapshot([row(1), row(2)]));
    await sink.flush();
    await sink.write(
      changes([
        ['delete', row(1)],
        ['update', row(2, 1)],
      ]),
    );
    server.faults.failStatement({ match: /^MERGE/, sqlCode: '40001', text: 'GlobalTransactionRollback msg: Transaction collision' });
    await assert.rejects(
      sink.flush(),
      (e: unknown) => ConnectorError.is(e, 'SERIALIZATION_CONFLICT') && (e as ConnectorError).kind === 'transient',
    );
    assert.deepEqual(
      await tableRows('ITEMS2'),
      expectedRows([row(1), row(2)]),
      'the delete of key 1 was rolled back with the failed MERGE',
    );
    await sink.flush();
    assert.deepEqual(await tableRows('ITEMS2'), expectedRows([row(2, 1)]));
  } finally {
    await sink.close();
  }
});

test('reset() drops unflushed rows and the session; the sink then writes on a new session', async () => {
  const sink = new ExasolTableSink({ ...connectionConfig(server), schema: 'SINKS', table: 'ITEMS3', createTable: true });
  try {
    await sink.write(snapshot([row(1), row(2)]));
    await sink.flush();
    await sink.write(
      changes([
        ['delete', row(1)],
        ['update', row(2, 1)],
      ]),
    );
    await sink.reset();
    await sink.flush();
    assert.deepEqual(await tableRows('ITEMS3'), expectedRows([row(1), row(2)]), 'the unflushed changes were dropped');
    // the runner replays them from its checkpoint
    await sink.write(
      changes([
        ['delete', row(1)],
        ['update', row(2, 1)],
        ['insert', row(3)],
      ]),
    );
    await sink.flush();
    assert.deepEqual(await tableRows('ITEMS3'), expectedRows([row(2, 1), row(3)]));
  } finally {
    await sink.close();
  }
});

test('a missing target without createTable is a definite TABLE_NOT_FOUND', async () => {
  const sink = new ExasolTableSink({ ...connectionConfig(server), schema: 'SINKS', table: 'NOPE' });
  await sink.write(snapshot([row(1)]));
  await assert.rejects(sink.flush(), (e: unknown) => ConnectorError.is(e, 'TABLE_NOT_FOUND') && (e as ConnectorError).kind === 'definite');
  await sink.close();
});
