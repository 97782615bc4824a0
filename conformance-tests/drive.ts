/**
 * Driving a source the way a consumer does, while the suite keeps the expected table:
 * {@link TableWriter} writes through the harness and tracks what the table holds,
 * {@link Consumer} polls a source and folds what it delivers.
 */
import type { ReferenceTableSource, SourceCapabilities } from '../src/sdk/source.js';
import { check, fail } from './assert.js';
import { decodeBatch, type DecodedBatch } from './decode.js';
import { canonicalTestRow, type CanonicalRow } from './test-table.js';
import type { TableHarness, TargetQuirks, TestRow } from './types.js';
import { DeliveredView } from './view.js';

/** Writes through a harness and keeps the expected table. */
export class TableWriter {
  readonly expected = new Map<string, CanonicalRow>();
  /** Keys deleted at some point (they may linger in sources that do not observe deletes). */
  readonly deleted = new Set<string>();

  constructor(
    readonly harness: TableHarness,
    private readonly quirks: TargetQuirks = {},
  ) {}

  async insert(rows: TestRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.harness.insert(rows);
    for (const row of rows) this.expected.set(row.id.toString(), canonicalTestRow(this.asStored(row)));
  }

  async update(rows: TestRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.harness.update(rows);
    for (const row of rows) this.expected.set(row.id.toString(), canonicalTestRow(this.asStored(row)));
  }

  /** The row as the database keeps it (see {@link TargetQuirks}). */
  private asStored(row: TestRow): TestRow {
    if (this.quirks.emptyStringIsNull && row.note === '') return { ...row, note: null };
    return row;
  }

  async delete(ids: bigint[]): Promise<void> {
    if (ids.length === 0) return;
    await this.harness.delete(ids);
    for (const id of ids) {
      this.expected.delete(id.toString());
      this.deleted.add(id.toString());
    }
  }

  /** Empties the table with the harness's `truncate` hook. */
  async truncate(): Promise<void> {
    await this.harness.truncate!();
    for (const key of this.expected.keys()) this.deleted.add(key);
    this.expected.clear();
  }
}

export interface ConsumerOptions {
  /** Fail when a batch has more rows than this (the `batchRows` the source was created with). */
  batchRows?: number;
  /** Upper bound on polls of one drain, against sources that never finish. */
  maxPolls?: number;
  /** Default time limit of {@link Consumer.converge} (10 s). */
  convergeMs?: number;
}

/** Polls one source and folds its batches into a {@link DeliveredView}. */
export class Consumer {
  /** Every batch delivered, in order (for schema checks). */
  readonly batches: DecodedBatch[] = [];
  view: DeliveredView;

  constructor(
    public source: ReferenceTableSource,
    capabilities: SourceCapabilities,
    readonly options: ConsumerOptions = {},
    view?: DeliveredView,
  ) {
    this.view = view ?? new DeliveredView({ exactlyOnce: capabilities.exactlyOnce });
  }

  private accept(value: unknown, where: string, kind: 'snapshot' | 'changes'): DecodedBatch {
    const decoded = decodeBatch(value, where);
    check(decoded.kind === kind, `${where} returned a batch with refstream.kind = ${decoded.kind}`);
    const limit = this.options.batchRows;
    check(limit === undefined || decoded.rows.length <= limit, () => `${where} returned ${decoded.rows.length} rows with batchRows = ${limit}`);
    this.batches.push(decoded);
    this.view.apply(decoded);
    return decoded;
  }

  /** One `pollSnapshot`; `null` when the snapshot is complete. */
  async pollSnapshot(signal?: AbortSignal): Promise<DecodedBatch | null> {
    const value = await this.source.pollSnapshot(signal ? { signal } : undefined);
    if (value === null) return null;
    return this.accept(value, 'pollSnapshot()', 'snapshot');
  }

  /** One `pollChanges`; `null` when nothing was pending. */
  async pollChanges(signal?: AbortSignal): Promise<DecodedBatch | null> {
    const value = await this.source.pollChanges(signal ? { signal } : undefined);
    if (value === null) return null;
    return this.accept(value, 'pollChanges()', 'changes');
  }

  /** Polls the snapshot until `null`; returns the number of batches. */
  async drainSnapshot(): Promise<number> {
    const max = this.options.maxPolls ?? 100_000;
    for (let polls = 0; polls < max; polls++) {
      const batch = await this.pollSnapshot();
      if (batch === null) {
        check(this.source.isSnapshotComplete(), 'pollSnapshot() returned null but isSnapshotComplete() is false');
        return polls;
      }
    }
    return fail(`pollSnapshot() did not return null within ${max} polls`);
  }

  /**
   * Polls changes until the view equals `expected` and one more poll returns `null` (so
   * extra deliveries are seen too). Fails with a diff after `timeoutMs`.
   */
  async converge(expected: ReadonlyMap<string, CanonicalRow>, timeoutMs = this.options.convergeMs ?? 10_000, mayRemain?: (key: string) => boolean): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let matchedOnce = false;
    for (;;) {
      const batch = await this.pollChanges();
      const matches = this.view.diff(expected, mayRemain, 1).length === 0;
      if (batch === null && matches) {
        if (matchedOnce) return;
        matchedOnce = true; // settle: one more empty poll to catch late extras
        continue;
      }
      if (batch !== null) matchedOnce = false;
      if (Date.now() > deadline) {
        const diff = this.view.diff(expected, mayRemain);
        return fail(`the delivered rows did not converge to the table within ${timeoutMs} ms: ${diff.join('; ') || 'extra batches kept arriving'}`);
      }
    }
  }

  /** Fails when the view recorded a violation (duplicate, regression, keyless delete …). */
  assertNoViolations(): void {
    check(this.view.violations.length === 0, () => this.view.violations.slice(0, 3).join('; '));
  }
}
