/**
 * Configuration of {@link PostgresSource}: a zod schema, defaults, and validation that lists
 * every problem at once without ever echoing a password.
 */
import * as z from '../../sdk/zod.js';
import type { ClientConfig } from 'pg';
import { definite } from '../../sdk/errors.js';
import { configProblems } from '../../sdk/config.js';
import type { WarningHandler } from '../../sdk/warnings.js';
import { defaultObjectName, isValidSlotName, parseQualifiedName, type QualifiedName } from './identifiers.js';

/** TLS settings passed to `pg` (a subset of Node's `tls.connect` options). */
const tlsSchema = z.union([
  z.boolean(),
  z.strictObject({
    rejectUnauthorized: z.optional(z.boolean()),
    ca: z.optional(z.union([z.string(), z.instanceof(Buffer)])),
    cert: z.optional(z.union([z.string(), z.instanceof(Buffer)])),
    key: z.optional(z.union([z.string(), z.instanceof(Buffer)])),
    servername: z.optional(z.string()),
  }),
]);

/** Structural connection settings (the fields of `pg.ClientConfig` refstream uses). */
const connectionSchema = z.strictObject({
  host: z.optional(z.string().check(z.minLength(1))),
  port: z.optional(z.int().check(z.gte(1)).check(z.lte(65535))),
  user: z.optional(z.string().check(z.minLength(1))),
  password: z.optional(z.string()),
  database: z.optional(z.string().check(z.minLength(1))),
  ssl: z.optional(tlsSchema),
});

const connectionStringSchema = z.string().check(
  z.refine(
    (text) => {
      if (text.startsWith('/')) return true; // unix socket directory
      try {
        const url = new URL(text);
        return url.protocol === 'postgres:' || url.protocol === 'postgresql:' || url.protocol === 'socket:';
      } catch {
        return false;
      }
    },
    { message: 'must be a postgres:// or postgresql:// URL (value not shown)' },
  ),
);

/** The zod schema of {@link PostgresSourceConfig}. */
export const postgresSourceConfigSchema = z.strictObject({
  connectionString: z.optional(connectionStringSchema),
  connection: z.optional(connectionSchema),
  table: z.string().check(z.minLength(1)),
  slot: z.optional(z.string()),
  publication: z.optional(z.string().check(z.minLength(1)).check(z.maxLength(63))),
  createSlot: z._default(z.boolean(), true),
  createPublication: z._default(z.boolean(), true),
  batchRows: z._default(z.int().check(z.gte(1)).check(z.lte(10_000_000)), 65_536),
  batchBytes: z._default(
    z
      .int()
      .check(z.gte(1024))
      .check(z.lte(1 << 30)),
    8 << 20,
  ),
  maxWaitMs: z._default(z.int().check(z.gte(0)).check(z.lte(600_000)), 100),
  lingerMs: z._default(z.int().check(z.gte(0)).check(z.lte(10_000)), 2),
  snapshotParallelism: z._default(z.int().check(z.gte(1)).check(z.lte(64)), 1),
  schemaEvolution: z._default(z.boolean(), true),
  binaryValues: z._default(z.boolean(), true),
  unknownTypes: z._default(z.enum(['error', 'text']), 'error'),
  ssl: z.optional(tlsSchema),
  statusIntervalMs: z._default(z.int().check(z.gte(100)).check(z.lte(60_000)), 1000),
  heartbeatMs: z._default(z.int().check(z.gte(0)).check(z.lte(3_600_000)), 10_000),
  /**
   * At start (stream mode), warn (`IDLE_SLOT_RETAINS_WAL`) about each other inactive refstream
   * slot on the server retaining more than this many bytes of WAL; 0 turns the check off.
   */
  warnRetainedBytes: z._default(z.int().check(z.gte(0)), 1 << 30),
  applicationName: z._default(z.string().check(z.maxLength(63)), 'refstream'),
  connectTimeoutMs: z._default(z.int().check(z.gte(100)).check(z.lte(600_000)), 10_000),
  catalogCheckIntervalMs: z._default(z.int().check(z.gte(100)).check(z.lte(600_000)), 2000),
  /**
   * `'stream'` (default): snapshot, then changes from a replication slot. `'snapshot-only'`:
   * a one-shot snapshot read in a REPEATABLE READ transaction with an exported snapshot; no
   * replication slot and no publication is created, so nothing is left on the server, and
   * `pollChanges` is refused.
   */
  mode: z._default(z.enum(['stream', 'snapshot-only']), 'stream'),
  /**
   * What happens when the server has invalidated the slot (`wal_status = 'lost'`): `'error'`
   * (default) stops with the definite `SLOT_INVALIDATED`; `'resnapshot'` drops and recreates
   * the slot and takes a new snapshot (sinks receive `snapshotStart({ restart: true })`).
   */
  onSlotInvalidated: z._default(z.enum(['error', 'resnapshot']), 'error'),
  /**
   * How an update that leaves a large value stored out of line (TOAST) unchanged is delivered
   * (the stream carries no value for it): `'lookup'` (default) reads it by key over a side
   * connection, one query per change batch; `'identity-full'` needs REPLICA IDENTITY FULL on the
   * table (the old row carries the value) and refuses to start without it. See
   * docs/connectors/postgres.md.
   */
  toast: z._default(z.enum(['lookup', 'identity-full']), 'lookup'),
  /**
   * What a schema change the sinks cannot follow in place does (a key column changed, a type
   * narrowed or changed to another kind, a column added with a default that filled the
   * existing rows): `'error'` (default) stops with the definite `SCHEMA_INCOMPATIBLE`;
   * `'resnapshot'` re-seeds the table inside its change stream — a `truncate` row, then the
   * table's rows at a new snapshot as `insert`s, then the changes after it (no gap, no
   * overlap). Needs `schemaEvolution`. See docs/connectors/postgres.md.
   */
  onIncompatibleSchemaChange: z._default(z.enum(['error', 'resnapshot']), 'error'),
  /** With `toast: 'identity-full'`: run `ALTER TABLE … REPLICA IDENTITY FULL` at start when the table lacks it. */
  setReplicaIdentity: z._default(z.boolean(), false),
  /**
   * How changes are captured: `'logical'` (default) reads a logical replication slot;
   * `'trigger'` needs no logical replication (any `wal_level`, no replication privilege):
   * statement triggers write every change to a change table, which the source reads in
   * commit order. See docs/connectors/postgres-trigger-capture.md.
   */
  capture: z._default(z.enum(['logical', 'trigger']), 'logical'),
  /** Trigger capture: this reader's name among the consumers of the table (default `default`); each has its own progress. */
  consumer: z.optional(z.string().check(z.minLength(1)).check(z.maxLength(200))),
  /** Trigger capture: install (or upgrade) the triggers and the change table at start when they are missing or outdated. */
  installTriggers: z._default(z.boolean(), false),
  /** Trigger capture: the schema of the change table and the trigger function (default `refstream`). */
  triggerSchema: z.optional(z.string().check(z.minLength(1)).check(z.maxLength(63))),
  /** Trigger capture: LISTEN for the triggers' notifications (default true); polling every `pollIntervalMs` is the safety net. */
  notify: z._default(z.boolean(), true),
  /** Trigger capture: look for new changes at least this often (ms), notified or not. */
  pollIntervalMs: z._default(z.int().check(z.gte(10)).check(z.lte(600_000)), 1000),
  /**
   * Trigger capture: under load, start a new epoch at most this often (ms). Each epoch costs
   * the source a small write and a query; fewer, larger epochs cost it less, at up to this much
   * latency. 0 starts one as soon as the last ends.
   */
  epochIntervalMs: z._default(z.int().check(z.gte(0)).check(z.lte(10_000)), 10),
  /** Receives warnings (e.g. an old checkpoint without identity); default: `process.emitWarning`. */
  onWarning: z.optional(z.custom<WarningHandler>((value) => typeof value === 'function', 'must be a function')),
});

/** Configuration accepted by `new PostgresSource(config)`. */
export type PostgresSourceConfig = z.input<typeof postgresSourceConfigSchema>;

/** Configuration after validation and defaults. */
export interface ResolvedConfig extends z.output<typeof postgresSourceConfigSchema> {
  readonly tableName: QualifiedName;
  readonly slotName: string;
  readonly publicationName: string;
  /** Trigger capture: the consumer name (`consumer`, default `default`). */
  readonly consumerName: string;
  /** Trigger capture: the schema of its objects when installing (`triggerSchema`, default `refstream`). */
  readonly triggerSchemaName: string;
}

/** Settings that only one capture mode uses, refused in the other. */
const LOGICAL_ONLY = [
  'slot',
  'publication',
  'createSlot',
  'createPublication',
  'toast',
  'setReplicaIdentity',
  'onSlotInvalidated',
] as const;
const TRIGGER_ONLY = ['consumer', 'installTriggers', 'triggerSchema', 'notify', 'pollIntervalMs', 'epochIntervalMs'] as const;

/**
 * Validates a config. Throws definite `CONFIG_INVALID` listing every problem (path and reason;
 * values are never included, so passwords cannot leak).
 */
export function resolveConfig(input: unknown): ResolvedConfig {
  const parsed = postgresSourceConfigSchema.safeParse(input);
  const problems: string[] = [];
  if (!parsed.success) {
    problems.push(...configProblems(parsed.error));
  }
  const raw = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const tableName = typeof raw.table === 'string' ? parseQualifiedName(raw.table) : undefined;
  if (typeof raw.table === 'string' && raw.table !== '' && tableName === undefined) {
    problems.push('table: must be "table" or "schema.table" (quote parts with double quotes, double any quote inside)');
  }
  if (typeof raw.slot === 'string' && !isValidSlotName(raw.slot)) {
    problems.push('slot: replication slot names may contain only a-z, 0-9 and _ (1 to 63 characters)');
  }
  if (raw.setReplicaIdentity === true && raw.toast !== 'identity-full') {
    problems.push("setReplicaIdentity: only used with toast: 'identity-full' (set that too, or drop setReplicaIdentity)");
  }
  if (raw.capture === 'trigger' && raw.mode !== 'snapshot-only') {
    for (const key of LOGICAL_ONLY) {
      if (raw[key] !== undefined) problems.push(`${key}: only used with capture: 'logical' (trigger capture uses no slot or publication)`);
    }
  }
  if (raw.capture !== 'trigger') {
    for (const key of TRIGGER_ONLY) if (raw[key] !== undefined) problems.push(`${key}: only used with capture: 'trigger'`);
  }
  if (raw.connectionString !== undefined && raw.connection !== undefined) {
    problems.push('connectionString: give either connectionString or connection, not both');
  }
  if (problems.length > 0 || !parsed.success || tableName === undefined) {
    throw definite('CONFIG_INVALID', `invalid PostgresSource config: ${problems.join('; ')}`, {
      hint: 'fix the listed config keys (see docs/connectors/postgres.md)',
    });
  }
  const data = parsed.data;
  return {
    ...data,
    tableName,
    slotName: data.slot ?? defaultObjectName('refstream', tableName),
    publicationName: data.publication ?? defaultObjectName('refstream', tableName),
    consumerName: data.consumer ?? 'default',
    triggerSchemaName: data.triggerSchema ?? 'refstream',
  };
}

/** `pg` client options for a normal (SQL) or replication connection. */
export function clientConfig(config: ResolvedConfig, replication: boolean): ClientConfig {
  const base: ClientConfig =
    config.connectionString !== undefined ? { connectionString: config.connectionString } : { ...(config.connection ?? {}) };
  const ssl = config.ssl ?? config.connection?.ssl;
  return {
    ...base,
    ...(ssl !== undefined ? { ssl } : {}),
    application_name: config.applicationName,
    connectionTimeoutMillis: config.connectTimeoutMs,
    // Fixed output formats make text values (errors, catalog queries) predictable.
    options: '-c DateStyle=ISO -c IntervalStyle=iso_8601 -c bytea_output=hex -c extra_float_digits=3 -c TimeZone=UTC',
    ...(replication ? { replication: 'database' } : {}),
  } as ClientConfig;
}
