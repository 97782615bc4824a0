/**
 * Exasol error replies → refstream {@link ConnectorError}s.
 *
 * Exasol reports `{"status":"error","exception":{"text","sqlCode"}}` with a five-character
 * SQL state. The mapping decides what the runner does: retry (connection trouble,
 * transaction collisions, timeouts, transport failures) or stop (syntax, privileges, unknown
 * objects, authentication).
 */
import { ConnectorError, definite, transient } from '../../sdk/errors.js';

/** The `exception` object of an Exasol error reply. */
export interface ExasolException {
  text: string;
  sqlCode: string;
}

/** An Exasol error reply, kept on `ConnectorError.cause`. */
export class ExasolServerError extends Error {
  constructor(
    readonly sqlCode: string,
    text: string,
  ) {
    super(text);
    this.name = 'ExasolServerError';
  }
}

const UNKNOWN_OBJECT = /object .* not found|table .* not found|column .* not found|does not exist|not found|unknown/i;
const PRIVILEGE = /insufficient privileges|privilege|permission denied/i;

/** Maps an Exasol exception to a ConnectorError (secrets are redacted by ConnectorError). */
export function mapExasolException(exception: ExasolException, context: { table?: string; what: string }): ConnectorError {
  const code = String(exception.sqlCode ?? '00000');
  const text = String(exception.text ?? 'unknown error');
  const cause = new ExasolServerError(code, text);
  const options = { cause, ...(context.table !== undefined ? { table: context.table } : {}) };
  const message = `${context.what} failed: [${code}] ${text}`;
  if (code === '08004' || /authentication failed/i.test(text)) {
    return definite('AUTHENTICATION_FAILED', message, { ...options, hint: 'check the user name and password of the Exasol connection' });
  }
  if (code === '40001' || /GlobalTransactionRollback|transaction collision/i.test(text)) {
    return transient('SERIALIZATION_CONFLICT', message, { ...options, hint: 'a concurrent transaction collided; the runner retries' });
  }
  if (code === 'R0001') return transient('TIMEOUT', message, { ...options, hint: 'raise queryTimeout or reduce the work of one poll' });
  if (code === 'R0003') return transient('QUERY_ABORTED', message, options);
  if (code.startsWith('08') || code === '57P01') return transient('CONNECTION_LOST', message, options);
  if (code === '42636' || /^ETL-/.test(text)) {
    return transient('TRANSPORT_FAILED', message, { ...options, hint: 'an HTTP-transport tunnel failed; the runner retries' });
  }
  if (code === '42000' || code === '42500') {
    if (PRIVILEGE.test(text))
      return definite('PERMISSION_DENIED', message, { ...options, hint: 'grant SELECT on the table (see docs/connectors/exasol.md)' });
    if (UNKNOWN_OBJECT.test(text))
      return definite('TABLE_NOT_FOUND', message, {
        ...options,
        hint: 'check schema, table and column names (quoted names are case-sensitive)',
      });
    return definite('QUERY_FAILED', message, options);
  }
  return definite('QUERY_FAILED', message, options);
}

/** The transient error of a lost WebSocket or tunnel connection. */
export function connectionLost(what: string, cause?: unknown, table?: string): ConnectorError {
  return transient('CONNECTION_LOST', `connection to Exasol lost: ${what}`, {
    ...(cause !== undefined ? { cause } : {}),
    ...(table !== undefined ? { table } : {}),
    hint: 'the runner reconnects and restores the last committed checkpoint',
  });
}
