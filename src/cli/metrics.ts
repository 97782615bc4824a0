/**
 * A Prometheus text-format endpoint (`--metrics-port`): rows, batches, commits, retries,
 * errors by code, sink faults, snapshot state, stopped tables and checkpoint age, per table.
 */
import { createServer, type Server } from 'node:http';
import type { SyncProgress } from '../sdk/sync.js';
import type { Leadership } from '../sdk/leadership.js';

/** The counters of one table of a run (a run of several tables has one per table). */
export class TableMetrics {
  readonly errors = new Map<string, number>();
  sinkFaults = 0;
  /** The code of the definite error that stopped the table, if one did. */
  stoppedBy: string | null = null;
  /** Schema changes followed, and re-seeds (warnings SCHEMA_CHANGED and TABLE_RESEEDED). */
  schemaChanges = 0;

  constructor(
    readonly table: string,
    readonly progress: () => SyncProgress,
  ) {}

  countError(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }
}

export class Metrics {
  private server: Server | null = null;
  private readonly tables: TableMetrics[];
  /** High availability (`--ha`): this replica's leadership, rendered as `refstream_ha_*`. */
  leadership: Leadership | null = null;

  /** One table (`table`, `progress`), or every table of a capture (`tables`). */
  constructor(table: string | TableMetrics[], progress?: () => SyncProgress) {
    this.tables = typeof table === 'string' ? [new TableMetrics(table, progress!)] : table;
  }

  /** The first (or only) table's counters. */
  private get first(): TableMetrics {
    return this.tables[0]!;
  }

  get errors(): Map<string, number> {
    return this.first.errors;
  }

  get sinkFaults(): number {
    return this.first.sinkFaults;
  }

  set sinkFaults(n: number) {
    this.first.sinkFaults = n;
  }

  countError(code: string): void {
    this.first.countError(code);
  }

  /** Counts a warning of the first (or only) table: schema changes are counted. */
  countWarning(code: string): void {
    if (code === 'SCHEMA_CHANGED' || code === 'TABLE_RESEEDED') this.first.schemaChanges++;
  }

  /** The metrics in Prometheus text exposition format. */
  render(): string {
    const rows = this.tables.map((m) => ({ m, p: m.progress(), t: `table="${m.table.replace(/["\\\n]/g, '_')}"` }));
    const metric = (name: string, help: string, type: string, lines: string[]) => [
      `# HELP ${name} ${help}`,
      `# TYPE ${name} ${type}`,
      ...lines,
    ];
    return [
      ...metric(
        'refstream_rows_total',
        'Rows delivered to the sinks.',
        'counter',
        rows.flatMap(({ p, t }) => [
          `refstream_rows_total{${t},kind="snapshot"} ${p.snapshotRows}`,
          `refstream_rows_total{${t},kind="changes"} ${p.changeRows}`,
        ]),
      ),
      ...metric(
        'refstream_batches_total',
        'Batches delivered.',
        'counter',
        rows.map(({ p, t }) => `refstream_batches_total{${t}} ${p.batches}`),
      ),
      ...metric(
        'refstream_commits_total',
        'Checkpoints saved and committed.',
        'counter',
        rows.map(({ p, t }) => `refstream_commits_total{${t}} ${p.commits}`),
      ),
      ...metric(
        'refstream_retries_total',
        'Reconnects after transient errors.',
        'counter',
        rows.map(({ p, t }) => `refstream_retries_total{${t}} ${p.retries}`),
      ),
      ...metric(
        'refstream_errors_total',
        'Errors by code.',
        'counter',
        rows.flatMap(({ m, t }) => [...m.errors].map(([code, n]) => `refstream_errors_total{${t},code="${code}"} ${n}`)),
      ),
      ...metric(
        'refstream_sink_faults_total',
        'Sinks detached after a failure.',
        'counter',
        rows.map(({ m, t }) => `refstream_sink_faults_total{${t}} ${m.sinkFaults}`),
      ),
      ...metric(
        'refstream_snapshot_complete',
        '1 once the snapshot is complete.',
        'gauge',
        rows.map(({ p, t }) => `refstream_snapshot_complete{${t}} ${p.phase === 'changes' || p.phase === 'stopped' ? 1 : 0}`),
      ),
      ...metric(
        'refstream_schema_changes_total',
        'Schema changes followed in the stream, re-seeds included.',
        'counter',
        rows.map(({ m, t }) => `refstream_schema_changes_total{${t}} ${m.schemaChanges}`),
      ),
      ...metric(
        'refstream_table_stopped',
        '1 once a definite error stopped the table (code: the error).',
        'gauge',
        rows.map(({ m, t }) => `refstream_table_stopped{${t},code="${m.stoppedBy ?? ''}"} ${m.stoppedBy === null ? 0 : 1}`),
      ),
      ...metric(
        'refstream_last_commit_age_seconds',
        'Seconds since the last committed checkpoint (lag bound).',
        'gauge',
        rows.map(
          ({ p, t }) =>
            `refstream_last_commit_age_seconds{${t}} ${p.lastCommitAt === null ? 'NaN' : ((Date.now() - p.lastCommitAt) / 1000).toFixed(3)}`,
        ),
      ),
      ...this.renderLeadership(metric),
      '',
    ].join('\n');
  }

  /** `refstream_ha_*`: whether this replica leads, its epoch, the lease's age, renewals and terms won. */
  private renderLeadership(metric: (name: string, help: string, type: string, lines: string[]) => string[]): string[] {
    const leadership = this.leadership;
    if (!leadership) return [];
    const s = leadership.status;
    const labels = `group="${s.group.replace(/["\\\n]/g, '_')}",replica="${s.replicaId.replace(/["\\\n]/g, '_')}"`;
    return [
      ...metric('refstream_ha_leader', '1 while this replica holds the lease and syncs, 0 while it waits as a standby.', 'gauge', [
        `refstream_ha_leader{${labels}} ${s.role === 'leader' ? 1 : 0}`,
      ]),
      ...metric('refstream_ha_epoch', "The lease's epoch: this replica's while it leads, else the last one it saw.", 'gauge', [
        `refstream_ha_epoch{${labels}} ${s.epoch ?? 'NaN'}`,
      ]),
      ...metric('refstream_ha_lease_age_seconds', 'Seconds since the lease was last renewed.', 'gauge', [
        `refstream_ha_lease_age_seconds{${labels}} ${s.leaseAgeMs === null ? 'NaN' : (s.leaseAgeMs / 1000).toFixed(3)}`,
      ]),
      ...metric('refstream_ha_lease_renewals_total', 'Lease renewals by this replica.', 'counter', [
        `refstream_ha_lease_renewals_total{${labels}} ${s.renewals}`,
      ]),
      ...metric('refstream_ha_terms_total', 'Times this replica became the leader.', 'counter', [
        `refstream_ha_terms_total{${labels}} ${s.terms}`,
      ]),
    ];
  }

  /** Serves `/metrics` on 127.0.0.1:`port` (0 picks a free port); resolves to the bound port. */
  listen(port: number, host = '127.0.0.1'): Promise<number> {
    this.server = createServer((req, res) => {
      if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(this.render());
      } else {
        res.writeHead(404).end('see /metrics\n');
      }
    });
    return new Promise((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => {
        const address = this.server!.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
