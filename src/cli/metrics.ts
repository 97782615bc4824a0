/**
 * A Prometheus text-format endpoint (`--metrics-port`): rows, batches, commits, retries,
 * errors by code, sink faults, snapshot state and checkpoint age.
 */
import { createServer, type Server } from 'node:http';
import type { SyncProgress } from '../sdk/sync.js';

export class Metrics {
  readonly errors = new Map<string, number>();
  sinkFaults = 0;
  private server: Server | null = null;

  constructor(
    private readonly table: string,
    private readonly progress: () => SyncProgress,
  ) {}

  countError(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  /** The metrics in Prometheus text exposition format. */
  render(): string {
    const p = this.progress();
    const t = `table="${this.table.replace(/["\\\n]/g, '_')}"`;
    const lines = [
      '# HELP refstream_rows_total Rows delivered to the sinks.',
      '# TYPE refstream_rows_total counter',
      `refstream_rows_total{${t},kind="snapshot"} ${p.snapshotRows}`,
      `refstream_rows_total{${t},kind="changes"} ${p.changeRows}`,
      '# HELP refstream_batches_total Batches delivered.',
      '# TYPE refstream_batches_total counter',
      `refstream_batches_total{${t}} ${p.batches}`,
      '# HELP refstream_commits_total Checkpoints saved and committed.',
      '# TYPE refstream_commits_total counter',
      `refstream_commits_total{${t}} ${p.commits}`,
      '# HELP refstream_retries_total Reconnects after transient errors.',
      '# TYPE refstream_retries_total counter',
      `refstream_retries_total{${t}} ${p.retries}`,
      '# HELP refstream_errors_total Errors by code.',
      '# TYPE refstream_errors_total counter',
      ...[...this.errors].map(([code, n]) => `refstream_errors_total{${t},code="${code}"} ${n}`),
      '# HELP refstream_sink_faults_total Sinks detached after a failure.',
      '# TYPE refstream_sink_faults_total counter',
      `refstream_sink_faults_total{${t}} ${this.sinkFaults}`,
      '# HELP refstream_snapshot_complete 1 once the snapshot is complete.',
      '# TYPE refstream_snapshot_complete gauge',
      `refstream_snapshot_complete{${t}} ${p.phase === 'changes' || p.phase === 'stopped' ? 1 : 0}`,
      '# HELP refstream_last_commit_age_seconds Seconds since the last committed checkpoint (lag bound).',
      '# TYPE refstream_last_commit_age_seconds gauge',
      `refstream_last_commit_age_seconds{${t}} ${p.lastCommitAt === null ? 'NaN' : ((Date.now() - p.lastCommitAt) / 1000).toFixed(3)}`,
      '',
    ];
    return lines.join('\n');
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
