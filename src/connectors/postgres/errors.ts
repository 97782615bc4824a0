/**
 * Turns `pg` and socket errors into ConnectorErrors: SQLSTATE classes decide transient
 * (connection loss, shutdown, restart) versus definite (privileges, missing objects).
 */
import { ConnectorError, definite, transient } from '../../sdk/errors.js';

interface PgErrorLike {
  code?: string;
  message?: string;
  routine?: string;
}

/** Node's TLS verification failures (certificate chain, expiry, host name). */
const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const TLS_HINT =
  "give the server's CA certificate as ssl: { ca } (or sslrootcert=… in the URL); sslmode=no-verify or ssl: { rejectUnauthorized: false } encrypts without checking who answers";

/** Advice when the server has no free replication slot. */
export const SLOTS_HINT =
  'the server has no free replication slot: refstream needs one per synced table plus one more while a snapshot starts; raise max_replication_slots (needs a restart) or drop unused slots (SELECT slot_name, active FROM pg_replication_slots)';

const NETWORK_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTCONN', 'EAI_AGAIN']);

/** Maps an error from a `pg` call to a ConnectorError for `table`. */
export function mapPgError(error: unknown, table: string, context: string): ConnectorError {
  if (ConnectorError.is(error)) return error;
  const e = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as PgErrorLike;
  const code = e.code ?? '';
  const message = `${context}: ${e.message ?? String(error)}`;
  const opts = { table, cause: error };
  if (code === 'ECONNREFUSED') return transient('CONNECTION_REFUSED', message, opts);
  if (TLS_CODES.has(code) || code.startsWith('ERR_SSL_')) return definite('TLS_FAILED', message, { ...opts, hint: TLS_HINT });
  if (/server does not support SSL/i.test(e.message ?? '')) {
    return definite('TLS_FAILED', message, {
      ...opts,
      hint: 'the server has ssl = off: enable TLS on the server, or connect without ssl / sslmode',
    });
  }
  if (code === '28000' && /no encryption/i.test(e.message ?? '')) {
    return definite('AUTHENTICATION_FAILED', message, {
      ...opts,
      hint: 'the server accepts only TLS connections here: set ssl: true (or ssl: { ca }) or add sslmode=verify-full to the connection URL',
    });
  }
  // pg's connectionTimeoutMillis: the host did not answer in time
  if (/^timeout expired$/i.test(e.message ?? ''))
    return transient('TIMEOUT', message, {
      ...opts,
      hint: 'the server did not answer in time: check that the host is reachable (firewall, DNS)',
    });
  if (
    NETWORK_CODES.has(code) ||
    /Connection terminated|connection timeout|Client has encountered a connection error|not queryable/i.test(e.message ?? '')
  ) {
    return transient('CONNECTION_LOST', message, opts);
  }
  if (code === '57P01' || code === '57P02' || code === '57P03') return transient('SERVER_SHUTDOWN', message, opts);
  if (code.startsWith('08')) return transient('CONNECTION_LOST', message, opts);
  if (code === '53300') return transient('CONNECTION_REFUSED', message, opts);
  // "all replication slots are in use": waiting does not free one, so retrying only pins WAL
  if (code === '53400') return definite('CONFIG_INVALID', message, { ...opts, hint: SLOTS_HINT });
  if (code === '40001' || code === '40P01') return transient('SERIALIZATION_CONFLICT', message, opts);
  if (code === '57014' || code === '55P03') return transient('TIMEOUT', message, opts);
  if (code === '28P01' || code === '28000') {
    return definite('AUTHENTICATION_FAILED', message, {
      ...opts,
      hint: 'check user and password, and pg_hba.conf (replication connections need a "replication" entry)',
    });
  }
  if (code === '42501' && /row-level security/i.test(e.message ?? '')) {
    return definite('PERMISSION_DENIED', message, {
      ...opts,
      hint: `row-level security would hide rows of ${table} from the snapshot: ALTER ROLE <user> BYPASSRLS; or sync as the table owner (without FORCE ROW LEVEL SECURITY)`,
    });
  }
  if (code === '42501') {
    return definite('PERMISSION_DENIED', message, {
      ...opts,
      hint: `GRANT SELECT ON ${table} TO <user>; ALTER ROLE <user> WITH REPLICATION;`,
    });
  }
  if (code === '55006' && /replication slot/i.test(e.message ?? '')) {
    return transient('SLOT_IN_USE', message, {
      ...opts,
      hint: 'another reader is streaming from this slot; stop it or use another slot name',
    });
  }
  if (/can no longer get changes from replication slot|has been invalidated|This slot has been invalidated/i.test(e.message ?? '')) {
    return definite('SLOT_INVALIDATED', message, {
      ...opts,
      hint: 'the slot lost required WAL (max_slot_wal_keep_size); drop it and delete the checkpoint to take a new snapshot',
    });
  }
  if (/replication slot .* does not exist/i.test(e.message ?? '')) {
    return definite('SLOT_MISSING', message, {
      ...opts,
      hint: 'the replication slot was dropped; delete the checkpoint to take a new snapshot',
    });
  }
  if (/publication .* does not exist/i.test(e.message ?? '')) {
    return definite('PUBLICATION_MISSING', message, {
      ...opts,
      hint: 'recreate the publication (CREATE PUBLICATION … FOR TABLE …) and delete the checkpoint',
    });
  }
  if (code === '42P01') return definite('TABLE_NOT_FOUND', message, opts);
  return definite('QUERY_FAILED', message, opts);
}
