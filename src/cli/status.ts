/**
 * `refstream status`: refstream's replication slots, publications and trigger captures on one
 * PostgreSQL server, as a table for people or as JSON for scripts (field names documented in
 * docs/operations.md).
 */
import type { PublicationStatus, ServerStatus, SlotStatus, TriggerCaptureStatus } from '../connectors/postgres/index.js';
import type { StopNote } from '../sdk/checkpoint-store.js';
import type { Command, CommandContext } from './command.js';
import { CliError, EXIT } from './errors.js';
import { parseFlags } from './flags.js';

/** The checkpoint given with `--checkpoint`, set beside the slot it belongs to. */
export interface CheckpointBeside {
  store: string;
  table: string;
  phase: 'snapshot' | 'changes';
  slot: string | null;
  /** Position the next run resumes from (the snapshot's LSN during a snapshot), if any. */
  lsn: string | null;
  /** How far the checkpoint is behind the slot's confirmed_flush_lsn (negative: ahead). */
  behindConfirmedBytes?: number;
  /** The last schema change the stream followed (or re-seed): its position and what changed. */
  schemaChange?: { at: string; what: string };
  /** Trigger capture: the consumer, and the snapshot up to which its changes are delivered. */
  consumer?: string;
  delivered?: string;
  /** High availability: the lease epoch the checkpoint was saved under. */
  epoch?: number;
}

/** A high-availability group's lease (`--checkpoint postgres://…`: the leases beside the checkpoints). */
export interface LeaseReport {
  group: string;
  /** The replica holding the lease (or that held it last, when it expired or was released). */
  leader: string | null;
  epoch: number;
  /** `held` while the leader renews it; `expired` or `released` when no replica holds it now. */
  state: 'held' | 'expired';
  /** Seconds since the leader last renewed the lease. */
  leaseAgeSeconds: number;
  /** Seconds until it expires (negative: expired that long ago). */
  expiresInSeconds: number;
  /** When the current leader took it (ISO 8601). */
  since: string;
}

/** One table of a capture, as its checkpoint records it. */
export interface CaptureTableReport {
  table: string;
  /** The checkpoint store read (password masked). */
  checkpoint: string;
  /** `null` when the store holds no checkpoint for the table (its snapshot has not committed yet). */
  phase: 'snapshot' | 'changes' | null;
  /** Where the table resumes (the snapshot's LSN during its snapshot). */
  lsn: string | null;
  /** How far the server's WAL is ahead of the table's position. */
  lagBytes: number | null;
  /** The definite error that stopped the table after its last commit, if one did. */
  stopped: StopNote | null;
  /** The last schema change the stream followed (or re-seed), if any. */
  schemaChange: { at: string; what: string } | null;
}

/** A capture of many tables: its slot, its publication and every table's position. */
export interface CaptureReport {
  slot: string;
  publication: string;
  tables: CaptureTableReport[];
}

/** The document `refstream status --json` prints. */
export interface StatusReport extends ServerStatus {
  /** Trigger captures in the database (of `--table` only, when given). */
  triggerCaptures: TriggerCaptureStatus[];
  /** `null` when `--checkpoint` was not given or the store holds none. */
  checkpoint: CheckpointBeside | null;
  /** The captures of many tables found (their tables read from the publication, positions from the checkpoints). */
  captures: CaptureReport[];
  /** High availability: every group's lease in the postgres:// checkpoint store given (else empty). */
  leases: LeaseReport[];
}

interface StatusArgs {
  source: string;
  table?: string;
  slots: string[];
  publications: string[];
  checkpoint?: string;
  json: boolean;
}

function parseStatusArgs(args: string[]): StatusArgs {
  const values = parseFlags('status', args, {
    source: { type: 'string' },
    table: { type: 'string' },
    slot: { type: 'string', multiple: true },
    publication: { type: 'string', multiple: true },
    checkpoint: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (!values.source)
    throw new CliError('--source is required: a postgres:// URL of the server to look at (see refstream status --help)', EXIT.badUsage);
  return {
    source: values.source,
    ...(values.table !== undefined ? { table: values.table } : {}),
    slots: values.slot ?? [],
    publications: values.publication ?? [],
    ...(values.checkpoint !== undefined ? { checkpoint: values.checkpoint } : {}),
    json: values.json === true,
  };
}

async function runStatus(args: string[], context: CommandContext): Promise<number> {
  const options = parseStatusArgs(args);
  const { defaultNames, readServerStatus, readTriggerStatus } = await import('../connectors/postgres/index.js');
  const { parseQualifiedName } = await import('../connectors/postgres/index.js');
  const { withPostgres } = await import('./postgres-admin.js');
  let filter: { slots: string[]; publications: string[]; only: boolean } = {
    slots: options.slots,
    publications: options.publications,
    only: false,
  };
  if (options.table !== undefined) {
    const table = parseQualifiedName(options.table);
    if (!table) throw new CliError('--table: must be "table" or "schema.table" (double quotes around parts with dots)', EXIT.badUsage);
    const names = defaultNames(table);
    filter = {
      slots: options.slots.length ? options.slots : [names.slot],
      publications: options.publications.length ? options.publications : [names.publication],
      only: true,
    };
  }
  const checkpoint = options.checkpoint !== undefined ? await loadCheckpoint(options.checkpoint, options.table, options.source) : null;
  const table = options.table !== undefined ? parseQualifiedName(options.table) : undefined;
  const [server, triggerCaptures] = await withPostgres('--source', options.source, 'refstream status', async (client) => [
    await readServerStatus(client, checkpoint?.slot ? { ...filter, slots: [...filter.slots, checkpoint.slot] } : filter),
    await readTriggerStatus(client, table),
  ]);
  const report: StatusReport = {
    ...server,
    triggerCaptures,
    checkpoint: checkpoint ? await beside(checkpoint, server.slots) : null,
    captures: await captureReports(server, options),
    leases: options.checkpoint !== undefined ? await leaseReports(options.checkpoint) : [],
  };
  context.stdout.write(options.json ? JSON.stringify(report, null, 2) + '\n' : renderStatus(report));
  return EXIT.ok;
}

async function loadCheckpoint(spec: string, table: string | undefined, source: string): Promise<CheckpointBeside | null> {
  const { createCheckpointStore } = await import('./endpoints.js');
  const store = await createCheckpointStore(spec, table ?? '', source);
  try {
    const stored = await store.load();
    if (!stored) return null;
    const cp = stored.checkpoint;
    const position = (cp.position ?? {}) as Record<string, unknown>;
    const lsn = typeof position.lsn === 'string' ? position.lsn : typeof position.snapshotLsn === 'string' ? position.snapshotLsn : null;
    const change = schemaChangeOf(position);
    const trigger =
      position.capture === 'trigger'
        ? {
            consumer: String(position.consumer),
            ...(typeof position.delivered === 'string' ? { delivered: position.delivered } : {}),
          }
        : {};
    const { redactSecrets } = await import('../sdk/errors.js');
    return {
      store: redactSecrets(spec),
      table: cp.table,
      phase: cp.phase,
      slot: typeof position.slot === 'string' ? position.slot : null,
      lsn,
      ...(change ? { schemaChange: change } : {}),
      ...trigger,
      ...(stored.epoch !== undefined ? { epoch: stored.epoch } : {}),
    };
  } catch (error) {
    const { ConnectorError } = await import('../sdk/errors.js');
    if (ConnectorError.is(error))
      throw new CliError(`--checkpoint: ${error.message}${error.hint ? ` — ${error.hint}` : ''}`, EXIT.badUsage);
    throw error;
  } finally {
    await store.close?.().catch(() => {});
  }
}

/** The default checkpoint of a capture's table (as `refstream sync` of several tables writes it). */
const CAPTURE_CHECKPOINT = '.refstream/{schema}.{table}.checkpoint.json';

/**
 * Every capture's tables with their positions: from `--checkpoint` when it names a store per
 * table (`{table}` in a path, or a postgres:// or kafka:// store), else from the default files.
 */
async function captureReports(server: ServerStatus, options: StatusArgs): Promise<CaptureReport[]> {
  const captures = server.publications.filter((p) => p.capture !== null);
  if (captures.length === 0) return [];
  const { parseQualifiedName, parseLsn, displayName } = await import('../connectors/postgres/index.js');
  const { createCheckpointStore } = await import('./endpoints.js');
  const { expandTemplate, hasPlaceholder } = await import('./table-templates.js');
  const { redactSecrets } = await import('../sdk/errors.js');
  const given = options.checkpoint;
  const template =
    given !== undefined && (hasPlaceholder(given) || /^(postgres|postgresql|kafka|kafkas):\/\//i.test(given)) ? given : CAPTURE_CHECKPOINT;
  const reports: CaptureReport[] = [];
  for (const pub of captures) {
    const tables: CaptureTableReport[] = [];
    for (const text of pub.tables) {
      const name = parseQualifiedName(text);
      if (!name) continue;
      const table = displayName(name);
      const spec = expandTemplate(template, { schema: name.schema, name: name.name });
      const row: CaptureTableReport = {
        table,
        checkpoint: redactSecrets(spec),
        phase: null,
        lsn: null,
        lagBytes: null,
        stopped: null,
        schemaChange: null,
      };
      const store = await createCheckpointStore(spec, table, options.source);
      try {
        const stored = await store.load();
        if (stored) {
          const position = (stored.checkpoint.position ?? {}) as Record<string, unknown>;
          row.phase = stored.checkpoint.phase;
          row.lsn =
            typeof position.lsn === 'string' ? position.lsn : typeof position.snapshotLsn === 'string' ? position.snapshotLsn : null;
          if (row.lsn !== null) row.lagBytes = Math.max(0, Number(parseLsn(server.currentLsn) - parseLsn(row.lsn)));
          row.stopped = stored.stopped ?? null;
          row.schemaChange = schemaChangeOf(position);
        }
      } catch (error) {
        row.stopped = { code: 'CHECKPOINT_UNREADABLE', message: (error as Error).message, at: new Date().toISOString() };
      } finally {
        await store.close?.().catch(() => {});
      }
      tables.push(row);
    }
    reports.push({ slot: pub.capture!, publication: pub.publication, tables });
  }
  return reports;
}

/** The leases beside a postgres:// checkpoint store (none when it keeps none). */
async function leaseReports(spec: string): Promise<LeaseReport[]> {
  if (!/^postgres(ql)?:\/\//i.test(spec)) return [];
  const { PostgresCheckpointStore } = await import('../connectors/postgres/index.js');
  const url = new URL(spec);
  const table = decodeURIComponent(url.hash.replace(/^#/, '')) || undefined;
  url.hash = '';
  const leases = new PostgresCheckpointStore({ connectionString: url.toString(), id: 'status', ...(table ? { table } : {}) }).leaseStore();
  try {
    if (!(await leases.exists())) return [];
    return (await leases.list()).map((l) => ({
      group: l.group,
      leader: l.holder,
      epoch: l.epoch,
      state: l.expiresInMs > 0 ? 'held' : 'expired',
      leaseAgeSeconds: l.renewedAgoMs / 1000,
      expiresInSeconds: l.expiresInMs / 1000,
      since: l.acquiredAt,
    }));
  } catch (error) {
    const { ConnectorError } = await import('../sdk/errors.js');
    if (ConnectorError.is(error)) throw new CliError(`--checkpoint: reading the leases: ${error.message}`, EXIT.sourceError);
    throw error;
  } finally {
    await leases.close();
  }
}

/** The last schema change a Postgres checkpoint records, if any. */
function schemaChangeOf(position: Record<string, unknown>): { at: string; what: string } | null {
  const change = position.schemaChange as { at?: unknown; what?: unknown } | undefined;
  return change && typeof change.at === 'string' && typeof change.what === 'string' ? { at: change.at, what: change.what } : null;
}

async function beside(checkpoint: CheckpointBeside, slots: SlotStatus[]): Promise<CheckpointBeside> {
  const slot = slots.find((s) => s.slot === checkpoint.slot);
  if (!slot?.confirmedFlushLsn || !checkpoint.lsn) return checkpoint;
  const { parseLsn } = await import('../connectors/postgres/index.js');
  return { ...checkpoint, behindConfirmedBytes: Number(parseLsn(slot.confirmedFlushLsn) - parseLsn(checkpoint.lsn)) };
}

/** The human form: one table of slots, one of publications, and what needs attention. */
export function renderStatus(report: StatusReport): string {
  const lines: string[] = [
    `server ${report.database} (PostgreSQL ${Math.floor(report.serverVersion / 10000)}), current WAL ${report.currentLsn}`,
    '',
  ];
  if (report.slots.length === 0) lines.push('no refstream replication slots');
  else {
    const rows = report.slots.map((s) => [
      s.slot,
      s.database,
      s.active ? `yes (pid ${s.activePid})` : 'no',
      s.walStatus ?? '-',
      bytes(s.retainedBytes),
      `${bytes(s.lagBytes)}${s.lagSeconds !== undefined ? ` / ${s.lagSeconds.toFixed(1)} s` : ''}`,
      s.confirmedFlushLsn ?? '-',
      report.checkpoint && report.checkpoint.slot === s.slot ? (report.checkpoint.lsn ?? report.checkpoint.phase) : '',
    ]);
    lines.push(...table(['SLOT', 'DATABASE', 'ACTIVE', 'WAL STATUS', 'RETAINED', 'LAG', 'CONFIRMED FLUSH', 'CHECKPOINT'], rows));
    for (const s of report.slots) {
      if (s.walStatus === 'lost' || s.invalidationReason) {
        lines.push(
          `! ${s.slot} is invalidated${s.invalidationReason ? ` (${s.invalidationReason})` : ''}: its changes are gone; run refstream drop for its table, delete the checkpoint and take a new snapshot`,
        );
      } else if (!s.active && (s.retainedBytes ?? 0) > 0) {
        lines.push(
          `- ${s.slot} is inactive and keeps ${bytes(s.retainedBytes)} of WAL; start its sync again, or remove it with refstream drop`,
        );
      }
    }
  }
  lines.push('');
  if (report.publications.length === 0) lines.push('no refstream publications');
  else
    lines.push(
      ...table(
        ['PUBLICATION', 'TABLES', 'CREATED BY REFSTREAM'],
        report.publications.map((p: PublicationStatus) => [
          p.publication,
          p.tables.join(', ') || '(none)',
          p.createdByRefstream ? 'yes' : 'no',
        ]),
      ),
    );
  for (const capture of report.captures) {
    lines.push('', `capture ${capture.slot} (publication ${capture.publication}): ${capture.tables.length} tables`);
    lines.push(
      ...table(
        ['TABLE', 'PHASE', 'POSITION', 'LAG', 'STOPPED BY', 'LAST SCHEMA CHANGE'],
        capture.tables.map((t) => [
          t.table,
          t.phase ?? 'no checkpoint',
          t.lsn ?? '-',
          bytes(t.lagBytes),
          t.stopped ? `${t.stopped.code} at ${t.stopped.at}: ${t.stopped.message.slice(0, 120)}` : '-',
          t.schemaChange ? `${t.schemaChange.what.slice(0, 120)} (at ${t.schemaChange.at})` : '-',
        ]),
      ),
    );
  }
  lines.push('', ...renderTriggerCaptures(report.triggerCaptures));
  if (report.leases.length > 0) {
    lines.push(
      '',
      ...table(
        ['HA GROUP', 'LEADER', 'EPOCH', 'LEASE', 'LEASE AGE', 'SINCE'],
        report.leases.map((l) => [
          l.group,
          l.leader ?? '-',
          String(l.epoch),
          l.state === 'held' ? `held (${l.expiresInSeconds.toFixed(1)} s left)` : `expired ${(-l.expiresInSeconds).toFixed(1)} s ago`,
          `${l.leaseAgeSeconds.toFixed(1)} s`,
          l.since,
        ]),
      ),
    );
    for (const l of report.leases)
      if (l.state === 'expired')
        lines.push(`- no replica of ${l.group} holds the lease: its replicas are stopped, or cannot reach the checkpoint store`);
  }
  if (report.checkpoint) {
    const c = report.checkpoint;
    lines.push(
      '',
      `checkpoint ${c.store}: ${c.table}, ${c.phase}${c.lsn ? ` at ${c.lsn}` : ''}${c.slot ? ` on slot ${c.slot}` : ''}${c.consumer ? ` of trigger capture consumer ${c.consumer}${c.delivered ? ` (delivered through snapshot ${c.delivered})` : ''}` : ''}${c.behindConfirmedBytes !== undefined ? ` (${c.behindConfirmedBytes >= 0 ? `${bytes(c.behindConfirmedBytes)} behind` : `${bytes(-c.behindConfirmedBytes)} ahead of`} the slot's confirmed flush)` : ''}`,
      ...(c.schemaChange ? [`last schema change at ${c.schemaChange.at}: ${c.schemaChange.what}`] : []),
      ...(c.epoch !== undefined ? [`saved under lease epoch ${c.epoch} (high availability)`] : []),
    );
  }
  lines.push('');
  return lines.join('\n');
}

/** Trigger captures: one row per captured table, one per consumer, and what needs attention. */
function renderTriggerCaptures(captures: TriggerCaptureStatus[]): string[] {
  if (captures.length === 0) return ['no refstream trigger captures'];
  const lines = table(
    ['TRIGGER CAPTURE', 'CHANGE TABLE', 'VERSION', 'ROWS', 'SIZE', 'NOTIFY', 'CONSUMER', 'ACTIVE', 'PENDING', 'LAST COMMIT'],
    captures.flatMap((t) => {
      const head = [
        t.table,
        `${t.schema}.${t.changeTable}`,
        String(t.version),
        String(t.changeRows),
        bytes(t.changeTableBytes),
        t.channel ?? 'off',
      ];
      if (t.consumers.length === 0) return [[...head, '(none)', '', '', '']];
      return t.consumers.map((c, i) => [
        ...(i === 0 ? head : head.map(() => '')),
        c.consumer,
        c.activePid !== null ? `yes (pid ${c.activePid})` : 'no',
        String(c.pendingRows),
        c.updatedAt,
      ]);
    }),
  );
  for (const t of captures) {
    if (t.problem)
      lines.push(
        `! ${t.table}: ${t.problem}; changes are not captured: run refstream install-triggers for it, then start its syncs over (delete their checkpoints)`,
      );
    for (const c of t.consumers) {
      if (c.activePid === null && c.pendingRows > 0)
        lines.push(
          `- consumer ${c.consumer} of ${t.table} is not running and keeps ${c.pendingRows} change rows; start its sync again, or remove it with refstream drop --table ${t.table} --consumer ${c.consumer}`,
        );
    }
  }
  return lines;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** Bytes in binary units (`12.3 MiB`); `-` when unknown. */
export function bytes(n: number | null): string {
  if (n === null) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export const statusCommand: Command = {
  name: 'status',
  synopsis:
    'status --source <postgres url> [--table <schema.table>] [--slot <name>] [--publication <name>] [--checkpoint <store>] [--json]',
  summary:
    "Show refstream's replication slots, publications and trigger captures on a PostgreSQL server: active or not, retained WAL, lag, wal_status, change rows waiting per consumer, the checkpoint's position; with a postgres:// checkpoint store, the high-availability leases beside it (leader, epoch, lease age).",
  options: [
    {
      flag: '--source <url>',
      description: 'the PostgreSQL server (postgres://user:password@host:5432/db; publications are read from this database)',
    },
    {
      flag: '--table <schema.table>',
      description: "only this table's slot and publication (default names, or --slot/--publication) and its trigger capture",
    },
    { flag: '--slot <name>', description: 'repeatable: also show this slot (refstream_* slots using pgoutput are always shown)' },
    { flag: '--publication <name>', description: 'repeatable: also show this publication' },
    {
      flag: '--checkpoint <store>',
      description:
        'a checkpoint store as for sync (file, postgres://…, kafka://…): show its position beside its slot; a postgres:// store also shows the leases of --ha replicas (leader, epoch, lease age)',
    },
    { flag: '--json', description: 'print one JSON document (fields documented in docs/operations.md)' },
  ],
  run: runStatus,
};
