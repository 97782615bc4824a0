/**
 * Warnings of sources: things a user should know that do not stop the run (an old checkpoint
 * without identity, a timeline switch, …).
 */

/** A warning a source reports through its `onWarning` option. */
export interface SourceWarning {
  /** Stable SCREAMING_SNAKE code, e.g. `CHECKPOINT_UNIDENTIFIED`. */
  readonly code: string;
  /** One line for humans; never contains secrets. */
  readonly message: string;
  /** Qualified table name the warning concerns. */
  readonly table: string;
}

/** Receives a source's warnings. */
export type WarningHandler = (warning: SourceWarning) => void;

/**
 * Delivers `warning` to `handler`, or, without one, as a Node process warning (printed on
 * stderr by default, observable with `process.on('warning')`).
 */
export function reportWarning(handler: WarningHandler | undefined, warning: SourceWarning): void {
  if (handler) {
    handler(warning);
    return;
  }
  process.emitWarning(`${warning.table}: ${warning.message}`, { code: warning.code, type: 'RefstreamWarning' });
}
