/**
 * Where an Exasol checkpoint belongs: the configured hosts, the database the login reported,
 * schema, table and the table's object id. Every checkpoint records it, and a checkpoint of
 * another source is refused before it is applied.
 */
import * as z from '../../sdk/zod.js';
import { assertSameSource, warnUnidentified } from '../../sdk/source-identity.js';
import type { WarningHandler } from '../../sdk/warnings.js';
import { tableObjectId } from './catalog.js';
import { connectionTargets, type ResolvedSourceConfig } from './config.js';
import type { ExasolConnection } from './connection.js';

/** The identity recorded in every checkpoint. No user name, password or fingerprint. */
export const identitySchema = z.strictObject({
  /** The configured nodes as `host:port` (DSN ranges expanded), lower-case. */
  hosts: z.array(z.string().check(z.minLength(1))).check(z.minLength(1)),
  /** `databaseName` of the login reply. */
  database: z.string(),
  /** `releaseVersion` of the login reply; shown in messages, not compared (an upgrade keeps checkpoints). */
  release: z.string(),
  schema: z.string().check(z.minLength(1)),
  table: z.string().check(z.minLength(1)),
  /** `EXA_ALL_OBJECTS.OBJECT_ID` (a re-created table gets a new one); null when the catalog has none. */
  objectId: z.nullable(z.string().check(z.regex(/^\d+$/))),
});

/** See {@link identitySchema}. */
export type ExasolIdentity = z.output<typeof identitySchema>;

/** Reads the identity of the connected source. */
export async function readIdentity(
  connection: ExasolConnection,
  config: ResolvedSourceConfig,
  signal?: AbortSignal,
): Promise<ExasolIdentity> {
  const hosts = connectionTargets(config).hosts.map((h) => `${h.host.toLowerCase()}:${h.port}`);
  return {
    hosts,
    database: connection.session.databaseName,
    release: connection.session.releaseVersion,
    schema: config.schema,
    table: config.table,
    objectId: await tableObjectId(connection, config.schema, config.table, signal),
  };
}

/** One line naming the source, for messages. */
export function describeIdentity(identity: ExasolIdentity): string {
  const objectId = identity.objectId === null ? '' : ` (object id ${identity.objectId})`;
  const release = identity.release === '' ? '' : ` (Exasol ${identity.release})`;
  return `hosts ${identity.hosts.join(',')}, database ${identity.database || '(unnamed)'}${release}, table ${identity.schema}.${identity.table}${objectId}`;
}

/**
 * Fails with definite `CHECKPOINT_MISMATCH` unless the checkpoint was taken on the connected
 * source: host lists that share no host, another database name, schema, table or table
 * object id. Host lists that overlap count as the same cluster (a node added or removed).
 * A checkpoint without identity (older refstream) is accepted; `warn` reports it as
 * `CHECKPOINT_UNIDENTIFIED`, which callers ask for only where the checkpoint resumes something.
 */
export function checkIdentity(
  recorded: ExasolIdentity | undefined,
  connected: ExasolIdentity,
  table: string,
  options: { warn: boolean; onWarning: WarningHandler | undefined },
): void {
  if (recorded === undefined) {
    if (options.warn) warnUnidentified(options.onWarning, table, describeIdentity(connected));
    return;
  }
  assertSameSource(
    table,
    [
      { name: 'host list', recorded: recorded.hosts.join(','), connected: connected.hosts.join(','), same: overlap },
      { name: 'database', recorded: recorded.database, connected: connected.database },
      { name: 'schema', recorded: recorded.schema, connected: connected.schema },
      { name: 'table', recorded: recorded.table, connected: connected.table },
      { name: 'table object id', recorded: recorded.objectId, connected: connected.objectId },
    ],
    { checkpoint: describeIdentity(recorded), connected: describeIdentity(connected) },
  );
}

function overlap(a: string, b: string): boolean {
  const mine = new Set(a.split(','));
  return b.split(',').some((host) => mine.has(host));
}
