/**
 * Turns the CLI's URLs into sources, sinks and checkpoint stores. Every rejection names the
 * flag, shows the URL with its password masked, and says how to fix it.
 */
import { resolve } from 'node:path';
import { FileCheckpointStore, type CheckpointStore, type StoredCheckpoint } from '../sdk/checkpoint-store.js';
import { redactSecrets } from '../sdk/errors.js';
import type { Fence, LeaseStore } from '../sdk/lease.js';
import type { WarningHandler } from '../sdk/warnings.js';
import type { Sink } from '../sdk/sink.js';
import type { SourceFactory } from '../sdk/source.js';
import { ArrowIpcSink } from '../sinks/arrow-ipc.js';
import { JsonlSink } from '../sinks/jsonl.js';
import { MemorySink } from '../sinks/memory.js';
import { CliError, EXIT } from './errors.js';
import { isKafkaUrl, parseKafkaUrl } from './kafka-url.js';

/** Source settings shared by every connector. */
export interface SourceSettings {
  table: string;
  batchRows?: number;
  slot?: string;
  publication?: string;
  snapshotParallelism?: number;
  /** Postgres: what a column type without an Arrow mapping does. */
  unknownTypes?: 'error' | 'text';
  /** Postgres: how unchanged out-of-line (TOAST) values are delivered. */
  toast?: 'lookup' | 'identity-full';
  /** Postgres, with `toast: 'identity-full'`: set REPLICA IDENTITY FULL at start when missing. */
  setReplicaIdentity?: boolean;
  /** Postgres: what a schema change the sinks cannot follow in place does. */
  onIncompatibleSchemaChange?: 'error' | 'resnapshot';
  /** Postgres: a one-shot snapshot (no slot, no publication). */
  snapshotOnly?: boolean;
  /** Postgres: re-snapshot when the server invalidated the slot, instead of failing. */
  onSlotInvalidated?: 'error' | 'resnapshot';
  /** Receives the source's warnings. */
  onWarning?: WarningHandler;
  /** Postgres: warn at start about other idle refstream slots retaining more WAL than this (0: off). */
  warnRetainedBytes?: number;
  /** Postgres: logical replication (default) or trigger capture. */
  capture?: 'logical' | 'trigger';
  /** Postgres trigger capture: the consumer name. */
  consumer?: string;
  /** Postgres trigger capture: install the triggers at start when missing. */
  installTriggers?: boolean;
  /** Postgres trigger capture: the schema of its objects. */
  triggerSchema?: string;
  /** Postgres trigger capture: look for changes at least this often (ms). */
  pollIntervalMs?: number;
}

function parseUrl(flag: string, text: string, example: string): URL {
  try {
    return new URL(text);
  } catch {
    // The text is not echoed: a malformed URL may still contain a password.
    throw new CliError(`${flag}: the value is not a URL; expected e.g. ${example}`, EXIT.badUsage);
  }
}

/** A source factory with the names it resolved, for the `start` event. */
export type DescribedFactory = SourceFactory & { readonly details?: Readonly<Record<string, string>> };

/** A factory for the source named by `--source` (the runner calls it again after transient errors). */
export async function sourceFactory(url: string, settings: SourceSettings): Promise<DescribedFactory> {
  if (isKafkaUrl(url)) {
    // A topic written by KafkaSink, loaded back (snapshot = the topic up to its end, then changes).
    const { connection, topic, options } = parseKafkaUrl('--source', url);
    const { KafkaReferenceTableSource } = await import('../connectors/kafka/index.js');
    const config = {
      ...connection,
      ...options,
      topic,
      table: settings.table,
      ...(settings.batchRows !== undefined ? { batchRows: settings.batchRows } : {}),
      ...(settings.onWarning !== undefined ? { onWarning: settings.onWarning } : {}),
    };
    new KafkaReferenceTableSource(config); // validates (no connection is opened)
    return () => new KafkaReferenceTableSource(config);
  }
  const parsed = parseUrl('--source', url, 'postgres://user:password@host:5432/db');
  if (parsed.protocol === 'postgres:' || parsed.protocol === 'postgresql:') {
    const { PostgresSource, resolveConfig } = await import('../connectors/postgres/index.js');
    const config = {
      connectionString: url,
      table: settings.table,
      ...(settings.batchRows !== undefined ? { batchRows: settings.batchRows } : {}),
      ...(settings.slot !== undefined ? { slot: settings.slot } : {}),
      ...(settings.publication !== undefined ? { publication: settings.publication } : {}),
      ...(settings.snapshotParallelism !== undefined ? { snapshotParallelism: settings.snapshotParallelism } : {}),
      ...(settings.unknownTypes !== undefined ? { unknownTypes: settings.unknownTypes } : {}),
      ...(settings.toast !== undefined ? { toast: settings.toast } : {}),
      ...(settings.setReplicaIdentity !== undefined ? { setReplicaIdentity: settings.setReplicaIdentity } : {}),
      ...(settings.onIncompatibleSchemaChange !== undefined ? { onIncompatibleSchemaChange: settings.onIncompatibleSchemaChange } : {}),
      ...(settings.snapshotOnly ? { mode: 'snapshot-only' as const } : {}),
      ...(settings.onSlotInvalidated !== undefined ? { onSlotInvalidated: settings.onSlotInvalidated } : {}),
      ...(settings.onWarning !== undefined ? { onWarning: settings.onWarning } : {}),
      ...(settings.warnRetainedBytes !== undefined ? { warnRetainedBytes: settings.warnRetainedBytes } : {}),
      ...(settings.capture !== undefined ? { capture: settings.capture } : {}),
      ...(settings.consumer !== undefined ? { consumer: settings.consumer } : {}),
      ...(settings.installTriggers !== undefined ? { installTriggers: settings.installTriggers } : {}),
      ...(settings.triggerSchema !== undefined ? { triggerSchema: settings.triggerSchema } : {}),
      ...(settings.pollIntervalMs !== undefined ? { pollIntervalMs: settings.pollIntervalMs } : {}),
    };
    // Validate now, so a bad config fails before any connection and before the run starts.
    const resolved = resolveConfig(config);
    // the idle-slot warning is for the start, not for every reconnect after a transient error
    let started = false;
    const factory = () => {
      // (trigger capture has no slots to warn about)
      const source = new PostgresSource(started && resolved.capture === 'logical' ? { ...config, warnRetainedBytes: 0 } : config);
      started = true;
      return source;
    };
    const details: Record<string, string> = settings.snapshotOnly
      ? {}
      : resolved.capture === 'trigger'
        ? { capture: 'trigger', consumer: resolved.consumerName }
        : { slot: resolved.slotName, publication: resolved.publicationName };
    return Object.assign(factory, { details });
  }
  if (parsed.protocol === 'exasol:') {
    const { ExasolSource } = await import('../connectors/exasol/index.js');
    const [schema, table] = splitExasolTable('--table', settings.table);
    const params = parsed.searchParams;
    const mode = params.get('mode') ?? (params.get('watermark') ? 'watermark' : 'diff');
    const config = {
      ...exasolConnection(parsed),
      schema,
      table,
      mode: mode as 'diff' | 'watermark',
      ...(mode === 'watermark' ? { watermark: { column: params.get('watermark') ?? '' } } : {}),
      ...(mode === 'diff' ? { diff: { stateDir: resolve(params.get('stateDir') ?? `.refstream/exasol-state`) } } : {}),
      ...(settings.batchRows !== undefined ? { batchRows: settings.batchRows } : {}),
      ...(settings.onWarning !== undefined ? { onWarning: settings.onWarning } : {}),
    };
    new ExasolSource(config); // validates (no connection is opened)
    return () => new ExasolSource(config);
  }
  throw new CliError(
    `--source: unsupported scheme "${parsed.protocol}"; supported: postgres://, exasol://, kafka:// (e.g. postgres://user:password@host:5432/db)`,
    EXIT.badUsage,
  );
}

/** Exasol connection settings from `exasol://user:password@host[..N]:port?tls=false&fingerprint=…&compression=true`. */
function exasolConnection(url: URL) {
  const params = url.searchParams;
  const fingerprint = params.get('fingerprint') ?? undefined;
  return {
    dsn: url.host,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    tls: params.get('tls') !== 'false',
    compression: params.get('compression') === 'true',
    ...(fingerprint ? { fingerprint } : {}),
  };
}

function splitExasolTable(flag: string, text: string): [string, string] {
  const parts = text.split('.');
  if (parts.length !== 2 || !parts[0] || !parts[1])
    throw new CliError(`${flag}: an Exasol table is SCHEMA.TABLE (exactly as stored, e.g. RETAIL.CUSTOMERS)`, EXIT.badUsage);
  return [parts[0], parts[1]];
}

/** What a sink is written for: the table and its source URL (a transactional Kafka sink's id is derived from them). */
export interface SyncIdentity {
  table: string;
  sourceUrl: string;
}

/**
 * The default `transactional.id` of a transactional Kafka sink: the table, where it is read
 * from (as in {@link checkpointKey}: no credentials, no parameters) and the topic. Two copies
 * of the same sync get the same id, so the broker fences the older one.
 */
export function defaultTransactionalId(identity: SyncIdentity, topic: string): string {
  return `refstream:${checkpointKey(identity.sourceUrl, identity.table)}->${topic}`;
}

/** Builds one sink from its URL. */
export async function createSink(spec: string, identity?: SyncIdentity): Promise<Sink> {
  if (spec === 'memory' || spec === 'memory:') return new MemorySink();
  if (spec.startsWith('arrow:')) return new ArrowIpcSink({ output: outputPath('arrow', spec.slice('arrow:'.length)) });
  if (spec.startsWith('jsonl:')) return new JsonlSink({ output: outputPath('jsonl', spec.slice('jsonl:'.length)) });
  if (isKafkaUrl(spec)) {
    const { connection, topic, params, options } = parseKafkaUrl('--sink', spec);
    const format = params.get('format') ?? undefined;
    if (format !== undefined && !['json', 'debezium', 'arrow'].includes(format)) {
      throw new CliError(
        `--sink: format=${format} is not one of json, debezium, arrow (kafka://host:port/topic?format=json)`,
        EXIT.badUsage,
      );
    }
    const compression = params.get('compression') ?? undefined;
    if (compression !== undefined && !['none', 'gzip'].includes(compression)) {
      throw new CliError(
        `--sink: compression=${compression} is not one of none, gzip (kafka://host:port/topic?compression=gzip)`,
        EXIT.badUsage,
      );
    }
    const { KafkaSink } = await import('../connectors/kafka/index.js');
    const transactionalId =
      options.transactions === true && options.transactionalId === undefined && identity !== undefined
        ? { transactionalId: defaultTransactionalId(identity, topic) }
        : {};
    return new KafkaSink({
      ...connection,
      ...options,
      ...transactionalId,
      topic,
      ...(format ? { format: format as 'json' } : {}),
      ...(compression ? { compression: compression as 'gzip' } : {}),
    });
  }
  if (spec.startsWith('postgres://') || spec.startsWith('postgresql://')) {
    const url = parseUrl('--sink', spec, 'postgres://user:password@host/db#schema.table');
    const table = decodeURIComponent(url.hash.replace(/^#/, ''));
    if (!table)
      throw new CliError(
        '--sink: a postgres sink needs the target table after #, e.g. postgres://user:password@host/db#copy.customers',
        EXIT.badUsage,
      );
    url.hash = '';
    // the sink's own parameter; every other one belongs to the connection string
    const alter = url.searchParams.get('alterTable');
    if (alter !== null && alter !== 'true' && alter !== 'false')
      throw new CliError(`--sink: alterTable=${alter} is not true or false (postgres://…?alterTable=false#schema.table)`, EXIT.badUsage);
    url.searchParams.delete('alterTable');
    const { PostgresTableSink } = await import('../connectors/postgres/index.js');
    return new PostgresTableSink({ connectionString: url.toString(), table, ...(alter !== null ? { alterTable: alter === 'true' } : {}) });
  }
  if (spec.startsWith('exasol://')) {
    const url = parseUrl('--sink', spec, 'exasol://user:password@host:8563#SCHEMA.TABLE');
    const [schema, table] = splitExasolTable('--sink', decodeURIComponent(url.hash.replace(/^#/, '')));
    const alter = url.searchParams.get('alterTable');
    if (alter !== null && alter !== 'true' && alter !== 'false')
      throw new CliError(`--sink: alterTable=${alter} is not true or false (exasol://…?alterTable=false#SCHEMA.TABLE)`, EXIT.badUsage);
    url.searchParams.delete('alterTable');
    const { ExasolTableSink } = await import('../connectors/exasol/index.js');
    return new ExasolTableSink({
      ...exasolConnection(url),
      schema,
      table,
      createTable: url.searchParams.get('createTable') !== 'false',
      ...(alter !== null ? { alterTable: alter === 'true' } : {}),
    });
  }
  throw new CliError(
    `--sink: unsupported sink "${redactSecrets(spec)}"; use arrow:<file|->, jsonl:<file|->, kafka://host:port/topic, postgres://…#schema.table, exasol://…#SCHEMA.TABLE or memory`,
    EXIT.badUsage,
  );
}

function outputPath(kind: string, rest: string): string {
  if (rest === '')
    throw new CliError(
      `--sink: ${kind}: needs a file path or - for stdout (e.g. ${kind}:out.${kind === 'arrow' ? 'arrow' : 'jsonl'})`,
      EXIT.badUsage,
    );
  return rest === '-' ? '-' : resolve(rest);
}

/**
 * The key of a table's entry in a shared checkpoint store: the table and the source it is read
 * from (scheme, host, port, database or topic; never credentials or parameters), so the same
 * table name on two servers gets two entries.
 */
export function checkpointKey(sourceUrl: string, table: string): string {
  const source = sourceUrl
    .replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/?#]*@/i, '$1')
    .replace(/[?#].*$/, '')
    .replace(/^[a-z][a-z0-9+.-]*:/i, (scheme) => scheme.toLowerCase());
  return `${table}@${source}`;
}

/**
 * Reads a table's entry under the key of earlier versions (the table name alone) when its
 * source-qualified entry does not exist yet; saves always go to the qualified entry. The
 * checkpoint's own identity then tells whether it belongs to this source.
 */
class LegacyKeyFallback implements CheckpointStore {
  readonly fencing: boolean;
  /** The primary store's leases (high availability), when it keeps them. */
  readonly leaseStore?: () => LeaseStore;

  constructor(
    readonly primary: CheckpointStore,
    private readonly legacy: () => CheckpointStore,
  ) {
    this.fencing = primary.fencing === true;
    if (typeof primary.leaseStore === 'function') this.leaseStore = () => primary.leaseStore!();
  }

  async load(): Promise<StoredCheckpoint | null> {
    const checkpoint = await this.primary.load();
    if (checkpoint !== null) return checkpoint;
    const legacy = this.legacy();
    try {
      return await legacy.load();
    } finally {
      await legacy.close?.().catch(() => {});
    }
  }

  save(stored: StoredCheckpoint, fence?: Fence): Promise<void> {
    return fence ? this.primary.save(stored, fence) : this.primary.save(stored);
  }

  async close(): Promise<void> {
    await this.primary.close?.();
  }
}

/**
 * Builds the checkpoint store of `--checkpoint` (a file path, postgres://…[#table], or
 * kafka://host:port/topic). Entries in the shared stores are keyed by {@link checkpointKey}.
 */
export async function createCheckpointStore(spec: string, table: string, sourceUrl: string): Promise<CheckpointStore> {
  const key = checkpointKey(sourceUrl, table);
  if (spec.startsWith('postgres://') || spec.startsWith('postgresql://')) {
    const url = parseUrl('--checkpoint', spec, 'postgres://user:password@host/db#refstream_checkpoints');
    const storeTable = decodeURIComponent(url.hash.replace(/^#/, '')) || undefined;
    url.hash = '';
    const { PostgresCheckpointStore } = await import('../connectors/postgres/index.js');
    const store = (id: string) =>
      new PostgresCheckpointStore({ connectionString: url.toString(), id, ...(storeTable ? { table: storeTable } : {}) });
    return new LegacyKeyFallback(store(key), () => store(table));
  }
  if (isKafkaUrl(spec)) {
    const { connection, topic } = parseKafkaUrl('--checkpoint', spec);
    const { KafkaCheckpointStore } = await import('../connectors/kafka/index.js');
    const store = (id: string) => new KafkaCheckpointStore({ ...connection, topic, key: id });
    return new LegacyKeyFallback(store(key), () => store(table));
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) {
    throw new CliError(
      `--checkpoint: unsupported store ${redactSecrets(spec)}; use a file path, postgres://… or kafka://host:port/topic`,
      EXIT.badUsage,
    );
  }
  return new FileCheckpointStore(resolve(spec));
}

/** A Kafka sink written with `?transactions=true` (duck-typed: the Kafka module loads on demand). */
interface TransactionalSinkLike extends Sink {
  transactional: boolean;
}

/**
 * Joins the checkpoint store to the transactions of the one transactional Kafka sink, so each
 * commit writes the sink's records and the checkpoint in one Kafka transaction. A
 * transactional sink without a Kafka checkpoint store, or two of them, is a usage error: the
 * checkpoint must be in the transaction for exactly-once.
 */
export function joinKafkaTransactions(store: CheckpointStore, sinks: readonly Sink[], checkpointSpec: string | null): void {
  const transactional = sinks.filter((s): s is TransactionalSinkLike => (s as Partial<TransactionalSinkLike>).transactional === true);
  if (transactional.length === 0) return;
  if (transactional.length > 1) {
    throw new CliError(
      `--sink: ${transactional.map((s) => s.name).join(' and ')} both have transactions=true; one commit can hold one Kafka transaction`,
      EXIT.badUsage,
    );
  }
  const inner = store instanceof LegacyKeyFallback ? store.primary : store;
  const kafkaStore = inner as { joinTransactionsOf?: (sink: Sink) => void };
  if (checkpointSpec === null || typeof kafkaStore.joinTransactionsOf !== 'function') {
    throw new CliError(
      `--sink: ${transactional[0]!.name} has transactions=true, which needs --checkpoint kafka://host:port/<checkpoint-topic> on the same cluster (the checkpoint is committed in the sink's transaction)`,
      EXIT.badUsage,
    );
  }
  kafkaStore.joinTransactionsOf(transactional[0]!);
}
