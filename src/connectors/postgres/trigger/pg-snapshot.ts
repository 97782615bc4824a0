/**
 * PostgreSQL snapshots (`pg_current_snapshot()` text, `xmin:xmax:xip,…`) as values: which
 * transaction ids they show as committed, whether one shows everything another does, and the
 * key that orders the change epochs read at successive snapshots.
 *
 * A transaction is visible in a snapshot when it had ended before the snapshot was taken:
 * `xid < xmin`, or `xid < xmax` and not in the in-progress list `xip`. This is the rule of
 * `pg_visible_in_snapshot`; an aborted transaction counts as visible (its rows are dead).
 */

/** A parsed `pg_snapshot`. */
export interface PgSnapshot {
  readonly xmin: bigint;
  readonly xmax: bigint;
  /** Transactions in progress when the snapshot was taken, ascending. */
  readonly xip: readonly bigint[];
  /** The text form, as PostgreSQL prints it (and parses it back). */
  readonly text: string;
}

/** The text form of a `pg_snapshot`. */
export const PG_SNAPSHOT_TEXT = /^(\d+):(\d+):((?:\d+(?:,\d+)*)?)$/;

/** Parses `pg_current_snapshot()::text`. Throws a `RangeError` for anything else. */
export function parsePgSnapshot(text: string): PgSnapshot {
  const m = PG_SNAPSHOT_TEXT.exec(text);
  if (!m) throw new RangeError(`not a pg_snapshot: ${text}`);
  const xmin = BigInt(m[1]!);
  const xmax = BigInt(m[2]!);
  const xip = m[3] ? m[3].split(',').map((x) => BigInt(x)) : [];
  xip.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (xmin > xmax || xip.some((x) => x < xmin || x >= xmax)) throw new RangeError(`not a consistent pg_snapshot: ${text}`);
  return { xmin, xmax, xip, text };
}

/** Whether transaction `xid` had ended when `snapshot` was taken (`pg_visible_in_snapshot`). */
export function visibleIn(xid: bigint, snapshot: PgSnapshot): boolean {
  if (xid < snapshot.xmin) return true;
  if (xid >= snapshot.xmax) return false;
  return !snapshot.xip.includes(xid);
}

/**
 * Whether every transaction visible in `b` is visible in `a` as well (`a` was taken at the
 * same time as `b` or later). Snapshots of one server are ordered this way in time.
 */
export function covers(a: PgSnapshot, b: PgSnapshot): boolean {
  // every xid in [a.xmax, b.xmax) must be in progress in b
  if (b.xmax > a.xmax) {
    const inProgress = b.xip.filter((x) => x >= a.xmax).length;
    if (BigInt(inProgress) !== b.xmax - a.xmax) return false;
  }
  // what a shows in progress, b must not show ended
  for (const x of a.xip) if (x < b.xmax && !b.xip.includes(x)) return false;
  return true;
}

/**
 * A key that grows with the time a snapshot was taken: `xmax` (the next transaction id) never
 * goes back, and while it stands still the in-progress list can only shrink. Two snapshots
 * with the same key show the same transactions as ended. Fixed-width hex, so that string
 * order is numeric order.
 */
export function epochKey(snapshot: PgSnapshot): string {
  return `${snapshot.xmax.toString(16).padStart(16, '0')}${(0xffffffff - snapshot.xip.length).toString(16).padStart(8, '0')}`;
}
