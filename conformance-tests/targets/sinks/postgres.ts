/**
 * Sink conformance target: PostgresTableSink against a real server (embedded PostgreSQL,
 * started once per process). Every destination is a new table the sink creates; readBack
 * selects it, teardown drops it.
 */
import { PostgresTableSink } from '../../../src/connectors/postgres/index.js';
import { startPostgres, type TestPostgres } from '../../../src/testing/postgres.js';
import type { SinkConformanceTarget, SinkHarness, StoredRow } from '../../sinks/types.js';

let server: Promise<TestPostgres> | undefined;
let tables = 0;

function postgres(): Promise<TestPostgres> {
  server ??= startPostgres();
  return server;
}

/** Stops the shared server (call from an `after` hook; the CLI's process exit also stops it). */
export async function stopPostgresSinkTarget(): Promise<void> {
  const running = server;
  server = undefined;
  if (running) await (await running).stop();
}

async function harness(): Promise<SinkHarness> {
  const pg = await postgres();
  const table = `sink_conformance.t${process.pid}_${++tables}`;
  await pg.query('CREATE SCHEMA IF NOT EXISTS sink_conformance');
  return {
    async createSink() {
      return new PostgresTableSink({ connectionString: pg.connectionString, table });
    },
    async readBack() {
      const [present] = await pg.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [table]);
      if (!present?.present) return [];
      // bigint and numeric arrive as text, timestamptz as Date (the test values have millisecond precision).
      return pg.query<StoredRow>(`SELECT * FROM ${table}`);
    },
    async teardown() {
      await pg.query(`DROP TABLE IF EXISTS ${table}`);
    },
    async interrupt() {
      // Severs the sessions of the sinks (they connect as application_name refstream-sink).
      await pg.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'refstream-sink'`);
    },
  };
}

const postgresSinkTarget: SinkConformanceTarget = {
  name: 'postgres (PostgresTableSink)',
  setup: harness,
};

export default postgresSinkTarget;
