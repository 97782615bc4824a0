import { redactSecrets } from '../sdk/errors.js';

/** Process exit codes of the `refstream` command (documented in docs/cli.md). */
export const EXIT = {
  ok: 0,
  /** A check or verification failed (e.g. conformance MUST check). */
  failed: 1,
  /** Bad flags, config or URL. */
  badUsage: 2,
  /** A definite source error stopped the run. */
  sourceError: 3,
  /** A sink failed and no sink remained. */
  sinkError: 4,
  /** Unexpected internal error. */
  internal: 70,
} as const;

/** An error the CLI reports as one line with an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.badUsage,
  ) {
    super(redactSecrets(message));
  }
}

/** The first line of a message (Node's parseArgs errors carry multi-line advice). */
export function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/\.$/, '');
}
