/**
 * `refstream sync` of several tables (repeated `--table`, a pattern such as `public.dim_*`, or
 * `tables:` in the config file): one PostgreSQL capture (one slot, one publication) and one
 * runner per table, each with its own sinks (URLs with `{schema}`/`{table}`) and its own
 * checkpoint. A table stopped by a definite error is reported and the others go on; the
 * command ends when every table has stopped (Ctrl-C stops them all).
 *
 * With `--ha` the whole capture is one replica of its group: one lease for all its tables.
 * Each term of leadership gets a capture of its own (closed when the term ends, which releases
 * the slot), and every table's runner leads and stands by with that one lease.
 */
import type { CheckpointStore } from '../sdk/checkpoint-store.js';
import { ConnectorError, redactSecrets, toConnectorError } from '../sdk/errors.js';
import type { Sink } from '../sdk/sink.js';
import { initialProgress, sync, type SyncProgress, type SyncRun } from '../sdk/sync.js';
import type { CommandContext } from './command.js';
import { checkpointKey, createCheckpointStore, createSink, joinKafkaTransactions } from './endpoints.js';
import { checkHaSetup, createLeadership, defaultGroup, leadershipField, perTerm, reportLeadership } from './ha.js';
import type { Leadership } from '../sdk/leadership.js';
import type { LeaseStore } from '../sdk/lease.js';
import { CliError, EXIT } from './errors.js';
import { Metrics, TableMetrics } from './metrics.js';
import { Reporter, resolveLogFormat } from './reporter.js';
import { asCliError, exitCodeOf, metricsListenError, type ParsedArgs } from './sync-support.js';
import { expandForTables, type TableName } from './table-templates.js';

/** One table's run, its outputs and its counters. */
interface TableRun {
  table: string;
  name: TableName;
  sinks: Sink[];
  checkpoints: CheckpointStore;
  metrics: TableMetrics;
  run: SyncRun | null;
  failure: ConnectorError | null;
}

/** The default checkpoint of each table: a file per table, as for one table. */
const DEFAULT_CHECKPOINT = '.refstream/{schema}.{table}.checkpoint.json';

/** Runs `refstream sync` for several tables of one PostgreSQL database. */
export async function runCaptureSync(args: ParsedArgs & { tables: string[] }, context: CommandContext): Promise<number> {
  const { config, configFile } = args;
  if (!/^postgres(ql)?:\/\//i.test(config.source)) {
    throw new CliError(
      '--table: several tables (or a pattern) are read through one PostgreSQL replication slot and need a postgres:// source; for other sources run one sync per table',
      EXIT.badUsage,
    );
  }
  if (config.slot === undefined) {
    throw new CliError(
      `--slot: ${args.tables.length} tables share one replication slot; name it with --slot <name> (a-z, 0-9, _) and keep the name across runs (the checkpoints record it)`,
      EXIT.badUsage,
    );
  }
  if (config.capture === 'trigger') {
    throw new CliError(
      '--capture trigger: several tables are read through one replication slot (logical capture); for trigger capture run one sync per table',
      EXIT.badUsage,
    );
  }
  if (args.resnapshotOnInvalidSlot) {
    throw new CliError('--resnapshot-on-invalid-slot: not available for several tables; drop the flag', EXIT.badUsage);
  }
  let ha: { leadership: Leadership; leases: LeaseStore } | null = null;
  const reporter = new Reporter({
    format: resolveLogFormat(config.logFormat, context.stderr as { isTTY?: boolean }),
    stream: context.stderr,
    extra: () => ({ tables: tableSummary(runs), ...(ha ? { ha: leadershipField(ha.leadership) } : {}) }),
  });
  const postgres = await import('../connectors/postgres/index.js');
  const { withPostgres } = await import('./postgres-admin.js');
  // patterns are expanded now; the tables found are the capture's tables for this run
  let names: Array<{ schema: string; name: string }>;
  try {
    names = await withPostgres('--source', config.source, 'refstream', async (client) => {
      try {
        return await postgres.resolveTables(client, args.tables);
      } catch (error) {
        if (ConnectorError.is(error, 'CONFIG_INVALID')) throw new CliError(`--table: ${error.message}`, EXIT.badUsage);
        throw error;
      }
    });
  } catch (error) {
    throw asCliError(error);
  }
  const tableNames: TableName[] = names.map((n) => ({ schema: n.schema, name: n.name }));
  const displays = names.map((n) => postgres.displayName(n));
  const sinkSpecs = expandForTables('--sink', config.sinks, tableNames, 'sink');
  const checkpointSpecs = expandForTables('--checkpoint', [config.checkpoint ?? DEFAULT_CHECKPOINT], tableNames, 'checkpoint').map(
    (s) => s[0]!,
  );

  const slot = config.slot;
  const newCapture = () =>
    new postgres.PostgresCapture({
      connectionString: config.source,
      tables: displays,
      slot,
      ...(config.publication !== undefined ? { publication: config.publication } : {}),
      ...(config.snapshotParallelism !== undefined ? { snapshotParallelism: config.snapshotParallelism } : {}),
      ...(config.batchRows !== undefined ? { batchRows: config.batchRows } : {}),
      ...(config.unknownTypes !== undefined ? { unknownTypes: config.unknownTypes } : {}),
      ...(config.toast !== undefined ? { toast: config.toast } : {}),
      ...(config.setReplicaIdentity !== undefined ? { setReplicaIdentity: config.setReplicaIdentity } : {}),
      ...(config.onSchemaChange !== undefined ? { onIncompatibleSchemaChange: config.onSchemaChange } : {}),
      ...(config.warnRetainedBytes !== undefined ? { warnRetainedBytes: config.warnRetainedBytes } : {}),
      onWarning: (warning) => {
        const table = runs?.find((r) => r.table === warning.table);
        if (table && (warning.code === 'SCHEMA_CHANGED' || warning.code === 'TABLE_RESEEDED')) table.metrics.schemaChanges++;
        reporter.event('warning', { code: warning.code, table: warning.table, message: warning.message });
      },
    });
  // without --ha one capture for the run; with --ha one per term of leadership (made when it starts)
  let capture: InstanceType<typeof postgres.PostgresCapture> | null = null;
  try {
    const first = newCapture(); // validates the settings before anything starts
    if (config.ha) await first.close();
    else capture = first;
  } catch (error) {
    throw asCliError(error);
  }
  let captureOfTerm: ReturnType<typeof perTerm<InstanceType<typeof postgres.PostgresCapture>>> | null = null;
  /** The capture a table's new source comes from (with --ha: the current term's). */
  let captureForSource = async () => capture!;
  /** Tables taken out of the configuration leave the publication, and their checkpoints go. */
  const pruneRemoved = async (from: InstanceType<typeof postgres.PostgresCapture>) => {
    for (const removed of await from.pruneTables()) {
      const name = postgres.parseQualifiedName(removed)!;
      const [spec] = expandForTables('--checkpoint', [config.checkpoint ?? DEFAULT_CHECKPOINT], [name], 'checkpoint')[0]!;
      const store = await createCheckpointStore(spec!, removed, config.source);
      await store.clear?.();
      await store.close?.();
      reporter.event('table-removed', { table: removed, checkpoint: redactSecrets(spec!) });
    }
  };

  const runs: TableRun[] = displays.map((table, i) => ({
    table,
    name: tableNames[i]!,
    sinks: [],
    checkpoints: null as unknown as CheckpointStore,
    metrics: new TableMetrics(table, () => runs[i]!.run?.progress ?? NOT_STARTED),
    run: null,
    failure: null,
  }));
  const metrics = new Metrics(runs.map((r) => r.metrics));
  const opened: CheckpointStore[] = [];
  const closeStarted = async () => {
    for (const r of runs) for (const sink of r.sinks) await sink.close().catch(() => {});
    for (const store of opened) await store.close?.().catch(() => {});
    await capture?.close().catch(() => {});
    await ha?.leadership.close().catch(() => {});
    await ha?.leases.close?.().catch(() => {});
    await metrics.close();
  };
  if (config.metricsPort !== undefined) {
    let port: number;
    try {
      port = await metrics.listen(config.metricsPort);
    } catch (error) {
      await closeStarted();
      throw metricsListenError(config.metricsPort, error);
    }
    reporter.event('metrics', { url: `http://127.0.0.1:${port}/metrics` });
  }

  try {
    for (const [i, r] of runs.entries()) {
      r.checkpoints = await createCheckpointStore(checkpointSpecs[i]!, r.table, config.source);
      opened.push(r.checkpoints);
    }
    // under --ha only the leader prunes, when its first term starts
    if (capture) await pruneRemoved(capture);
    for (const [i, r] of runs.entries()) {
      for (const spec of sinkSpecs[i]!) r.sinks.push(await createSink(spec, { table: r.table, sourceUrl: config.source }));
      if (config.ha) checkHaSetup({ sourceUrl: config.source, checkpointSpec: checkpointSpecs[i]!, sinks: r.sinks });
      else joinKafkaTransactions(r.checkpoints, r.sinks, checkpointSpecs[i]!);
    }
    if (config.ha) {
      // one lease for the whole capture, beside the first table's checkpoint
      ha = createLeadership(runs[0]!.checkpoints, config, defaultGroup(checkpointKey(config.source, `capture ${slot}`)));
      reportLeadership(ha.leadership, reporter);
      metrics.leadership = ha.leadership;
      const leadership = ha.leadership;
      let pruned: Promise<void> | null = null;
      captureOfTerm = perTerm(
        () => leadership.current,
        () => {
          const made = newCapture();
          const term = leadership.current;
          if (term) made.leadWith(term);
          return made;
        },
        (c) => c.close(),
      );
      const ofTerm = captureOfTerm;
      captureForSource = async () => {
        const made = await ofTerm.get();
        pruned ??= pruneRemoved(made);
        await pruned;
        return made;
      };
    }
  } catch (error) {
    await closeStarted();
    throw asCliError(error);
  }

  for (const r of runs) {
    const run = sync({
      source: async () => (await captureForSource()).source(r.table),
      sinks: r.sinks,
      checkpoints: r.checkpoints,
      ...(config.commitEvery ? { commitEvery: config.commitEvery } : {}),
      ...(config.retryForSeconds !== undefined ? { retry: { giveUpAfterMs: config.retryForSeconds * 1000 } } : {}),
      ...(ha ? { ha: { leadership: ha.leadership } } : {}),
    });
    r.run = run;
    run.on('snapshot-complete', ({ rows }) => reporter.event('snapshot-complete', { table: r.table, rows }));
    run.on('commit', ({ rows }) => reporter.event('commit', { table: r.table, rows }));
    run.on('retry', ({ attempt, delayMs, error }) => {
      r.metrics.countError(error.code);
      reporter.event('retry', { table: r.table, attempt, delayMs, code: error.code, message: error.message });
    });
    run.on('sink-fault', ({ sink, error }) => {
      r.metrics.sinkFaults++;
      r.metrics.countError(error.code);
      reporter.event('sink-fault', { table: r.table, sink, code: error.code, message: error.message });
    });
  }
  const stopAll = () => {
    for (const r of runs) r.run?.stop('signal');
  };
  process.once('SIGINT', stopAll);
  process.once('SIGTERM', stopAll);
  const timer = config.durationSeconds !== undefined ? setTimeout(stopAll, config.durationSeconds * 1000) : null;
  reporter.event('start', {
    mode: 'sync',
    tables: displays,
    source: redactSecrets(config.source),
    slot,
    publication: config.publication ?? slot,
    ...(ha ? { ha: { group: ha.leadership.group, replica: ha.leadership.replicaId, leaseMs: ha.leadership.leaseMs } } : {}),
    checkpoint: redactSecrets(config.checkpoint ?? DEFAULT_CHECKPOINT),
    ...(configFile !== null ? { configFile } : {}),
    sinks: config.sinks.map(redactSecrets),
  });
  reporter.start(() => aggregate(runs));
  try {
    await Promise.all(runs.map((r) => watch(r, reporter, ha?.leadership ?? null)));
    reporter.stop();
    const totals = aggregate(runs);
    const failed = runs.filter((r) => r.failure !== null);
    reporter.event('stopped', {
      snapshotRows: totals.snapshotRows,
      changeRows: totals.changeRows,
      commits: totals.commits,
      ...(failed.length > 0 ? { failedTables: failed.map((r) => r.table) } : {}),
    });
    if (failed.length > 0) return exitCodeOf(failed[0]!.failure!);
    return runs.some((r) => (r.run?.progress.detachedSinks.length ?? 0) > 0) ? EXIT.sinkError : EXIT.ok;
  } finally {
    process.off('SIGINT', stopAll);
    process.off('SIGTERM', stopAll);
    if (timer) clearTimeout(timer);
    reporter.stop();
    await capture?.close().catch(() => {});
    await captureOfTerm?.dispose().catch(() => {});
    // a stopped leader releases the lease: a standby takes over at once
    await ha?.leadership.close().catch(() => {});
    await ha?.leases.close?.().catch(() => {});
    await metrics.close();
    for (const store of opened) await store.close?.().catch(() => {});
  }
}

/** Waits for one table's run; a definite error is reported, counted and noted in its checkpoint, and the others go on. */
async function watch(r: TableRun, reporter: Reporter, leadership: Leadership | null): Promise<void> {
  try {
    await r.run!.done;
  } catch (error) {
    const failure = toConnectorError(error);
    r.failure = failure;
    r.metrics.countError(failure.code);
    r.metrics.stoppedBy = failure.code;
    reporter.tableError(r.table, failure);
    await noteStop(r.checkpoints, failure, leadership);
  }
}

/**
 * Records in the table's last checkpoint why it stopped (`refstream status` shows it); best
 * effort. Under --ha only while this replica leads, fenced by its epoch.
 */
async function noteStop(store: CheckpointStore, failure: ConnectorError, leadership: Leadership | null): Promise<void> {
  try {
    const term = leadership?.current ?? null;
    if (leadership && !term) return;
    const committed = await store.load();
    if (!committed) return;
    const note = { ...committed, stopped: { code: failure.code, message: failure.message, at: new Date().toISOString() } };
    await (term ? store.save(note, term.fence) : store.save(note));
  } catch {
    // the store may be what failed: the error was reported anyway
  }
}

/** Every table's progress added up, for the status line and the final event. */
function aggregate(runs: TableRun[]): SyncProgress {
  const total = initialProgress();
  let snapshot = false;
  let running = false;
  for (const r of runs) {
    const p = r.run?.progress ?? NOT_STARTED;
    total.snapshotRows += p.snapshotRows;
    total.changeRows += p.changeRows;
    total.batches += p.batches;
    total.commits += p.commits;
    total.retries += p.retries;
    total.detachedSinks.push(...p.detachedSinks.map((s) => `${r.table}:${s}`));
    if (p.lastCommitAt !== null && (total.lastCommitAt === null || p.lastCommitAt < total.lastCommitAt))
      total.lastCommitAt = p.lastCommitAt;
    if (r.failure === null && (p.phase === 'snapshot' || p.phase === 'starting')) snapshot = true;
    if (r.failure === null && p.phase !== 'stopped') running = true;
  }
  total.phase = snapshot ? 'snapshot' : running ? 'changes' : 'stopped';
  return total;
}

/** `20 (3 snapshot, 1 stopped)`. */
function tableSummary(runs: TableRun[]): string {
  let snapshot = 0;
  let stopped = 0;
  for (const r of runs) {
    if (r.failure !== null) stopped++;
    else if (r.run === null || r.run.progress.phase === 'snapshot' || r.run.progress.phase === 'starting') snapshot++;
  }
  const parts = [snapshot > 0 ? `${snapshot} in snapshot` : '', stopped > 0 ? `${stopped} stopped` : ''].filter(Boolean);
  return `${runs.length}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

const NOT_STARTED = initialProgress();
