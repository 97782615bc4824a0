/**
 * Operator functions of trigger capture, for `refstream install-triggers`,
 * `uninstall-triggers`, `status` and `drop`: install or remove by table name, and report what
 * is installed, how many change rows wait, and where each consumer stands.
 */
import { definite } from '../../../sdk/errors.js';
import { Catalog } from '../catalog.js';
import { deferrableKey } from '../change-reader.js';
import { mapPgError } from '../errors.js';
import { displayName, quoteIdent, type QualifiedName } from '../identifiers.js';
import type { Queryable } from '../queryable.js';
import {
  installationProblem,
  installTriggerCapture,
  listCaptureFunctions,
  readInstallation,
  tablesIn,
  uninstallTriggerCapture,
  type InstallOptions,
  type InstallResult,
  type UninstallResult,
} from './install.js';

async function q<T>(client: Queryable, sql: string, params: unknown[], table: string, context: string): Promise<T[]> {
  try {
    return (await client.query(sql, params)).rows as T[];
  } catch (error) {
    throw mapPgError(error, table, context);
  }
}

/** The oid of `name` (a table), or `null` when there is none. */
async function tableOid(client: Queryable, name: QualifiedName): Promise<number | null> {
  const [row] = await q<{ oid: string }>(
    client,
    `SELECT c.oid::text AS oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
    [name.schema, name.name],
    displayName(name),
    'looking up the table',
  );
  return row ? Number(row.oid) : null;
}

/**
 * Installs trigger capture on the table `name` (or converges what is there). Refuses
 * partitioned tables and DEFERRABLE keys, which it could not capture in a correct order.
 */
export async function installTriggers(client: Queryable, name: QualifiedName, options: InstallOptions = {}): Promise<InstallResult> {
  const display = displayName(name);
  const catalog = new Catalog(client, display);
  const info = await catalog.loadTable(name);
  if (info.partitioned) {
    throw definite('CONFIG_INVALID', `trigger capture does not support partitioned tables (${display})`, {
      table: display,
      hint: 'capture each partition as a table of its own, or use logical replication',
    });
  }
  if (!(await catalog.currentKey(info.oid)).immediate) throw deferrableKey(info);
  return installTriggerCapture(client, info, options);
}

/** One consumer of a captured table. */
export interface ConsumerStatus {
  consumer: string;
  /** The snapshot its last committed checkpoint delivered (`pg_snapshot` text). */
  delivered: string;
  /** When it last committed (ISO time). */
  updatedAt: string;
  /** A reader holds it now: the backend pid, else `null`. */
  activePid: number | null;
  /** Change rows it has not committed yet. */
  pendingRows: number;
}

/** Trigger capture of one table, as `refstream status --json` reports it. */
export interface TriggerCaptureStatus {
  /** The table (its current name; the name at install when it is gone). */
  table: string;
  tableExists: boolean;
  /** Schema of the change table and the function. */
  schema: string;
  changeTable: string;
  /** The table of the consumers' progress rows. */
  consumersTable: string;
  version: number;
  /** NOTIFY channel, `null` when installed without notifications. */
  channel: string | null;
  /** Why not every change is captured now (a trigger missing or disabled, …), else `null`. */
  problem: string | null;
  /** Rows in the change table (committed ones). */
  changeRows: number;
  /** Size of the change table with its index and TOAST (bytes). */
  changeTableBytes: number;
  consumers: ConsumerStatus[];
}

/**
 * Every trigger capture installed in the connected database, or only that of `table`.
 */
export async function readTriggerStatus(client: Queryable, table?: QualifiedName): Promise<TriggerCaptureStatus[]> {
  const wantedOid = table ? await tableOid(client, table) : null;
  const out: TriggerCaptureStatus[] = [];
  for (const f of await listCaptureFunctions(client)) {
    const meta = f.meta;
    if (!meta) continue;
    if (table && !(wantedOid !== null ? meta.oid === String(wantedOid) : meta.table === displayName(table))) continue;
    const [rel] = await q<{ name: string | null; schema: string | null; relname: string | null }>(
      client,
      `SELECT n.nspname AS schema, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid`,
      [meta.oid],
      meta.table,
      'reading the captured table',
    );
    const exists = rel !== undefined;
    const current = exists ? displayName({ schema: rel.schema!, name: rel.relname! }) : meta.table;
    const inst = exists ? await readInstallation(client, Number(meta.oid), current) : null;
    const key = exists ? (await new Catalog(client, current).currentKey(Number(meta.oid))).columns : meta.key;
    const problem = exists ? installationProblem(inst, { oid: Number(meta.oid), primaryKey: key }) : `table ${meta.table} no longer exists`;
    const changes = `${quoteIdent(f.schema)}.${quoteIdent(meta.changes)}`;
    const consumersTable = `${quoteIdent(f.schema)}.${quoteIdent(meta.consumers)}`;
    const [changesExists, consumersExists] = await tablesIn(client, f.schema, [meta.changes, meta.consumers], current);
    const present = { changes: changesExists!, consumers: consumersExists! };
    let changeRows = 0;
    let changeTableBytes = 0;
    let consumers: ConsumerStatus[] = [];
    if (present.changes) {
      const [size] = await q<{ rows: string; bytes: string }>(
        client,
        `SELECT (SELECT count(*) FROM ${changes})::text AS rows, pg_total_relation_size($1::regclass)::text AS bytes`,
        [changes],
        current,
        'reading the change table',
      );
      changeRows = Number(size!.rows);
      changeTableBytes = Number(size!.bytes);
    }
    if (present.consumers) {
      const rows = await q<{ consumer: string; delivered: string; updated_at: Date; pid: number | null; pending: string | null }>(
        client,
        `SELECT k.consumer, k.delivered::text AS delivered, k.updated_at,
                (SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted
                    AND l.classid = hashtext($1)::oid AND l.objid = hashtext(k.consumer)::oid LIMIT 1) AS pid,
                ${present.changes ? `(SELECT count(*) FROM ${changes} c WHERE NOT pg_visible_in_snapshot(c.xid, k.delivered))::text` : 'NULL'} AS pending
           FROM ${consumersTable} k ORDER BY k.consumer`,
        [changes],
        current,
        'reading the consumers',
      );
      consumers = rows.map((r) => ({
        consumer: r.consumer,
        delivered: r.delivered,
        updatedAt: new Date(r.updated_at).toISOString(),
        activePid: r.pid,
        pendingRows: Number(r.pending ?? 0),
      }));
    }
    out.push({
      table: current,
      tableExists: exists,
      schema: f.schema,
      changeTable: meta.changes,
      consumersTable: meta.consumers,
      version: meta.version,
      channel: meta.channel,
      problem,
      changeRows,
      changeTableBytes,
      consumers,
    });
  }
  return out;
}

/** What {@link dropTriggerCapture} did. */
export interface TriggerDropResult {
  /** Consumers whose rows were removed. */
  consumers: string[];
  /** Set when the whole trigger capture was removed (the last consumer went, or none was named). */
  uninstalled: UninstallResult | null;
}

/**
 * Removes trigger capture from `table`: with `consumer`, only that consumer's row (and the
 * whole capture when no other consumer is left); without, the whole capture. Refuses with
 * `CONSUMER_IN_USE` while a reader holds a consumer that would go.
 */
export async function dropTriggerCapture(
  client: Queryable,
  table: QualifiedName,
  options: { consumer?: string; lockTimeoutMs?: number } = {},
): Promise<TriggerDropResult> {
  const display = displayName(table);
  const [status] = await readTriggerStatus(client, table);
  if (!status) return { consumers: [], uninstalled: null };
  const going = options.consumer === undefined ? status.consumers : status.consumers.filter((c) => c.consumer === options.consumer);
  const active = going.find((c) => c.activePid !== null);
  if (active) {
    throw definite(
      'CONSUMER_IN_USE',
      `consumer ${active.consumer} of ${display} is in use by the process with backend pid ${active.activePid}`,
      {
        table: display,
        hint: `stop the sync of ${display} that reads it first, then try again`,
      },
    );
  }
  const consumersTable = `${quoteIdent(status.schema)}.${quoteIdent(status.consumersTable)}`;
  const removed: string[] = [];
  if (options.consumer !== undefined && going.length > 0) {
    await q(client, `DELETE FROM ${consumersTable} WHERE consumer = $1`, [options.consumer], display, 'removing the consumer');
    removed.push(options.consumer);
  }
  const left = status.consumers.filter((c) => !removed.includes(c.consumer));
  if (options.consumer !== undefined && left.length > 0) return { consumers: removed, uninstalled: null };
  const oid = status.tableExists ? await tableOid(client, table) : null;
  const uninstalled = await uninstallTriggerCapture(
    client,
    { oid, name: table },
    options.lockTimeoutMs !== undefined ? { lockTimeoutMs: options.lockTimeoutMs } : {},
  );
  return { consumers: options.consumer === undefined ? status.consumers.map((c) => c.consumer) : removed, uninstalled };
}

/**
 * `refstream uninstall-triggers`: removes trigger capture from `table`; refuses while a reader
 * holds one of its consumers (`CONSUMER_IN_USE`).
 */
export async function uninstallTriggers(
  client: Queryable,
  table: QualifiedName,
  options: { lockTimeoutMs?: number } = {},
): Promise<TriggerDropResult> {
  return dropTriggerCapture(client, table, options);
}
