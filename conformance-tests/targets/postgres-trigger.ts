/**
 * Conformance target: the PostgreSQL connector with trigger capture (`capture: 'trigger'`)
 * against a real server started with `wal_level = replica`, where logical replication is
 * impossible. Every `setup()` creates a fresh table (with the same out-of-line `doc` column as
 * the logical target); the source installs its triggers at start; `teardown()` removes them
 * and the table.
 */
import pg from 'pg';
import { PostgresSource, uninstallTriggerCapture, type PostgresSourceConfig } from '../../src/connectors/postgres/index.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import type { ConformanceTarget, SourceOptions, TableHarness } from '../types.js';
import { largeDoc, tableWrites } from './postgres.js';

let server: Promise<TestPostgres> | undefined;
let tables = 0;

/** The shared test server (started on first use), without logical replication. */
function postgres(): Promise<TestPostgres> {
  server ??= startPostgres({ walLevel: 'replica', settings: { max_connections: 200 } });
  return server;
}

/** Stops the shared server (call from an `after` hook). */
export async function stopPostgresTriggerTarget(): Promise<void> {
  const running = server;
  server = undefined;
  if (running) await (await running).stop();
}

async function harness(extra: Partial<PostgresSourceConfig> = {}): Promise<TableHarness> {
  const server = await postgres();
  const name = `t${process.pid}_${++tables}`;
  const table = `conformance.${name}`;
  const applicationName = `rst_${name}`;
  await server.query('CREATE SCHEMA IF NOT EXISTS conformance');
  await server.query(
    `CREATE TABLE ${table} (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2) NOT NULL, updated_at timestamptz NOT NULL, active boolean NOT NULL, note text)`,
  );
  await server.query(`ALTER TABLE ${table} ADD COLUMN doc text`);
  await server.query(`ALTER TABLE ${table} ALTER COLUMN doc SET STORAGE EXTERNAL`);
  const terminate = () =>
    server.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()', [
      applicationName,
    ]);
  return {
    async createSource(options: SourceOptions = {}) {
      return new PostgresSource({
        connectionString: server.connectionString,
        table,
        capture: 'trigger',
        installTriggers: true,
        applicationName,
        ...extra,
        ...(options.batchRows !== undefined ? { batchRows: options.batchRows } : {}),
        ...(options.maxWaitMs !== undefined ? { maxWaitMs: options.maxWaitMs } : {}),
      });
    },
    ...tableWrites((sql, params) => server.query(sql, params), table),
    async interrupt() {
      await terminate();
    },
    async teardown() {
      await terminate();
      const client = new pg.Client({ connectionString: server.connectionString });
      await client.connect();
      try {
        const { rows } = await client.query<{ oid: string | null }>(`SELECT to_regclass($1)::oid::text AS oid`, [table]);
        await uninstallTriggerCapture(client, { oid: rows[0]?.oid ? Number(rows[0].oid) : null, name: { schema: 'conformance', name } });
        await client.query(`DROP TABLE IF EXISTS ${table}`);
      } finally {
        await client.end();
      }
    },
  };
}

const postgresTriggerTarget: ConformanceTarget = {
  name: 'postgres (trigger capture)',
  capabilities: { changes: 'log', deletes: true, exactlyOnce: true, midSnapshotResume: true, transactions: true },
  extraColumns: [largeDoc],
  setup: () => harness(),
};

/** The trigger capture target with other source settings, e.g. `{ schemaEvolution: false }`. */
export function postgresTriggerTargetWith(name: string, config: Partial<PostgresSourceConfig>): ConformanceTarget {
  return { name, extraColumns: [largeDoc], setup: () => harness(config) };
}

export default postgresTriggerTarget;
