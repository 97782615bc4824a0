/**
 * Large values stored out of line (TOAST). An update that leaves such a value unchanged sends
 * only an "unchanged" marker for it, unless the table has REPLICA IDENTITY FULL (then the old
 * row carries it). This module decides at start what the source does about that (the `toast`
 * option) and, for the `lookup` strategy, reads the missing values by key over a side SQL
 * connection, one query per change batch.
 */
import type pg from 'pg';
import { definite, transient } from '../../sdk/errors.js';
import type { ResolvedConfig } from './config.js';
import type { Catalog, TableInfo } from './catalog.js';
import { quoteIdent, quoteQualified } from './identifiers.js';
import { mapPgError } from './errors.js';
import type { ColumnSpec } from './types.js';

/** The SQL that gives `table` REPLICA IDENTITY FULL. */
export function identityFullSql(table: TableInfo): string {
  return `ALTER TABLE ${quoteQualified(table.name)} REPLICA IDENTITY FULL;`;
}

/**
 * Checks at start that the `toast` strategy can deliver every unchanged out-of-line value of
 * the table: under `identity-full` the table must have REPLICA IDENTITY FULL (set here only
 * when `setReplicaIdentity` is on), else the start is refused with the command to run.
 * Returns the columns that may be stored out of line.
 */
export async function checkToastAtStart(catalog: Catalog, sql: pg.Client, table: TableInfo, config: ResolvedConfig): Promise<string[]> {
  const columns = await catalog.outOfLineColumns(table.oid);
  if (config.toast !== 'identity-full' || columns.length === 0 || table.replicaIdentity === 'f') return columns;
  const fix = identityFullSql(table);
  if (config.setReplicaIdentity) {
    try {
      await sql.query(fix);
    } catch (error) {
      throw mapPgError(error, table.display, 'setting REPLICA IDENTITY FULL');
    }
    table.replicaIdentity = 'f';
    return columns;
  }
  throw definite(
    'REPLICA_IDENTITY_NOT_FULL',
    `toast: 'identity-full' needs REPLICA IDENTITY FULL on ${table.display}: its column${columns.length > 1 ? 's' : ''} ${columns.join(', ')} may be stored out of line (TOAST), and an update leaving one unchanged would not carry its value`,
    {
      table: table.display,
      hint: `${fix} (more WAL per update), or run with setReplicaIdentity / --set-replica-identity to let refstream run it, or use toast: 'lookup'`,
    },
  );
}

/** One row whose unchanged out-of-line values are read by key. */
export interface LookupRequest {
  /** The key values in the stream's wire form: binary (`Buffer`) or text (`string`). */
  key: (Buffer | string)[];
  /** Indexes (in the table's columns) of the values to read. */
  columns: number[];
  /** xid of the transaction of the change: the lookup waits until it is visible. */
  xid: number;
}

/** The values read for one request (text output form, `null` for SQL NULL), or `undefined`: the key is gone. */
export type LookupResult = Map<number, string | null> | undefined;

/** Bind parameters per query stay well below the protocol's 65,535. */
const MAX_PARAMS = 30_000;

/**
 * Reads unchanged out-of-line values by key over its own SQL connection (opened on first use),
 * in a REPEATABLE READ transaction whose snapshot already sees every change asked about.
 */
export class ToastLookup {
  private client: pg.Client | null = null;
  /** Queries run (one per batch with lookups, more only past {@link MAX_PARAMS} parameters). */
  queries = 0;

  constructor(
    private readonly table: TableInfo,
    private readonly connect: () => Promise<pg.Client>,
    private readonly timeoutMs: number,
  ) {}

  /** The values for each request, in order. */
  async fetch(specs: ColumnSpec[], keyIndexes: number[], requests: LookupRequest[]): Promise<LookupResult[]> {
    const client = await this.open();
    const display = this.table.display;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        await this.waitVisible(client, requests);
        const wanted = new Set<number>();
        for (const r of requests) for (const c of r.columns) wanted.add(c);
        const columns = [...wanted].sort((a, b) => a - b);
        const results: LookupResult[] = new Array<LookupResult>(requests.length);
        const perQuery = Math.max(1, Math.floor(MAX_PARAMS / keyIndexes.length));
        for (let from = 0; from < requests.length; from += perQuery) {
          await this.query(client, specs, keyIndexes, columns, requests, from, Math.min(requests.length, from + perQuery), results);
        }
        await client.query('COMMIT');
        return results;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    } catch (error) {
      await this.close();
      throw mapPgError(error, display, 'reading unchanged out-of-line (TOAST) values');
    }
  }

  private async query(
    client: pg.Client,
    specs: ColumnSpec[],
    keyIndexes: number[],
    columns: number[],
    requests: LookupRequest[],
    from: number,
    to: number,
    results: LookupResult[],
  ): Promise<void> {
    const params: (Buffer | string)[] = [];
    const rows: string[] = [];
    for (let i = from; i < to; i++) {
      const cells = [String(i)];
      for (let k = 0; k < keyIndexes.length; k++) {
        params.push(requests[i]!.key[k]!);
        cells.push(`$${params.length}::${specs[keyIndexes[k]!]!.sourceType}`);
      }
      rows.push(`(${cells.join(', ')})`);
    }
    const keyNames = keyIndexes.map((k) => quoteIdent(specs[k]!.name));
    const sql =
      `SELECT k.i, ${columns.map((c) => `t.${quoteIdent(specs[c]!.name)}`).join(', ')}` +
      ` FROM (VALUES ${rows.join(', ')}) AS k(i, ${keyIndexes.map((_, n) => `k${n}`).join(', ')})` +
      ` JOIN ${quoteQualified(this.table.name)} AS t ON (${keyNames.map((n) => `t.${n}`).join(', ')}) = (${keyIndexes.map((_, n) => `k.k${n}`).join(', ')})`;
    this.queries++;
    const result = await client.query({ text: sql, values: params, rowMode: 'array', types: RAW_TEXT });
    for (const row of result.rows as (string | null)[][]) {
      const values = new Map<number, string | null>();
      columns.forEach((c, n) => values.set(c, row[n + 1]!));
      results[Number(row[0])] = values;
    }
  }

  /**
   * Waits until the snapshot of the open transaction sees every transaction asked about. The
   * stream sends a transaction once its commit record is flushed, a moment before the
   * committing session makes it visible: a lookup in between would read the row before it.
   */
  private async waitVisible(client: pg.Client, requests: LookupRequest[]): Promise<void> {
    const xids = [...new Set(requests.map((r) => r.xid))];
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const { rows } = await client.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s');
      if (xids.every((x) => visibleIn(rows[0]!.s, x))) return;
      // the snapshot is the transaction's: start a new one
      await client.query('ROLLBACK');
      if (Date.now() > deadline) {
        throw transient('TIMEOUT', `transactions of ${this.table.display} did not become visible for a TOAST lookup`, {
          table: this.table.display,
        });
      }
      await new Promise((r) => setTimeout(r, 2));
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    }
  }

  private async open(): Promise<pg.Client> {
    if (this.client) return this.client;
    try {
      this.client = await this.connect();
    } catch (error) {
      throw mapPgError(error, this.table.display, 'opening the TOAST lookup connection');
    }
    return this.client;
  }

  /** Closes the side connection, if open. */
  async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }
}

/** Every value as PostgreSQL's text output (the codecs decode it like a text-mode change). */
const RAW_TEXT = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

/**
 * Whether the (32-bit) transaction id `xid`, committed, is visible in the snapshot written as
 * `xmin:xmax:xip,…` (64-bit ids): below xmin, or below xmax and not in progress.
 */
export function visibleIn(snapshot: string, xid: number): boolean {
  const [xminText, xmaxText, xipText] = snapshot.split(':');
  const xmin = BigInt(xminText!);
  const xmax = BigInt(xmaxText!);
  // live xids are within 2^31 of xmax: the distance below it, modulo 2^32, places xid
  const below = ((((xmax & 0xffffffffn) - BigInt(xid >>> 0)) % (1n << 32n)) + (1n << 32n)) % (1n << 32n);
  if (below === 0n || below > 1n << 31n) return false; // at or past xmax: not completed yet
  const full = xmax - below;
  if (full < xmin) return true;
  return !(xipText ?? '')
    .split(',')
    .filter((s) => s !== '')
    .some((s) => BigInt(s) === full);
}
