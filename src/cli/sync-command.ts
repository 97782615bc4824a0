/**
 * `refstream sync` and `refstream snapshot`.
 */
import { parseArgs } from 'node:util';
import { ConnectorError, toConnectorError } from '../sdk/errors.js';
import type { Sink } from '../sdk/sink.js';
import { sync, type SyncRun } from '../sdk/sync.js';
import type { Command, CommandContext, CommandOption } from './command.js';
import { readConfigFile, validateSyncConfig, type SyncConfig } from './config.js';
import { createCheckpointStore, createSink, sourceFactory } from './endpoints.js';
import { CliError, EXIT, firstLine } from './errors.js';
import { Metrics } from './metrics.js';
import { Reporter, resolveLogFormat } from './reporter.js';

const SYNC_OPTIONS: CommandOption[] = [
  { flag: '--source <url>', description: 'source database: postgres://user:pass@host:5432/db, or exasol://user:pass@host:8563?mode=diff|watermark&watermark=COL&stateDir=DIR, or a topic written by a Kafka sink: kafka://host:port/topic (use ${VAR} in a config file for secrets)' },
  { flag: '--table <schema.table>', description: 'the table to sync (quote parts containing dots: "my.schema".t)' },
  { flag: '--sink <sink>', description: 'repeatable: arrow:<file|->, jsonl:<file|->, kafka://[user:password@]host:port[,host:port]/topic[?format=json|debezium|arrow&compression=gzip&sasl=…&tls=true&ca=<pem file>] (kafkas:// for TLS), postgres://…#schema.table, exasol://user:password@host:8563#SCHEMA.TABLE, memory' },
  { flag: '--checkpoint <store>', description: 'checkpoint store: a file path (default .refstream/<table>.checkpoint.json), postgres://…[#table] or a Kafka URL as for --sink (kafka://host:port/topic)' },
  { flag: '--config <file>', description: 'config file (default: refstream.config.json|yaml in the current directory); flags override it' },
  { flag: '--batch-rows <n>', description: 'maximum rows per batch' },
  { flag: '--commit-rows <n>', description: 'commit after this many rows (default 50000)' },
  { flag: '--commit-ms <n>', description: 'commit at least this often (default 1000)' },
  { flag: '--slot <name>', description: 'Postgres replication slot (default derived from the table)' },
  { flag: '--publication <name>', description: 'Postgres publication (default derived from the table)' },
  { flag: '--parallelism <n>', description: 'snapshot connections (ctid ranges, PG ≥ 14)' },
  { flag: '--unknown-types <error|text>', description: "Postgres column types without an Arrow mapping (time, inet, ranges, …): fail (default) or deliver PostgreSQL's text output" },
  { flag: '--duration <seconds>', description: 'stop (gracefully) after this many seconds' },
  { flag: '--log-format <auto|pretty|json>', description: 'progress on a terminal, JSON lines otherwise (default auto); always on stderr' },
  { flag: '--metrics-port <port>', description: 'serve Prometheus metrics on 127.0.0.1:<port>/metrics' },
];

function parseSyncArgs(args: string[], context: CommandContext): SyncConfig {
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      allowPositionals: false,
      options: {
        source: { type: 'string' },
        table: { type: 'string' },
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
        'log-format': { type: 'string' },
        'metrics-port': { type: 'string' },
      },
    }));
  } catch (error) {
    throw new CliError(`${firstLine((error as Error).message)} (see refstream sync --help)`, EXIT.badUsage);
  }
  const fromFile = readConfigFile(values.config as string | undefined, process.cwd(), context.env);
  const merged: Record<string, unknown> = { ...fromFile };
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
  set('table', values.table);
  set('sinks', values.sink);
  set('checkpoint', values.checkpoint);
  set('batchRows', int('batch-rows', values['batch-rows'] as string | undefined));
  const commitRows = int('commit-rows', values['commit-rows'] as string | undefined);
  const commitMs = int('commit-ms', values['commit-ms'] as string | undefined);
  if (commitRows !== undefined || commitMs !== undefined) {
    merged.commitEvery = { ...(merged.commitEvery as object), ...(commitRows !== undefined ? { rows: commitRows } : {}), ...(commitMs !== undefined ? { ms: commitMs } : {}) };
  }
  set('slot', values.slot);
  set('publication', values.publication);
  set('snapshotParallelism', int('parallelism', values.parallelism as string | undefined));
  set('unknownTypes', values['unknown-types']);
  set('durationSeconds', int('duration', values.duration as string | undefined));
  set('logFormat', values['log-format']);
  set('metricsPort', int('metrics-port', values['metrics-port'] as string | undefined));
  return validateSyncConfig(merged);
}

/** Maps a ConnectorError that stopped a run to the CLI exit code. */
export function exitCodeOf(error: ConnectorError): number {
  if (error.code === 'CONFIG_INVALID' || error.code === 'CHECKPOINT_INVALID') return EXIT.badUsage;
  if (error.code === 'ALL_SINKS_FAILED' || error.code === 'SINK_FAILED') return EXIT.sinkError;
  return EXIT.sourceError;
}

async function runSync(mode: 'sync' | 'snapshot', args: string[], context: CommandContext): Promise<number> {
  const config = parseSyncArgs(args, context);
  const reporter = new Reporter({ format: resolveLogFormat(config.logFormat, context.stderr as { isTTY?: boolean }), stream: context.stderr });
  let factory;
  try {
    factory = await sourceFactory(config.source, {
      table: config.table,
      ...(config.batchRows !== undefined ? { batchRows: config.batchRows } : {}),
      ...(config.slot !== undefined ? { slot: config.slot } : {}),
      ...(config.publication !== undefined ? { publication: config.publication } : {}),
      ...(config.snapshotParallelism !== undefined ? { snapshotParallelism: config.snapshotParallelism } : {}),
      ...(config.unknownTypes !== undefined ? { unknownTypes: config.unknownTypes } : {}),
    });
  } catch (error) {
    if (ConnectorError.is(error)) throw new CliError(`${error.message}${error.hint ? ` — ${error.hint}` : ''}`, exitCodeOf(error));
    throw error;
  }
  const sinks: Sink[] = [];
  for (const spec of config.sinks) sinks.push(await createSink(spec));
  const checkpoints = await createCheckpointStore(config.checkpoint ?? `.refstream/${config.table.replace(/[^A-Za-z0-9._-]/g, '_')}.checkpoint.json`, config.table);

  const run: SyncRun = sync({
    source: factory,
    sinks,
    checkpoints,
    ...(config.commitEvery ? { commitEvery: config.commitEvery } : {}),
    stopAfterSnapshot: mode === 'snapshot',
    handleSignals: true,
  });
  const metrics = new Metrics(config.table, () => run.progress);
  if (config.metricsPort !== undefined) {
    const port = await metrics.listen(config.metricsPort);
    reporter.event('metrics', { url: `http://127.0.0.1:${port}/metrics` });
  }
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
  reporter.event('start', { mode, table: config.table, sinks: sinks.map((s) => s.name) });
  reporter.start(() => run.progress);
  try {
    const result = await run.done;
    reporter.stop();
    reporter.event('stopped', { by: result.stoppedBy, snapshotRows: result.snapshotRows, changeRows: result.changeRows, commits: result.commits });
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
    await checkpoints.close?.().catch(() => {});
  }
}

export const syncCommand: Command = {
  name: 'sync',
  synopsis: 'sync --source <url> --table <schema.table> --sink <sink> [--sink …] [--checkpoint <store>] [options]',
  summary: 'Snapshot the table, then stream its changes into the sinks until stopped (Ctrl-C commits and exits 0), resuming from the checkpoint.',
  options: SYNC_OPTIONS,
  run: (args, context) => runSync('sync', args, context),
};

export const snapshotCommand: Command = {
  name: 'snapshot',
  synopsis: 'snapshot --source <url> --table <schema.table> --sink <sink> [--sink …] [options]',
  summary: 'Write a consistent snapshot of the table into the sinks and exit once it is complete and committed.',
  options: SYNC_OPTIONS,
  run: (args, context) => runSync('snapshot', args, context),
};
