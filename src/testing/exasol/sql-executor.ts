/**
 * Runs one session's Exasol statements on its PostgreSQL connection: translation, Exasol
 * transaction semantics (autocommit, a failed statement does not abort an open transaction),
 * LAST_COMMIT bookkeeping, the column-type catalog, result-set typing, session statements
 * (OPEN SCHEMA, ALTER SESSION, COMMIT/ROLLBACK) and IMPORT/EXPORT.
 */
import pg from 'pg';
import { ExasolError, SqlCode, fromPostgresError } from './errors.js';
import { translateStatement, TranslationError, type TableRef, type TranslatedStatement } from './sql-translate.js';
import {
  forgetObjects,
  loadColumnTypes,
  qualify,
  recordAlteredTypes,
  recordMissingTypes,
  recordTableTypes,
  touchTables,
  typesByAttnum,
} from './catalog.js';
import { exasolTypeFromPostgres } from './exasol-types.js';
import { StoredResultSet, encodeColumn, type ResultColumn } from './result-sets.js';
import { parseExport, parseImport } from './etl-statements.js';
import { fetchImportRows, runExport, type QueryRows } from './etl.js';
import { quoteIdent } from './sql-tokens.js';
import { statementMatches, type ExasolFaults } from './faults.js';
import type { TransportContext } from './http-transport.js';

/** Session settings that statements read and change. */
export interface SessionSettings {
  currentSchema: string;
  autocommit: boolean;
  queryTimeout: number;
  timezone: string;
  resultSetMaxRows: number;
  /** Fraction digits of TIMESTAMP text (from NLS_TIMESTAMP_FORMAT). */
  timestampFractionDigits: number;
}

export type StatementResult = { resultType: 'rowCount'; rowCount: number } | { resultType: 'resultSet'; resultSet: StoredResultSet };

/** Raw text for every type: values are converted by result-sets.ts, never by `pg`. */
const RAW_TYPES = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

/** Opens the PostgreSQL connection of a session with the settings the encoders rely on. */
export async function openSessionConnection(connectionString: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString, types: RAW_TYPES, application_name: 'exasol-test-server' });
  // A server shutdown must not surface as an uncaught error; the next query reports it.
  client.on('error', () => {});
  await client.connect();
  await client.query(
    `SET TimeZone = 'UTC'; SET IntervalStyle = 'iso_8601'; SET DateStyle = 'ISO, YMD'; SET bytea_output = 'hex';
     SET extra_float_digits = 1; SET search_path = "SYS"`,
  );
  return client;
}

export class SqlExecutor {
  /** Attributes changed by the current request, echoed in its reply. */
  readonly changed: Record<string, unknown> = {};
  inTransaction = false;
  /** A statement is executing (abortQuery has something to abort). */
  running = false;
  private dirty = new Map<string, { schema: string; table: string }>();
  private abortReason: 'abort' | 'timeout' | undefined;
  private abortController = new AbortController();
  /** A cancel request on its way to PostgreSQL; the next statement waits for it (it must not be the one cancelled). */
  private cancelling: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: pg.Client,
    private readonly connectionString: string,
    readonly settings: SessionSettings,
    private readonly faults: ExasolFaults,
    private readonly transport: Omit<TransportContext, 'signal'>,
  ) {}

  /** Executes one Exasol statement. Errors are {@link ExasolError}s. */
  async execute(sqlText: string): Promise<StatementResult> {
    await this.cancelling;
    this.abortReason = undefined;
    this.abortController = new AbortController();
    const fault = this.faults.take('failStatement', (f) => statementMatches(f, sqlText));
    if (fault) throw new ExasolError(fault.text, fault.sqlCode);
    let statement: TranslatedStatement;
    try {
      statement = translateStatement(sqlText);
    } catch (error) {
      if (error instanceof TranslationError) throw new ExasolError(`syntax error: ${error.message} [line 1, column 1]`, SqlCode.syntax);
      throw error;
    }
    this.running = true;
    try {
      return await this.run(statement);
    } catch (error) {
      if (this.abortReason === 'abort') throw fromPostgresError({ code: '57014' }, 'abort');
      if (error instanceof ExasolError) throw error;
      const timeout = /statement timeout/.test((error as Error).message ?? '');
      throw fromPostgresError(error, timeout ? 'timeout' : 'abort');
    } finally {
      this.running = false;
    }
  }

  /**
   * Cancels the running statement (abortQuery): PostgreSQL query and HTTP transfers. As in
   * Exasol, an abort with no statement running does nothing; and the next statement starts
   * only once the cancel request is through, so it can never hit the next statement.
   */
  abort(): Promise<void> {
    if (!this.running) return Promise.resolve();
    this.abortReason = 'abort';
    this.abortController.abort();
    const cancel = this.cancelBackend();
    this.cancelling = cancel;
    return cancel;
  }

  private async cancelBackend(): Promise<void> {
    const pid = (this.client as unknown as { processID?: number }).processID;
    if (pid === undefined) return;
    const canceller = new pg.Client({ connectionString: this.connectionString });
    canceller.on('error', () => {});
    try {
      await canceller.connect();
      await canceller.query('SELECT pg_cancel_backend($1)', [pid]);
    } catch {
      /* the statement may already be gone */
    } finally {
      await canceller.end().catch(() => {});
    }
  }

  /** Sets the current schema (OPEN SCHEMA, attribute, CREATE SCHEMA); '' closes it. */
  async setSchema(name: string): Promise<void> {
    if (name !== '') {
      const { rows } = await this.client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [name]);
      if (rows.length === 0) throw new ExasolError(`schema ${name} not found [line 1, column 13]`, SqlCode.syntax);
    }
    await this.client.query(`SET search_path = ${name ? quoteIdent(name) + ', ' : ''}"SYS"`);
    this.settings.currentSchema = name;
    this.changed.currentSchema = name;
  }

  /** Applies `queryTimeout` (seconds) as PostgreSQL's statement_timeout. */
  async setQueryTimeout(seconds: number): Promise<void> {
    await this.client.query(`SET statement_timeout = ${Math.max(0, Math.floor(seconds * 1000))}`);
    this.settings.queryTimeout = seconds;
  }

  async setAutocommit(on: boolean): Promise<void> {
    if (on && this.inTransaction) await this.commit();
    this.settings.autocommit = on;
  }

  private async run(statement: TranslatedStatement): Promise<StatementResult> {
    const none: StatementResult = { resultType: 'rowCount', rowCount: 0 };
    switch (statement.kind) {
      case 'openSchema':
        await this.setSchema(statement.schema);
        return none;
      case 'closeSchema':
        await this.setSchema('');
        return none;
      case 'commit':
        await this.commit();
        return none;
      case 'rollback':
        if (this.inTransaction) await this.client.query('ROLLBACK');
        this.endTransaction();
        return none;
      case 'alterSession':
        await this.alterSession(statement.name, statement.value);
        return none;
      case 'createSchema':
        await this.write([], async () => {
          await this.client.query(statement.sql);
        });
        // Exasol opens a newly created schema.
        await this.setSchema(statement.schema);
        return none;
      case 'dropSchema':
        await this.write([], async () => {
          await this.client.query(statement.sql);
          await forgetObjects(this.client, statement.schema);
        });
        if (this.settings.currentSchema === statement.schema) await this.setSchema('');
        return none;
      case 'export':
        return this.runExport(statement.tokens);
      case 'import':
        return this.runImport(statement.tokens);
      case 'sql':
        return this.runSql(statement);
    }
  }

  private async runSql(statement: Extract<TranslatedStatement, { kind: 'sql' }>): Promise<StatementResult> {
    if (/\bEXA_(ALL|USER|DBA)_/.test(statement.sql)) await recordMissingTypes(this.client);
    const isWrite = statement.writes.length > 0 || statement.ddl;
    if (!isWrite && this.settings.autocommit && !this.inTransaction) return this.toResult(await this.query(statement.sql));
    let result!: pg.QueryResult;
    await this.write(statement.writes, async () => {
      // an ALTER TABLE keeps the recorded Exasol types of the columns it does not change
      const typesBefore: Array<Map<number, { exaType: unknown; columnType: string }>> = [];
      if (statement.tableAction === 'alter') {
        for (const ref of statement.writes) {
          const { schema, table } = qualify(ref, this.settings.currentSchema);
          typesBefore.push(schema ? await typesByAttnum(this.client, schema, table) : new Map());
        }
      }
      result = await this.query(statement.sql);
      for (const [index, ref] of statement.writes.entries()) {
        const { schema, table } = qualify(ref, this.settings.currentSchema);
        if (!schema) continue;
        if (statement.tableAction === 'drop') await forgetObjects(this.client, schema, table);
        else if (statement.tableAction === 'create') {
          await recordTableTypes(this.client, schema, table, statement.declared?.columns);
          await touchTables(this.client, [{ schema, table }], true);
        } else if (statement.tableAction === 'alter') {
          await recordAlteredTypes(this.client, schema, table, typesBefore[index]!, statement.declared?.columns);
          // DDL changes the object too: Exasol moves LAST_COMMIT for it
          await touchTables(this.client, [{ schema, table }]);
        }
      }
    });
    return this.toResult(result);
  }

  /**
   * Runs a writing step with Exasol semantics: in autocommit mode it commits on its own
   * together with the LAST_COMMIT update; inside a transaction a failure rolls back only the
   * statement (savepoint), and the touched tables are committed later.
   */
  private async write(targets: TableRef[], step: () => Promise<void>): Promise<void> {
    const tables = targets.map((t) => qualify(t, this.settings.currentSchema)).filter((t) => t.schema);
    if (this.settings.autocommit && !this.inTransaction) {
      await this.client.query('BEGIN');
      try {
        await step();
        await touchTables(this.client, tables);
        await this.client.query('COMMIT');
      } catch (error) {
        await this.client.query('ROLLBACK').catch(() => {});
        throw error;
      }
      return;
    }
    if (!this.inTransaction) {
      await this.client.query('BEGIN');
      this.inTransaction = true;
      this.changed.openTransaction = true;
    }
    await this.client.query('SAVEPOINT exasol_statement');
    try {
      await step();
      await this.client.query('RELEASE SAVEPOINT exasol_statement');
    } catch (error) {
      await this.client.query('ROLLBACK TO SAVEPOINT exasol_statement').catch(() => {});
      throw error;
    }
    for (const t of tables) this.dirty.set(`${t.schema}.${t.table}`, t);
  }

  private async commit(): Promise<void> {
    if (!this.inTransaction) return;
    await touchTables(this.client, [...this.dirty.values()]);
    await this.client.query('COMMIT');
    this.endTransaction();
  }

  private endTransaction(): void {
    if (this.inTransaction) this.changed.openTransaction = false;
    this.inTransaction = false;
    this.dirty.clear();
  }

  private async alterSession(name: string, value: string): Promise<void> {
    switch (name) {
      case 'NLS_TIMESTAMP_FORMAT': {
        const ff = /FF(\d)?/i.exec(value);
        this.settings.timestampFractionDigits = ff ? Number(ff[1] ?? 6) : 0;
        break;
      }
      case 'TIME_ZONE':
        await this.client.query(`SET TimeZone = '${value.replace(/'/g, "''")}'`).catch(() => {
          throw new ExasolError(`invalid time zone ${value}`, SqlCode.syntax);
        });
        this.settings.timezone = value.toUpperCase();
        this.changed.timezone = this.settings.timezone;
        break;
      case 'QUERY_TIMEOUT':
        await this.setQueryTimeout(Number(value));
        this.changed.queryTimeout = Number(value);
        break;
      default:
        // NLS_DATE_FORMAT, NLS_NUMERIC_CHARACTERS, HASHTYPE_FORMAT, SNAPSHOT_MODE, …: accepted.
        break;
    }
  }

  private async query(sql: string): Promise<pg.QueryResult> {
    const result = (await this.client.query({ text: sql, rowMode: 'array' })) as pg.QueryResult | pg.QueryResult[];
    return Array.isArray(result) ? result[result.length - 1] : result;
  }

  private async columnsOf(result: pg.QueryResult): Promise<ResultColumn[]> {
    const tableOids = [...new Set(result.fields.map((f) => f.tableID).filter((oid) => oid > 0))];
    const known = await loadColumnTypes(this.client, tableOids);
    return result.fields.map((f) => ({
      name: f.name,
      type: known.get(`${f.tableID}:${f.columnID}`) ?? exasolTypeFromPostgres(f.dataTypeID, f.dataTypeModifier),
    }));
  }

  private async rowsOf(result: pg.QueryResult): Promise<QueryRows> {
    return { columns: await this.columnsOf(result), rows: result.rows as unknown as (string | null)[][] };
  }

  private async toResult(result: pg.QueryResult): Promise<StatementResult> {
    if (result.fields.length === 0) return { resultType: 'rowCount', rowCount: result.rowCount ?? 0 };
    const data = await this.rowsOf(result);
    let rows = data.rows;
    if (this.settings.resultSetMaxRows > 0) rows = rows.slice(0, this.settings.resultSetMaxRows);
    const format = { timestampFractionDigits: this.settings.timestampFractionDigits };
    const encoded = data.columns.map((column, c) =>
      encodeColumn(
        column.type,
        rows.map((row) => row[c]),
        format,
      ),
    );
    const columns = data.columns.map((column, c) => ({ name: column.name, type: encoded[c].type }));
    const rowMajor = rows.map((_, r) => encoded.map((column) => column.values[r]));
    return { resultType: 'resultSet', resultSet: new StoredResultSet(columns, rowMajor) };
  }

  private transportContext(): TransportContext {
    return { ...this.transport, signal: this.abortController.signal };
  }

  private async runExport(tokens: Parameters<typeof parseExport>[0]): Promise<StatementResult> {
    const statement = this.parse(() => parseExport(tokens));
    const data = await this.rowsOf(await this.query(statement.query));
    const rowCount = await runExport(statement, data, this.transportContext(), this.settings.timestampFractionDigits);
    return { resultType: 'rowCount', rowCount };
  }

  private async runImport(tokens: Parameters<typeof parseImport>[0]): Promise<StatementResult> {
    const statement = this.parse(() => parseImport(tokens));
    const { schema, table } = qualify(statement.table, this.settings.currentSchema);
    const target = `${schema ? quoteIdent(schema) + '.' : ''}${quoteIdent(table)}`;
    const { rows: columnRows } = await this.client.query<{ attname: string }>(
      `SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = $1 AND n.nspname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [table, schema],
    );
    if (columnRows.length === 0)
      throw new ExasolError(`object ${schema ? schema + '.' : ''}${table} not found [line 1, column 13]`, SqlCode.syntax);
    const columns = statement.columns ?? columnRows.map((r) => r.attname);
    const rows = await fetchImportRows(statement, this.transportContext());
    rows.forEach((row, n) => {
      if (row.length !== columns.length) {
        throw new ExasolError(
          `ETL-2105: Error while parsing row=${n} (starting from 0) [CSV Parser found incorrect number of columns. Expected: ${columns.length}, found: ${row.length}]`,
          SqlCode.etl,
        );
      }
    });
    await this.write([{ schema, table }], async () => {
      const perBatch = Math.max(1, Math.floor(60_000 / columns.length));
      for (let from = 0; from < rows.length; from += perBatch) {
        const batch = rows.slice(from, from + perBatch);
        const values = batch.map((_, r) => `(${columns.map((__, c) => `$${r * columns.length + c + 1}`).join(', ')})`).join(', ');
        await this.client.query(`INSERT INTO ${target} (${columns.map(quoteIdent).join(', ')}) VALUES ${values}`, batch.flat());
      }
    });
    return { resultType: 'rowCount', rowCount: rows.length };
  }

  /** Parse failures of IMPORT/EXPORT (including invalid option values) are syntax errors. */
  private parse<T>(parse: () => T): T {
    try {
      return parse();
    } catch (error) {
      throw new ExasolError(`syntax error: ${(error as Error).message} [line 1, column 1]`, SqlCode.syntax);
    }
  }
}
