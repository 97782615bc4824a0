/**
 * ExasolTableSink: keeps an Exasol table equal to the stream (e.g. a Postgres reference table
 * mirrored into Exasol for joins there).
 *
 * Rows are folded by key in memory (last change wins); `flush()` applies them in ONE
 * transaction: IMPORT into a staging table through an HTTP-transport tunnel (our process
 * serves the CSV), DELETE of deleted keys, MERGE of upserted rows, COMMIT. A snapshot start
 * also clears the target in that transaction. Replays after a crash re-apply the same
 * upserts and deletes in the same order, so they are harmless. When the stream's columns
 * change, the rows written before and after the change are applied in order in that same
 * transaction, with the target altered between them (sink-target.ts).
 */
import type { DataType, Field, RecordBatch } from 'apache-arrow';
import * as z from '../../sdk/zod.js';
import { batchInfo, CHANGE_TYPE_COLUMN, sameTableSchema, tableFields } from '../../sdk/batch.js';
import { ConnectorError, definite } from '../../sdk/errors.js';
import type { Sink, SnapshotStartInfo } from '../../sdk/sink.js';
import { batchReaders, cellKey } from '../../sdk/values.js';
import { queryObjects } from './catalog.js';
import { connectionSchema, parseConfig } from './config.js';
import type { ExasolConnection } from './connection.js';
import { csvField } from './csv-writer.js';
import { serveDownload } from './http-exchange.js';
import { openSession } from './session.js';
import { qualified, quoteIdent, quoteString } from './sql.js';
import { openTunnel, useTunnelTls } from './tunnel.js';
import { followSchema, markColumnSql, type TargetTable } from './sink-target.js';

/** zod schema of {@link ExasolTableSinkConfig}. */
export const sinkConfigSchema = z.strictObject(
  z.extend(connectionSchema, {
    /** Target schema and table, exactly as stored. */
    schema: z.string().check(z.minLength(1)).check(z.maxLength(128)),
    table: z.string().check(z.minLength(1)).check(z.maxLength(128)),
    /** Create schema, target and staging tables when missing (types derived from the Arrow schema). */
    createTable: z._default(z.boolean(), false),
    /** Staging table name (default `<table>__REFSTREAM_STAGE`, same schema). One sink per target. */
    stagingTable: z.optional(z.string().check(z.minLength(1)).check(z.maxLength(128))),
    /** TLS on the IMPORT tunnel with PUBLIC KEY pinning: `auto` when the server supports it. */
    tunnelTls: z._default(z.enum(['auto', 'on', 'off']), 'auto'),
    /**
     * Follow schema changes of the stream on the target (ADD / RENAME / MODIFY / DROP COLUMN);
     * false: refuse them with the statements to run by hand.
     */
    alterTable: z._default(z.boolean(), true),
  }).shape,
);

/** Configuration of {@link ExasolTableSink}. */
export type ExasolTableSinkConfig = z.input<typeof sinkConfigSchema>;

const OP_COLUMN = 'REFSTREAM_OP';
const CHUNK_BYTES = 64 * 1024;

interface Pending {
  /** Keys to delete, and rows to upsert, by key text; the last change of a key wins. */
  rows: Map<string, { op: 'U' | 'D'; line: string }>;
  /** Clear the target first (truncate row, or a snapshot start). */
  truncate: boolean;
  /** The columns the rows were written with (undefined until the first batch). */
  fields?: Field[];
  primaryKey?: string[];
  /** Rows written with other columns before these, applied first (oldest first). */
  earlier: Pending[];
}

const nothingPending = (): Pending => ({ rows: new Map(), truncate: false, earlier: [] });

/** A `Sink` writing into an Exasol table by IMPORT + MERGE, one transaction per `flush()`. */
export class ExasolTableSink implements Sink {
  readonly name: string;
  private readonly config: z.output<typeof sinkConfigSchema>;
  private connection: ExasolConnection | undefined;
  private pending: Pending = nothingPending();
  /** The columns of the target as of the last flush (or the first batch). */
  private fields: Field[] | undefined;
  private primaryKey: string[] | undefined;
  private prepared = false;
  private closed = false;

  constructor(config: ExasolTableSinkConfig) {
    this.config = parseConfig(sinkConfigSchema, config, 'ExasolTableSink');
    this.name = `exasol:${this.config.schema}.${this.config.table}`;
  }

  private get target(): string {
    return qualified(this.config.schema, this.config.table);
  }

  private get staging(): string {
    return qualified(this.config.schema, this.config.stagingTable ?? `${this.config.table}__REFSTREAM_STAGE`);
  }

  async snapshotStart(_info: SnapshotStartInfo): Promise<void> {
    // the target outlives the process: every snapshot replaces what is there
    this.pending = { ...nothingPending(), truncate: true };
  }

  async write(batch: RecordBatch): Promise<void> {
    this.assertOpen();
    const info = batchInfo(batch);
    const fields = tableFields(batch.schema);
    this.adoptSchema(fields, info.primaryKey);
    const pending = this.pending;
    const readers = batchReaders(batch);
    const names = batch.schema.fields.map((f) => f.name);
    const changeIdx = names.indexOf(CHANGE_TYPE_COLUMN);
    const keyIdx = info.primaryKey.map((k) => names.indexOf(k));
    const tableIdx = fields.map((f) => names.indexOf(f.name));
    for (let r = 0; r < batch.numRows; r++) {
      const type = changeIdx >= 0 ? (readers[changeIdx]!(r) as string) : 'insert';
      if (type === 'truncate') {
        pending.earlier = [];
        pending.rows = new Map();
        pending.truncate = true;
        continue;
      }
      const key = keyIdx.map((i) => cellKey(readers[i]!(r))).join('|');
      const op = type === 'delete' ? 'D' : 'U';
      const cells = tableIdx.map((i, c) => (op === 'D' && !keyIdx.includes(i) ? '' : csvField(fields[c]!, readers[i]!(r))));
      pending.rows.set(key, { op, line: `${cells.join(',')},${op}\n` });
    }
  }

  /** Applies everything written since the last flush in one transaction. */
  async flush(): Promise<void> {
    this.assertOpen();
    const pending = this.pending;
    const parts = [...pending.earlier, pending];
    if (parts.every((p) => p.rows.size === 0 && !p.truncate)) return;
    const connection = await this.session();
    if (!this.fields) {
      // an empty snapshot still replaces what the target held
      await this.clearTarget(connection);
      if (this.pending === pending) this.pending = nothingPending();
      return;
    }
    try {
      for (const part of parts) await this.apply(connection, part);
      await connection.execute('COMMIT');
      if (this.pending === pending) this.pending = nothingPending();
    } catch (error) {
      await connection.execute('ROLLBACK').catch(() => undefined);
      // what the target had before this transaction
      this.fields = parts[0]!.fields ?? this.fields;
      this.primaryKey = parts[0]!.primaryKey ?? this.primaryKey;
      this.prepared = false;
      throw this.wrap(error);
    }
  }

  /** One part of a flush: the target brought to the part's columns, then its rows applied. */
  private async apply(connection: ExasolConnection, part: Pending): Promise<void> {
    const fields = part.fields ?? this.fields!;
    const primaryKey = part.primaryKey ?? this.primaryKey!;
    if (this.prepared && !sameTableSchema(this.fields!, fields)) {
      await followSchema(connection, this.targetTable, {
        previous: this.fields!,
        fields,
        previousKey: this.primaryKey!,
        primaryKey,
        emptied: part.truncate,
        alter: this.config.alterTable,
      });
      await connection.execute(`DROP TABLE IF EXISTS ${this.staging}`);
      this.prepared = false;
    }
    this.fields = fields;
    this.primaryKey = primaryKey;
    await this.prepare(connection);
    if (part.rows.size === 0 && !part.truncate) return;
    await connection.execute(`DELETE FROM ${this.staging}`);
    if (part.rows.size > 0) await this.importRows(connection, part);
    if (part.truncate) await connection.execute(`DELETE FROM ${this.target}`);
    const match = primaryKey.map((k) => `t.${quoteIdent(k)} = s.${quoteIdent(k)}`).join(' AND ');
    await connection.execute(
      `DELETE FROM ${this.target} t WHERE EXISTS (SELECT 1 FROM ${this.staging} s WHERE s.${OP_COLUMN} = 'D' AND ${match})`,
    );
    const columns = fields.map((f) => quoteIdent(f.name));
    const nonKey = fields.filter((f) => !primaryKey.includes(f.name)).map((f) => quoteIdent(f.name));
    const update = nonKey.length > 0 ? `WHEN MATCHED THEN UPDATE SET ${nonKey.map((c) => `t.${c} = s.${c}`).join(', ')} ` : '';
    await connection.execute(
      `MERGE INTO ${this.target} t USING (SELECT * FROM ${this.staging} WHERE ${OP_COLUMN} = 'U') s ON (${match}) ${update}WHEN NOT MATCHED THEN INSERT (${columns.join(', ')}) VALUES (${columns.map((c) => `s.${c}`).join(', ')})`,
    );
  }

  private get targetTable(): TargetTable {
    return { schema: this.config.schema, table: this.config.table, exasolType: exasolTypeOf };
  }

  /**
   * After a transient failure: drops what was written since the last flush and the session
   * (the next flush opens a new one). The runner replays from its last checkpoint.
   */
  async reset(): Promise<void> {
    this.assertOpen();
    this.pending = nothingPending();
    this.connection?.destroy();
    this.connection = undefined;
    this.prepared = false;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.connection?.close();
    this.connection = undefined;
  }

  /** Deletes every row of an existing target (nothing to do when it does not exist yet). */
  private async clearTarget(connection: ExasolConnection): Promise<void> {
    if ((await this.columnTypes(connection, this.config.table)).size === 0) return;
    try {
      await connection.execute(`DELETE FROM ${this.target}`);
      await connection.execute('COMMIT');
    } catch (error) {
      await connection.execute('ROLLBACK').catch(() => undefined);
      throw this.wrap(error);
    }
  }

  /** Rows of other columns than those written so far start a new part of the pending rows. */
  private adoptSchema(fields: Field[], primaryKey: string[]): void {
    this.fields ??= fields;
    this.primaryKey ??= primaryKey;
    const pending = this.pending;
    if (pending.fields === undefined) {
      pending.fields = fields;
      pending.primaryKey = primaryKey;
      return;
    }
    if (sameTableSchema(pending.fields, fields) && pending.primaryKey!.join('\u0000') === primaryKey.join('\u0000')) return;
    const { earlier, ...current } = pending;
    this.pending = { rows: new Map(), truncate: false, fields, primaryKey, earlier: [...earlier, { ...current, earlier: [] }] };
  }

  private async session(): Promise<ExasolConnection> {
    if (this.connection?.isOpen) return this.connection;
    this.connection?.destroy();
    this.connection = await openSession(this.config, { clientName: `refstream sink ${this.config.schema}.${this.config.table}` });
    await this.connection.setAttributes({ autocommit: false });
    this.prepared = false;
    return this.connection;
  }

  /** Creates missing tables (with `createTable`) and checks that the target has the streamed columns. */
  private async prepare(connection: ExasolConnection): Promise<void> {
    if (this.prepared) return;
    const fields = this.fields!;
    const existing = await this.columnTypes(connection, this.config.table);
    if (existing.size === 0) {
      if (!this.config.createTable) {
        throw definite('TABLE_NOT_FOUND', `target table ${this.config.schema}.${this.config.table} does not exist`, {
          hint: 'create it, or set createTable: true',
        });
      }
      await connection.execute(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(this.config.schema)}`).catch(() => undefined);
      const columns = fields.map((f) => `${quoteIdent(f.name)} ${exasolTypeOf(f)}${this.primaryKey!.includes(f.name) ? ' NOT NULL' : ''}`);
      await connection.execute(
        `CREATE TABLE ${this.target} (${columns.join(', ')}, PRIMARY KEY (${this.primaryKey!.map(quoteIdent).join(', ')}))`,
      );
      // the columns' identities, so a later rename is followed by identity rather than by name
      for (const f of fields) {
        const mark = markColumnSql(this.targetTable, f);
        if (mark) await connection.execute(mark);
      }
      await connection.execute('COMMIT');
      existing.clear();
      for (const f of fields) existing.set(f.name, exasolTypeOf(f));
    } else {
      // the target may have other columns than the stream (they changed while this sink was
      // not running): follow them, by the identities recorded on the target's columns
      await followSchema(connection, this.targetTable, {
        previous: null,
        fields,
        previousKey: null,
        primaryKey: this.primaryKey!,
        emptied: false,
        alter: this.config.alterTable,
      });
      existing.clear();
      for (const [name, type] of await this.columnTypes(connection, this.config.table)) existing.set(name, type);
    }
    const stagingName = this.config.stagingTable ?? `${this.config.table}__REFSTREAM_STAGE`;
    const staged = await this.columnTypes(connection, stagingName);
    if (staged.size > 0 && (staged.size !== fields.length + 1 || fields.some((f) => staged.get(f.name) !== existing.get(f.name)))) {
      await connection.execute(`DROP TABLE ${this.staging}`);
      staged.clear();
    }
    if (staged.size === 0) {
      const columns = fields.map((f) => `${quoteIdent(f.name)} ${existing.get(f.name)}`);
      await connection.execute(`CREATE TABLE ${this.staging} (${columns.join(', ')}, ${OP_COLUMN} CHAR(1))`);
      await connection.execute('COMMIT');
    }
    this.prepared = true;
  }

  private async columnTypes(connection: ExasolConnection, table: string): Promise<Map<string, string>> {
    const rows = await queryObjects(
      connection,
      `SELECT COLUMN_NAME, COLUMN_TYPE FROM EXA_ALL_COLUMNS WHERE COLUMN_SCHEMA = ${quoteString(this.config.schema)} AND COLUMN_TABLE = ${quoteString(table)} ORDER BY COLUMN_ORDINAL_POSITION`,
    );
    return new Map(rows.map((r) => [String(r.COLUMN_NAME), String(r.COLUMN_TYPE)]));
  }

  /** IMPORT of the pending rows from our process, through one tunnel. */
  private async importRows(connection: ExasolConnection, pending: Pending): Promise<void> {
    const tls = useTunnelTls(this.config.tunnelTls, connection.session.releaseVersion);
    const tunnel = await openTunnel(connection.host, connection.port, { tls });
    try {
      const columns = [...this.fields!.map((f) => quoteIdent(f.name)), OP_COLUMN].join(', ');
      const statement =
        `IMPORT INTO ${this.staging} (${columns}) FROM CSV AT ${quoteString(tunnel.url)}${tunnel.publicKeyPin ? ` PUBLIC KEY ${quoteString(tunnel.publicKeyPin)}` : ''} FILE '000.csv' ` +
        `ENCODING = 'UTF8' ROW SEPARATOR = 'LF' COLUMN SEPARATOR = ',' COLUMN DELIMITER = '"'`;
      const running = connection.execute(statement);
      running.catch(() => undefined);
      // the one writer always gets data: an empty upload would stall the IMPORT
      const served = serveDownload(tunnel.stream, chunks(pending), 'IMPORT file 0');
      served.catch(() => undefined);
      await Promise.race([running, served.then(() => running)]);
      await served;
    } finally {
      tunnel.destroy();
    }
  }

  private wrap(error: unknown): unknown {
    if (ConnectorError.is(error)) return error;
    return new ConnectorError(
      'SINK_FAILED',
      `writing ${this.config.schema}.${this.config.table} failed: ${(error as Error)?.message ?? String(error)}`,
      { cause: error },
    );
  }

  private assertOpen(): void {
    if (this.closed) throw definite('CLOSED', `sink ${this.name} is closed`);
  }
}

/** The pending rows as CSV chunks of about 64 KiB. */
function* chunks(pending: Pending): Generator<Uint8Array> {
  let parts: string[] = [];
  let size = 0;
  for (const { line } of pending.rows.values()) {
    parts.push(line);
    size += line.length;
    if (size >= CHUNK_BYTES) {
      yield Buffer.from(parts.join(''), 'utf8');
      parts = [];
      size = 0;
    }
  }
  if (parts.length > 0) yield Buffer.from(parts.join(''), 'utf8');
}

/** The Exasol column type for a streamed Arrow field (used with `createTable`). */
export function exasolTypeOf(field: Field): string {
  const t = field.type as DataType & {
    typeId: number;
    bitWidth?: number;
    precision?: number;
    scale?: number;
    unit?: number;
    timezone?: string | null;
    byteWidth?: number;
  };
  switch (t.typeId) {
    case 2:
      return `DECIMAL(${{ 8: 3, 16: 5, 32: 10, 64: 19 }[t.bitWidth ?? 64] ?? 19},0)`;
    case 3:
      return 'DOUBLE';
    case 5:
      return 'VARCHAR(2000000) UTF8';
    case 6:
      return 'BOOLEAN';
    case 7:
      if ((t.precision ?? 0) <= 36) return `DECIMAL(${t.precision},${t.scale})`;
      break;
    case 8:
      return 'DATE';
    case 10:
      return `TIMESTAMP(${t.unit === 1 ? 3 : t.unit === 2 ? 6 : t.unit === 3 ? 9 : 0})${t.timezone ? ' WITH LOCAL TIME ZONE' : ''}`;
    case 15:
      return `HASHTYPE(${t.byteWidth} BYTE)`;
    case 12:
      return 'VARCHAR(2000000) UTF8';
  }
  throw definite('UNSUPPORTED_TYPE', `column ${field.name} has Arrow type ${String(field.type)}, which has no Exasol column type`, {
    hint: 'create the target table yourself with a suitable type',
  });
}
