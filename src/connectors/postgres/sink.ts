/**
 * PostgresTableSink: keeps a PostgreSQL table equal to the synced table.
 *
 * Batches are streamed with COPY into a temporary staging table inside one transaction; each
 * `flush()` merges the staged changes into the target (the latest change per key wins:
 * upsert with `INSERT … ON CONFLICT DO UPDATE`, delete with `DELETE … USING`) and commits.
 * A crash before the commit loses only uncommitted staging rows, which the runner re-delivers
 * from the last checkpoint; replays re-apply the same changes in order, so the target converges.
 */
import type { DataType, Field, RecordBatch } from 'apache-arrow';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { CHANGE_TYPE_COLUMN, METADATA, POSITION_COLUMN, batchInfo, sameTableSchema, tableFields } from '../../sdk/batch.js';
import { followSchema, markColumnSql } from './sink-target.js';
import { definite } from '../../sdk/errors.js';
import { mapPgError } from './errors.js';
import type { Sink, SnapshotStartInfo } from '../../sdk/sink.js';
import type { Fence } from '../../sdk/lease.js';
import { batchReaders, toJsonValue, type Cell } from '../../sdk/values.js';
import { parseQualifiedName, quoteIdent, quoteQualified, type QualifiedName } from './identifiers.js';
import { SinkFence } from './sink-fence.js';

/** Options of {@link PostgresTableSink}. */
export interface PostgresTableSinkOptions {
  /** postgres:// URL of the target database. */
  connectionString: string;
  /** Target table, `schema.table` (quote parts as in SQL). */
  table: string;
  /** Create the target table from the first batch's schema when it does not exist (default true). */
  createTable?: boolean;
  /**
   * Follow the source's schema changes on the target with `ALTER TABLE` (default true): columns
   * added, renamed, widened and dropped (only the ones the sink created), and after a re-seed any
   * change. With `false` a change stops the sink with `SCHEMA_INCOMPATIBLE` listing the statements.
   */
  alterTable?: boolean;
}

const OP_CODES: Record<string, number> = { snapshot: 0, insert: 1, update: 2, delete: 3 };

/** A {@link Sink} that upserts rows into a PostgreSQL table. */
export class PostgresTableSink implements Sink {
  readonly name: string;
  private readonly target: QualifiedName;
  private client: pg.Client;
  private connected = false;
  private inTransaction = false;
  private fields: Field[] | null = null;
  private primaryKey: string[] = [];
  private staged = 0;
  private ordinal = 0;
  /** A snapshot started: the target's rows go with its first batch. */
  private clearPending = false;
  /** High availability: the epoch this sink writes for, checked in every transaction before it commits. */
  private readonly fenceRow: SinkFence;

  constructor(private readonly options: PostgresTableSinkOptions) {
    const target = parseQualifiedName(options.table);
    if (!target) throw definite('CONFIG_INVALID', `PostgresTableSink table: "${options.table}" is not "table" or "schema.table"`);
    this.target = target;
    this.fenceRow = new SinkFence(target.schema, options.table);
    this.client = this.newClient();
    this.name = `postgres:${options.table}`;
  }

  /**
   * High availability: from now on every transaction of this sink commits only while the
   * target database's fence row of the group is at `fence`'s epoch (checked `FOR SHARE`
   * right before COMMIT). Claiming the row for this epoch first ends the sessions of older
   * epochs' sinks (marked by their application_name), so a paused replica's open transaction
   * is rolled back and never commits.
   */
  async fence(fence: Fence): Promise<void> {
    this.fenceRow.use(fence);
    await this.ensureConnected();
    if (this.inTransaction) {
      // what an older term wrote and did not commit is not this term's
      await this.query('ROLLBACK');
      this.inTransaction = false;
      this.fields = null;
      this.staged = 0;
    }
    // the session is named for its epoch, so that a newer term can end it
    await this.query(`SELECT set_config('application_name', $1, false)`, [this.fenceRow.applicationName]);
    await this.fenceRow.claim((sql, params) => this.query(sql, params));
  }

  async snapshotStart(_info: SnapshotStartInfo): Promise<void> {
    // A new snapshot replaces the table: forget staged changes now, and the existing rows with
    // the first batch (in its transaction, committed at the next flush). Deleting now would hold
    // a writing transaction open while the source exports its snapshot, which waits for every
    // writing transaction of the server to end: a deadlock when the target is on that server.
    if (this.fields && this.connected) await this.query(`TRUNCATE ${this.stagingName()}`);
    this.staged = 0;
    this.clearPending = true;
  }

  async write(batch: RecordBatch): Promise<void> {
    const info = batchInfo(batch);
    const fields = tableFields(batch.schema);
    await this.begin();
    if (this.clearPending) {
      if (await this.targetExists()) await this.query(`DELETE FROM ${quoteQualified(this.target)}`);
      this.clearPending = false;
    }
    const readers = batchReaders(batch);
    const typeIndex = batch.schema.fields.findIndex((f) => f.name === CHANGE_TYPE_COLUMN);
    // a re-seed (truncate first) may change the schema in any way: the target is emptied first
    await this.adoptSchema(fields, info.primaryKey, typeIndex >= 0 && batch.numRows > 0 && readers[typeIndex]!(0) === 'truncate');
    const positionIndex = batch.schema.fields.findIndex((f) => f.name === POSITION_COLUMN);
    let text = '';
    const flushText = async () => {
      if (text) await this.copyIntoStaging(text);
      text = '';
    };
    for (let i = 0; i < batch.numRows; i++) {
      const op = typeIndex >= 0 ? String(readers[typeIndex]!(i)) : 'snapshot';
      if (op === 'truncate') {
        await flushText();
        await this.mergeStaged();
        await this.query(`DELETE FROM ${quoteQualified(this.target)}`);
        continue;
      }
      const cells: string[] = [
        String(++this.ordinal),
        String(OP_CODES[op] ?? 1),
        positionIndex >= 0 ? copyText(String(readers[positionIndex]!(i))) : '\\N',
      ];
      for (let c = 0; c < fields.length; c++) cells.push(copyCell(fields[c]!, readers[c]!(i)));
      text += cells.join('\t') + '\n';
      this.staged++;
      if (text.length > 1 << 20) await flushText();
    }
    await flushText();
  }

  async flush(): Promise<void> {
    if (this.clearPending) {
      // a snapshot without a single batch: the target is emptied now
      await this.begin();
      if (await this.targetExists()) await this.query(`DELETE FROM ${quoteQualified(this.target)}`);
      this.clearPending = false;
    }
    if (!this.inTransaction) return;
    await this.mergeStaged();
    try {
      await this.fenceRow.check((sql, params) => this.query(sql, params));
    } catch (error) {
      await this.query('ROLLBACK').catch(() => {});
      this.inTransaction = false;
      this.staged = 0;
      throw error;
    }
    await this.query('COMMIT');
    this.inTransaction = false;
  }

  async close(): Promise<void> {
    if (!this.connected) return;
    if (this.inTransaction) await this.query('ROLLBACK').catch(() => {});
    this.inTransaction = false;
    this.connected = false;
    await this.client.end().catch(() => {});
  }

  /**
   * After a transient failure (the server went away): drops the connection and with it the
   * uncommitted transaction; the next write reconnects. The runner replays from its last
   * checkpoint, saved only after `flush` committed.
   */
  async reset(): Promise<void> {
    const old = this.client;
    this.client = this.newClient();
    this.connected = false;
    this.inTransaction = false;
    this.fields = null; // the TEMP staging table went with the session
    this.staged = 0;
    await old.end().catch(() => {});
  }

  private newClient(): pg.Client {
    const client = new pg.Client({ connectionString: this.options.connectionString, application_name: this.fenceRow.applicationName });
    client.on('error', () => {});
    return client;
  }

  private async ensureConnected(): Promise<void> {
    if (this.connected) return;
    try {
      await this.client.connect();
    } catch (error) {
      throw this.failure(error, 'cannot connect');
    }
    this.connected = true;
  }

  private async begin(): Promise<void> {
    await this.ensureConnected();
    if (!this.inTransaction) {
      await this.query('BEGIN');
      this.inTransaction = true;
    }
  }

  private stagingName(): string {
    return quoteIdent('refstream_staging');
  }

  private async targetExists(): Promise<boolean> {
    const r = await this.query(`SELECT to_regclass($1) IS NOT NULL AS present`, [quoteQualified(this.target)]);
    return (r.rows[0] as { present: boolean }).present === true;
  }

  private async adoptSchema(fields: Field[], primaryKey: string[], emptied: boolean): Promise<void> {
    const same =
      this.fields &&
      sameTableSchema(this.fields, fields) &&
      this.primaryKey.length === primaryKey.length &&
      this.primaryKey.every((k, i) => k === primaryKey[i]);
    if (same) return;
    if (this.fields && this.staged > 0) await this.mergeStaged();
    this.fields = fields;
    this.primaryKey = primaryKey;
    const columns = fields.map((f) => `${quoteIdent(f.name)} ${pgType(f)}`);
    if (!(await this.targetExists())) {
      if (this.options.createTable === false) {
        throw definite('TABLE_NOT_FOUND', `target table ${this.options.table} does not exist`, { hint: 'create it, or allow createTable' });
      }
      await this.query(
        `CREATE TABLE ${quoteQualified(this.target)} (${columns.join(', ')}, PRIMARY KEY (${primaryKey.map(quoteIdent).join(', ')}))`,
      );
      for (const f of fields) {
        const mark = markColumnSql(this.target, f);
        if (mark) await this.query(mark);
      }
    } else {
      await followSchema((sql, params) => this.query(sql, params), {
        target: this.target,
        display: this.options.table,
        fields,
        primaryKey,
        emptied,
        alter: this.options.alterTable !== false,
        pgType,
      });
    }
    // Staging columns are text and cast on merge, so COPY text needs no type-specific encoding.
    await this.query(`DROP TABLE IF EXISTS pg_temp.${this.stagingName()}`);
    await this.query(
      `CREATE TEMP TABLE ${this.stagingName()} (_ord bigint, _op smallint, _pos text, ${fields.map((f) => `${quoteIdent(f.name)} text`).join(', ')})`,
    );
  }

  private async copyIntoStaging(text: string): Promise<void> {
    try {
      const stream = this.client.query(copyFrom(`COPY ${this.stagingName()} FROM STDIN`));
      await new Promise<void>((resolve, reject) => {
        stream.on('error', reject);
        stream.on('finish', () => resolve());
        stream.end(text);
      });
    } catch (error) {
      throw this.failure(error);
    }
  }

  private async mergeStaged(): Promise<void> {
    if (!this.fields || this.staged === 0) return;
    const fields = this.fields;
    const target = quoteQualified(this.target);
    const keys = this.primaryKey.map(quoteIdent);
    const cast = (f: Field) => `${quoteIdent(f.name)}::${pgType(f)}`;
    const latest = `SELECT DISTINCT ON (${keys.join(', ')}) * FROM ${this.stagingName()} ORDER BY ${keys.join(', ')}, _ord DESC`;
    const keyFields = fields.filter((f) => this.primaryKey.includes(f.name));
    await this.query(
      `DELETE FROM ${target} t USING (${latest}) l WHERE l._op = 3 AND ${keyFields.map((f) => `t.${quoteIdent(f.name)} = l.${cast(f)}`).join(' AND ')}`,
    );
    const nonKey = fields.filter((f) => !this.primaryKey.includes(f.name));
    const update = nonKey.length
      ? `DO UPDATE SET ${nonKey.map((f) => `${quoteIdent(f.name)} = EXCLUDED.${quoteIdent(f.name)}`).join(', ')}`
      : 'DO NOTHING';
    await this.query(
      `INSERT INTO ${target} (${fields.map((f) => quoteIdent(f.name)).join(', ')}) SELECT ${fields.map(cast).join(', ')} FROM (${latest}) l WHERE l._op <> 3 ON CONFLICT (${keys.join(', ')}) ${update}`,
    );
    await this.query(`TRUNCATE ${this.stagingName()}`);
    this.staged = 0;
  }

  private async query(sql: string, params?: unknown[]) {
    try {
      return await this.client.query(sql, params);
    } catch (error) {
      throw this.failure(error);
    }
  }

  /**
   * The connector's one classification of PostgreSQL errors (connection loss, shutdown and
   * serialization conflicts are transient: the runner resets and retries); what it cannot
   * name more precisely is a definite `SINK_FAILED`.
   */
  private failure(error: unknown, doing?: string) {
    const mapped = mapPgError(error, this.options.table, `PostgresTableSink ${this.options.table}${doing ? ` ${doing}` : ''}`);
    if (mapped.kind === 'definite' && mapped.code === 'QUERY_FAILED') {
      return definite('SINK_FAILED', mapped.message, { cause: error, table: this.options.table });
    }
    return mapped;
  }
}

/** The PostgreSQL type of a column: the source type when the source was PostgreSQL, else mapped from Arrow. */
export function pgType(field: Field): string {
  const source = field.metadata.get(METADATA.sourceType);
  if (source && /^[a-z][a-z0-9_ ]*(\(\d+(,\s*\d+)?\))?(\[\])?$/i.test(source) && !/^(user-defined)$/i.test(source)) return source;
  return arrowToPg(field.type);
}

function arrowToPg(type: DataType): string {
  const t = type as DataType & Record<string, unknown>;
  switch (type.typeId) {
    case 2:
      return ({ 8: 'smallint', 16: 'smallint', 32: 'integer', 64: 'bigint' } as Record<number, string>)[t.bitWidth as number] ?? 'bigint';
    case 3:
      return (t.precision as number) === 1 ? 'real' : 'double precision';
    case 4:
      return 'bytea';
    case 5:
      return 'text';
    case 6:
      return 'boolean';
    case 7:
      return `numeric(${t.precision as number}, ${t.scale as number})`;
    case 8:
      return 'date';
    case 10:
      return t.timezone ? 'timestamptz' : 'timestamp';
    case 11:
      return 'interval';
    case 12:
      return `${arrowToPg((t.children as Field[])[0]!.type)}[]`;
    case 15:
      return 'bytea';
    default:
      return 'text';
  }
}

/** COPY text escaping of one value. */
function copyText(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
}

/** One cell in COPY text format, written as the text the target type's input function reads. */
function copyCell(field: Field, cell: Cell): string {
  if (cell === null) return '\\N';
  const type = field.type as DataType & Record<string, unknown>;
  if (type.typeId === 4 || (type.typeId === 15 && !/uuid/i.test(field.metadata.get(METADATA.sourceType) ?? ''))) {
    return `\\\\x${Buffer.from(cell as Uint8Array).toString('hex')}`;
  }
  if (type.typeId === 12) return copyText(pgArrayLiteral((type.children as Field[])[0]!, cell as Cell[]));
  if (type.typeId === 6) return cell ? 't' : 'f';
  const json = toJsonValue(field, cell);
  return copyText(typeof json === 'string' ? json : JSON.stringify(json));
}

function pgArrayLiteral(item: Field, cells: Cell[]): string {
  const parts = cells.map((c) => {
    if (c === null) return 'NULL';
    const v = toJsonValue(item, c);
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  });
  return `{${parts.join(',')}}`;
}
