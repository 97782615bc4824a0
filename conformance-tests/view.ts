/**
 * The consumer's view: the fold of every batch a consumer received, as a stream processor
 * would keep it. The suite keeps its own fold (rather than the SDK's ReferenceTable) so that
 * a bug in the SDK cannot hide a connector bug, and so that it can record evidence:
 * duplicates, position regressions, keyless deletes.
 */
import { CHANGE_TYPES } from '../src/sdk/batch.js';
import type { DecodedBatch, DecodedRow } from './decode.js';
import { isMarkerKey, markerOrdinal, rowText, sameRow, type CanonicalRow } from './test-table.js';

/** A change row as delivered, in delivery order. */
export interface DeliveredChange extends DecodedRow {
  changeType: string;
  position: string;
}

/** Where a row was delivered: the batch (counted from 1 over the consumer's whole life, across restores), its row, and its `_position`. */
export interface Delivery {
  batch: number;
  kind: 'snapshot' | 'changes';
  row: number;
  position?: string;
}

/** One key on which the view and the table disagree. */
export interface Divergence {
  key: string;
  expected: CanonicalRow | undefined;
  delivered: CanonicalRow | undefined;
  /** The last delivery of the key (where the wrong value came from), or undefined when it never arrived. */
  at: Delivery | undefined;
}

/** `batch 4 (changes) row 2, _position 0000000012` */
export function deliveryText(at: Delivery | undefined): string {
  if (!at) return 'never delivered';
  return `batch ${at.batch} (${at.kind}) row ${at.row}${at.position !== undefined ? `, _position ${at.position}` : ''}`;
}

export interface ViewOptions {
  /**
   * Exactly-once: a position seen twice, or a snapshot key delivered twice in one snapshot
   * pass, is a violation. Otherwise replays (position ≤ the key's last position) are
   * ignored, as `ReferenceTable` does.
   */
  exactlyOnce: boolean;
}

export class DeliveredView {
  readonly rows = new Map<string, CanonicalRow>();
  /** Every change row in delivery order (replays included). */
  readonly changes: DeliveredChange[] = [];
  /** Rule breaks seen while folding; checks fail on them. */
  readonly violations: string[] = [];
  snapshotRows = 0;
  /** Batches folded so far. */
  batchCount = 0;
  /** The highest marker ordinal the change stream delivered (-1: none). */
  lastMarker = -1;
  /** The last delivery of every key. */
  private readonly deliveries = new Map<string, Delivery>();
  private readonly snapshotKeys = new Set<string>();
  private readonly keyPositions = new Map<string, string>();
  private readonly positions = new Set<string>();
  private lastPosition: string | undefined;

  constructor(readonly options: ViewOptions) {}

  /** Folds one decoded batch. */
  apply(batch: DecodedBatch): void {
    const number = ++this.batchCount;
    batch.rows.forEach((row, i) => {
      const at: Delivery = { batch: number, kind: batch.kind, row: i, ...(row.position !== undefined ? { position: row.position } : {}) };
      if (batch.kind === 'snapshot') this.applySnapshotRow(row, at);
      else this.applyChange(row, at);
    });
  }

  private violation(message: string): void {
    if (this.violations.length < 20) this.violations.push(message);
  }

  private applySnapshotRow(row: DecodedRow, at: Delivery): void {
    // a snapshot read before earlier changes were delivered proves nothing: only change-stream markers count
    if (isMarkerKey(row.key)) return;
    this.deliveries.set(row.key, at);
    if (this.snapshotKeys.has(row.key)) this.violation(`snapshot delivered key ${row.key} twice (again in ${deliveryText(at)})`);
    this.snapshotKeys.add(row.key);
    this.snapshotRows++;
    this.rows.set(row.key, row.row);
  }

  private applyChange(row: DecodedRow, at: Delivery): void {
    const { key, changeType, position } = row;
    if (typeof position !== 'string' || position === '') {
      this.violation(`change row of key ${key} has no _position`);
      return;
    }
    if (changeType === undefined || !(CHANGE_TYPES as readonly string[]).includes(changeType)) {
      this.violation(`change row of key ${key} at ${position} has _change_type ${JSON.stringify(changeType)}`);
      return;
    }
    const marker = isMarkerKey(key);
    if (!marker) this.changes.push({ ...row, changeType, position });
    if (this.options.exactlyOnce) {
      if (this.positions.has(position))
        this.violation(`change at position ${position} (key ${key}) delivered twice (again in ${deliveryText(at)})`);
      else if (this.lastPosition !== undefined && position < this.lastPosition) {
        this.violation(`position ${position} (key ${key}, ${deliveryText(at)}) after ${this.lastPosition}: changes out of stream order`);
      }
    } else {
      const last = this.keyPositions.get(key);
      if (last !== undefined && position <= last) return; // a replay: already folded
    }
    this.positions.add(position);
    if (this.lastPosition === undefined || position > this.lastPosition) this.lastPosition = position;
    if (marker) {
      if (changeType === 'insert' || changeType === 'update') this.lastMarker = Math.max(this.lastMarker, markerOrdinal(key));
      return;
    }
    if (changeType !== 'truncate') this.deliveries.set(key, at);
    switch (changeType) {
      case 'insert':
      case 'update':
        this.rows.set(key, row.row);
        this.keyPositions.set(key, position);
        break;
      case 'delete':
        if (key.split('|').includes('null')) this.violation(`delete row at ${position} carries no key (key columns are null)`);
        this.rows.delete(key);
        this.keyPositions.set(key, position);
        break;
      case 'truncate':
        this.rows.clear();
        break;
    }
  }

  /** An independent copy (saved with a checkpoint, restored after a crash). */
  clone(): DeliveredView {
    const copy = new DeliveredView(this.options);
    for (const [k, v] of this.rows) copy.rows.set(k, v);
    copy.changes.push(...this.changes);
    copy.violations.push(...this.violations);
    copy.snapshotRows = this.snapshotRows;
    copy.batchCount = this.batchCount;
    copy.lastMarker = this.lastMarker;
    for (const [k, v] of this.deliveries) copy.deliveries.set(k, v);
    for (const k of this.snapshotKeys) copy.snapshotKeys.add(k);
    for (const [k, v] of this.keyPositions) copy.keyPositions.set(k, v);
    for (const p of this.positions) copy.positions.add(p);
    copy.lastPosition = this.lastPosition;
    return copy;
  }

  /**
   * Keys on which the view and the expected table disagree, the earliest divergence first:
   * ordered by the delivery that put the wrong value there, keys that never arrived last.
   * `mayRemain` names keys allowed to linger in the view (deleted rows of sources that do
   * not observe deletes).
   */
  divergences(expected: ReadonlyMap<string, CanonicalRow>, mayRemain: (key: string) => boolean = () => false): Divergence[] {
    const found: Divergence[] = [];
    for (const [key, row] of expected) {
      const got = this.rows.get(key);
      if (!sameRow(got, row)) found.push({ key, expected: row, delivered: got, at: this.deliveries.get(key) });
    }
    for (const [key, row] of this.rows) {
      if (!expected.has(key) && !mayRemain(key)) found.push({ key, expected: undefined, delivered: row, at: this.deliveries.get(key) });
    }
    const order = (d: Divergence) => (d.at ? d.at.batch * 1e6 + d.at.row : Number.MAX_SAFE_INTEGER);
    return found.sort((a, b) => order(a) - order(b));
  }

  /**
   * Differences from the expected table as text lines (at most `limit`, empty when equal),
   * the first diverging key first, each naming where it diverged.
   */
  diff(expected: ReadonlyMap<string, CanonicalRow>, mayRemain?: (key: string) => boolean, limit = 6): string[] {
    return this.divergences(expected, mayRemain)
      .slice(0, limit)
      .map(
        (d) =>
          `key ${d.key}: expected ${d.expected ? rowText(d.expected) : '(not in the table)'}, delivered ${rowText(d.delivered)} (${d.at ? `at ${deliveryText(d.at)}` : 'never delivered'})`,
      );
  }

  /** A failure text naming the first diverging key, where it diverged, and how many more differ (empty when equal). */
  divergenceReport(expected: ReadonlyMap<string, CanonicalRow>, mayRemain?: (key: string) => boolean): string {
    const all = this.divergences(expected, mayRemain);
    if (all.length === 0) return '';
    const [first, ...rest] = all;
    const head = `first diverging key ${first!.key} (${first!.at ? `at ${deliveryText(first!.at)}` : 'never delivered'}): expected ${first!.expected ? rowText(first!.expected) : '(not in the table)'}, delivered ${rowText(first!.delivered)}`;
    if (rest.length === 0) return head;
    const more = rest.slice(0, 4).map((d) => `key ${d.key} (${d.at ? deliveryText(d.at) : 'never delivered'})`);
    return `${head}; ${rest.length} more key${rest.length === 1 ? '' : 's'} differ: ${more.join(', ')}${rest.length > 4 ? ', …' : ''}`;
  }
}

/** The expected table as canonical rows by key. */
export function expectedTable(rows: Iterable<CanonicalRow>): Map<string, CanonicalRow> {
  const map = new Map<string, CanonicalRow>();
  for (const row of rows) map.set(row.id, row);
  return map;
}
