/**
 * `refstream sync` and `refstream snapshot`.
 */
import { MemoryCheckpointStore, type CheckpointStore } from '../sdk/checkpoint-store.js';
import { definite, redactSecrets, toConnectorError } from '../sdk/errors.js';
import type { Sink } from '../sdk/sink.js';
import { initialProgress, sync, type SyncRun } from '../sdk/sync.js';
import type { Command, CommandContext, CommandOption } from './command.js';
import { isTablePattern, readConfigFile, tablesOf, validateSyncConfig } from './config.js';
import { expandTemplate, splitTableName } from './table-templates.js';
import { checkpointKey, createCheckpointStore, createSink, joinKafkaTransactions, sourceFactory } from './endpoints.js';
import { checkHaSetup, createLeadership, defaultGroup, leadershipField, reportLeadership } from './ha.js';
import type { Leadership } from '../sdk/leadership.js';
import type { LeaseStore } from '../sdk/lease.js';
import { CliError, EXIT } from './errors.js';
import { parseFlags } from './flags.js';
import { Metrics } from './metrics.js';
import { Reporter, resolveLogFormat } from './reporter.js';
import { asCliError, exitCodeOf, metricsListenError, type ParsedArgs } from './sync-support.js';

const COMMON_OPTIONS: CommandOption[] = [
  {
    flag: '--source <url>',
    description:
      'source database: postgres://user:pass@host:5432/db, or exasol://user:pass@host:8563?mode=diff|watermark&watermark=COL&stateDir=DIR, or a topic written by a Kafka sink: kafka://host:port/topic[?globalOrder=true&controlTopic=<topic>] (use ${VAR} in a config file for secrets)',
  },
  {
    flag: '--table <schema.table>',
    description:
      'the table to sync (quote parts containing dots: "my.schema".t); sync: repeatable, and * and ? match several tables (public.dim_*), which then share one replication slot (--slot required)',
  },
  {
    flag: '--sink <sink>',
    description:
      "repeatable; {schema} and {table} in it name each table's output (required with several tables): arrow:<file|->, jsonl:<file|->, kafka://[user:password@]host:port[,host:port]/topic[?format=json|debezium|arrow&schemas=true&schemaNamePrefix=<name>&compression=gzip&onTruncate=control-record|fail&controlRecords=false&controlTopic=<topic>&idempotent=false&createTopic=true&transactions=true&transactionalId=<id>&sasl=…&tls=true&ca=<pem file>] (kafkas:// for TLS; unknown parameters are refused), postgres://…[?alterTable=false]#schema.table, exasol://user:password@host:8563[?alterTable=false]#SCHEMA.TABLE, memory",
  },
  { flag: '--config <file>', description: 'config file (default: refstream.config.json|yaml in the current directory); flags override it' },
  { flag: '--batch-rows <n>', description: 'maximum rows per batch' },
  { flag: '--commit-rows <n>', description: 'commit after this many rows (default 50000)' },
  { flag: '--commit-ms <n>', description: 'commit at least this often (default 1000)' },
  {
    flag: '--parallelism <n>',
    description: 'snapshot connections (ctid ranges, PG ≥ 14); with several tables: tables reading their snapshot at a time',
  },
  {
    flag: '--unknown-types <error|text>',
    description:
      "Postgres column types without an Arrow mapping (time, inet, ranges, …): fail (default) or deliver PostgreSQL's text output",
  },
  { flag: '--duration <seconds>', description: 'stop (gracefully) after this many seconds' },
  {
    flag: '--retry-for <seconds>',
    description:
      'keep reconnecting after a transient error (server restart, failover, network) for this long without a commit before giving up with RETRIES_EXHAUSTED (default 300; at startup: 3 attempts)',
  },
  { flag: '--log-format <auto|pretty|json>', description: 'progress on a terminal, JSON lines otherwise (default auto); always on stderr' },
  { flag: '--metrics-port <port>', description: 'serve Prometheus metrics on 127.0.0.1:<port>/metrics' },
];

const CHECKPOINT_STORES =
  'postgres://…[#table] or a Kafka URL as for --sink (kafka://host:port/topic; required with a transactions=true sink, which commits the checkpoint in its transaction)';

const CAPTURE_OPTION: CommandOption = {
  flag: '--capture <logical|trigger>',
  description:
    'Postgres: how changes are captured: a logical replication slot (logical, default; needs wal_level=logical and the REPLICATION privilege), or triggers writing a change table (trigger; any wal_level, table-owner rights to install: see refstream install-triggers)',
};

const HA_OPTIONS: CommandOption[] = [
  {
    flag: '--ha',
    description:
      'high availability: run as one of several replicas of this sync; only the replica holding the lease reads and writes, the others wait and take over within seconds when it fails (needs a postgres:// --checkpoint, and sinks that can be fenced: postgres://…#table, kafka://…?transactions=true, memory; see docs/operations.md)',
  },
  {
    flag: '--group <name>',
    description:
      'with --ha: the replicas sharing this name elect one leader (default: the table and source, as the checkpoint is keyed; with several tables the slot and source)',
  },
  { flag: '--replica-id <id>', description: "with --ha: this replica's name in status and logs (default <hostname>:<pid>)" },
  {
    flag: '--lease-ms <n>',
    description:
      'with --ha: lease time; the leader renews every quarter of it, and a failed leader is replaced about this long after its last renewal (default 4000)',
  },
];

const SYNC_OPTIONS: CommandOption[] = [
  ...COMMON_OPTIONS.slice(0, 3),
  {
    flag: '--checkpoint <store>',
    description: `checkpoint store: a file path (default .refstream/<table>.checkpoint.json; with several tables a path with {schema} and {table}, default .refstream/{schema}.{table}.checkpoint.json), ${CHECKPOINT_STORES} (one entry per table)`,
  },
  ...COMMON_OPTIONS.slice(3),
  {
    flag: '--slot <name>',
    description:
      'Postgres replication slot (default derived from the table); required with several tables, which share it (keep the name across runs)',
  },
  {
    flag: '--publication <name>',
    description: "Postgres publication (default derived from the table; with several tables the slot's name)",
  },
  {
    flag: '--warn-retained-bytes <n>',
    description:
      'Postgres: at start, warn about each other inactive refstream slot retaining more WAL than this (default 1073741824 = 1 GiB; 0: no warning)',
  },
  {
    flag: '--toast <lookup|identity-full>',
    description:
      'Postgres: an update leaving a large out-of-line (TOAST) value unchanged carries no value for it: read it by key, one query per change batch (lookup, default), or require REPLICA IDENTITY FULL on the table and refuse to start without it (identity-full)',
  },
  {
    flag: '--set-replica-identity',
    description:
      'Postgres, with --toast identity-full: run ALTER TABLE … REPLICA IDENTITY FULL at start when the table lacks it (more WAL per update)',
  },
  {
    flag: '--on-schema-change <error|resnapshot>',
    description:
      'Postgres: a schema change the sinks cannot follow in place (a key column changed, a type narrowed or changed kind, a column added with a default): stop with SCHEMA_INCOMPATIBLE (error, default), or re-seed the table inside the stream (resnapshot: a truncate, then a new snapshot, then the changes after it). Dropped, renamed and widened columns are always followed',
  },
  {
    flag: '--resnapshot-on-invalid-slot',
    description:
      'Postgres: when the server has invalidated the slot (wal_status lost), drop and recreate it and take a new snapshot (sinks replace their content) instead of stopping with SLOT_INVALIDATED',
  },
  CAPTURE_OPTION,
  {
    flag: '--install-triggers',
    description:
      'Postgres, --capture trigger: install (or upgrade) the triggers and the change table at start when they are missing or outdated',
  },
  {
    flag: '--consumer <name>',
    description:
      'Postgres, --capture trigger: this sync\'s name among the consumers of the table (default "default"); each consumer has its own progress, and change rows are deleted once every consumer has committed them',
  },
  {
    flag: '--trigger-schema <schema>',
    description: 'Postgres, --capture trigger: schema of the change table and the trigger function (default refstream)',
  },
  {
    flag: '--poll-interval-ms <n>',
    description:
      'Postgres, --capture trigger: look for new changes at least this often; notifications wake the reader sooner (default 1000)',
  },
  ...HA_OPTIONS,
];

const SNAPSHOT_OPTIONS: CommandOption[] = [
  ...COMMON_OPTIONS.slice(0, 3),
  {
    flag: '--checkpoint <store>',
    description: `write a checkpoint (default: none) so an interrupted snapshot is known to restart; a file path, ${CHECKPOINT_STORES}`,
  },
  ...COMMON_OPTIONS.slice(3),
  {
    ...CAPTURE_OPTION,
    description:
      'Postgres: accepted for symmetry with sync; a one-shot snapshot reads one REPEATABLE READ transaction and needs neither a slot nor triggers, so both values take the same snapshot',
  },
];

async function parseSyncArgs(mode: 'sync' | 'snapshot', args: string[], context: CommandContext): Promise<ParsedArgs> {
  const values: Record<string, string | string[] | boolean | undefined> = parseFlags(mode, args, {
    source: { type: 'string' },
    table: { type: 'string', multiple: true },
    sink: { type: 'string', multiple: true },
    checkpoint: { type: 'string' },
    config: { type: 'string' },
    'batch-rows': { type: 'string' },
    'commit-rows': { type: 'string' },
    'commit-ms': { type: 'string' },
    slot: { type: 'string' },
    publication: { type: 'string' },
    parallelism: { type: 'string' },
    'unknown-types': { type: 'string' },
    duration: { type: 'string' },
    'retry-for': { type: 'string' },
    'log-format': { type: 'string' },
    'metrics-port': { type: 'string' },
    'resnapshot-on-invalid-slot': { type: 'boolean' },
    toast: { type: 'string' },
    'set-replica-identity': { type: 'boolean' },
    'on-schema-change': { type: 'string' },
    'warn-retained-bytes': { type: 'string' },
    capture: { type: 'string' },
    consumer: { type: 'string' },
    'install-triggers': { type: 'boolean' },
    'trigger-schema': { type: 'string' },
    'poll-interval-ms': { type: 'string' },
    ha: { type: 'boolean' },
    group: { type: 'string' },
    'replica-id': { type: 'string' },
    'lease-ms': { type: 'string' },
  });
  if (mode === 'snapshot') {
    for (const flag of [
      'slot',
      'publication',
      'resnapshot-on-invalid-slot',
      'warn-retained-bytes',
      'toast',
      'set-replica-identity',
      'on-schema-change',
    ]) {
      if (values[flag] !== undefined) {
        throw new CliError(
          `--${flag}: refstream snapshot takes a one-shot snapshot with no replication slot and no publication; drop --${flag} (or use refstream sync)`,
          EXIT.badUsage,
        );
      }
    }
    for (const flag of ['ha', 'group', 'replica-id', 'lease-ms']) {
      if (values[flag] !== undefined) {
        throw new CliError(
          `--${flag}: refstream snapshot is a one-shot export that several replicas need not share; drop --${flag} (high availability is for refstream sync)`,
          EXIT.badUsage,
        );
      }
    }
    for (const flag of ['consumer', 'install-triggers', 'trigger-schema', 'poll-interval-ms']) {
      if (values[flag] !== undefined) {
        throw new CliError(
          `--${flag}: refstream snapshot takes a one-shot snapshot that reads no change table; drop --${flag} (or use refstream sync --capture trigger)`,
          EXIT.badUsage,
        );
      }
    }
  }
  const configFile = await readConfigFile(values.config as string | undefined, process.cwd(), context.env);
  const merged: Record<string, unknown> = { ...configFile.values };
  const int = (flag: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isFinite(n) || n < 0) throw new CliError(`--${flag}: "${text}" is not a non-negative number`, EXIT.badUsage);
    return n;
  };
  const set = (key: string, value: unknown) => {
    if (value !== undefined) merged[key] = value;
  };
  set('source', values.source);
  const tables = values.table as string[] | undefined;
  if (tables !== undefined && tables.length > 0) {
    // flags replace what the config file lists
    delete merged.table;
    delete merged.tables;
    if (tables.length === 1) set('table', tables[0]);
    else set('tables', tables);
  }
  set('sinks', values.sink);
  set('checkpoint', values.checkpoint);
  set('batchRows', int('batch-rows', values['batch-rows'] as string | undefined));
  const commitRows = int('commit-rows', values['commit-rows'] as string | undefined);
  const commitMs = int('commit-ms', values['commit-ms'] as string | undefined);
  if (commitRows !== undefined || commitMs !== undefined) {
    merged.commitEvery = {
      ...(merged.commitEvery as object),
      ...(commitRows !== undefined ? { rows: commitRows } : {}),
      ...(commitMs !== undefined ? { ms: commitMs } : {}),
    };
  }
  set('slot', values.slot);
  set('publication', values.publication);
  set('snapshotParallelism', int('parallelism', values.parallelism as string | undefined));
  set('unknownTypes', values['unknown-types']);
  set('toast', values.toast);
  set('setReplicaIdentity', values['set-replica-identity']);
  set('onSchemaChange', values['on-schema-change']);
  set('durationSeconds', int('duration', values.duration as string | undefined));
  set('retryForSeconds', int('retry-for', values['retry-for'] as string | undefined));
  set('logFormat', values['log-format']);
  set('metricsPort', int('metrics-port', values['metrics-port'] as string | undefined));
  set('warnRetainedBytes', int('warn-retained-bytes', values['warn-retained-bytes'] as string | undefined));
  set('capture', values.capture);
  set('consumer', values.consumer);
  set('installTriggers', values['install-triggers']);
  set('triggerSchema', values['trigger-schema']);
  set('pollIntervalMs', int('poll-interval-ms', values['poll-interval-ms'] as string | undefined));
  set('ha', values.ha);
  set('group', values.group);
  set('replicaId', values['replica-id']);
  set('leaseMs', int('lease-ms', values['lease-ms'] as string | undefined));
  const config = validateSyncConfig(merged);
  return {
    config,
    configFile: configFile.path,
    checkpointGiven: config.checkpoint !== undefined,
    resnapshotOnInvalidSlot: values['resnapshot-on-invalid-slot'] === true,
  };
}

async function runSync(mode: 'sync' | 'snapshot', args: string[], context: CommandContext): Promise<number> {
  const parsed = await parseSyncArgs(mode, args, context);
  const specs = tablesOf(parsed.config);
  if (specs.length > 1 || specs.some(isTablePattern)) {
    if (mode === 'snapshot') {
      throw new CliError(
        '--table: refstream snapshot takes one table; run it once per table, or refstream sync with several --table (or a pattern) to follow them',
        EXIT.badUsage,
      );
    }
    const { runCaptureSync } = await import('./capture-sync.js');
    return runCaptureSync({ ...parsed, tables: specs }, context);
  }
  const table = specs[0]!;
  const { config: parsedConfig, configFile, checkpointGiven, resnapshotOnInvalidSlot } = parsed;
  // sink URLs may name the table with {schema} and {table}, as for several tables
  const config = { ...parsedConfig, table, sinks: parsedConfig.sinks.map((spec) => expandTemplate(spec, splitTableName(table))) };
  let leadership: Leadership | null = null;
  const reporter = new Reporter({
    format: resolveLogFormat(config.logFormat, context.stderr as { isTTY?: boolean }),
    stream: context.stderr,
    extra: () => (leadership ? { ha: leadershipField(leadership) } : {}),
  });
  let factory;
  let metrics: Metrics | undefined;
  try {
    factory = await sourceFactory(config.source, {
      table: config.table,
      // a one-shot snapshot creates no slot and no publication (a slot in a shared config file is not used)
      ...(mode === 'snapshot' ? { snapshotOnly: true } : {}),
      ...(resnapshotOnInvalidSlot ? { onSlotInvalidated: 'resnapshot' as const } : {}),
      onWarning: (warning) => {
        metrics?.countWarning(warning.code);
        reporter.event('warning', { code: warning.code, table: warning.table, message: warning.message });
      },
      ...(config.batchRows !== undefined ? { batchRows: config.batchRows } : {}),
      ...(config.slot !== undefined && mode === 'sync' ? { slot: config.slot } : {}),
      ...(config.publication !== undefined && mode === 'sync' ? { publication: config.publication } : {}),
      ...(config.snapshotParallelism !== undefined ? { snapshotParallelism: config.snapshotParallelism } : {}),
      ...(config.unknownTypes !== undefined ? { unknownTypes: config.unknownTypes } : {}),
      ...(config.toast !== undefined && mode === 'sync' ? { toast: config.toast } : {}),
      ...(config.setReplicaIdentity !== undefined && mode === 'sync' ? { setReplicaIdentity: config.setReplicaIdentity } : {}),
      ...(config.onSchemaChange !== undefined && mode === 'sync' ? { onIncompatibleSchemaChange: config.onSchemaChange } : {}),
      ...(config.warnRetainedBytes !== undefined && mode === 'sync' ? { warnRetainedBytes: config.warnRetainedBytes } : {}),
      ...(config.capture !== undefined ? { capture: config.capture } : {}),
      ...(config.consumer !== undefined && mode === 'sync' ? { consumer: config.consumer } : {}),
      ...(config.installTriggers !== undefined && mode === 'sync' ? { installTriggers: config.installTriggers } : {}),
      ...(config.triggerSchema !== undefined && mode === 'sync' ? { triggerSchema: config.triggerSchema } : {}),
      ...(config.pollIntervalMs !== undefined && mode === 'sync' ? { pollIntervalMs: config.pollIntervalMs } : {}),
    });
  } catch (error) {
    throw asCliError(error);
  }
  // listening first: a port in use stops the command before anything is opened or started
  let run: SyncRun | undefined;
  metrics = new Metrics(config.table, () => run?.progress ?? NOT_STARTED);
  if (config.metricsPort !== undefined) {
    let port: number;
    try {
      port = await metrics.listen(config.metricsPort);
    } catch (error) {
      await metrics.close();
      throw metricsListenError(config.metricsPort, error);
    }
    reporter.event('metrics', { url: `http://127.0.0.1:${port}/metrics` });
  }
  // `sync` keeps a default checkpoint to resume from; `snapshot` writes one only when asked
  const checkpointSpec =
    mode === 'snapshot' && !checkpointGiven
      ? null
      : (config.checkpoint ?? `.refstream/${config.table.replace(/[^A-Za-z0-9._-]/g, '_')}.checkpoint.json`);
  let checkpoints: CheckpointStore;
  const sinks: Sink[] = [];
  try {
    checkpoints =
      checkpointSpec === null ? new MemoryCheckpointStore() : await createCheckpointStore(checkpointSpec, config.table, config.source);
  } catch (error) {
    await metrics.close();
    throw asCliError(error);
  }
  if (mode === 'snapshot' && checkpointGiven) {
    // a checkpoint past its snapshot would make `snapshot` stream changes forever
    let existing;
    try {
      existing = await checkpoints.load();
    } catch (error) {
      await closeAll(checkpoints, sinks, metrics);
      const failure = toConnectorError(error);
      reporter.error(failure);
      return exitCodeOf(failure);
    }
    if (existing?.checkpoint.phase === 'changes') {
      await closeAll(checkpoints, sinks, metrics);
      const failure = definite(
        'CHECKPOINT_INVALID',
        `checkpoint ${redactSecrets(config.checkpoint!)} of ${existing.checkpoint.table} is past its snapshot (phase "changes"); refstream snapshot only takes a snapshot`,
        {
          table: config.table,
          hint: 'to take a new snapshot, delete the checkpoint or pass another --checkpoint (or none); to follow the changes from it, run refstream sync with it',
        },
      );
      reporter.error(failure);
      return exitCodeOf(failure);
    }
  }

  // sinks are created once the checkpoint is known to fit: creating one may open its output
  let ha: { leadership: Leadership; leases: LeaseStore } | null = null;
  try {
    for (const spec of config.sinks) sinks.push(await createSink(spec, { table: config.table, sourceUrl: config.source }));
    if (config.ha) {
      // a transactional Kafka sink commits its own transaction at each flush: the broker fences
      // a replica that lost the lease, and the checkpoint save (compare-and-set) follows
      checkHaSetup({ sourceUrl: config.source, checkpointSpec, sinks });
      ha = createLeadership(checkpoints, config, defaultGroup(checkpointKey(config.source, config.table)));
      reportLeadership(ha.leadership, reporter);
      metrics.leadership = ha.leadership;
      leadership = ha.leadership;
    } else joinKafkaTransactions(checkpoints, sinks, checkpointSpec);
  } catch (error) {
    await closeAll(checkpoints, sinks, metrics);
    throw asCliError(error);
  }

  run = sync({
    source: factory,
    sinks,
    checkpoints,
    ...(config.commitEvery ? { commitEvery: config.commitEvery } : {}),
    stopAfterSnapshot: mode === 'snapshot',
    ...(config.retryForSeconds !== undefined ? { retry: { giveUpAfterMs: config.retryForSeconds * 1000 } } : {}),
    ...(ha ? { ha: { leadership: ha.leadership } } : {}),
    handleSignals: true,
  });
  run.on('snapshot-complete', ({ rows }) => reporter.event('snapshot-complete', { rows }));
  run.on('commit', ({ rows }) => reporter.event('commit', { rows }));
  run.on('retry', ({ attempt, delayMs, error }) => {
    metrics.countError(error.code);
    reporter.event('retry', { attempt, delayMs, code: error.code, message: error.message });
  });
  run.on('sink-fault', ({ sink, error }) => {
    metrics.sinkFaults++;
    metrics.countError(error.code);
    reporter.event('sink-fault', { sink, code: error.code, message: error.message });
  });
  const timer = config.durationSeconds !== undefined ? setTimeout(() => run.stop(), config.durationSeconds * 1000) : null;
  // what this run resumes from and where it stands, so a config file found in the working
  // directory (or a default checkpoint) never acts unnoticed
  reporter.event('start', {
    mode,
    table: config.table,
    source: redactSecrets(config.source),
    ...(factory.details ?? {}),
    checkpoint: checkpointSpec === null ? 'none' : redactSecrets(checkpointSpec),
    ...(configFile !== null ? { configFile } : {}),
    sinks: sinks.map((s) => s.name),
    ...(ha ? { ha: { group: ha.leadership.group, replica: ha.leadership.replicaId, leaseMs: ha.leadership.leaseMs } } : {}),
  });
  reporter.start(() => run.progress);
  try {
    const result = await run.done;
    reporter.stop();
    reporter.event('stopped', {
      by: result.stoppedBy,
      snapshotRows: result.snapshotRows,
      changeRows: result.changeRows,
      commits: result.commits,
    });
    return result.detachedSinks.length > 0 ? EXIT.sinkError : EXIT.ok;
  } catch (error) {
    const failure = toConnectorError(error);
    metrics.countError(failure.code);
    reporter.error(failure);
    return exitCodeOf(failure);
  } finally {
    if (timer) clearTimeout(timer);
    reporter.stop();
    await metrics.close();
    // a stopped leader releases the lease: a standby takes over at once
    await ha?.leadership.close().catch(() => {});
    await ha?.leases.close?.().catch(() => {});
    await checkpoints.close?.().catch(() => {});
  }
}

/** Progress reported by the metrics endpoint before the run has started. */
const NOT_STARTED = initialProgress();

/** Closes what a start that did not get to run has opened, ignoring errors (the first one is reported). */
async function closeAll(checkpoints: CheckpointStore, sinks: Sink[], metrics: Metrics): Promise<void> {
  for (const sink of sinks) await sink.close().catch(() => {});
  await checkpoints.close?.().catch(() => {});
  await metrics.close();
}

export const syncCommand: Command = {
  name: 'sync',
  synopsis: 'sync --source <url> --table <schema.table> [--table …] --sink <sink> [--sink …] [--checkpoint <store>] [options]',
  summary:
    'Snapshot the table, then stream its changes into the sinks until stopped (Ctrl-C commits and exits 0), resuming from the checkpoint.',
  options: SYNC_OPTIONS,
  run: (args, context) => runSync('sync', args, context),
};

export const snapshotCommand: Command = {
  name: 'snapshot',
  synopsis: 'snapshot --source <url> --table <schema.table> --sink <sink> [--sink …] [--checkpoint <store>] [options]',
  summary:
    'Write a consistent snapshot of the table into the sinks and exit once it is complete and committed. Leaves nothing on the server: no replication slot, no publication (Postgres reads one REPEATABLE READ transaction); writes a checkpoint only with --checkpoint.',
  options: SNAPSHOT_OPTIONS,
  run: (args, context) => runSync('snapshot', args, context),
};
