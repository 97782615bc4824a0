/**
 * Typed connector errors.
 *
 * Every failure a source, sink or the runner reports is a {@link ConnectorError} with a
 * `kind` that tells the runner what to do (retry or stop) and a stable `code` that users
 * and tests switch on. Messages are for humans and may change; codes do not.
 */

/** Stable error codes. Transient ones are retried by the runner; definite ones stop the table. */
export const ERROR_CODES = {
  // lifecycle
  INVALID_STATE: 'definite',
  CLOSED: 'definite',
  BUSY: 'definite',
  // configuration and input
  CONFIG_INVALID: 'definite',
  CHECKPOINT_INVALID: 'definite',
  CHECKPOINT_EXPIRED: 'definite',
  /** The checkpoint was taken on another server, database, table, slot or topic. */
  CHECKPOINT_MISMATCH: 'definite',
  UNSUPPORTED_TYPE: 'definite',
  VALUE_OUT_OF_RANGE: 'definite',
  IDENTIFIER_INVALID: 'definite',
  // upstream state
  TABLE_NOT_FOUND: 'definite',
  TABLE_DROPPED: 'definite',
  TABLE_TRUNCATED: 'definite',
  NO_PRIMARY_KEY: 'definite',
  PUBLICATION_MISSING: 'definite',
  SLOT_MISSING: 'definite',
  SLOT_INVALIDATED: 'definite',
  SLOT_IN_USE: 'transient',
  SCHEMA_INCOMPATIBLE: 'definite',
  MISSING_TOAST: 'definite',
  REPLICA_IDENTITY_NOT_FULL: 'definite',
  PERMISSION_DENIED: 'definite',
  AUTHENTICATION_FAILED: 'definite',
  TLS_FAILED: 'definite',
  WAL_LEVEL: 'definite',
  SERVER_VERSION: 'definite',
  QUERY_FAILED: 'definite',
  // network and server availability
  CONNECTION_LOST: 'transient',
  CONNECTION_REFUSED: 'transient',
  SERVER_SHUTDOWN: 'transient',
  TIMEOUT: 'transient',
  SERIALIZATION_CONFLICT: 'transient',
  // sinks and runner
  SINK_FAILED: 'definite',
  SINK_STATE_MISMATCH: 'definite',
  SINK_STATE_MISSING: 'definite',
  ALL_SINKS_FAILED: 'definite',
  RETRIES_EXHAUSTED: 'definite',
  /** High availability: a newer epoch holds the group's lease; the replica stands by. */
  LEASE_LOST: 'transient',
  INTERNAL: 'definite',
} as const satisfies Record<string, ErrorKind>;

/** `transient`: the runner reconnects and restores; `definite`: retrying cannot help. */
export type ErrorKind = 'transient' | 'definite';

/** One of the stable codes in {@link ERROR_CODES}; connectors may add their own SCREAMING_SNAKE codes. */
export type ErrorCode = keyof typeof ERROR_CODES | (string & {});

const BRAND = Symbol.for('refstream.ConnectorError');

/** Options accepted by the {@link ConnectorError} constructor. */
export interface ConnectorErrorOptions {
  /** Defaults to the kind registered for `code` in {@link ERROR_CODES}, else `definite`. */
  kind?: ErrorKind;
  /** Qualified table name the error concerns. */
  table?: string;
  /** The underlying error. It is kept for debugging; its message is not repeated in ours. */
  cause?: unknown;
  /** A one-line fix hint shown by the runner and the CLI. */
  hint?: string;
}

/**
 * The error type of every refstream component.
 *
 * `ConnectorError.is(e)` recognises instances created by any copy of this module
 * (two installed versions, ESM and CJS builds), so never use `instanceof`.
 */
export class ConnectorError extends Error {
  readonly kind: ErrorKind;
  readonly code: ErrorCode;
  readonly table?: string;
  readonly hint?: string;
  declare readonly cause?: unknown;

  constructor(code: ErrorCode, message: string, options: ConnectorErrorOptions = {}) {
    super(redactSecrets(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ConnectorError';
    this.code = code;
    this.kind = options.kind ?? (ERROR_CODES as Record<string, ErrorKind>)[code] ?? 'definite';
    if (options.table !== undefined) this.table = options.table;
    if (options.hint !== undefined) this.hint = redactSecrets(options.hint);
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** True for a ConnectorError from any copy of refstream, optionally with the given code. */
  static is(value: unknown, code?: ErrorCode): value is ConnectorError {
    if (typeof value !== 'object' || value === null) return false;
    if ((value as Record<symbol, unknown>)[BRAND] !== true) return false;
    return code === undefined || (value as ConnectorError).code === code;
  }

  /** True when the runner should reconnect and restore rather than stop. */
  static isTransient(value: unknown): boolean {
    return ConnectorError.is(value) && value.kind === 'transient';
  }

  /** A plain object for logs and reports (no stack, secrets already redacted). */
  toJSON(): { name: string; kind: ErrorKind; code: ErrorCode; message: string; table?: string; hint?: string } {
    return {
      name: this.name,
      kind: this.kind,
      code: this.code,
      message: this.message,
      ...(this.table !== undefined ? { table: this.table } : {}),
      ...(this.hint !== undefined ? { hint: this.hint } : {}),
    };
  }
}

/** Shorthand for a definite error. */
export function definite(code: ErrorCode, message: string, options: Omit<ConnectorErrorOptions, 'kind'> = {}): ConnectorError {
  return new ConnectorError(code, message, { ...options, kind: 'definite' });
}

/** Shorthand for a transient error. */
export function transient(code: ErrorCode, message: string, options: Omit<ConnectorErrorOptions, 'kind'> = {}): ConnectorError {
  return new ConnectorError(code, message, { ...options, kind: 'transient' });
}

/** The `AbortError` a poll rejects with when its signal fires (a DOMException, as fetch does). */
export function abortError(signal?: AbortSignal): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return new DOMException('The operation was aborted', 'AbortError');
}

/** True for the `AbortError` of an aborted poll (from any realm). */
export function isAbortError(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { name?: unknown }).name === 'AbortError';
}

/** Throws the poll's `AbortError` when the signal has already fired. */
export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw abortError(signal);
}

/**
 * `scheme://` and everything up to the last `@` before the next white space: a password may hold
 * unencoded `@ # / ? :`, so only the last `@` reliably ends it (this can hide a little more than
 * the credentials, never less).
 */
const URL_USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/)((?:[^\s@]*@)+)/gi;
const KEY_VALUE_SECRET = /\b(password|passwd|pwd|secret|token|sasl\.password|api[_-]?key)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)/gi;

/**
 * Removes credentials from free text: `scheme://user:pass@` becomes `scheme://user:***@` (also
 * with an empty user, and with `@ # / ? :` in the password) and `password=...` style pairs are
 * masked. Applied to every ConnectorError message and hint.
 */
export function redactSecrets(text: string): string {
  return text.replace(URL_USERINFO, redactUserinfo).replace(KEY_VALUE_SECRET, '$1$2***');
}

function redactUserinfo(match: string, scheme: string, userinfo: string): string {
  const colon = userinfo.indexOf(':');
  // `scheme://user@host`: no password to hide
  if (colon < 0) return match;
  return `${scheme}${userinfo.slice(0, colon)}:***@`;
}

/** Wraps an unknown thrown value as a ConnectorError, keeping ConnectorErrors and AbortErrors as they are. */
export function toConnectorError(error: unknown, fallbackCode: ErrorCode = 'INTERNAL', table?: string): ConnectorError {
  if (ConnectorError.is(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ConnectorError(fallbackCode, message, { cause: error, ...(table !== undefined ? { table } : {}) });
}
