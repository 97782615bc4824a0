/**
 * The snapshot reader: ctid ranges of the table read with `COPY (FORMAT binary)` by one or more
 * workers that all import the same exported snapshot, decoded into batches bounded by
 * `batchRows`/`batchBytes`. A worker waits (and its socket stays paused) while its finished
 * batch is not taken, so memory stays bounded by parallelism × batch size.
 */
import pg from 'pg';
import type { RecordBatch } from 'apache-arrow';
import { BatchBuilder, type TableDescriptor } from '../../sdk/batch.js';
import { abortError, definite, type ConnectorError } from '../../sdk/errors.js';
import { CopyDecoder } from './copy-decoder.js';
import { CopyOut } from './copy-out.js';
import { quoteIdent, quoteLiteral, quoteQualified, type QualifiedName } from './identifiers.js';
import { mapPgError } from './errors.js';
import { snapshotCodec, type ColumnCodec } from './types.js';
import type { TableInfo } from './catalog.js';

/** A range of heap pages `[start, end)`; `end: null` is open-ended. */
export interface SnapshotRange {
  start: number;
  end: number | null;
  /** ctid of the last row already delivered in this range, `[block, line]`. */
  after: [number, number] | null;
  done: boolean;
  /** The leaf partition this range reads (partitioned tables), by oid. */
  partition?: number;
}

/** One unit of output: a batch of a range (or `null` batch when the range ended with no rows left). */
export interface SnapshotItem {
  batch: RecordBatch | null;
  range: number;
  after: [number, number] | null;
  done: boolean;
}

/** Splits `pages` heap pages into about `count` ranges; the last one is open-ended. */
export function planRanges(pages: number, count: number): SnapshotRange[] {
  if (count <= 1 || pages <= count) return [{ start: 0, end: null, after: null, done: false }];
  const step = Math.ceil(pages / count);
  const ranges: SnapshotRange[] = [];
  for (let start = 0; start < pages; start += step) ranges.push({ start, end: start + step, after: null, done: false });
  ranges[ranges.length - 1]!.end = null;
  return ranges;
}

export interface SnapshotReaderOptions {
  table: TableInfo;
  descriptor: TableDescriptor;
  codecs: ColumnCodec[];
  ranges: SnapshotRange[];
  /** Names of the leaf partitions that ranges read (partitioned tables). */
  leaves: Map<number, QualifiedName>;
  /**
   * Exported snapshot id every worker imports; `null` for a single worker that reads in a
   * snapshot of its own transaction (a one-shot snapshot needs nothing else to agree with).
   */
  snapshotId: string | null;
  /**
   * When resuming at a newer snapshot: deliver only row versions visible in this earlier
   * snapshot (`pg_current_snapshot()` text). Newer versions reach the reader through the stream.
   */
  onlyVisibleIn?: string | null;
  /**
   * Whether an interrupted read resumes after the last row delivered: rows then carry their
   * ctid. Without it, a range that covers a whole table is read with the table form of COPY,
   * which PostgreSQL serves about a third faster than a query.
   */
  resumable: boolean;
  parallelism: number;
  batchRows: number;
  batchBytes: number;
  /** Opens a normal connection. */
  connect: () => Promise<pg.Client>;
}

/** Rows of a snapshot's first batch (see `SnapshotReader.rowsPerBatch`). */
export const FIRST_BATCH_ROWS = 1024;

export class SnapshotReader {
  private readonly queue: SnapshotItem[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly clients = new Set<pg.Client>();
  private readonly streams = new Set<NodeJS.ReadableStream & { destroy(): void }>();
  private next = 0;
  private running = 0;
  private failure: ConnectorError | null = null;
  private closed = false;
  /**
   * Rows of the next batch: the first batches are small and double up to `batchRows`. The
   * first rows reach the sinks sooner, and the decoder's code meets a batch end while it is
   * still being profiled, so the optimizing compiler does not throw its code away at the end
   * of the first full-size batch (measured: about 15 ms less per table).
   */
  private rowsPerBatch: number;

  constructor(private readonly o: SnapshotReaderOptions) {
    this.rowsPerBatch = Math.min(o.batchRows, FIRST_BATCH_ROWS);
  }

  private rampUp(): void {
    this.rowsPerBatch = Math.min(this.o.batchRows, this.rowsPerBatch * 2);
  }

  /** Starts the workers. */
  start(): void {
    const todo = this.o.ranges.filter((r) => !r.done).length;
    const workers = Math.max(1, Math.min(this.o.parallelism, todo));
    for (let w = 0; w < workers && todo > 0; w++) {
      this.running++;
      void this.work().finally(() => {
        this.running--;
        this.wake();
      });
    }
  }

  /** The next item, or `null` when every range was read. Rejects with the first worker error. */
  async take(signal?: AbortSignal): Promise<SnapshotItem | null> {
    for (;;) {
      if (this.failure) throw this.failure;
      // a closed reader's workers stop early: never report that as the end of the snapshot
      if (this.closed) throw definite('CLOSED', `snapshot reader of ${this.o.table.display} is closed`, { table: this.o.table.display });
      const item = this.queue.shift();
      if (item) {
        this.wake();
        return item;
      }
      if (this.running === 0) return null;
      await this.waitChange(signal);
    }
  }

  private waitChange(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const done = () => {
        this.waiters.delete(done);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.waiters.delete(done);
        reject(abortError(signal));
      };
      this.waiters.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private async push(item: SnapshotItem): Promise<void> {
    this.queue.push(item);
    this.wake();
    // one finished batch per worker may wait; beyond that the worker (and its socket) pauses
    while (!this.closed && this.queue.length > this.o.parallelism) await this.waitChange();
  }

  private async work(): Promise<void> {
    let client: pg.Client | null = null;
    try {
      client = await this.o.connect();
      this.clients.add(client);
      // A synchronized scan starts wherever a concurrent scan of the table is and wraps around;
      // checkpoints record "rows up to this ctid are delivered", so scans must run in ctid order.
      await client.query('SET synchronize_seqscans = off');
      // A parallel plan (COPY of a query may use one) interleaves the workers' rows out of ctid order.
      await client.query('SET max_parallel_workers_per_gather = 0');
      // Row-level security would silently filter the snapshot while the stream publishes every
      // row: with it off, PostgreSQL raises an error instead (as pg_dump does).
      await client.query('SET row_security = off');
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      if (this.o.snapshotId !== null) await client.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(this.o.snapshotId)}`);
      while (!this.closed && this.next < this.o.ranges.length) {
        const index = this.next++;
        const range = this.o.ranges[index]!;
        if (range.done) continue;
        await this.readRange(client, index, range);
      }
      if (!this.closed) await client.query('COMMIT');
    } catch (error) {
      if (!this.closed && !this.failure) this.failure = mapPgError(error, this.o.table.display, 'reading the snapshot');
    } finally {
      if (client) {
        this.clients.delete(client);
        await client.end().catch(() => {});
      }
    }
  }

  /**
   * `COPY table (columns) TO STDOUT` when nothing needs the query form: no resume point (ctid),
   * no page bounds, no visibility filter, no column read in its text form. Like `ONLY`, the
   * table form reads no child tables.
   */
  private plainCopySql(range: SnapshotRange): string | null {
    if (this.o.resumable || range.after !== null || range.start > 0 || range.end !== null || this.o.onlyVisibleIn) return null;
    if (this.o.codecs.some((c) => c.textOnly)) return null;
    const cols = this.o.codecs.map((c) => quoteIdent(c.spec.name)).join(', ');
    return `COPY ${quoteQualified(this.relationOf(range))} (${cols}) TO STDOUT (FORMAT binary)`;
  }

  private rangeSql(range: SnapshotRange): string {
    // Text-only columns in their output format, as the stream sends them (format() calls the
    // output function; a ::text cast may differ, e.g. inet's keeps the netmask).
    const cols = this.o.codecs
      .map((c) => {
        const col = `t.${quoteIdent(c.spec.name)}`;
        return c.textOnly ? `CASE WHEN ${col} IS NULL THEN NULL ELSE format('%s', ${col}) END` : col;
      })
      .join(', ');
    const where: string[] = [];
    if (range.after) where.push(`t.ctid > '(${range.after[0]},${range.after[1]})'::tid`);
    else if (range.start > 0) where.push(`t.ctid >= '(${range.start},0)'::tid`);
    if (range.end !== null) where.push(`t.ctid < '(${range.end},0)'::tid`);
    let from = `ONLY ${quoteQualified(this.relationOf(range))} AS t`;
    if (this.o.onlyVisibleIn) {
      // xmin is a 32-bit xid; widen it to xid8 relative to the current snapshot's next xid.
      // That is exact only before the first wraparound: later, a frozen row keeps the raw xmin
      // of an earlier epoch and may widen to an xid after the original snapshot. Such rows
      // cannot be told from rows changed since, so past 2^32 xids every row is delivered: the
      // ones changed since arrive again from the stream, and folding by key converges.
      from += `, (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS nx) AS rs`;
      const wide = `(((rs.nx >> 32) << 32) | t.xmin::text::bigint)`;
      where.push(
        `(rs.nx >= 4294967296 OR pg_visible_in_snapshot((CASE WHEN ${wide} > rs.nx THEN ${wide} - 4294967296 ELSE ${wide} END)::text::xid8, ${quoteLiteral(this.o.onlyVisibleIn)}::pg_snapshot))`,
      );
    }
    const filter = where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '';
    return `COPY (SELECT t.ctid, ${cols} FROM ${from}${filter}) TO STDOUT (FORMAT binary)`;
  }

  private relationOf(range: SnapshotRange): QualifiedName {
    if (range.partition === undefined) return this.o.table.name;
    const leaf = this.o.leaves.get(range.partition);
    if (!leaf)
      throw definite('INTERNAL', `partition ${range.partition} of ${this.o.table.display} is unknown`, { table: this.o.table.display });
    return leaf;
  }

  private async readRange(client: pg.Client, index: number, range: SnapshotRange): Promise<void> {
    const builder = new BatchBuilder(this.o.descriptor, 'snapshot');
    const plain = this.plainCopySql(range);
    const decoder = new CopyDecoder(this.o.codecs.map(snapshotCodec), plain === null, this.o.table.display);
    // a larger buffer lets the server keep sending while a chunk is decoded
    const stream = client.query(new CopyOut(plain ?? this.rangeSql(range), { highWaterMark: 1 << 20 }));
    this.streams.add(stream);
    const emit = async (done: boolean) => {
      const after: [number, number] | null = decoder.lastBlock >= 0 ? [decoder.lastBlock, decoder.lastOffset] : range.after;
      const batch = builder.rows > 0 ? builder.finish() : null;
      await this.push({ batch, range: index, after, done });
    };
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        decoder.feed(chunk);
        while (decoder.decode(builder, this.rowsPerBatch, this.o.batchBytes) === 'full') {
          this.rampUp();
          await emit(false);
          if (this.closed) return;
        }
      }
      while (decoder.decode(builder, this.rowsPerBatch, this.o.batchBytes) === 'full') await emit(false);
      if (!decoder.ended) throw new Error('COPY ended without its trailer');
      await emit(true);
    } finally {
      this.streams.delete(stream);
    }
  }

  /** Stops the workers and closes their connections. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake();
    for (const s of this.streams) s.destroy();
    await Promise.all([...this.clients].map((c) => c.end().catch(() => {})));
  }
}
