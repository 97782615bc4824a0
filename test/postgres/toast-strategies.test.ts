/**
 * Large values stored out of line (TOAST) under the default replica identity: every `toast`
 * strategy delivers them, the folded changes equal the table, and `identity-full` refuses at
 * start (naming the table, the columns and the fix) unless allowed to set the identity.
 */
import { describe, it, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import type { PostgresSourceConfig } from '../../src/connectors/postgres/config.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import { visibleIn } from '../../src/connectors/postgres/toast.js';
import pgDriver from 'pg';
import type { SourceWarning } from '../../src/sdk/warnings.js';
import {
  PG_VERSIONS,
  changeRows as changeRowsOf,
  drainSnapshot,
  jsonRows,
  pollQuiet,
  sourceFor,
  uniqueName,
  type ChangeRow,
} from './helpers.js';

/** Random hex (incompressible for pglz): `n` × 32 characters. */
const hex = (n: number) => `(SELECT string_agg(md5(random()::text || g::text), '') FROM generate_series(1, ${n}) g)`;
const LONG_TEXT = hex(200); // 6400 characters
const LONG_JSON = `jsonb_build_object('blob', ${hex(200)}, 'n', 1)`;
const LONG_BYTES = `decode(${hex(200)}, 'hex')`; // 3200 random bytes

async function createToastTable(pg: TestPostgres, t: string): Promise<void> {
  await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, price int NOT NULL, doc text, meta jsonb, img bytea)`);
  await pg.query(`INSERT INTO ${t} SELECT g, g, ${LONG_TEXT}, ${LONG_JSON}, ${LONG_BYTES} FROM generate_series(1, 6) g`);
}

/** Changes leaving large values unchanged, changing them to short and long values, inserts, deletes, a key change. */
async function workload(pg: TestPostgres, t: string): Promise<void> {
  await pg.query(`UPDATE ${t} SET price = price + 100`);
  await pg.query(`UPDATE ${t} SET doc = 'short' WHERE id = 1`);
  await pg.query(`UPDATE ${t} SET doc = ${LONG_TEXT}, meta = '{"small": true}' WHERE id = 2`);
  await pg.query(`UPDATE ${t} SET img = ${LONG_BYTES} WHERE id = 4`);
  await pg.query(`INSERT INTO ${t} VALUES (7, 7, ${LONG_TEXT}, ${LONG_JSON}, ${LONG_BYTES})`);
  await pg.query(`UPDATE ${t} SET price = 0 WHERE id = 7`);
  await pg.query(`DELETE FROM ${t} WHERE id = 5`);
  await pg.query(`UPDATE ${t} SET id = 50 WHERE id = 6`);
  await pg.query(`BEGIN; UPDATE ${t} SET doc = ${LONG_TEXT} WHERE id = 4; UPDATE ${t} SET price = 1 WHERE id = 4; COMMIT`);
  // the row is gone before the source reads the update: no phantom row may come of it
  await pg.query(`UPDATE ${t} SET price = -1 WHERE id = 3`);
  await pg.query(`DELETE FROM ${t} WHERE id = 3`);
}

/** The table as a snapshot-only source reads it, keyed by id. */
async function tableAsRead(pg: TestPostgres, t: string): Promise<Map<string, unknown[]>> {
  const source = sourceFor(pg, t, { mode: 'snapshot-only' });
  try {
    const state = new Map<string, unknown[]>();
    for (const b of await drainSnapshot(source)) for (const r of jsonRows(b)) state.set(String(r[0]), r);
    return state;
  } finally {
    await source.close();
  }
}

function fold(state: Map<string, unknown[]>, rows: ChangeRow[]): void {
  for (const r of rows) {
    if (r.type === 'delete') state.delete(String(r.values[0]));
    else if (r.type === 'truncate') state.clear();
    else state.set(String(r.values[0]), r.values);
  }
}

test('visibleIn: a committed 32-bit xid is visible below xmin, or below xmax and not in progress, across epochs', () => {
  const epoch = 1n << 32n;
  assert.equal(visibleIn('100:105:', 99), true);
  assert.equal(visibleIn('100:105:102', 102), false);
  assert.equal(visibleIn('100:105:102', 103), true);
  assert.equal(visibleIn('100:105:', 105), false, 'not yet completed');
  // xmax just past a wraparound: xid 4294967290 belongs to the previous epoch
  assert.equal(visibleIn(`${epoch + 3n}:${epoch + 10n}:`, 4294967290), true);
  assert.equal(visibleIn(`${epoch + 3n}:${epoch + 10n}:${epoch + 5n}`, 5), false);
  assert.equal(visibleIn(`${epoch - 8n}:${epoch + 10n}:${epoch - 6n}`, 4294967290), false);
  assert.equal(visibleIn(`${epoch - 8n}:${epoch + 10n}:${epoch - 6n}`, 4294967291), true);
});

test("setReplicaIdentity without toast: 'identity-full' is refused as CONFIG_INVALID naming both keys", () => {
  assert.throws(
    () => new PostgresSource({ connectionString: 'postgres://localhost/db', table: 't', setReplicaIdentity: true }),
    (e: unknown) => ConnectorError.is(e, 'CONFIG_INVALID') && /setReplicaIdentity/.test(e.message) && /identity-full/.test(e.message),
  );
});

for (const version of PG_VERSIONS) {
  describe(`postgres ${version}: out-of-line (TOAST) values`, () => {
    let pg: TestPostgres;
    before(async () => {
      pg = await startPostgres({ version });
    });
    after(() => pg.stop());

    async function syncAndCompare(t: string, extra: Partial<PostgresSourceConfig>): Promise<ChangeRow[]> {
      const source = sourceFor(pg, t, extra);
      try {
        const state = new Map<string, unknown[]>();
        for (const b of await drainSnapshot(source)) for (const r of jsonRows(b)) state.set(String(r[0]), r);
        await workload(pg, t);
        const rows = await pollQuiet(source, 3);
        for (const r of rows) {
          if (r.type === 'update' || r.type === 'insert') {
            assert.notEqual(r.values[2], null, `row ${String(r.values[0])}: doc must never arrive empty`);
            assert.notEqual(r.values[3], null, `row ${String(r.values[0])}: meta must never arrive empty`);
            assert.notEqual(r.values[4], null, `row ${String(r.values[0])}: img must never arrive empty`);
          }
        }
        fold(state, rows);
        const expected = await tableAsRead(pg, t);
        assert.deepEqual([...state.keys()].sort(), [...expected.keys()].sort());
        for (const [k, v] of expected) assert.deepEqual(state.get(k), v, `row ${k} differs from the table`);
        return rows;
      } finally {
        await source.close({ dropSlot: true });
      }
    }

    it('the values really are stored out of line', async () => {
      const t = uniqueName('toast_check');
      await createToastTable(pg, t);
      const [row] = await pg.query<{ doc: number; meta: number; img: number; ident: string }>(
        `SELECT pg_column_size(doc) AS doc, pg_column_size(meta) AS meta, pg_column_size(img) AS img,
                (SELECT relreplident FROM pg_class WHERE oid = '${t}'::regclass)::text AS ident FROM ${t} WHERE id = 1`,
      );
      assert.ok(row!.doc > 3000 && row!.meta > 3000 && row!.img > 3000, JSON.stringify(row));
      assert.equal(row!.ident, 'd');
    });

    it('lookup (default): unchanged long text, jsonb and bytea are read by key; the folded changes equal the table', async () => {
      const t = uniqueName('toast_lookup');
      await createToastTable(pg, t);
      const rows = await syncAndCompare(t, {});
      // the update of row 3 found the row deleted: only its delete arrives
      assert.deepEqual(
        rows.filter((r) => String(r.values[0]) === '3').map((r) => r.type),
        ['delete'],
      );
      assert.ok(rows.filter((r) => r.type === 'update').length >= 6);
    });

    it('lookup reads the values of a whole batch with one query, never one per row', async () => {
      const t = uniqueName('toast_batched');
      await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, price int NOT NULL, doc text)`);
      await pg.query(`INSERT INTO ${t} SELECT g, g, ${LONG_TEXT} FROM generate_series(1, 200) g`);
      const source = sourceFor(pg, t);
      try {
        await drainSnapshot(source);
        await pg.query(`UPDATE ${t} SET price = price + 1`);
        let rows = 0;
        let batches = 0;
        while (rows < 200) {
          const b = await source.pollChanges();
          if (!b) continue;
          batches++;
          for (const r of jsonRows(b)) {
            rows++;
            assert.equal(String(r[2]).length, 6400, `row ${String(r[0])} carries its long text`);
          }
        }
        const reader = (source as unknown as { changes: { reader: { lookupQueries: number } } }).changes.reader;
        assert.ok(
          reader.lookupQueries >= 1 && reader.lookupQueries <= batches,
          `${reader.lookupQueries} queries for ${batches} batches of 200 rows`,
        );
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('batchBytes bounds batches by the values their lookups add, not only by what the stream carried', async () => {
      const t = uniqueName('toast_bytes');
      await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, price int NOT NULL, doc text)`);
      await pg.query(`INSERT INTO ${t} SELECT g, g, ${LONG_TEXT} FROM generate_series(1, 300) g`);
      const batchBytes = 64 * 1024;
      const source = sourceFor(pg, t, { batchBytes });
      try {
        await drainSnapshot(source);
        await pg.query(`UPDATE ${t} SET price = price + 1`); // 300 rows of ~20 bytes on the wire, 6400 bytes each delivered
        const sizes: number[] = [];
        while (sizes.reduce((a, b) => a + b, 0) < 300) {
          const b = await source.pollChanges();
          if (b) sizes.push(b.numRows);
        }
        // before any lookup a missing value counts 2 kB (32 rows), then its measured 6400 bytes (10 rows)
        assert.ok(sizes[0]! <= 33, `first batch ${sizes[0]} rows`);
        assert.ok(
          sizes.slice(1, -1).every((n) => n <= Math.ceil(batchBytes / 6400) + 1),
          `batches of ${sizes.join(', ')} rows`,
        );
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('lookup with values in text form (binaryValues: false): keys are bound as text; the folded changes equal the table', async () => {
      const t = uniqueName('toast_text');
      await createToastTable(pg, t);
      await syncAndCompare(t, { binaryValues: false });
    });

    it('identity-full without REPLICA IDENTITY FULL: refused at start naming the table, the columns and the ALTER TABLE', async () => {
      const t = uniqueName('toast_refused');
      await createToastTable(pg, t);
      const source = sourceFor(pg, t, { toast: 'identity-full' });
      try {
        await assert.rejects(drainSnapshot(source), (e: unknown) => {
          assert.ok(ConnectorError.is(e, 'REPLICA_IDENTITY_NOT_FULL'), String(e));
          assert.equal(e.kind, 'definite');
          assert.match(e.message, new RegExp(t));
          assert.match(e.message, /doc, meta, img/);
          assert.match(e.hint ?? '', new RegExp(`ALTER TABLE "public"."${t}" REPLICA IDENTITY FULL;`));
          return true;
        });
      } finally {
        await source.close({ dropSlot: true });
      }
      const [row] = await pg.query<{ r: string }>(`SELECT relreplident::text AS r FROM pg_class WHERE oid = '${t}'::regclass`);
      assert.equal(row!.r, 'd', 'the table is left as it was');
    });

    it('identity-full with setReplicaIdentity: sets REPLICA IDENTITY FULL; the folded changes equal the table', async () => {
      const t = uniqueName('toast_full');
      await createToastTable(pg, t);
      await syncAndCompare(t, { toast: 'identity-full', setReplicaIdentity: true });
      const [row] = await pg.query<{ r: string }>(`SELECT relreplident::text AS r FROM pg_class WHERE oid = '${t}'::regclass`);
      assert.equal(row!.r, 'f');
    });

    it('identity-full, then REPLICA IDENTITY DEFAULT while streaming: warns TOAST_IDENTITY_CHANGED once and keeps delivering by lookup', async () => {
      const t = uniqueName('toast_ident_changed');
      await createToastTable(pg, t);
      const warnings: SourceWarning[] = [];
      const source = sourceFor(pg, t, { toast: 'identity-full', setReplicaIdentity: true, onWarning: (w) => warnings.push(w) });
      try {
        const state = new Map<string, unknown[]>();
        for (const b of await drainSnapshot(source)) for (const r of jsonRows(b)) state.set(String(r[0]), r);
        await pg.query(`UPDATE ${t} SET price = price + 1 WHERE id = 1`);
        fold(state, await pollQuiet(source, 2));
        assert.equal(warnings.length, 0, 'no warning while the identity is FULL');
        await pg.query(`ALTER TABLE ${t} REPLICA IDENTITY DEFAULT`);
        await pg.query(`UPDATE ${t} SET price = price + 1`); // every large value unchanged
        const rows = await pollQuiet(source, 3);
        for (const r of rows) assert.notEqual(r.values[2], null, `row ${String(r.values[0])}: doc arrived empty`);
        fold(state, rows);
        const changed = warnings.filter((w) => w.code === 'TOAST_IDENTITY_CHANGED');
        assert.equal(changed.length, 1, JSON.stringify(warnings));
        assert.match(changed[0]!.message, new RegExp(`${t}.*doc, meta, img.*REPLICA IDENTITY FULL`));
        const expected = await tableAsRead(pg, t);
        for (const [k, v] of expected) assert.deepEqual(state.get(k), v, `row ${k} differs from the table`);
      } finally {
        await source.close({ dropSlot: true });
      }
    });

    it('lookup while other sessions delete and re-insert the same keys: no phantom row, no empty value, the folded changes equal the table', async () => {
      const t = uniqueName('toast_race');
      await pg.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, price int NOT NULL, doc text)`);
      await pg.query(`INSERT INTO ${t} SELECT g, g, ${LONG_TEXT} FROM generate_series(1, 40) g`);
      const source = sourceFor(pg, t, { maxWaitMs: 20 });
      const state = new Map<string, unknown[]>();
      let running = true;
      const session = async (work: (client: pgDriver.Client) => Promise<void>): Promise<number> => {
        const client = new pgDriver.Client({ connectionString: pg.connectionString });
        await client.connect();
        let n = 0;
        try {
          while (running) {
            await work(client);
            n++;
          }
        } finally {
          await client.end();
        }
        return n;
      };
      const id = () => 1 + Math.floor(Math.random() * 40);
      try {
        for (const b of await drainSnapshot(source)) for (const r of jsonRows(b)) state.set(String(r[0]), r);
        // Updates leave doc unchanged (looked up by key); deletes and re-inserts race those lookups.
        const sessions = [
          session((c) => c.query(`UPDATE ${t} SET price = price + 1 WHERE id = $1`, [id()]).then(() => {})),
          session((c) => c.query(`UPDATE ${t} SET price = price - 1 WHERE id = ANY($1)`, [[id(), id(), id()]]).then(() => {})),
          session((c) =>
            c
              .query(`WITH d AS (DELETE FROM ${t} WHERE id = $1 RETURNING id) INSERT INTO ${t} SELECT id, 0, ${LONG_TEXT} FROM d`, [id()])
              .then(() => {}),
          ),
          session(async (c) => {
            const k = id();
            await c.query(`DELETE FROM ${t} WHERE id = $1`, [k]);
            await c.query(`INSERT INTO ${t} VALUES ($1, 1, ${LONG_TEXT}) ON CONFLICT (id) DO NOTHING`, [k]);
          }),
        ];
        const until = Date.now() + 3000;
        let rows = 0;
        while (Date.now() < until) {
          const b = await source.pollChanges();
          if (!b) continue;
          const changes = changeRowsOf(b);
          for (const r of changes)
            if (r.type !== 'delete') assert.equal(String(r.values[2]).length, 6400, `row ${String(r.values[0])}: doc`);
          fold(state, changes);
          rows += changes.length;
        }
        running = false;
        const counts = await Promise.all(sessions);
        const rest = await pollQuiet(source, 3);
        for (const r of rest) if (r.type !== 'delete') assert.equal(String(r.values[2]).length, 6400, `row ${String(r.values[0])}: doc`);
        fold(state, rest);
        const expected = await tableAsRead(pg, t);
        assert.deepEqual([...state.keys()].sort(), [...expected.keys()].sort(), 'no phantom and no missing row');
        for (const [k, v] of expected) assert.deepEqual(state.get(k), v, `row ${k} differs from the table`);
        assert.ok(
          counts.every((n) => n > 10) && rows + rest.length > 100,
          `sessions ran ${counts.join('/')} times, ${rows + rest.length} change rows`,
        );
      } finally {
        running = false;
        await source.close({ dropSlot: true });
      }
    });
  });
}
