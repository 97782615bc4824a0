/**
 * A cluster past one xid wraparound (epoch 1): a frozen row keeps its raw 32-bit xmin, which a
 * resumed snapshot cannot tell from a transaction of the current epoch. Such rows must still be
 * delivered when an interrupted snapshot resumes, not filtered out as "changed after the
 * original snapshot" (the stream would never deliver them: they do not change).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import { resetwalServer, drainSnapshot, jsonRows, uniqueName } from './helpers.js';

const { version: VERSION, resetwal, skip } = resetwalServer('xid epoch');

const ROWS = 200;

/** Runs `n` transactions that each take an xid. */
async function burnXids(connectionString: string, n: number): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    for (let i = 0; i < n; i++) await client.query('SELECT pg_current_xact_id()');
  } finally {
    await client.end();
  }
}

describe(`postgres ${VERSION}: resumed snapshot in a cluster past one xid wraparound`, { skip }, () => {
  let server: TestPostgres;
  before(async () => {
    server = await startPostgres({ version: VERSION, settings: { autovacuum: 'off' } });
  });
  after(() => server?.stop());

  it('frozen rows whose raw xmin falls between the original snapshot and the resume are still delivered', async () => {
    // past initdb's own xids, so that every tuple the reset below moves "into the future" is frozen
    await burnXids(server.connectionString, 300);
    const t = uniqueName('frozen');
    await server.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, v text NOT NULL)`);
    const [{ xid }] = await server.query<{ xid: string }>(
      `WITH ins AS (INSERT INTO ${t} SELECT g, repeat('v', 20) FROM generate_series(1, ${ROWS}) g RETURNING 1) SELECT pg_current_xact_id()::text AS xid FROM ins LIMIT 1`,
    );
    const raw = Number(xid);
    assert.ok(raw < 2 ** 32, 'the rows were written in epoch 0');
    await server.query('VACUUM (FREEZE)');
    // Epoch 1, next xid just below the rows' raw xmin: as if 2^32 - 100 transactions ran since,
    // with every older row frozen (as anti-wraparound vacuum leaves them).
    await server.shutdown('fast');
    const owner = statSync(server.dataDir);
    const reset = spawnSync(resetwal!, ['-e', '1', '-x', String(raw - 100), server.dataDir], {
      uid: owner.uid,
      gid: owner.gid,
      encoding: 'utf8',
    });
    assert.equal(reset.status, 0, `pg_resetwal: ${reset.stderr}`);
    await server.restart();
    const [{ next }] = await server.query<{ next: string }>('SELECT pg_current_xact_id()::text AS next');
    assert.ok(
      BigInt(next) > 2n ** 32n && BigInt(next) < 2n ** 32n + BigInt(raw),
      `next xid ${next} is in epoch 1, below the rows' raw xmin`,
    );

    const slot = uniqueName('s');
    const make = () =>
      new PostgresSource({
        connectionString: server.connectionString,
        table: t,
        slot,
        publication: `p_${slot}`,
        batchRows: 50,
        maxWaitMs: 200,
      });
    const first = make();
    const seen: string[] = [];
    let cp;
    try {
      seen.push(...jsonRows((await first.pollSnapshot())!).map((r) => r[0] as string));
      cp = JSON.parse(JSON.stringify(first.checkpoint()));
    } finally {
      await first.close();
    }
    assert.ok(seen.length < ROWS, 'the snapshot was interrupted');
    // the xid counter passes the rows' raw xmin while the snapshot is interrupted
    await burnXids(server.connectionString, 150);
    const second = make();
    try {
      await second.restore(cp);
      for (const b of await drainSnapshot(second)) seen.push(...jsonRows(b).map((r) => r[0] as string));
      assert.equal(new Set(seen).size, ROWS, `every row delivered (got ${new Set(seen).size} of ${ROWS})`);
    } finally {
      await second.close({ dropSlot: true });
    }
  });
});
