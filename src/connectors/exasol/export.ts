/**
 * Parallel EXPORT into this process: one HTTP-transport tunnel per cluster node, one
 * `AT … FILE …` per tunnel in a single EXPORT statement, each node pushing its share of the
 * CSV concurrently. Bytes go straight to a per-tunnel consumer (a CSV → Arrow reader).
 */
import { ConnectorError } from '../../sdk/errors.js';
import type { ExasolConnection } from './connection.js';
import { receiveUpload, type UploadReceiver } from './http-exchange.js';
import { quoteString } from './sql.js';
import { openTunnel, type Tunnel } from './tunnel.js';

/** Consumes one tunnel's CSV. `push` returns false to pause the upload until `resume`. */
export interface ExportConsumer {
  push(chunk: Buffer): boolean;
  /** All bytes arrived. */
  end(): void;
}

/** Options of {@link runParallelExport}. */
export interface ParallelExportOptions {
  /** The query whose rows are exported (without trailing semicolon). */
  query: string;
  /** Node addresses to open tunnels on. */
  nodes: readonly { host: string; port: number }[];
  /** TLS tunnels with `PUBLIC KEY` pinning. */
  tls: boolean;
  /** One consumer per tunnel. */
  consumer(index: number): ExportConsumer;
  signal?: AbortSignal | undefined;
  table?: string | undefined;
}

/** A running export: `resume()` un-pauses consumers, `done` resolves with the exported row count. */
export interface RunningExport {
  resume(): void;
  readonly done: Promise<number>;
  /** Stops the export (abortQuery + tunnels closed). */
  cancel(): void;
}

/** Builds the EXPORT statement for the given tunnels. */
export function exportStatement(query: string, tunnels: readonly Pick<Tunnel, 'url' | 'publicKeyPin'>[]): string {
  const targets = tunnels
    .map(
      (t, i) =>
        `AT ${quoteString(t.url)}${t.publicKeyPin ? ` PUBLIC KEY ${quoteString(t.publicKeyPin)}` : ''} FILE '${String(i).padStart(3, '0')}.csv'`,
    )
    .join('\n');
  // wrapped on own lines so a trailing `--` comment in the query cannot swallow the parenthesis
  return `EXPORT (\n${query}\n) INTO CSV\n${targets}\nENCODING = 'UTF8' ROW SEPARATOR = 'LF' COLUMN SEPARATOR = ',' COLUMN DELIMITER = '"' DELIMIT = AUTO REPLACE`;
}

/** Opens the tunnels, starts the EXPORT and streams every file into its consumer. */
export async function runParallelExport(connection: ExasolConnection, options: ParallelExportOptions): Promise<RunningExport> {
  const tunnels: Tunnel[] = [];
  try {
    for (const t of await Promise.all(options.nodes.map((n) => openTunnel(n.host, n.port, { tls: options.tls, signal: options.signal }))))
      tunnels.push(t);
  } catch (error) {
    for (const t of tunnels) t.destroy();
    throw error;
  }
  const consumers = tunnels.map((_, i) => options.consumer(i));
  const receivers: UploadReceiver[] = tunnels.map((t, i) =>
    receiveUpload(t.stream, (chunk) => consumers[i]!.push(chunk), `EXPORT file ${i}`),
  );
  const cancel = new AbortController();
  const onOuterAbort = () => cancel.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const statement = connection.execute(exportStatement(options.query, tunnels), { signal: cancel.signal, table: options.table });
  statement.catch(() => undefined);
  const done = (async () => {
    try {
      const uploads = Promise.all(receivers.map((r, i) => r.done.then(() => consumers[i]!.end())));
      // a failed tunnel must abort the statement, or Exasol waits for it until its own timeout
      const first = await Promise.race([statement.then(() => 'statement' as const), uploads.then(() => 'uploads' as const)]);
      if (first === 'uploads') {
        const result = await statement;
        return result.resultType === 'rowCount' ? result.rowCount : 0;
      }
      await uploads;
      const result = await statement;
      return result.resultType === 'rowCount' ? result.rowCount : 0;
    } catch (error) {
      if (!cancel.signal.aborted) cancel.abort();
      await statement.catch(() => undefined);
      throw preferStatementError(
        error,
        await statement.then(
          () => undefined,
          (e: unknown) => e,
        ),
      );
    } finally {
      options.signal?.removeEventListener('abort', onOuterAbort);
      for (const t of tunnels) t.destroy();
    }
  })();
  done.catch(() => undefined);
  return {
    done,
    resume: () => receivers.forEach((r) => r.resume()),
    cancel: () => {
      cancel.abort();
      for (const t of tunnels) t.destroy();
    },
  };
}

/** The statement's error explains more than "tunnel closed" (unless it is just our own abort). */
function preferStatementError(error: unknown, statementError: unknown): unknown {
  if (ConnectorError.is(statementError) && statementError.code !== 'QUERY_ABORTED') return statementError;
  return error;
}
