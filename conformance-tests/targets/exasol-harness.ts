/**
 * Shared harness of the Exasol conformance targets: every test table is a fresh Exasol table
 * on the Exasol test server (or any Exasol reachable with the same settings), written through
 * refstream's own Exasol client, read back by `ExasolSource`.
 *
 * Exasol specifics the suite meets here:
 * - column names are quoted lower-case (`"id"`, …) so batches carry the suite's names;
 * - `id` is DECIMAL(19,0) delivered as Int64 (`columnTypes: { id: 'int64' }`);
 * - watermark mode: writers maintain `"_seq"` (set on insert and update) and `"_ins"` (set on
 *   insert) from one counter, one value per transaction — the discipline the mode requires;
 * - Exasol stores the empty string as NULL, so rows written with `''` read back as NULL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExasolConnection, ExasolSource, type ExasolSourceConfig } from '../../src/connectors/exasol/index.js';
import { startExasolTestServer, type ExasolTestServer } from '../../src/testing/index.js';
import type { ReferenceTableSource } from '../../src/sdk/source.js';
import type { Migration, SourceOptions, TableHarness, TestRow } from '../types.js';
import { makeRow } from '../test-table.js';

/** Where the tables live and how to log in. */
export interface ExasolTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  tls?: boolean;
  fingerprint?: string | undefined;
  /** Severs every connection of the sources (fault hook); absent on a real database. */
  dropConnections?: () => void;
}

const SCHEMA = 'CONFORMANCE';
let tableCounter = 0;

/** A harness over a fresh table, read in `mode`. */
export async function exasolHarness(
  target: ExasolTarget,
  mode: 'watermark' | 'diff',
  extra: Partial<ExasolSourceConfig> = {},
): Promise<TableHarness> {
  const table = `T_${process.pid}_${++tableCounter}`;
  const qualified = `"${SCHEMA}"."${table}"`;
  let admin: ExasolConnection | undefined;
  const connectAdmin = async (): Promise<ExasolConnection> => {
    if (admin?.isOpen) return admin;
    admin = await ExasolConnection.connect({
      host: target.host,
      port: target.port,
      user: target.user,
      password: target.password,
      tls: target.tls ?? false,
      fingerprint: target.fingerprint,
    });
    await admin.setAttributes({ autocommit: false });
    return admin;
  };
  /** Runs statements as one transaction. */
  const transaction = async (statements: string[]): Promise<void> => {
    const c = await connectAdmin();
    try {
      for (const s of statements) await c.execute(s);
      await c.execute('COMMIT');
    } catch (error) {
      await c.execute('ROLLBACK').catch(() => undefined);
      throw error;
    }
  };
  await transaction([`CREATE SCHEMA IF NOT EXISTS "${SCHEMA}"`]).catch(() => undefined);
  await transaction([
    `CREATE TABLE ${qualified} ("id" DECIMAL(19,0) NOT NULL, "name" VARCHAR(2000000), "amount" DECIMAL(12,2) NOT NULL,
      "updated_at" TIMESTAMP(6) WITH LOCAL TIME ZONE NOT NULL, "active" BOOLEAN NOT NULL, "note" VARCHAR(2000000),
      "_seq" DECIMAL(18,0) NOT NULL, "_ins" DECIMAL(18,0) NOT NULL, PRIMARY KEY ("id"))`,
  ]);
  const stateDir = mode === 'diff' ? mkdtempSync(join(tmpdir(), 'refstream-exasol-diff-')) : undefined;
  let seq = 0;
  const sources: ReferenceTableSource[] = [];
  return {
    async createSource(options: SourceOptions = {}) {
      const source = new ExasolSource({
        host: target.host,
        port: target.port,
        user: target.user,
        password: target.password,
        tls: target.tls ?? false,
        fingerprint: target.fingerprint,
        schema: SCHEMA,
        table,
        mode,
        columnTypes: { id: 'int64' },
        // the suite's tables are small; force the parallel EXPORT path the connector is built around
        snapshot: { method: 'export' },
        // the watermark columns are bookkeeping of the writers, not part of the suite's table
        excludeColumns: ['_seq', '_ins'],
        ...(mode === 'watermark' ? { watermark: { column: '_seq', insertedColumn: '_ins' } } : { diff: { stateDir: stateDir! } }),
        ...(options.batchRows !== undefined ? { batchRows: options.batchRows } : {}),
        ...(options.maxWaitMs !== undefined ? { maxWaitMs: options.maxWaitMs } : {}),
        ...extra,
      });
      sources.push(source);
      return source;
    },
    async insert(rows: TestRow[]) {
      if (rows.length === 0) return;
      const s = ++seq;
      const columns = '"id", "name", "amount", "updated_at", "active", "note", "_seq", "_ins"';
      await transaction([`INSERT INTO ${qualified} (${columns}) VALUES ${rows.map((r) => `(${rowLiterals(r)}, ${s}, ${s})`).join(', ')}`]);
    },
    async update(rows: TestRow[]) {
      if (rows.length === 0) return;
      const s = ++seq;
      await transaction(
        rows.map(
          (r) =>
            `UPDATE ${qualified} SET "name" = ${text(r.name)}, "amount" = ${r.amount}, "updated_at" = ${timestamp(r.updated_at)}, "active" = ${r.active ? 'TRUE' : 'FALSE'}, "note" = ${text(r.note)}, "_seq" = ${s} WHERE "id" = ${r.id}`,
        ),
      );
    },
    async delete(ids: bigint[]) {
      if (ids.length === 0) return;
      ++seq;
      await transaction([`DELETE FROM ${qualified} WHERE "id" IN (${ids.join(', ')})`]);
    },
    async truncate() {
      ++seq;
      await transaction([`TRUNCATE TABLE ${qualified}`]);
    },
    async addColumn(name: string) {
      await transaction([`ALTER TABLE ${qualified} ADD COLUMN "${name.replace(/"/g, '""')}" VARCHAR(2000000)`]);
    },
    async migrate(change: Migration, insertId: bigint) {
      const ddl = {
        'drop-note': `ALTER TABLE ${qualified} DROP COLUMN "note"`,
        'rename-name': `ALTER TABLE ${qualified} RENAME COLUMN "name" TO "title"`,
        'widen-amount': `ALTER TABLE ${qualified} MODIFY COLUMN "amount" DECIMAL(14,2)`,
      }[change];
      await transaction([ddl]);
      const r = makeRow(Number(insertId));
      const s = ++seq;
      const columns = [
        ['"id"', String(r.id)],
        [change === 'rename-name' ? '"title"' : '"name"', text(r.name)],
        ['"amount"', r.amount],
        ['"updated_at"', timestamp(r.updated_at)],
        ['"active"', r.active ? 'TRUE' : 'FALSE'],
        ...(change === 'drop-note' ? [] : [['"note"', text(r.note)]]),
        ['"_seq"', String(s)],
        ['"_ins"', String(s)],
      ];
      await transaction([
        `INSERT INTO ${qualified} (${columns.map((c) => c[0]).join(', ')}) VALUES (${columns.map((c) => c[1]).join(', ')})`,
      ]);
    },
    ...(target.dropConnections
      ? {
          interrupt: async () => {
            target.dropConnections!();
            // the harness's own session was cut too: reconnect on the next write
            admin?.destroy();
            admin = undefined;
          },
        }
      : {}),
    async teardown() {
      await Promise.all(sources.map((s) => s.close().catch(() => undefined)));
      await transaction([`DROP TABLE IF EXISTS ${qualified}`]).catch(() => undefined);
      await admin?.close();
      if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

function rowLiterals(r: TestRow): string {
  return `${r.id}, ${text(r.name)}, ${r.amount}, ${timestamp(r.updated_at)}, ${r.active ? 'TRUE' : 'FALSE'}, ${text(r.note)}`;
}

function text(value: string | null): string {
  return value === null ? 'NULL' : `'${value.replace(/'/g, "''")}'`;
}

function timestamp(date: Date): string {
  const iso = date.toISOString(); // 1900-01-01T00:00:00.001Z
  return `TIMESTAMP '${iso.slice(0, 10)} ${iso.slice(11, 23)}'`;
}

let shared: Promise<ExasolTestServer> | undefined;

/** A test server started on first use and stopped when the process is about to exit (CLI use). */
export function sharedTestServer(): Promise<ExasolTestServer> {
  if (!shared) {
    shared = startExasolTestServer({ nodes: 3 });
    process.once('beforeExit', () => void shared?.then((s) => s.stop()));
  }
  return shared;
}

/** The target settings of a test server. */
export function testServerTarget(server: ExasolTestServer): ExasolTarget {
  return {
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    dropConnections: () => server.dropConnections(),
  };
}
