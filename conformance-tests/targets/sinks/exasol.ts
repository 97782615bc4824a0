/**
 * Sink conformance target: ExasolTableSink against the Exasol protocol test server (started
 * once per process, backed by its own embedded PostgreSQL). Every destination is a new table
 * the sink creates (`createTable: true`); readBack selects it over a separate session.
 *
 * The sink follows added columns (ALTER TABLE … ADD COLUMN), so it declares `addColumn: true`
 * (SINK-05), and Exasol stores `''` as NULL (the `emptyStringIsNull` quirk).
 */
import { ExasolConnection } from '../../../src/connectors/exasol/index.js';
import { ExasolTableSink } from '../../../src/connectors/exasol/index.js';
import { startExasolTestServer, type ExasolTestServer } from '../../../src/testing/index.js';
import type { SinkConformanceTarget, SinkHarness, StoredRow } from '../../sinks/types.js';

let server: Promise<ExasolTestServer> | undefined;
let admin: Promise<ExasolConnection> | undefined;
let tables = 0;
const SCHEMA = 'SINK_CONFORMANCE';

function connection(s: ExasolTestServer) {
  return { host: s.host, port: s.port, user: s.user, password: s.password, tls: false };
}

function exasol(): Promise<ExasolTestServer> {
  server ??= startExasolTestServer({ nodes: 1 });
  return server;
}

/** Stops the shared server (call from an `after` hook). */
export async function stopExasolSinkTarget(): Promise<void> {
  const [running, session] = [server, admin];
  server = undefined;
  admin = undefined;
  if (session) await (await session).close().catch(() => undefined);
  if (running) await (await running).stop();
}

async function rows(session: ExasolConnection, sql: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const page of session.query(sql)) {
    const names = page.columns.map((c) => c.name);
    for (let r = 0; r < page.numRows; r++) out.push(Object.fromEntries(names.map((n, c) => [n, page.data[c]![r]])));
  }
  return out;
}

async function harness(): Promise<SinkHarness> {
  const s = await exasol();
  admin ??= ExasolConnection.connect(connection(s));
  const session = await admin;
  const table = `T${process.pid}_${++tables}`;
  const exists = async () =>
    (await rows(session, `SELECT COLUMN_NAME FROM EXA_ALL_COLUMNS WHERE COLUMN_SCHEMA = '${SCHEMA}' AND COLUMN_TABLE = '${table}'`))
      .length > 0;
  return {
    async createSink() {
      return new ExasolTableSink({ ...connection(s), schema: SCHEMA, table, createTable: true });
    },
    async readBack() {
      if (!(await exists())) return [];
      // DECIMAL comes back as text, TIMESTAMP as `YYYY-MM-DD HH:MM:SS.ffffff` (UTC).
      return (await rows(session, `SELECT * FROM "${SCHEMA}"."${table}"`)) as StoredRow[];
    },
    async interrupt() {
      // The sink's next MERGE fails as a transaction collision does (a transient error).
      s.faults.failStatement({ match: /^MERGE/, sqlCode: '40001', text: 'GlobalTransactionRollback msg: Transaction collision' });
    },
    async teardown() {
      s.faults.clear();
      await session.execute(`DROP TABLE IF EXISTS "${SCHEMA}"."${table}"`).catch(() => undefined);
      await session.execute(`DROP TABLE IF EXISTS "${SCHEMA}"."${table}__REFSTREAM_STAGE"`).catch(() => undefined);
    },
  };
}

const exasolSinkTarget: SinkConformanceTarget = {
  name: 'exasol (ExasolTableSink)',
  capabilities: { addColumn: true },
  quirks: { emptyStringIsNull: true },
  setup: harness,
};

export default exasolSinkTarget;
