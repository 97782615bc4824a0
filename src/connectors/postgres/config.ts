/**
 * Configuration of {@link PostgresSource}: a zod schema, defaults, and validation that lists
 * every problem at once without ever echoing a password.
 */
import { z } from 'zod';
import type { ClientConfig } from 'pg';
import { definite } from '../../sdk/errors.js';
import { configProblems } from '../../sdk/config.js';
import type { WarningHandler } from '../../sdk/warnings.js';
import { defaultObjectName, isValidSlotName, parseQualifiedName, type QualifiedName } from './identifiers.js';

/** TLS settings passed to `pg` (a subset of Node's `tls.connect` options). */
const tlsSchema = z.union([
  z.boolean(),
  z
    .object({
      rejectUnauthorized: z.boolean().optional(),
      ca: z.union([z.string(), z.instanceof(Buffer)]).optional(),
      cert: z.union([z.string(), z.instanceof(Buffer)]).optional(),
      key: z.union([z.string(), z.instanceof(Buffer)]).optional(),
      servername: z.string().optional(),
    })
    .strict(),
]);

/** Structural connection settings (the fields of `pg.ClientConfig` refstream uses). */
const connectionSchema = z
  .object({
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().min(1).optional(),
    password: z.string().optional(),
    database: z.string().min(1).optional(),
    ssl: tlsSchema.optional(),
  })
  .strict();

const connectionStringSchema = z.string().refine(
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
);

/** The zod schema of {@link PostgresSourceConfig}. */
export const postgresSourceConfigSchema = z
  .object({
    connectionString: connectionStringSchema.optional(),
    connection: connectionSchema.optional(),
    table: z.string().min(1),
    slot: z.string().optional(),
    publication: z.string().min(1).max(63).optional(),
    createSlot: z.boolean().default(true),
    createPublication: z.boolean().default(true),
    batchRows: z.number().int().min(1).max(10_000_000).default(65_536),
    batchBytes: z
      .number()
      .int()
      .min(1024)
      .max(1 << 30)
      .default(8 << 20),
    maxWaitMs: z.number().int().min(0).max(600_000).default(100),
    lingerMs: z.number().int().min(0).max(10_000).default(2),
    snapshotParallelism: z.number().int().min(1).max(64).default(1),
    schemaEvolution: z.boolean().default(true),
    binaryValues: z.boolean().default(true),
    unknownTypes: z.enum(['error', 'text']).default('error'),
    ssl: tlsSchema.optional(),
    statusIntervalMs: z.number().int().min(100).max(60_000).default(1000),
    heartbeatMs: z.number().int().min(0).max(3_600_000).default(10_000),
    /**
     * At start (stream mode), warn (`IDLE_SLOT_RETAINS_WAL`) about each other inactive refstream
     * slot on the server retaining more than this many bytes of WAL; 0 turns the check off.
     */
    warnRetainedBytes: z
      .number()
      .int()
      .min(0)
      .default(1 << 30),
    applicationName: z.string().max(63).default('refstream'),
    connectTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
    catalogCheckIntervalMs: z.number().int().min(100).max(600_000).default(2000),
    /**
     * `'stream'` (default): snapshot, then changes from a replication slot. `'snapshot-only'`:
     * a one-shot snapshot read in a REPEATABLE READ transaction with an exported snapshot; no
     * replication slot and no publication is created, so nothing is left on the server, and
     * `pollChanges` is refused.
     */
    mode: z.enum(['stream', 'snapshot-only']).default('stream'),
    /**
     * What happens when the server has invalidated the slot (`wal_status = 'lost'`): `'error'`
     * (default) stops with the definite `SLOT_INVALIDATED`; `'resnapshot'` drops and recreates
     * the slot and takes a new snapshot (sinks receive `snapshotStart({ restart: true })`).
     */
    onSlotInvalidated: z.enum(['error', 'resnapshot']).default('error'),
    /** Receives warnings (e.g. an old checkpoint without identity); default: `process.emitWarning`. */
    onWarning: z.custom<WarningHandler>((value) => typeof value === 'function', 'must be a function').optional(),
  })
  .strict();

/** Configuration accepted by `new PostgresSource(config)`. */
export type PostgresSourceConfig = z.input<typeof postgresSourceConfigSchema>;

/** Configuration after validation and defaults. */
export interface ResolvedConfig extends z.output<typeof postgresSourceConfigSchema> {
  readonly tableName: QualifiedName;
  readonly slotName: string;
  readonly publicationName: string;
}

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
