/**
 * The Kafka source's change stream: the records after the snapshot, merged across
 * partitions in stream (`refstream-position`) order, with replays and superseded changes
 * dropped. Control records (from the control topic, placed among the rows by control-feed.ts,
 * or in the data topic itself in topics of earlier versions) drive the merge.
 */
import type { RecordBatch } from 'apache-arrow';
import { BatchBuilder, formatPosition, sameTableSchema, type ChangeType, type TableDescriptor } from '../../sdk/batch.js';
import { definite } from '../../sdk/errors.js';
import { keyRowFromJson, parseJson, rowFromJson } from './decode.js';
import type { FetchedRecord } from './fetcher.js';
import type { ReadRecord } from './control-feed.js';
import { HEADERS } from './records.js';
import { asLatest } from './schema-versions.js';
import { descriptorFromIpc } from './decode.js';
import { cloneState, type StreamState } from './source-checkpoint.js';
import { asSourceCall, type ReadContext } from './source-context.js';
import { isStale, noteFrontier, notePosition } from './stream-state.js';

/** Snapshot rows carry no position; read in the change phase they get the lowest one, so they never override a change. */
const SNAPSHOT_ROW_POSITION = formatPosition(0, 0);

/** How the change stream is read. */
export interface ChangeReadOptions {
  /** How long a read waits for the first change. */
  maxWaitMs: number;
  /** Deliver changes in stream order across partitions (false: per-key order only). */
  globalOrder: boolean;
  /** True once the source handed out data: a new snapshot in the topic is then an error. */
  emittedData(): boolean;
}

/** One read of the change stream: a batch (or none) and the stream state after it. */
export interface ChangeStep {
  batch: RecordBatch | null;
  /** The state once the batch is delivered (null: the source closed, nothing moves). */
  after: StreamState | null;
}

/** Reads change batches of one source. */
export class ChangeReader {
  /** Per partition, the schema its rows from here on were written with (once a schema record was read there). */
  private readonly written = new Map<number, TableDescriptor>();
  /** The control-topic offset of the latest schema adopted: an older one read on a slower partition does not replace it. */
  private latestSchemaAt = -1n;

  constructor(
    private readonly ctx: ReadContext,
    private readonly options: ChangeReadOptions,
  ) {}

  /**
   * Reads the next change batch from `state` (advanced as records are taken), waiting up to
   * `maxWaitMs` for one. Reads that return nothing but move past dropped replays and control
   * records hand their state to `commit` while waiting goes on.
   */
  async next(state: StreamState, commit: (after: StreamState) => void, signal?: AbortSignal): Promise<ChangeStep> {
    const { ctx } = this;
    const reader = await ctx.connect();
    const feed = ctx.control;
    const deadline = Date.now() + this.options.maxWaitMs;
    for (;;) {
      const wait = Math.min(Math.max(0, deadline - Date.now()), 100);
      await asSourceCall(() => feed.discover(reader, state.offsets), feed.topic, ctx.table);
      // Partitions read as far as released wait for the next control records.
      const exhausted = [...state.offsets].filter(([p, o]) => o >= (feed.limit(p) ?? o + 1n)).length;
      if (exhausted > 0) await asSourceCall(() => feed.more(exhausted === state.offsets.size ? wait : 0), feed.topic, ctx.table);
      const due = new Map([...state.offsets].filter(([p, o]) => o < (feed.limit(p) ?? o + 1n)));
      const ends = new Map<number, bigint>();
      const records = due.size === 0 ? [] : await asSourceCall(() => reader.fetch(due, wait, undefined, ends), ctx.topic, ctx.table);
      if (ctx.isClosed()) return { batch: null, after: null };
      const builder = this.merge(this.arrange(records, state, ends), state);
      feed.trim(state);
      const after = cloneState(state);
      if (builder !== null && builder.rows > 0) return { batch: builder.finish(), after };
      // Nothing to return, but offsets may have moved past dropped replays and control records.
      if (Date.now() >= deadline || signal?.aborted) return { batch: null, after };
      commit(after);
    }
  }

  /**
   * Each partition's records in reading order, with the control topic's records placed among
   * them: where the fetch looked at everything (`reached`), nothing unread lies before them.
   */
  private arrange(records: FetchedRecord[], state: StreamState, reached: Map<number, bigint>): Map<number, ReadRecord[]> {
    const byPartition = new Map<number, FetchedRecord[]>();
    for (const p of state.offsets.keys()) byPartition.set(p, []);
    for (const r of records) if (r.offset >= state.offsets.get(r.partition)!) byPartition.get(r.partition)?.push(r);
    const queues = new Map<number, ReadRecord[]>();
    for (const [p, list] of byPartition) {
      const from = state.offsets.get(p)!;
      const to = reached.get(p);
      queues.set(p, this.ctx.control.arrange(p, list, to !== undefined && to > from ? to : from, state));
    }
    return queues;
  }

  /**
   * Turns the partitions' records into one change batch, in stream order. Partitions are
   * merged by `refstream-position`: the smallest head goes first, but only once every other
   * partition is known to hold nothing smaller — it has a later head, or a watermark at or
   * past it (the writer writes one at every flush, once what it wrote is acknowledged).
   * Records not taken stay unread (offsets stop before them) and are fetched again by the next poll.
   */
  private merge(queues: Map<number, ReadRecord[]>, state: StreamState): BatchBuilder | null {
    const { ctx } = this;
    const limitRows = ctx.batchRows;
    const limitBytes = ctx.batchBytes;
    const globalOrder = this.options.globalOrder;
    const next = new Map<number, number>([...queues.keys()].map((p) => [p, 0]));
    let builder: BatchBuilder | null = null;
    const full = (): boolean => builder !== null && (builder.rows >= limitRows || builder.byteLength >= limitBytes);
    const consume = (r: ReadRecord): void => {
      next.set(r.partition, next.get(r.partition)! + 1);
      if (r.placed === undefined) state.offsets.set(r.partition, r.offset + 1n);
      else {
        // A control record: applied; nothing unread lies before the offset it stands before.
        state.control.set(r.partition, r.placed.at + 1n);
        if (r.placed.boundary > state.offsets.get(r.partition)!) state.offsets.set(r.partition, r.placed.boundary);
      }
    };
    for (;;) {
      if (full()) return builder;
      // Heads that need no ordering: control records, replays, position-less rows.
      for (const [p, queue] of queues) {
        while (next.get(p)! < queue.length && !full()) {
          const r = queue[next.get(p)!]!;
          const control = r.headers[HEADERS.control]?.toString('utf8');
          const position = r.headers[HEADERS.position]?.toString('utf8');
          if (control === 'schema') {
            const bytes = r.headers[HEADERS.schema];
            if (bytes !== undefined) this.written.set(p, descriptorFromIpc(bytes));
            const at = r.placed?.at;
            if (at !== undefined && at < this.latestSchemaAt) {
              consume(r);
              continue;
            }
            if (at !== undefined) this.latestSchemaAt = at;
            const before = ctx.schema.descriptor;
            ctx.schema.adopt(r);
            // A new schema ends the batch; its rows come in the next one.
            if (builder !== null && before !== null && !sameTableSchema(before.fields, ctx.schema.descriptor!.fields)) {
              ctx.schema.descriptor = before;
              return builder;
            }
          } else if (control === 'watermark') {
            if (position !== undefined) noteFrontier(state, p, position);
          } else if (control === 'snapshot-start') {
            if (this.options.emittedData()) {
              throw definite(
                'SNAPSHOT_RESTARTED',
                `the writer of topic ${ctx.topic} started a new snapshot; rows deleted meanwhile cannot be told apart`,
                {
                  table: ctx.table,
                  hint: 'delete the checkpoint and restart to load the new snapshot',
                },
              );
            }
          } else if (control === 'truncate' || (control === undefined && r.key !== null)) {
            if (position !== undefined && !isStale(state, p, position)) break; // needs ordering
            if (position === undefined && control === undefined) builder = this.appendChange(builder, r, state);
          }
          consume(r);
        }
      }
      if (full()) return builder;
      // The smallest positioned head, if every other partition is known to hold nothing smaller.
      let best: ReadRecord | null = null;
      let bestPosition = '';
      for (const [p, queue] of queues) {
        const r = queue[next.get(p)!];
        if (r === undefined) continue;
        const position = r.headers[HEADERS.position]!.toString('utf8');
        if (best === null || position < bestPosition) {
          best = r;
          bestPosition = position;
        }
      }
      if (best === null) return builder;
      if (globalOrder) {
        for (const [p, queue] of queues) {
          if (p === best.partition || next.get(p)! < queue.length) continue;
          const frontier = state.frontier.get(p);
          if (frontier === undefined || frontier < bestPosition) return builder;
        }
      }
      if (best.headers[HEADERS.control] !== undefined) {
        builder ??= new BatchBuilder(ctx.schema.require(), 'changes');
        builder.appendChange('truncate', null, bestPosition);
        state.truncatedAt = bestPosition;
        notePosition(state, best.partition, bestPosition);
      } else {
        builder = this.appendChange(builder, best, state);
      }
      consume(best);
    }
  }

  /** Appends a data record as a change row (replays were filtered by the caller). */
  private appendChange(builder: BatchBuilder | null, r: FetchedRecord, state: StreamState): BatchBuilder {
    const header = r.headers[HEADERS.position]?.toString('utf8');
    if (header !== undefined) notePosition(state, r.partition, header);
    const position = header ?? SNAPSHOT_ROW_POSITION;
    const b = builder ?? new BatchBuilder(this.ctx.schema.require(), 'changes');
    const descriptor = b.descriptor;
    if (r.value === null) {
      b.appendChange('delete', keyRowFromJson(descriptor, parseJson(r.key!, 'record key', this.ctx.table)), position);
    } else {
      const op = r.headers[HEADERS.op]?.toString('utf8');
      const type: ChangeType = op === 'insert' ? 'insert' : 'update';
      const json = parseJson(r.value, `value of key ${r.key!.toString('utf8')}`, this.ctx.table);
      b.appendChange(type, rowFromJson(descriptor, asLatest(json, this.written.get(r.partition) ?? null, descriptor)), position);
    }
    return b;
  }
}
