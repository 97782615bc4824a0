/**
 * The consumer's view: the fold of every batch a consumer received, as a stream processor
 * would keep it. The suite keeps its own fold (rather than the SDK's ReferenceTable) so that
 * a bug in the SDK cannot hide a connector bug, and so that it can record evidence:
 * duplicates, position regressions, keyless deletes.
 */
import { CHANGE_TYPES } from '../src/sdk/batch.js';
import type { DecodedBatch, DecodedRow } from './decode.js';
import { rowText, sameRow, type CanonicalRow } from './test-table.js';

/** A change row as delivered, in delivery order. */
export interface DeliveredChange extends DecodedRow {
  changeType: string;
  position: string;
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
  private readonly snapshotKeys = new Set<string>();
  private readonly keyPositions = new Map<string, string>();
  private readonly positions = new Set<string>();
  private lastPosition: string | undefined;

  constructor(readonly options: ViewOptions) {}

  /** Folds one decoded batch. */
  apply(batch: DecodedBatch): void {
    if (batch.kind === 'snapshot') for (const row of batch.rows) this.applySnapshotRow(row);
    else for (const row of batch.rows) this.applyChange(row);
  }

  private violation(message: string): void {
    if (this.violations.length < 20) this.violations.push(message);
  }

  private applySnapshotRow(row: DecodedRow): void {
    if (this.snapshotKeys.has(row.key)) this.violation(`snapshot delivered key ${row.key} twice`);
    this.snapshotKeys.add(row.key);
    this.snapshotRows++;
    this.rows.set(row.key, row.row);
  }

  private applyChange(row: DecodedRow): void {
    const { key, changeType, position } = row;
    if (typeof position !== 'string' || position === '') {
      this.violation(`change row of key ${key} has no _position`);
      return;
    }
    if (changeType === undefined || !(CHANGE_TYPES as readonly string[]).includes(changeType)) {
      this.violation(`change row of key ${key} at ${position} has _change_type ${JSON.stringify(changeType)}`);
      return;
    }
    this.changes.push({ ...row, changeType, position });
    if (this.options.exactlyOnce) {
      if (this.positions.has(position)) this.violation(`change at position ${position} (key ${key}) delivered twice`);
      else if (this.lastPosition !== undefined && position < this.lastPosition) {
        this.violation(`position ${position} (key ${key}) after ${this.lastPosition}: changes out of stream order`);
      }
    } else {
      const last = this.keyPositions.get(key);
      if (last !== undefined && position <= last) return; // a replay: already folded
    }
    this.positions.add(position);
    if (this.lastPosition === undefined || position > this.lastPosition) this.lastPosition = position;
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
    for (const k of this.snapshotKeys) copy.snapshotKeys.add(k);
    for (const [k, v] of this.keyPositions) copy.keyPositions.set(k, v);
    for (const p of this.positions) copy.positions.add(p);
    copy.lastPosition = this.lastPosition;
    return copy;
  }

  /**
   * Differences from the expected table (at most `limit` lines, empty when equal).
   * `mayRemain` names keys allowed to linger in the view (deleted rows of sources that do
   * not observe deletes).
   */
  diff(expected: ReadonlyMap<string, CanonicalRow>, mayRemain: (key: string) => boolean = () => false, limit = 6): string[] {
    const lines: string[] = [];
    for (const [key, row] of expected) {
      const got = this.rows.get(key);
      if (!sameRow(got, row)) lines.push(`key ${key}: expected ${rowText(row)}, delivered ${rowText(got)}`);
      if (lines.length >= limit) return lines;
    }
    for (const [key, row] of this.rows) {
      if (!expected.has(key) && !mayRemain(key)) lines.push(`key ${key}: not in the table, delivered ${rowText(row)}`);
      if (lines.length >= limit) return lines;
    }
    return lines;
  }
}

/** The expected table as canonical rows by key. */
export function expectedTable(rows: Iterable<CanonicalRow>): Map<string, CanonicalRow> {
  const map = new Map<string, CanonicalRow>();
  for (const row of rows) map.set(row.id, row);
  return map;
}
