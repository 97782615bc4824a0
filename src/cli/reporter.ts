/**
 * Progress output: a live status line on a terminal, structured JSON lines otherwise.
 * Everything goes to stderr, so stdout stays free for `arrow:-` / `jsonl:-` sinks.
 */
import type { ConnectorError } from '../sdk/errors.js';
import type { SyncProgress } from '../sdk/sync.js';

export type LogFormat = 'pretty' | 'json';

export interface ReporterOptions {
  format: LogFormat;
  stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Expected snapshot rows (pg_class.reltuples) for the ETA, when known. */
  expectedRows?: () => number | undefined;
  /** Extra status fields (e.g. the demo's change lag and WAL retained). */
  extra?: () => Record<string, string | number | undefined>;
}

export class Reporter {
  private timer: NodeJS.Timeout | null = null;
  private lastRows = 0;
  private lastAt = Date.now();
  private rate = 0;
  private lineShown = false;

  constructor(private readonly options: ReporterOptions) {}

  get format(): LogFormat {
    return this.options.format;
  }

  /** Starts periodic status output for `progress`. */
  start(progress: () => SyncProgress, everyMs = this.options.format === 'pretty' ? 250 : 5000): void {
    this.timer = setInterval(() => this.status(progress()), everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.lineShown) this.options.stream.write('\n');
    this.lineShown = false;
  }

  /** A one-off event (commit, retry, sink fault, snapshot complete, …). */
  event(name: string, fields: Record<string, unknown> = {}): void {
    if (this.options.format === 'json') {
      this.options.stream.write(JSON.stringify({ time: new Date().toISOString(), level: levelOf(name), event: name, ...fields }) + '\n');
      return;
    }
    if (name === 'commit' || name === 'batch') return; // shown in the status line
    this.clearLine();
    const detail = Object.entries(fields)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    this.options.stream.write(`${name}${detail ? ` ${detail}` : ''}\n`);
  }

  /** Reports a ConnectorError with its code and fix hint. */
  error(error: ConnectorError): void {
    this.stop();
    if (this.options.format === 'pretty') {
      const where = error.table ? ` (${error.table})` : '';
      this.options.stream.write(`error ${error.code}${where}: ${error.message}\n${error.hint ? `  fix: ${error.hint}\n` : ''}`);
      return;
    }
    this.event('error', {
      code: error.code,
      kind: error.kind,
      message: error.message,
      ...(error.hint ? { hint: error.hint } : {}),
      ...(error.table ? { table: error.table } : {}),
    });
  }

  /** Reports the error that stopped one table of several; the others go on, so the status line does too. */
  tableError(table: string, error: ConnectorError): void {
    if (this.options.format === 'pretty') {
      this.clearLine();
      this.options.stream.write(`error ${error.code} (${table}): ${error.message}\n${error.hint ? `  fix: ${error.hint}\n` : ''}`);
      return;
    }
    this.event('error', {
      table,
      code: error.code,
      kind: error.kind,
      message: error.message,
      ...(error.hint ? { hint: error.hint } : {}),
    });
  }

  status(progress: SyncProgress): void {
    const rows = progress.snapshotRows + progress.changeRows;
    const now = Date.now();
    const seconds = (now - this.lastAt) / 1000;
    if (seconds > 0)
      this.rate = this.rate === 0 ? (rows - this.lastRows) / seconds : 0.7 * this.rate + 0.3 * ((rows - this.lastRows) / seconds);
    this.lastRows = rows;
    this.lastAt = now;
    const expected = this.options.expectedRows?.();
    const extra = this.options.extra?.() ?? {};
    if (this.options.format === 'json') {
      this.event('progress', {
        phase: progress.phase,
        snapshotRows: progress.snapshotRows,
        changeRows: progress.changeRows,
        commits: progress.commits,
        retries: progress.retries,
        rowsPerSecond: Math.round(this.rate),
        ...extra,
      });
      return;
    }
    const parts: string[] = [];
    if (progress.phase === 'standby') {
      parts.push('standby');
    } else if (progress.phase === 'snapshot' || progress.phase === 'starting') {
      const total = expected && expected > 0 ? expected : undefined;
      const pct = total ? Math.min(100, (100 * progress.snapshotRows) / total) : undefined;
      const eta = total && this.rate > 0 ? Math.max(0, (total - progress.snapshotRows) / this.rate) : undefined;
      parts.push(
        `snapshot ${bar(pct)} ${fmt(progress.snapshotRows)}${total ? `/${fmt(Math.round(total))}` : ''} rows  ${fmt(Math.round(this.rate))} rows/s${eta !== undefined ? `  ETA ${eta.toFixed(0)}s` : ''}`,
      );
    } else {
      parts.push(`snapshot ${fmt(progress.snapshotRows)} rows ✓`, `changes ${fmt(progress.changeRows)}`);
    }
    parts.push(`commits ${progress.commits}`);
    if (progress.retries) parts.push(`retries ${progress.retries}`);
    for (const [k, v] of Object.entries(extra)) if (v !== undefined) parts.push(`${k} ${v}`);
    if (progress.detachedSinks.length) parts.push(`detached ${progress.detachedSinks.join(',')}`);
    const width = this.options.stream.columns ?? 120;
    const line = parts.join(' │ ').slice(0, Math.max(20, width - 1));
    this.options.stream.write(`\r\x1b[K${line}`);
    this.lineShown = true;
  }

  private clearLine(): void {
    if (this.lineShown) this.options.stream.write('\r\x1b[K');
    this.lineShown = false;
  }
}

function levelOf(event: string): string {
  return event === 'error' ? 'error' : event === 'retry' || event === 'sink-fault' || event === 'warning' ? 'warn' : 'info';
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function bar(pct: number | undefined): string {
  if (pct === undefined) return '';
  const width = 20;
  const full = Math.round((pct / 100) * width);
  return `[${'█'.repeat(full)}${'░'.repeat(width - full)}] ${pct.toFixed(0).padStart(3)}%`;
}

/** `auto` → pretty on a terminal, JSON otherwise. */
export function resolveLogFormat(format: 'auto' | LogFormat, stream: { isTTY?: boolean }): LogFormat {
  return format === 'auto' ? (stream.isTTY ? 'pretty' : 'json') : format;
}
