/**
 * Snapshot through the HTTP transport: one tunnel per node (3 simulated nodes), one EXPORT
 * with three `AT … FILE …` targets, CSV streamed into Arrow; TLS tunnels with PUBLIC KEY
 * pinning when the release supports it; a dropped tunnel is a transient error; aborting a
 * snapshot poll leaves the source usable.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ConnectorError } from '../../src/sdk/errors.js';
import { startExasolTestServer, type ExasolTestServer } from '../../src/testing/index.js';
import { connect, drainSnapshot, rowsOf, sourceFor } from './helpers.js';

const ROWS = 3000;
let server: ExasolTestServer;
let oldServer: ExasolTestServer;
const stateDir = mkdtempSync(join(tmpdir(), 'refstream-exasol-export-'));

before(async () => {
  server = await startExasolTestServer({ nodes: 3 });
  oldServer = await startExasolTestServer({
    nodes: 1,
    releaseVersion: '8.31.0',
    postgres: { connectionString: server.postgresConnectionString },
  });
  const admin = await connect(server);
  await admin.execute('CREATE SCHEMA EXP');
  await admin.execute('CREATE TABLE EXP.T (ID DECIMAL(18,0) PRIMARY KEY, NAME VARCHAR(200), NOTE VARCHAR(2000))');
  await admin.execute(
    `INSERT INTO EXP.T SELECT g, 'name "' || g || '", with comma', CASE WHEN g % 7 = 0 THEN NULL ELSE 'line1' || chr(10) || 'line2 ' || g END FROM generate_series(1, ${ROWS}) g`,
  );
  await admin.close();
});
after(async () => {
  await oldServer?.stop();
  await server?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

const diffSource = (s: ExasolTestServer, extra: Record<string, unknown> = {}) =>
  sourceFor(s, { schema: 'EXP', table: 'T', mode: 'diff', diff: { stateDir }, batchRows: 500, snapshot: { method: 'export' }, ...extra });

test('parallel EXPORT: one tunnel per node, all three nodes push their share concurrently, every row exactly once', async () => {
  server.transcript.clear();
  const source = diffSource(server);
  try {
    const batches = await drainSnapshot(source);
    assert.ok(
      batches.every((b) => b.numRows <= 500),
      'batches are bounded by batchRows',
    );
    const rows = rowsOf(batches);
    assert.equal(rows.length, ROWS);
    assert.equal(new Set(rows.map((r) => r.ID)).size, ROWS);
    const r7 = rows.find((r) => r.ID === '7')!;
    const r8 = rows.find((r) => r.ID === '8')!;
    assert.equal(r7.NOTE, null);
    assert.equal(r8.NOTE, 'line1\nline2 8');
    assert.equal(r8.NAME, 'name "8", with comma');
    const tunnelNodes = new Set(server.transcript.entries({ channel: 'tunnel' }).map((e) => e.node));
    assert.equal(tunnelNodes.size, 3, `tunnels opened on nodes ${[...tunnelNodes].join(', ')}`);
    const puts = server.transcript.entries({ channel: 'http', direction: 'out' }).filter((e) => /^PUT \/00\d\.csv/.test(e.text));
    assert.equal(puts.length, 3, 'one PUT per node');
    assert.equal(new Set(puts.map((p) => p.node)).size, 3, 'each PUT goes out through its own node');
    const exportStatement = server.transcript
      .entries({ channel: 'websocket', direction: 'in' })
      .find((e) => e.text.includes('EXPORT ('))!.text;
    assert.equal((exportStatement.match(/AT 'https:/g) ?? []).length, 3, 'TLS tunnels on 8.34');
    assert.equal((exportStatement.match(/PUBLIC KEY 'sha256\/\//g) ?? []).length, 3, 'each tunnel pinned by PUBLIC KEY');
    // all three shares arrive while the statement runs: their uploads overlap in time
    const times = puts.map((p) => Date.parse(p.time));
    assert.ok(Math.max(...times) - Math.min(...times) < 5000);
  } finally {
    await source.close();
  }
});

test('releases before 8.32 get plain http tunnels (no PUBLIC KEY clause)', async () => {
  oldServer.transcript.clear();
  const source = diffSource(oldServer);
  try {
    assert.equal(rowsOf(await drainSnapshot(source)).length, ROWS);
    const statement = oldServer.transcript
      .entries({ channel: 'websocket', direction: 'in' })
      .find((e) => e.text.includes('EXPORT ('))!.text;
    assert.match(statement, /AT 'http:\/\//);
    assert.doesNotMatch(statement, /PUBLIC KEY/);
  } finally {
    await source.close();
  }
});

test('a tunnel dropped mid-body fails the snapshot with a transient error; a fresh source succeeds', async () => {
  server.faults.dropTunnelMidBody({ afterBytes: 1000 });
  const source = diffSource(server, { snapshot: { method: 'export', tunnelTls: 'off' } });
  await assert.rejects(drainSnapshot(source), (e: unknown) => ConnectorError.is(e) && (e as ConnectorError).kind === 'transient');
  await source.close();
  const retry = diffSource(server);
  try {
    assert.equal(rowsOf(await drainSnapshot(retry)).length, ROWS);
  } finally {
    await retry.close();
  }
});

test('aborting a waiting snapshot poll rejects with AbortError and the source goes on', async () => {
  server.faults.stallBeforePut({ ms: 400, times: 3 });
  const source = diffSource(server);
  try {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(source.pollSnapshot({ signal: controller.signal }), (e: unknown) => (e as Error).name === 'AbortError');
    assert.equal(rowsOf(await drainSnapshot(source)).length, ROWS);
  } finally {
    await source.close();
  }
});

test('auto: a table the catalog counts as small is read by fetch, without tunnels', async () => {
  server.transcript.clear();
  const source = sourceFor(server, {
    schema: 'EXP',
    table: 'T',
    mode: 'diff',
    diff: { stateDir },
    snapshot: { method: 'auto', fetchBelowRows: 1_000_000 },
  });
  try {
    assert.equal(rowsOf(await drainSnapshot(source)).length, ROWS);
    assert.equal(server.transcript.entries({ channel: 'tunnel' }).length, 0);
    assert.ok(!server.transcript.entries({ channel: 'websocket', direction: 'in' }).some((e) => e.text.includes('EXPORT (')));
  } finally {
    await source.close();
  }
});

test('paged fetch snapshot gives the same rows', async () => {
  const source = diffSource(server, { snapshot: { method: 'fetch' }, fetchBytes: 64 * 1024 });
  try {
    assert.equal(rowsOf(await drainSnapshot(source)).length, ROWS);
  } finally {
    await source.close();
  }
});

test('watermark mode: snapshot, then inserts and updates after the highest watermark, in (watermark, key) order', async () => {
  const admin = await connect(server);
  try {
    await admin.execute('CREATE TABLE EXP.W (ID DECIMAL(18,0) PRIMARY KEY, V VARCHAR(20), SEQ DECIMAL(18,0), INS DECIMAL(18,0))');
    await admin.execute(`INSERT INTO EXP.W VALUES (1, 'a', 1, 1), (2, 'b', 1, 1)`);
    const source = sourceFor(server, {
      schema: 'EXP',
      table: 'W',
      mode: 'watermark',
      watermark: { column: 'SEQ', insertedColumn: 'INS' },
      batchRows: 2,
      maxWaitMs: 0,
    });
    try {
      assert.equal(rowsOf(await drainSnapshot(source)).length, 2);
      await admin.execute(`INSERT INTO EXP.W VALUES (3, 'c', 2, 2), (4, 'd', 2, 2)`);
      await admin.execute(`UPDATE EXP.W SET V = 'a2', SEQ = 3 WHERE ID = 1`);
      const first = rowsOf([(await source.pollChanges())!]);
      assert.deepEqual(
        first.map((r) => [r.ID, r._change_type]),
        [
          ['3', 'insert'],
          ['4', 'insert'],
        ],
      );
      const cp = source.checkpoint();
      const second = rowsOf([(await source.pollChanges())!]);
      assert.deepEqual(
        second.map((r) => [r.ID, r.V, r._change_type]),
        [['1', 'a2', 'update']],
      );
      assert.ok((second[0]!._position as string) > (first[1]!._position as string));
      assert.equal(await source.pollChanges(), null);
      // a fresh instance restored from the mid-stream checkpoint resumes with exactly the next change
      const restored = sourceFor(server, {
        schema: 'EXP',
        table: 'W',
        mode: 'watermark',
        watermark: { column: 'SEQ', insertedColumn: 'INS' },
        maxWaitMs: 0,
      });
      await restored.restore(JSON.parse(JSON.stringify(cp)));
      const again = rowsOf([(await restored.pollChanges())!]);
      assert.deepEqual(
        again.map((r) => [r.ID, r._position]),
        [['1', second[0]!._position]],
      );
      await restored.close();
    } finally {
      await source.close();
    }
  } finally {
    await admin.close();
  }
});

test('watermark mode over EXPORT: a delivered watermark column is exported once and its maximum starts the stream; a hidden one too', async () => {
  const admin = await connect(server);
  try {
    await admin.execute('CREATE TABLE EXP.M (ID DECIMAL(18,0) PRIMARY KEY, AMOUNT DECIMAL(12,2), TS TIMESTAMP(6), V VARCHAR(20))');
    // the largest values sit in the middle of the table, so every node's share matters
    await admin.execute(
      `INSERT INTO EXP.M SELECT g, CASE WHEN g = 1501 THEN 99999.99 WHEN g % 5 = 0 THEN NULL ELSE -(g / 100.0) END, TIMESTAMP '2024-01-01 00:00:00.000001' + (g % 1000) * INTERVAL '1' SECOND, 'v' || g FROM generate_series(1, ${ROWS}) g`,
    );
    const cases: { watermark: string; columns?: string[]; expected: string; hidden: boolean }[] = [
      { watermark: 'AMOUNT', expected: '99999.99', hidden: false },
      { watermark: 'TS', expected: '2024-01-01 00:16:39.000001000', hidden: false },
      { watermark: 'AMOUNT', columns: ['ID', 'V'], expected: '99999.99', hidden: true },
    ];
    for (const c of cases) {
      server.transcript.clear();
      const source = sourceFor(server, {
        schema: 'EXP',
        table: 'M',
        mode: 'watermark',
        watermark: { column: c.watermark },
        ...(c.columns ? { columns: c.columns } : {}),
        snapshot: { method: 'export' },
        maxWaitMs: 0,
      });
      try {
        assert.equal(rowsOf(await drainSnapshot(source)).length, ROWS);
        const statement = server.transcript
          .entries({ channel: 'websocket', direction: 'in' })
          .find((e) => e.text.includes('EXPORT ('))!.text;
        assert.equal(
          statement.includes('RS__EXTRA'),
          c.hidden,
          `${c.watermark}: the EXPORT reads it ${c.hidden ? 'as a hidden column' : 'once'}`,
        );
        assert.equal((source.checkpoint().position as { wm: string }).wm, c.expected, `${c.watermark}: the highest watermark`);
      } finally {
        await source.close();
      }
    }
  } finally {
    await admin.close();
  }
});

test('EXPORT batches end near batchBytes', async () => {
  const batchBytes = 16 * 1024;
  const source = diffSource(server, { batchRows: 1_000_000, batchBytes });
  try {
    const batches = await drainSnapshot(source);
    assert.equal(rowsOf(batches).length, ROWS);
    const sizes = batches.map((b) =>
      b.data.children.reduce(
        (sum, d) => sum + (d.values?.byteLength ?? 0) + (d.valueOffsets?.byteLength ?? 0) + (d.nullBitmap?.byteLength ?? 0),
        0,
      ),
    );
    // each node's share ends with a smaller batch; every batch stays near the bound
    assert.ok(sizes.length > 10, `${sizes.length} batches`);
    for (const size of sizes) assert.ok(size <= batchBytes * 1.6, `a batch of ${size} bytes for batchBytes ${batchBytes}`);
  } finally {
    await source.close();
  }
});
