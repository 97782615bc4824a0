/**
 * What `refstream sync` of one table and of several tables (capture-sync.ts) share: exit codes
 * of the errors that stop a run, and the usage errors of a start.
 */
import { ConnectorError } from '../sdk/errors.js';
import { CliError, EXIT } from './errors.js';
import type { SyncConfig } from './config.js';

/** What `refstream sync`'s flags and config file ask for. */
export interface ParsedArgs {
  config: SyncConfig;
  /** The config file that was read (named by --config, or found in the working directory). */
  configFile: string | null;
  /** `--checkpoint` or `checkpoint` in the config file was given. */
  checkpointGiven: boolean;
  resnapshotOnInvalidSlot: boolean;
}

/** Maps a ConnectorError that stopped a run to the CLI exit code. */
export function exitCodeOf(error: ConnectorError): number {
  if (error.code === 'CONFIG_INVALID' || error.code === 'CHECKPOINT_INVALID' || error.code === 'CHECKPOINT_MISMATCH') return EXIT.badUsage;
  if (error.code === 'ALL_SINKS_FAILED' || error.code === 'SINK_FAILED' || error.code === 'PRODUCER_FENCED') return EXIT.sinkError;
  return EXIT.sourceError;
}

/** A bad sink or checkpoint-store option (CONFIG_INVALID from a constructor) is a usage error, not an internal one. */
export function asCliError(error: unknown): unknown {
  if (ConnectorError.is(error)) return new CliError(`${error.message}${error.hint ? ` — ${error.hint}` : ''}`, exitCodeOf(error));
  return error;
}

export function metricsListenError(port: number, error: unknown): CliError {
  const code = (error as NodeJS.ErrnoException).code;
  const why =
    code === 'EADDRINUSE'
      ? 'the port is in use'
      : code === 'EACCES'
        ? 'no permission to listen on it'
        : `cannot listen (${code ?? (error as Error).message})`;
  return new CliError(`--metrics-port ${port}: ${why} on 127.0.0.1; choose another port (nothing was started)`, EXIT.badUsage);
}
