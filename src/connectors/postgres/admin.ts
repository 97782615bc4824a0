/**
 * Operator queries: which replication slots and publications refstream holds on a server, how
 * much WAL each slot retains, and removing the slot and publication of one table. Used by
 * `refstream status`, `refstream drop` and the start-up warning of `refstream sync`.
 */
import { definite } from '../../sdk/errors.js';
import { PUBLICATION_MARKER, type Queryable } from './catalog.js';
import { mapPgError } from './errors.js';
import { defaultObjectName, displayName, quoteIdent, type QualifiedName } from './identifiers.js';

export { PUBLICATION_MARKER };

/** Prefix of every default slot and publication name (`refstream_<schema>_<table>`). */
export const DEFAULT_NAME_PREFIX = 'refstream';

/** The default slot and publication names of a table. */
export function defaultNames(table: QualifiedName): { slot: string; publication: string } {
  const name = defaultObjectName(DEFAULT_NAME_PREFIX, table);
  return { slot: name, publication: name };
}

/** One logical replication slot, as `refstream status --json` reports it. */
export interface SlotStatus {
  slot: string;
  plugin: string;
  /** Database the slot decodes. */
  database: string;
  active: boolean;
  /** Backend holding the slot (a running sync's walsender), else `null`. */
  activePid: number | null;
  restartLsn: string | null;
  confirmedFlushLsn: string | null;
  /** WAL the server keeps for this slot: current WAL position − restart_lsn. */
  retainedBytes: number | null;
  /** Changes not yet confirmed: current WAL position − confirmed_flush_lsn. */
  lagBytes: number | null;
  /** `pg_stat_replication.replay_lag` of the active walsender, when the server measured it. */
  lagSeconds?: number;
  /** `reserved`, `extended`, `unreserved` or `lost` (lost: the slot is unusable). */
  walStatus: string | null;
  /** Why the server invalidated the slot (PostgreSQL ≥ 17), else `null`. */
  invalidationReason: string | null;
  /** Whether the slot is synchronised to standbys (PostgreSQL ≥ 17), else `null`. */
  failover: boolean | null;
  /** When the slot became inactive (PostgreSQL ≥ 17), else `null`. */
  inactiveSince: string | null;
}

/** One publication refstream uses or created. */
export interface PublicationStatus {
  publication: string;
  /** Published tables as `schema.table`; `["*"]` for FOR ALL TABLES. */
  tables: string[];
  /** The publication carries refstream's creation marker (only such publications are dropped). */
  createdByRefstream: boolean;
  /** The slot of the capture of many tables that created it, else `null`. */
  capture: string | null;
}

/** The marker comment of a capture's publication: `created by refstream for capture <slot>`. */
export const CAPTURE_MARKER = `${PUBLICATION_MARKER} for capture `;

/** What `refstream status` reads from one server. */
export interface ServerStatus {
  /** Database of the connection (publications are per database). */
  database: string;
  serverVersion: number;
  /** pg_current_wal_lsn() (pg_last_wal_replay_lsn() on a standby). */
  currentLsn: string;
  slots: SlotStatus[];
  publications: PublicationStatus[];
}

/** Which slots and publications to report. */
export interface StatusFilter {
  /** Extra slot names to include besides the recognised ones. */
  slots?: string[];
  /** Extra publication names to include. */
  publications?: string[];
  /** Only these names (e.g. those of one table); the prefix rule is not applied then. */
  only?: boolean;
}

const CURRENT_LSN = 'CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END';

async function q<T>(client: Queryable, sql: string, params: unknown[], context: string): Promise<T[]> {
  try {
    return (await client.query(sql, params)).rows as T[];
  } catch (error) {
    throw mapPgError(error, '', context);
  }
}

/**
 * Reads the state of refstream's slots and publications: every logical slot using pgoutput
 * whose name starts with `refstream_`, every publication with that prefix or refstream's
 * marker, and the names in `filter`. With `filter.only`, just the names in `filter`.
 */
export async function readServerStatus(client: Queryable, filter: StatusFilter = {}): Promise<ServerStatus> {
  const [server] = await q<{ database: string; version: string; lsn: string }>(
    client,
    `SELECT current_database() AS database, current_setting('server_version_num') AS version, (${CURRENT_LSN})::text AS lsn`,
    [],
    'reading the server state',
  );
  // to_jsonb(s): the columns of pg_replication_slots differ between versions (wal_status ≥ 13,
  // invalidation_reason/failover/inactive_since ≥ 17); absent ones read as undefined.
  const slotRows = await q<{ s: Record<string, unknown>; retained: string | null; lag: string | null; lag_seconds: number | null }>(
    client,
    `SELECT to_jsonb(s) AS s,
            ((${CURRENT_LSN}) - s.restart_lsn)::text AS retained,
            ((${CURRENT_LSN}) - s.confirmed_flush_lsn)::text AS lag,
            extract(epoch FROM r.replay_lag)::float8 AS lag_seconds
       FROM pg_replication_slots s
       LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
      WHERE s.slot_type = 'logical'
        AND (s.slot_name = ANY($1::text[]) OR (NOT $2 AND s.plugin = 'pgoutput' AND (starts_with(s.slot_name, $3)
             OR EXISTS (SELECT 1 FROM pg_publication p WHERE obj_description(p.oid, 'pg_publication') = $4 || s.slot_name))))
      ORDER BY s.slot_name`,
    [filter.slots ?? [], filter.only === true, `${DEFAULT_NAME_PREFIX}_`, CAPTURE_MARKER],
    'reading replication slots',
  );
  const pubRows = await q<{ name: string; comment: string | null; all_tables: boolean; tables: string[] | null }>(
    client,
    `SELECT p.pubname AS name, obj_description(p.oid, 'pg_publication') AS comment, p.puballtables AS all_tables,
            (SELECT array_agg(quote_ident(t.schemaname) || '.' || quote_ident(t.tablename) ORDER BY t.schemaname, t.tablename)
               FROM pg_publication_tables t WHERE t.pubname = p.pubname AND NOT p.puballtables) AS tables
       FROM pg_publication p
      WHERE p.pubname = ANY($1::text[])
         OR (NOT $2 AND (starts_with(p.pubname, $3) OR starts_with(coalesce(obj_description(p.oid, 'pg_publication'), ''), $4)))
      ORDER BY p.pubname`,
    [filter.publications ?? [], filter.only === true, `${DEFAULT_NAME_PREFIX}_`, PUBLICATION_MARKER],
    'reading publications',
  );
  return {
    database: server!.database,
    serverVersion: Number(server!.version),
    currentLsn: server!.lsn,
    slots: slotRows.map(({ s, retained, lag, lag_seconds }) => ({
      slot: String(s.slot_name),
      plugin: String(s.plugin ?? ''),
      database: String(s.database ?? ''),
      active: s.active === true,
      activePid: typeof s.active_pid === 'number' ? s.active_pid : null,
      restartLsn: (s.restart_lsn as string | null) ?? null,
      confirmedFlushLsn: (s.confirmed_flush_lsn as string | null) ?? null,
      retainedBytes: retained === null ? null : Number(retained),
      lagBytes: lag === null ? null : Number(lag),
      ...(lag_seconds !== null && s.active === true ? { lagSeconds: lag_seconds } : {}),
      walStatus: (s.wal_status as string | null | undefined) ?? null,
      invalidationReason: (s.invalidation_reason as string | null | undefined) ?? null,
      failover: typeof s.failover === 'boolean' ? s.failover : null,
      inactiveSince: (s.inactive_since as string | null | undefined) ?? null,
    })),
    publications: pubRows.map((p) => ({
      publication: p.name,
      tables: p.all_tables ? ['*'] : (p.tables ?? []),
      createdByRefstream: (p.comment ?? '').startsWith(PUBLICATION_MARKER),
      capture: (p.comment ?? '').startsWith(CAPTURE_MARKER) ? (p.comment ?? '').slice(CAPTURE_MARKER.length) : null,
    })),
  };
}

/** A slot is unusable once the server removed WAL it needed or invalidated it for another reason. */
export function isSlotInvalid(slot: SlotStatus): boolean {
  return slot.walStatus === 'lost' || slot.invalidationReason !== null;
}

/**
 * Slots of refstream that no sync holds and that retain more than `thresholdBytes` of WAL,
 * except `ownSlot` (the one the caller is about to use).
 */
export async function findIdleSlotsRetaining(client: Queryable, thresholdBytes: number, ownSlot: string): Promise<SlotStatus[]> {
  const { slots } = await readServerStatus(client);
  return slots.filter((s) => s.slot !== ownSlot && !s.active && !isSlotInvalid(s) && (s.retainedBytes ?? 0) > thresholdBytes);
}

/** What {@link dropTableObjects} did. */
export interface DropResult {
  slot: { name: string; dropped: boolean; existed: boolean };
  publication: { name: string; dropped: boolean; existed: boolean; keptBecause?: string };
}

/** What {@link planDrop} found: the objects `drop` would remove. */
export interface DropPlan {
  table: string;
  slot: SlotStatus | null;
  slotName: string;
  publication: PublicationStatus | null;
  publicationName: string;
}

/**
 * Looks up the slot and publication of `table` (default names unless given), or with no table
 * those of a capture of many tables (`names.slot`; its publication defaults to the slot's name).
 */
export async function planDrop(
  client: Queryable,
  table: QualifiedName | null,
  names: { slot?: string; publication?: string } = {},
): Promise<DropPlan> {
  const defaults = table ? defaultNames(table) : { slot: names.slot!, publication: names.slot! };
  const slotName = names.slot ?? defaults.slot;
  const publicationName = names.publication ?? defaults.publication;
  const status = await readServerStatus(client, { slots: [slotName], publications: [publicationName], only: true });
  return {
    table: table ? displayName(table) : `capture ${slotName}`,
    slot: status.slots.find((s) => s.slot === slotName) ?? null,
    slotName,
    publication: status.publications.find((p) => p.publication === publicationName) ?? null,
    publicationName,
  };
}

/**
 * Drops the slot and, when refstream created it, the publication of a plan. Fails with
 * `SLOT_IN_USE` (naming the pid) while a sync holds the slot; a publication without refstream's
 * marker is kept. Dropping what is already gone is not an error.
 */
export async function dropTableObjects(client: Queryable, plan: DropPlan): Promise<DropResult> {
  const result: DropResult = {
    slot: { name: plan.slotName, dropped: false, existed: plan.slot !== null },
    publication: { name: plan.publicationName, dropped: false, existed: plan.publication !== null },
  };
  if (plan.slot?.active) throw slotInUse(plan.slotName, plan.slot.activePid, plan.table);
  if (plan.slot) {
    try {
      const rows = await q<{ dropped: boolean }>(
        client,
        `SELECT pg_drop_replication_slot(slot_name) IS NOT NULL AS dropped FROM pg_replication_slots WHERE slot_name = $1`,
        [plan.slotName],
        'dropping the replication slot',
      );
      result.slot.dropped = rows.length > 0;
    } catch (error) {
      // a sync took the slot between the look-up and the drop
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      if (cause?.code === '55006') throw slotInUse(plan.slotName, Number(/PID (\d+)/.exec(cause.message ?? '')?.[1]) || null, plan.table);
      throw error;
    }
  }
  if (plan.publication) {
    if (!plan.publication.createdByRefstream) {
      result.publication.keptBecause = `publication ${plan.publicationName} was not created by refstream (it has no "${PUBLICATION_MARKER}" comment); drop it yourself if it is no longer used: DROP PUBLICATION ${quoteIdent(plan.publicationName)};`;
    } else {
      await q(client, `DROP PUBLICATION IF EXISTS ${quoteIdent(plan.publicationName)}`, [], 'dropping the publication');
      result.publication.dropped = true;
    }
  }
  return result;
}

function slotInUse(slot: string, pid: number | null, table: string) {
  return definite('SLOT_IN_USE', `replication slot ${slot} is in use${pid ? ` by the process with pid ${pid}` : ''}`, {
    table,
    hint: `stop the sync of ${table} that holds it first${pid ? ` (its walsender is pid ${pid}; SELECT application_name, client_addr FROM pg_stat_replication WHERE pid = ${pid} shows where it runs)` : ''}, then run refstream drop again`,
  });
}
