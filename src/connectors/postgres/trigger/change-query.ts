/**
 * The queries that find and read change rows. A reader delivers transactions in epochs: an
 * epoch is every transaction visible in a new snapshot `S` and not in the snapshot `P` up to
 * which everything was delivered — the transactions that ended between the two. A transaction
 * still running at `S` is in no epoch yet, however long ago it began or small its id is; it
 * belongs to the epoch of the first snapshot that sees it ended.
 *
 * Within an epoch, transactions come in the order of their last change row's sequence number,
 * each transaction's rows in sequence order (see docs/connectors/postgres-trigger-capture.md
 * for why this order keeps every key's changes in commit order).
 */
import { quoteIdent, quoteLiteral } from '../identifiers.js';
import type { TriggerObjects } from './objects.js';
import type { PgSnapshot } from './pg-snapshot.js';

function changesOf(objects: TriggerObjects): string {
  return `${quoteIdent(objects.schema)}.${quoteIdent(objects.changes)}`;
}

function snapshotLiteral(s: PgSnapshot): string {
  return `${quoteLiteral(s.text)}::pg_snapshot`;
}

/** Rows of transactions that ended after `delivered` (and before the statement's own snapshot). */
function newerThan(delivered: PgSnapshot): string {
  return `xid >= ${quoteLiteral(delivered.xmin.toString())}::xid8 AND NOT pg_visible_in_snapshot(xid, ${snapshotLiteral(delivered)})`;
}

/**
 * One row: the statement's snapshot (`s`), and whether any change row of a transaction that
 * ended after `delivered` and by `s` exists (`pending`). Both come from the same snapshot, so
 * when `pending` is false everything `s` shows is delivered. When `pending`, `s` is recorded as
 * consumer `$1`'s next epoch in the same statement (so a restart reads the same epochs again).
 */
export function nextEpochSql(objects: TriggerObjects, delivered: PgSnapshot): string {
  const epochs = `${quoteIdent(objects.schema)}.${quoteIdent(objects.epochs)}`;
  // with a new epoch, the table's columns as the catalog has them after every transaction in
  // it: a rename or a same-oid type change (which no row image shows) is followed before its rows
  return `WITH now AS (SELECT pg_current_snapshot() AS s, EXISTS (SELECT 1 FROM ${changesOf(objects)} WHERE ${newerThan(delivered)}) AS pending),
     recorded AS (INSERT INTO ${epochs} (consumer, snapshot) SELECT $1, s FROM now WHERE pending RETURNING 1)
SELECT s::text AS s, pending, (SELECT count(*) FROM recorded)::int AS recorded,
       CASE WHEN pending THEN (SELECT string_agg(attname || ' ' || atttypid::text || ' ' || atttypmod::text, ',' ORDER BY attnum)
                                 FROM pg_attribute WHERE attrelid = $2::oid AND attnum > 0 AND NOT attisdropped) END AS columns
  FROM now`;
}

/**
 * The epoch's rows as COPY binary, in delivery order, after the row `after` (`[last, seq]`):
 * `op` ("char"), `seq` (int8), `last` (int8, the transaction's last seq), `image` (bytea).
 */
export function epochCopySql(objects: TriggerObjects, delivered: PgSnapshot, epoch: PgSnapshot, after: [bigint, bigint] | null): string {
  const changes = changesOf(objects);
  const resume = after === null ? '' : ` WHERE (t.last, c.seq) > (${after[0].toString()}, ${after[1].toString()})`;
  return `COPY (SELECT c.op, c.seq, t.last, c.image
    FROM ${changes} c
    JOIN (SELECT xid, max(seq) AS last FROM ${changes}
           WHERE ${newerThan(delivered)} AND pg_visible_in_snapshot(xid, ${snapshotLiteral(epoch)})
           GROUP BY xid) t ON t.xid = c.xid${resume}
   ORDER BY t.last, c.seq) TO STDOUT (FORMAT binary)`;
}
