/**
 * The Kafka source's snapshot: the topic folded by key up to where the control records read
 * when the snapshot starts release it (topics of earlier versions, without a control topic:
 * up to the end offsets captured then), read in two passes so memory holds keys, never rows.
 */
import type { RecordBatch } from 'apache-arrow';
import { BatchBuilder, type TableDescriptor } from '../../sdk/batch.js';
import { asLatest } from './schema-versions.js';
import { parseJson, rowFromJson } from './decode.js';
import type { FetchedRecord } from './fetcher.js';
import { boundaryOf, type ControlEvent } from './control-feed.js';
import { HEADERS, controlHeaders } from './records.js';
import { cloneState, type StreamState } from './source-checkpoint.js';
import { asSourceCall, type ReadContext } from './source-context.js';
import { isReplay, noteFrontier, notePosition } from './stream-state.js';

/** One step of the snapshot: a batch, or none with the stream state where changes begin. */
export type SnapshotStep = { batch: RecordBatch; end?: undefined } | { batch: null; end: StreamState | null };

/** The snapshot's second pass: what to read, where it is, and which record wins per key. */
interface SnapshotPlan {
  partitions: number[];
  /** Where the snapshot ends in each partition (the changes begin there). */
  targets: Map<number, bigint>;
  /** Next offset the second pass reads, per partition. */
  cursor: Map<number, bigint>;
  /** `partition + key` → offset of the record that is the key's snapshot row. */
  winners: Map<string, bigint>;
  /** Stream state at the end of the snapshot (where changes begin). */
  end: StreamState;
  /**
   * Per partition, the schemas rows were written with, from the offset on where each applies
   * (a row older than the latest schema change is read with its own, then mapped: renamed and
   * dropped columns by `refstream.column_id`, added ones null).
   */
  versions: Map<number, Array<{ from: bigint; descriptor: TableDescriptor }>>;
}

/** Bytes per partition fetched while reading the snapshot (small: the snapshot is read twice). */
const SNAPSHOT_FETCH_BYTES = 1 << 20;

/** Reads the snapshot of one source, batch by batch. */
export class SnapshotReader {
  /** The snapshot being read (second pass), once the first pass is done. */
  private plan: SnapshotPlan | null = null;

  constructor(private readonly ctx: ReadContext) {}

  /** Forgets the snapshot in progress (it is done, or the source closed). */
  discard(): void {
    this.plan = null;
  }

  /**
   * The next snapshot batch. The first call reads every partition to the end offsets
   * captured at start, advancing `state`, and notes per key the offset of the record that
   * wins (last one, replays and cleared partitions excluded); later calls read again and
   * return exactly those records, partition by partition. Returns no batch and the end state
   * once done, or no batch and no end state when the source closed meanwhile.
   */
  async next(state: StreamState): Promise<SnapshotStep> {
    const { ctx } = this;
    const plan = (this.plan ??= await this.planSnapshot(state));
    const reader = await ctx.connect();
    let builder: BatchBuilder | null = null;
    for (const p of plan.partitions) {
      while (plan.cursor.get(p)! < plan.targets.get(p)!) {
        const from = plan.cursor.get(p)!;
        const records = await asSourceCall(() => reader.fetch(new Map([[p, from]]), 100, SNAPSHOT_FETCH_BYTES), ctx.topic, ctx.table);
        if (ctx.isClosed()) return { batch: null, end: null };
        if (records.length === 0) plan.cursor.set(p, plan.targets.get(p)!); // nothing readable left below the end
        for (const r of records) {
          if (r.offset >= plan.targets.get(p)!) {
            plan.cursor.set(p, plan.targets.get(p)!);
            break;
          }
          plan.cursor.set(p, r.offset + 1n);
          if (r.key === null || r.value === null) continue;
          const id = winnerId(p, r.key);
          if (plan.winners.get(id) !== r.offset) continue;
          plan.winners.delete(id);
          builder ??= new BatchBuilder(ctx.schema.require(), 'snapshot');
          const json = parseJson(r.value, `value of key ${r.key.toString('utf8')}`, ctx.table);
          builder.appendRow(rowFromJson(builder.descriptor, asLatest(json, versionAt(plan, p, r.offset), builder.descriptor)));
          if (builder.rows >= ctx.batchRows || builder.byteLength >= ctx.batchBytes) return { batch: builder.finish() };
        }
      }
    }
    if (builder !== null) return { batch: builder.finish() };
    return { batch: null, end: plan.end };
  }

  /**
   * First pass: the winning offset of every live key, up to the snapshot's extent. With a
   * control topic, its records are read first (to its end now): the extent is where they
   * release each partition, and the markers among them (schema, snapshot-start, truncate, the
   * last watermark) are applied where they stand among the rows.
   */
  private async planSnapshot(state: StreamState): Promise<SnapshotPlan> {
    const { ctx } = this;
    const reader = await ctx.connect();
    const partitions = reader.partitions();
    const feed = ctx.control;
    const events: ControlEvent[] = [];
    let controlEnd = 0n;
    let targets: Map<number, bigint>;
    if (feed.active) {
      targets = new Map(partitions.map((p) => [p, state.offsets.get(p)!]));
      let watermark: ControlEvent | null = null;
      await asSourceCall(
        async () => {
          controlEnd = await feed.end();
          await feed.scan(0n, controlEnd, (event) => {
            for (const p of partitions) if (boundaryOf(event.record, p) > targets.get(p)!) targets.set(p, boundaryOf(event.record, p));
            // Watermarks only raise frontiers: the last one says all the others say.
            if (event.record.kind === 'watermark') watermark = event;
            else if (event.record.kind !== 'snapshot-complete') events.push(event);
          });
        },
        feed.topic,
        ctx.table,
      );
      if (watermark !== null) events.push(watermark);
      events.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    } else targets = await asSourceCall(() => reader.offsets(partitions, 'end'), ctx.topic, ctx.table);
    const winners = new Map<string, bigint>();
    const versions = new Map<number, Array<{ from: bigint; descriptor: TableDescriptor }>>(
      partitions.map((p) => [p, ctx.schema.descriptor ? [{ from: 0n, descriptor: ctx.schema.descriptor }] : []]),
    );
    this.versions = versions;
    const cursor = new Map(partitions.map((p) => [p, state.offsets.get(p)!]));
    // Per partition, the control records applied so far (they come in control-topic order).
    const applied = new Map(partitions.map((p) => [p, 0]));
    const applyUpTo = (partition: number, offset: bigint): void => {
      let i = applied.get(partition)!;
      for (; i < events.length && boundaryOf(events[i]!.record, partition) <= offset; i++) {
        const record = events[i]!.record;
        const boundary = boundaryOf(record, partition);
        this.foldRecord({ partition, offset: boundary - 1n, key: null, value: null, headers: controlHeaders(record) }, winners, state);
      }
      applied.set(partition, i);
    };
    for (;;) {
      const due = new Map<number, bigint>();
      for (const p of partitions) if (state.offsets.get(p)! < targets.get(p)!) due.set(p, state.offsets.get(p)!);
      if (due.size === 0) break;
      const reached = new Map<number, bigint>();
      const records = await asSourceCall(() => reader.fetch(due, 100, SNAPSHOT_FETCH_BYTES, reached), ctx.topic, ctx.table);
      if (ctx.isClosed()) break;
      for (const r of records) {
        if (r.offset >= targets.get(r.partition)! || r.offset < state.offsets.get(r.partition)!) continue;
        applyUpTo(r.partition, r.offset);
        state.offsets.set(r.partition, r.offset + 1n);
        this.foldRecord(r, winners, state);
      }
      // Past what holds nothing readable (aborted transactions, markers, records compacted
      // away); a partition whose records are not readable yet (a transaction's markers still
      // being written) is fetched again.
      for (const [p, to] of reached) {
        const end = to < targets.get(p)! ? to : targets.get(p)!;
        if (end > state.offsets.get(p)!) state.offsets.set(p, end);
      }
    }
    for (const p of partitions) applyUpTo(p, targets.get(p)!);
    // Partitions apply the control records at their own pace: the rows are read with the latest schema.
    const latest = events.findLast((e) => e.record.kind === 'schema');
    if (latest) this.ctx.schema.adopt({ partition: 0, offset: 0n, key: null, value: null, headers: controlHeaders(latest.record) });
    if (feed.active) {
      for (const p of partitions) state.control.set(p, controlEnd);
      feed.restart(controlEnd, targets);
    }
    if (winners.size > 0) ctx.schema.require();
    this.versions = null;
    return { partitions, targets, cursor, winners, end: cloneState(state), versions };
  }

  /** While the first pass runs: the schema versions it found so far. */
  private versions: SnapshotPlan['versions'] | null = null;

  /**
   * Folds one record in offset order. A `snapshot-start` or `truncate` marker drops every
   * row of its partition at a lower offset: compaction keeps the latest marker of each kind
   * (they are not tombstones) while older rows of other keys survive, and those must stay gone.
   * Markers of the previous format (tombstones keyed by a JSON object) are read the same way.
   */
  private foldRecord(r: FetchedRecord, winners: Map<string, bigint>, state: StreamState): void {
    const control = r.headers[HEADERS.control]?.toString('utf8');
    if (control !== undefined) {
      if (control === 'schema') {
        this.ctx.schema.adopt(r);
        const descriptor = this.ctx.schema.descriptor;
        if (descriptor) this.versions?.get(r.partition)?.push({ from: r.offset + 1n, descriptor });
      } else if (control === 'watermark') {
        const position = r.headers[HEADERS.position]?.toString('utf8');
        if (position !== undefined) noteFrontier(state, r.partition, position);
      } else if (control === 'snapshot-start') clearPartition(winners, r.partition);
      else if (control === 'truncate') {
        const position = r.headers[HEADERS.position]?.toString('utf8') ?? null;
        clearPartition(winners, r.partition);
        if (position !== null) {
          if (state.truncatedAt === null || position > state.truncatedAt) state.truncatedAt = position;
          notePosition(state, r.partition, position);
        }
      }
      return;
    }
    if (r.key === null) return;
    const position = r.headers[HEADERS.position]?.toString('utf8') ?? null;
    if (position !== null) {
      if (isReplay(state, r.partition, position)) return;
      notePosition(state, r.partition, position);
    }
    const id = winnerId(r.partition, r.key);
    if (r.value === null) winners.delete(id);
    else winners.set(id, r.offset);
  }
}

/** The schema the row at `offset` of `partition` was written with, if known. */
function versionAt(plan: SnapshotPlan, partition: number, offset: bigint): TableDescriptor | null {
  let found: TableDescriptor | null = null;
  for (const v of plan.versions.get(partition) ?? []) if (v.from <= offset) found = v.descriptor;
  return found;
}

/** The winners-map key of `key` in `partition`. */
function winnerId(partition: number, key: Buffer): string {
  return `${partition}\u0000${key.toString('latin1')}`;
}

/** Drops every winner of `partition` (a marker cleared the rows before it). */
function clearPartition(winners: Map<string, bigint>, partition: number): void {
  const prefix = `${partition}\u0000`;
  for (const key of winners.keys()) if (key.startsWith(prefix)) winners.delete(key);
}
