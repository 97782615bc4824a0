/**
 * Exasol's error replies: `{"status":"error","exception":{"text","sqlCode"}}` with five-character
 * SQL codes, and the mapping of PostgreSQL errors onto them.
 */

/** An error the server reports to the client as an Exasol exception. */
export class ExasolError extends Error {
  constructor(
    readonly text: string,
    readonly sqlCode: string,
  ) {
    super(text);
  }

  toException(): { text: string; sqlCode: string } {
    return { text: this.text, sqlCode: this.sqlCode };
  }
}

/** SQL codes the server uses. */
export const SqlCode = {
  syntax: '42000',
  authentication: '08004',
  rollback: '40001',
  timeout: 'R0001',
  aborted: 'R0003',
  constraint: '27001',
  etl: '42636',
  general: '00000',
} as const;

export const authenticationFailed = () => new ExasolError('Connection exception - authentication failed.', SqlCode.authentication);

/** Maps a PostgreSQL error (from `pg`) to the closest Exasol exception. */
export function fromPostgresError(error: unknown, reason?: 'timeout' | 'abort'): ExasolError {
  if (error instanceof ExasolError) return error;
  const pgError = error as { code?: string; message?: string; position?: string; table?: string; constraint?: string };
  const message = pgError.message ?? String(error);
  const where = pgError.position ? ` [line 1, column ${pgError.position}]` : '';
  switch (pgError.code) {
    case '57014':
      return reason === 'timeout'
        ? new ExasolError('Query terminated because timeout has been reached.', SqlCode.timeout)
        : new ExasolError('Statement aborted. Execution of SQL statement aborted by user request.', SqlCode.aborted);
    case '42601':
      return new ExasolError(`syntax error: ${message}${where}`, SqlCode.syntax);
    case '42P01':
    case '42703':
    case '3F000':
    case '42883':
      return new ExasolError(`object not found: ${message}${where}`, SqlCode.syntax);
    case '23505':
      return new ExasolError(
        `constraint violation - primary key (${pgError.constraint ?? 'unknown'} on table ${pgError.table ?? 'unknown'})`,
        SqlCode.constraint,
      );
    case '23502':
      return new ExasolError(`constraint violation - not null (${message})`, SqlCode.constraint);
    case '40001':
    case '40P01':
      return new ExasolError(
        `GlobalTransactionRollback msg: Transaction collision: automatic transaction rollback. (${message})`,
        SqlCode.rollback,
      );
    default:
      return new ExasolError(message, SqlCode.syntax);
  }
}
