/**
 * Privilege errors of trigger capture: what a reader needs is not what logical replication
 * needs (no REPLICATION; instead rights on the capture objects), so the hint names those.
 */
import { ConnectorError, definite } from '../../../sdk/errors.js';
import { quoteIdent } from '../identifiers.js';
import type { TriggerObjects } from './objects.js';

/** The GRANTs a reader role needs on the table and the capture objects. */
export function readerGrants(table: string, objects: TriggerObjects | null): string {
  const s = objects?.schema ?? 'refstream';
  const name = (n: string | undefined, fallback: string) => `${quoteIdent(s)}.${n ? quoteIdent(n) : fallback}`;
  return [
    `GRANT SELECT ON ${table} TO <user>;`,
    `GRANT USAGE ON SCHEMA ${quoteIdent(s)} TO <user>;`,
    `GRANT SELECT, DELETE ON ${name(objects?.changes, '<changes table>')} TO <user>;`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ${name(objects?.consumers, '<consumers table>')}, ${name(objects?.epochs, '<epochs table>')} TO <user>;`,
    '(the table owner, who installed the triggers, has all of these)',
  ].join(' ');
}

/** A privilege error with the grants trigger capture needs as its hint; other errors unchanged. */
export function withReaderHint(error: unknown, table: string, objects: TriggerObjects | null): unknown {
  if (!ConnectorError.is(error, 'PERMISSION_DENIED') || /row-level security|install trigger capture/.test(error.message)) return error;
  return definite('PERMISSION_DENIED', error.message, { table, cause: error.cause ?? error, hint: readerGrants(table, objects) });
}
