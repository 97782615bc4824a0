/**
 * Driving a source the way a consumer does, while the suite keeps the expected table:
 * {@link TableWriter} writes through the harness and tracks what the table holds,
 * {@link Consumer} polls a source and folds what it delivers.
 */
import type { ReferenceTableSource, SourceCapabilities } from '../src/sdk/source.js';
import { check, fail, sleep } from './assert.js';
import { checkExtraColumns, decodeBatch, type DecodedBatch } from './decode.js';
import { canonicalTestRow, markerRow, type CanonicalRow } from './test-table.js';
import type { ExtraColumn, TableHarness, TargetQuirks, TestRow } from './types.js';
import { DeliveredView } from './view.js';

/** The next marker ordinal per table, so every writer of one table draws fresh markers. */
const nextMarker = new WeakMap<TableHarness, number>();

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

  /**
   * Inserts the next marker row (a transaction of its own, after every write so far) and
   * returns its ordinal. Markers are not part of {@link expected}.
   */
  async mark(): Promise<number> {
    const n = nextMarker.get(this.harness) ?? 0;
    nextMarker.set(this.harness, n + 1);
    await this.harness.insert([markerRow(n)]);
    return n;
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
  /**
   * How long {@link Consumer.converge} waits when nothing is delivered at all after the
   * marker was written (10 s). A source that delivers never meets this limit.
   */
  convergeMs?: number;
  /** The target's extra columns, whose values every row must hold (see `ConformanceTarget.extraColumns`). */
  extraColumns?: readonly ExtraColumn[];
}

/** Polls one source and folds its batches into a {@link DeliveredView}. */
export class Consumer {
  /** How long the last marker took from its write to its delivery (how fast this source answers when healthy). */
  markerLatencyMs: number | undefined;
  /** Every batch delivered, in order (for schema checks). */
  readonly batches: DecodedBatch[] = [];
  view: DeliveredView;

  /** A log source delivers in commit order; a polling source delivers a round in its own order. */
  private readonly commitOrder: boolean;

  constructor(
    public source: ReferenceTableSource,
    capabilities: SourceCapabilities,
    readonly options: ConsumerOptions = {},
    view?: DeliveredView,
  ) {
    this.view = view ?? new DeliveredView({ exactlyOnce: capabilities.exactlyOnce });
    this.commitOrder = capabilities.changes === 'log';
  }

  private accept(value: unknown, where: string, kind: 'snapshot' | 'changes'): DecodedBatch {
    const decoded = decodeBatch(value, where);
    check(decoded.kind === kind, `${where} returned a batch with refstream.kind = ${decoded.kind}`);
    const limit = this.options.batchRows;
    check(
      limit === undefined || decoded.rows.length <= limit,
      () => `${where} returned ${decoded.rows.length} rows with batchRows = ${limit}`,
    );
    checkExtraColumns(decoded, this.options.extraColumns ?? [], where);
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
   * Brings the view up to date with the table and compares them, finally. Writes a marker
   * row, then polls changes until the marker (or a later one) arrives: since changes arrive
   * in commit order, every write before the marker has been delivered by then, so the
   * comparison passes or fails at once. A poll-based source shows the marker in the round
   * that holds everything else that changed before it, but in an order of its own and maybe
   * over several batches: there the round is read to its end (the next empty poll) first.
   *
   * A lost marker must not cost the whole wait: after 2, 4, 8 … empty polls another marker
   * is written, and any later marker settles the comparison as well. The time limit
   * (`convergeMs`) applies only while nothing is delivered at all.
   */
  async converge(writer: TableWriter, mayRemain?: (key: string) => boolean): Promise<void> {
    await this.awaitMarker(
      writer,
      () =>
        this.view.divergenceReport(writer.expected, mayRemain) || 'the rows delivered so far equal the table, but the marker never arrived',
    );
    const report = this.view.divergenceReport(writer.expected, mayRemain);
    if (report !== '') fail(`after the marker arrived (batch ${this.view.batchCount}) the delivered rows differ from the table: ${report}`);
  }

  /**
   * Writes a marker and polls changes until it (or a later marker) has been delivered; see
   * {@link converge}. `onBatch` sees every batch delivered meanwhile. Fails, with
   * `explain()` appended, when nothing at all is delivered for `idleMs` (default `convergeMs`).
   */
  async awaitMarker(
    writer: TableWriter,
    explain: () => string,
    onBatch?: (batch: DecodedBatch) => void,
    idleMs = this.options.convergeMs ?? 10_000,
  ): Promise<void> {
    const maxPolls = this.options.maxPolls ?? 100_000;
    const first = await writer.mark();
    const written = Date.now();
    let lastDelivery = written;
    let markers = 1;
    let emptyPolls = 0;
    for (let polls = 0; polls < maxPolls; polls++) {
      const polled = Date.now();
      const batch = await this.pollChanges();
      if (batch !== null) onBatch?.(batch);
      if (this.view.lastMarker >= first) {
        this.markerLatencyMs = Date.now() - written;
        if (!this.commitOrder) await this.finishRound(maxPolls - polls, onBatch);
        return;
      }
      if (batch !== null) {
        lastDelivery = Date.now();
        emptyPolls = 0;
        continue;
      }
      emptyPolls++;
      // a source answering empty polls at once must not turn this loop into a busy wait
      if (Date.now() - polled < 2) await sleep(5);
      if (Date.now() - lastDelivery > idleMs) {
        const since = lastDelivery === written ? 'after the marker was written' : `after the last delivery (batch ${this.view.batchCount})`;
        return fail(`no change delivered for ${idleMs} ms ${since}; none of ${markers} markers arrived: ${explain()}`);
      }
      if (emptyPolls >= 2 && (emptyPolls & (emptyPolls - 1)) === 0) {
        await writer.mark();
        markers++;
      }
    }
    return fail(`the marker did not arrive within ${maxPolls} polls (batches kept arriving): ${explain()}`);
  }

  /** Polls until a poll delivers nothing: the rest of a polling source's round. */
  private async finishRound(maxPolls: number, onBatch?: (batch: DecodedBatch) => void): Promise<void> {
    for (let polls = 0; polls < maxPolls; polls++) {
      const batch = await this.pollChanges();
      if (batch === null) return;
      onBatch?.(batch);
    }
    fail(`a polling source's round did not end within ${maxPolls} polls (batches kept arriving)`);
  }

  /** Fails when the view recorded a violation (duplicate, regression, keyless delete …). */
  assertNoViolations(): void {
    check(this.view.violations.length === 0, () => this.view.violations.slice(0, 3).join('; '));
  }
}
