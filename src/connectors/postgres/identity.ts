/**
 * Reads the identity of the connected source (server, timeline, database, table oid) that
 * every checkpoint records, so a checkpoint is never applied to another server or table.
 */
import type pg from 'pg';
import type { ResolvedConfig } from './config.js';
import type { SourceIdentity } from './checkpoint.js';
import { mapPgError } from './errors.js';
import type { ReplicationConnection } from './replication-stream.js';

/**
 * `system_identifier` comes from `pg_control_system()`; where the role may not call it, from
 * IDENTIFY_SYSTEM on a replication connection (stream mode only: a one-shot snapshot needs no
 * replication privilege, and then records `null`). The oid is read as text: oids are unsigned
 * 32-bit and do not fit `int4`.
 */
export async function readIdentity(
  sql: pg.Client,
  config: ResolvedConfig,
  table: string,
  connectReplication: (() => Promise<ReplicationConnection>) | null,
): Promise<SourceIdentity> {
  let row: { db: string; oid: string | null };
  try {
    ({
      rows: [row],
    } = (await sql.query<{ db: string; oid: string | null }>(
      `SELECT current_database() AS db,
              (SELECT c.oid::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = $1 AND c.relname = $2) AS oid`,
      [config.tableName.schema, config.tableName.name],
    )) as unknown as { rows: [{ db: string; oid: string | null }] });
  } catch (error) {
    throw mapPgError(error, table, 'reading the source identity');
  }
  let system: string | null = null;
  let timeline: number | null = null;
  try {
    const { rows } = await sql.query<{ system: string; timeline: number }>(
      'SELECT s.system_identifier::text AS system, c.timeline_id::int AS timeline FROM pg_control_system() s, pg_control_checkpoint() c',
    );
    system = rows[0]!.system;
    timeline = rows[0]!.timeline;
  } catch (error) {
    if ((error as { code?: string }).code !== '42501') throw mapPgError(error, table, 'reading the source identity');
    if (connectReplication !== null) {
      const conn = await connectReplication();
      try {
        const [ident] = await conn.query<{ systemid: string; timeline: string }>('IDENTIFY_SYSTEM');
        system = String(ident!.systemid);
        timeline = Number(ident!.timeline);
      } catch (inner) {
        throw mapPgError(inner, table, 'identifying the server');
      } finally {
        await conn.close();
      }
    }
  }
  return {
    system,
    timeline,
    database: row.db,
    tableOid: row.oid ?? '0',
    publication: config.mode === 'snapshot-only' ? null : config.publicationName,
  };
}
