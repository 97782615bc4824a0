/**
 * The SQL connection of the operator commands (`status`, `drop`): one short-lived `pg` client
 * on the `--source` URL. Connection failures become one-line CLI errors without the password.
 */
import { ConnectorError } from '../sdk/errors.js';
import type { Queryable } from '../connectors/postgres/index.js';
import { CliError, EXIT } from './errors.js';

/** Runs `work` on a connection to `url` and closes it afterwards. */
export async function withPostgres<T>(
  flag: string,
  url: string,
  applicationName: string,
  work: (client: Queryable) => Promise<T>,
): Promise<T> {
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new CliError(`${flag}: expected a postgres:// URL, e.g. postgres://user:password@host:5432/db`, EXIT.badUsage);
  }
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, application_name: applicationName, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {}); // a dropped connection surfaces as the failing query's error
  try {
    await client.connect();
  } catch (error) {
    const { mapPgError } = await import('../connectors/postgres/index.js');
    const failure = mapPgError(error, '', 'connecting');
    throw new CliError(`${failure.message}${failure.hint ? ` — ${failure.hint}` : ''}`, EXIT.sourceError);
  }
  try {
    return await work(client);
  } catch (error) {
    if (ConnectorError.is(error))
      throw new CliError(`${error.code}: ${error.message}${error.hint ? ` — ${error.hint}` : ''}`, EXIT.sourceError);
    throw error;
  } finally {
    await client.end().catch(() => {});
  }
}
