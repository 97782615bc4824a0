/** Shared setup of the Exasol connector tests: one test server per file, sessions, sources. */
import type { RecordBatch } from 'apache-arrow';
import { ExasolConnection, ExasolSource, type ExasolSourceConfig } from '../../src/connectors/exasol/index.js';
import { batchReaders, type Cell } from '../../src/sdk/values.js';
import type { ExasolTestServer } from '../../src/testing/index.js';

/** Connection settings of a test server for source/sink configs. */
export function connectionConfig(server: ExasolTestServer) {
  return { host: server.host, port: server.port, user: server.user, password: server.password, tls: false };
}

/** A logged-in session (autocommit on). */
export function connect(
  server: ExasolTestServer,
  extra: Partial<Parameters<typeof ExasolConnection.connect>[0]> = {},
): Promise<ExasolConnection> {
  return ExasolConnection.connect({ ...connectionConfig(server), ...extra });
}

/** A source over `schema.table` of the test server. */
export function sourceFor(server: ExasolTestServer, config: Omit<ExasolSourceConfig, 'user' | 'password'>): ExasolSource {
  return new ExasolSource({ ...connectionConfig(server), ...config } as ExasolSourceConfig);
}

/** Reads the whole snapshot. */
export async function drainSnapshot(source: ExasolSource): Promise<RecordBatch[]> {
  const batches: RecordBatch[] = [];
  for (let b = await source.pollSnapshot(); b !== null; b = await source.pollSnapshot()) batches.push(b);
  return batches;
}

/** Rows of batches as objects of exact cells, keyed by column name. */
export function rowsOf(batches: RecordBatch[]): Record<string, Cell>[] {
  const rows: Record<string, Cell>[] = [];
  for (const batch of batches) {
    const readers = batchReaders(batch);
    const names = batch.schema.fields.map((f) => f.name);
    for (let r = 0; r < batch.numRows; r++) {
      const row: Record<string, Cell> = {};
      names.forEach((n, i) => (row[n] = readers[i]!(r)));
      rows.push(row);
    }
  }
  return rows;
}

/** JSON with bigints and byte arrays readable (for assertion messages). */
export function show(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
  );
}
