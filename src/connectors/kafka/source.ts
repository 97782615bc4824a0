/**
 * KafkaReferenceTableSource: loads a topic written by KafkaSink (format `json`) back as a
 * reference table — the reverse direction, so a refstream topic can feed any process.
 *
 * Snapshot = the topic folded by key up to the end offsets captured when the snapshot
 * starts; changes = the records after them. Checkpoint = the next offset of every partition
 * plus, per partition, the highest `refstream-position` seen, so restoring resumes with
 * exactly the next change and replays the writer left in the topic (after its own crash) are
 * dropped rather than re-applied.
 */
import { Schema, type RecordBatch } from 'apache-arrow';
import type { Kafka } from 'kafkajs';
import { z } from 'zod';
import {
  BatchBuilder,
  descriptorOf,
  formatPosition,
  sameTableSchema,
  snapshotSchema,
  type ChangeType,
  type TableDescriptor,
} from '../../sdk/batch.js';
import { makeCheckpoint, parseCheckpoint, parsePosition, type SourceCheckpoint } from '../../sdk/checkpoint.js';
import { definite, throwIfAborted } from '../../sdk/errors.js';
import type { PollOptions, ReferenceTableSource, SourceCapabilities } from '../../sdk/source.js';
import type { WarningHandler } from '../../sdk/warnings.js';
import { connectionOptionsSchema, createKafkaClient, describeConnection, parseConfig, type KafkaConnectionOptions } from './client.js';
import { toIpc } from './encode.js';
import { HEADERS } from './records.js';
import { descriptorFromIpc, keyRowFromJson, parseJson, rowFromJson } from './decode.js';
import { PartitionReader, type FetchedRecord } from './fetcher.js';
import { asSourceError } from './errors.js';
import { PollScheduler, type PollResult } from './poll-scheduler.js';
import {
  assertSameTopic,
  changePositionSchema,
  checkIdentity,
  cloneState,
  decodeStreamState,
  emptyState,
  encodeChangePosition,
  encodeSnapshotPosition,
  snapshotPositionSchema,
  type KafkaSourceIdentity,
  type StreamState,
} from './source-checkpoint.js';

/** Options of {@link KafkaReferenceTableSource}. */
export interface KafkaSourceOptions extends KafkaConnectionOptions {
  /** The topic KafkaSink wrote (format `json`). */
  topic: string;
  /** Table name used in checkpoints (default: the topic name). */
  table?: string;
  /**
   * The table schema, when the topic has no `schema` control record: written with
   * `controlRecords: false`, or compacted after `delete.retention.ms` in the previous record
   * format (where they were tombstones). An Arrow schema with refstream metadata, or a descriptor.
   */
  schema?: Schema | TableDescriptor;
  /** Most rows per batch (default 10 000). */
  batchRows?: number;
  /** Approximate most bytes per batch (default 8 MiB). */
  batchBytes?: number;
  /** How long `pollChanges` waits for the first change (default 100 ms). */
  maxWaitMs?: number;
  /**
   * Deliver changes in stream (`_position`) order across partitions (default true), using the
   * watermark control records KafkaSink writes. Set false for topics written without control
   * records: changes then keep per-key order only.
   */
  globalOrder?: boolean;
  /** Receives warnings such as `CHECKPOINT_UNIDENTIFIED` (default: Node process warnings on stderr). */
  onWarning?: WarningHandler;
}

const optionsSchema = connectionOptionsSchema.extend({
  topic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name'),
  table: z.string().min(1).optional(),
  schema: z.unknown().optional(),
  batchRows: z.number().int().positive().optional(),
  batchBytes: z.number().int().positive().optional(),
  maxWaitMs: z.number().int().nonnegative().optional(),
  globalOrder: z.boolean().optional(),
  onWarning: z.custom<WarningHandler>((value) => typeof value === 'function', 'must be a function').optional(),
});

const CONNECTOR = 'kafka';

/** The snapshot's second pass: what to read, where it is, and which record wins per key. */
interface SnapshotPlan {
  partitions: number[];
  /** End offsets captured at start (the snapshot's extent). */
  targets: Map<number, bigint>;
  /** Next offset the second pass reads, per partition. */
  cursor: Map<number, bigint>;
  /** `partition + key` → offset of the record that is the key's snapshot row. */
  winners: Map<string, bigint>;
  /** Stream state at the end of the snapshot (where changes begin). */
  end: StreamState;
}

/** Bytes per partition fetched while reading the snapshot (small: the snapshot is read twice). */
const SNAPSHOT_FETCH_BYTES = 1 << 20;

function winnerId(partition: number, key: Buffer): string {
  return `${partition}\u0000${key.toString('latin1')}`;
}

/** Snapshot rows carry no position; read in the change phase they get the lowest one, so they never override a change. */
const SNAPSHOT_ROW_POSITION = formatPosition(0, 0);

const CAPABILITIES: SourceCapabilities = Object.freeze({
  changes: 'log',
  deletes: true,
  exactlyOnce: true,
  midSnapshotResume: false,
  transactions: false,
  schemaEvolution: false,
});

/**
 * A {@link ReferenceTableSource} reading a refstream upsert topic.
 *
 * @example
 * const source = new KafkaReferenceTableSource({ brokers: ['localhost:9092'], topic: 'customers' });
 */
export class KafkaReferenceTableSource implements ReferenceTableSource {
  readonly capabilities = CAPABILITIES;
  private readonly options: KafkaSourceOptions;
  private readonly kafka: Kafka;
  private readonly table: string;
  private reader: PartitionReader | null = null;
  private descriptor: TableDescriptor | null = null;
  private phase: 'snapshot' | 'changes' = 'snapshot';
  private snapshotDone = false;
  private closed = false;
  private polled = false;
  /** State after the last batch returned (what `checkpoint()` describes). */
  private committed: StreamState = emptyState();
  /** Read-ahead state of the job in progress (ahead of `committed` until its batch is returned). */
  private ahead: StreamState = emptyState();
  /** The snapshot being read (second pass), once the first pass is done. */
  private snapshotPlan: SnapshotPlan | null = null;
  private readonly polls = new PollScheduler(
    () => this.closed,
    () => this.throwIfClosed(),
  );
  private emittedData = false;
  /** The connected cluster and topic (known once connected). */
  private identity: KafkaSourceIdentity | null = null;
  private restored = false;
  /** The identity a restored checkpoint recorded, until it is checked (when connecting). */
  private restoredFrom: { source: KafkaSourceIdentity | undefined; resumes: boolean } | null = null;

  constructor(options: KafkaSourceOptions) {
    this.options = parseConfig(optionsSchema, options, 'KafkaReferenceTableSource') as KafkaSourceOptions;
    this.table = this.options.table ?? this.options.topic;
    if (this.options.schema !== undefined) {
      const s = this.options.schema as Schema | TableDescriptor;
      this.descriptor = 'primaryKey' in s ? s : descriptorOf(s);
    }
    this.kafka = createKafkaClient(this.options);
  }

  isSnapshotComplete(): boolean {
    return this.snapshotDone;
  }

  async pollSnapshot(opts: PollOptions = {}): Promise<RecordBatch | null> {
    this.throwIfClosed();
    if (this.snapshotDone) return null;
    return this.run(
      'snapshot',
      () => (this.snapshotDone ? Promise.resolve({ batch: null, apply: () => undefined }) : this.nextSnapshotBatch()),
      opts.signal,
    );
  }

  async pollChanges(opts: PollOptions = {}): Promise<RecordBatch | null> {
    this.throwIfClosed();
    if (!this.snapshotDone) {
      throw definite('INVALID_STATE', 'pollChanges called before the snapshot is complete', {
        table: this.table,
        hint: 'call pollSnapshot until it returns null first',
      });
    }
    return this.run('changes', () => this.nextChangeBatch(opts.signal), opts.signal);
  }

  /** The position, and where it was taken (see docs/sinks/kafka.md, "Checkpoints"). */
  checkpoint(): SourceCheckpoint {
    if (!this.snapshotDone) return makeCheckpoint(CONNECTOR, this.table, 'snapshot', encodeSnapshotPosition(this.identity));
    const schema = this.descriptor === null ? null : this.schemaText();
    return makeCheckpoint(
      CONNECTOR,
      this.table,
      'changes',
      encodeChangePosition(this.options.topic, this.committed, schema, this.identity),
    );
  }

  /**
   * Positions this fresh source at `checkpoint` and connects. A checkpoint of another cluster
   * or topic is the definite `CHECKPOINT_MISMATCH` naming both sides; one without identity
   * (older refstream) resumes with a `CHECKPOINT_UNIDENTIFIED` warning. A snapshot-phase
   * checkpoint resumes nothing (the snapshot restarts): it is checked when it has an identity.
   */
  async restore(checkpoint: SourceCheckpoint): Promise<void> {
    this.throwIfClosed();
    if (this.polled || this.restored)
      throw definite('INVALID_STATE', 'restore must be called on a fresh source, before any poll', { table: this.table });
    const cp = parseCheckpoint(checkpoint, { connector: CONNECTOR, table: this.table });
    if (cp.phase === 'snapshot') {
      const position = parsePosition(snapshotPositionSchema, cp);
      this.restored = true;
      if (position === null) return; // the snapshot restarts (no mid-snapshot resume)
      assertSameTopic(position.source.topic, this.options.topic, this.table);
      this.restoredFrom = { source: position.source, resumes: false };
      await this.connect();
      return;
    }
    const position = parsePosition(changePositionSchema, cp);
    assertSameTopic(position.topic, this.options.topic, this.table);
    const state = decodeStreamState(position);
    this.restored = true;
    if (this.descriptor === null && position.schema !== null) this.descriptor = descriptorFromIpc(Buffer.from(position.schema, 'base64'));
    this.committed = state;
    this.ahead = cloneState(state);
    this.phase = 'changes';
    this.snapshotDone = true;
    this.restoredFrom = { source: position.source, resumes: true };
    await this.connect();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.snapshotPlan = null;
    await this.reader?.close();
    this.reader = null;
  }

  // ---- polling machinery ----

  private run(kind: 'snapshot' | 'changes', job: () => Promise<PollResult>, signal?: AbortSignal): Promise<RecordBatch | null> {
    throwIfAborted(signal);
    this.polled = true;
    return this.polls.run(kind, job, signal);
  }

  private throwIfClosed(): void {
    if (this.closed) throw definite('CLOSED', 'the source is closed', { table: this.table });
  }

  private async connect(): Promise<PartitionReader> {
    if (this.reader !== null) return this.reader;
    const reader = new PartitionReader(this.kafka, this.options.topic);
    try {
      await reader.connect();
      const partitions = reader.partitions();
      this.identity = { clusterId: await reader.clusterId(), topic: this.options.topic };
      this.checkRestoredIdentity(this.identity);
      const start = await reader.offsets(partitions, 'start');
      for (const p of partitions) {
        if (!this.ahead.offsets.has(p)) {
          this.ahead.offsets.set(p, start.get(p) ?? 0n);
          if (this.snapshotDone) this.committed.offsets.set(p, start.get(p) ?? 0n);
        } else if (this.ahead.offsets.get(p)! < (start.get(p) ?? 0n)) {
          throw definite(
            'CHECKPOINT_EXPIRED',
            `partition ${p} of topic ${this.options.topic} no longer holds offset ${this.ahead.offsets.get(p)} (starts at ${start.get(p)})`,
            {
              table: this.table,
              hint: 'delete the checkpoint to load the table again from a new snapshot',
            },
          );
        }
      }
    } catch (error) {
      await reader.close();
      throw asSourceError(error, this.options.topic, this.table);
    }
    if (this.closed) {
      await reader.close();
      this.throwIfClosed();
    }
    this.reader = reader;
    return reader;
  }

  /** Once per restore, before the checkpoint's offsets are looked at. */
  private checkRestoredIdentity(identity: KafkaSourceIdentity): void {
    const restored = this.restoredFrom;
    if (restored === null) return;
    checkIdentity(
      restored.source,
      { table: this.table, identity, brokers: describeConnection(this.options) },
      { warn: restored.resumes, onWarning: this.options.onWarning },
    );
    this.restoredFrom = null;
  }

  // ---- snapshot ----

  /**
   * The snapshot in two passes, so memory holds keys, never rows: the first pass reads
   * every partition to the end offsets captured at start and notes, per key, the offset of
   * the record that wins (last one, replays and cleared partitions excluded); the second
   * reads again and returns exactly those records, partition by partition.
   */
  private async nextSnapshotBatch(): Promise<PollResult> {
    const plan = (this.snapshotPlan ??= await this.planSnapshot());
    const reader = await this.connect();
    const limitRows = this.options.batchRows ?? 10_000;
    const limitBytes = this.options.batchBytes ?? 8 << 20;
    let builder: BatchBuilder | null = null;
    for (const p of plan.partitions) {
      while (plan.cursor.get(p)! < plan.targets.get(p)!) {
        const from = plan.cursor.get(p)!;
        const records = await asSourceCall(
          () => reader.fetch(new Map([[p, from]]), 100, SNAPSHOT_FETCH_BYTES),
          this.options.topic,
          this.table,
        );
        if (this.closed) return { batch: null, apply: () => undefined };
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
          builder ??= new BatchBuilder(this.requireDescriptor(), 'snapshot');
          builder.appendRow(rowFromJson(builder.descriptor, parseJson(r.value, `value of key ${r.key.toString('utf8')}`, this.table)));
          if (builder.rows >= limitRows || builder.byteLength >= limitBytes) {
            this.emittedData = true;
            return { batch: builder.finish(), apply: () => undefined };
          }
        }
      }
    }
    if (builder !== null) {
      this.emittedData = true;
      return { batch: builder.finish(), apply: () => undefined };
    }
    return {
      batch: null,
      apply: () => {
        this.committed = plan.end;
        this.ahead = cloneState(plan.end);
        this.snapshotDone = true;
        this.phase = 'changes';
        this.snapshotPlan = null;
      },
    };
  }

  /** First pass: the winning offset of every live key, up to the end offsets at start. */
  private async planSnapshot(): Promise<SnapshotPlan> {
    const reader = await this.connect();
    const partitions = reader.partitions();
    const targets = await asSourceCall(() => reader.offsets(partitions, 'end'), this.options.topic, this.table);
    const winners = new Map<string, bigint>();
    const state = this.ahead;
    const cursor = new Map(partitions.map((p) => [p, state.offsets.get(p)!]));
    for (;;) {
      const due = new Map<number, bigint>();
      for (const p of partitions) if (state.offsets.get(p)! < targets.get(p)!) due.set(p, state.offsets.get(p)!);
      if (due.size === 0) break;
      const records = await asSourceCall(() => reader.fetch(due, 100, SNAPSHOT_FETCH_BYTES), this.options.topic, this.table);
      if (this.closed) break;
      let progressed = false;
      for (const r of records) {
        if (r.offset >= targets.get(r.partition)! || r.offset < state.offsets.get(r.partition)!) continue;
        state.offsets.set(r.partition, r.offset + 1n);
        progressed = true;
        this.foldRecord(r, winners, state);
      }
      // Offsets below the end that hold nothing readable (compacted away, aborted transactions).
      if (!progressed) for (const [p] of due) state.offsets.set(p, targets.get(p)!);
    }
    if (winners.size > 0) this.requireDescriptor();
    return { partitions, targets, cursor, winners, end: cloneState(state) };
  }

  /**
   * Folds one record in offset order. A `snapshot-start` or `truncate` marker drops every
   * row of its partition at a lower offset: compaction keeps the latest marker of each kind
   * (they are not tombstones) while older rows of other keys survive, and those must stay gone.
   * Markers of the previous format (tombstones keyed by a JSON object) are read the same way.
   */
  private foldRecord(r: FetchedRecord, winners: Map<string, bigint>, state: StreamState): void {
    const control = r.headers[HEADERS.control]?.toString('utf8');
    if (control !== undefined) {
      if (control === 'schema') this.adoptSchema(r);
      else if (control === 'watermark') {
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

  // ---- changes ----

  private async nextChangeBatch(signal?: AbortSignal): Promise<PollResult> {
    const reader = await this.connect();
    const deadline = Date.now() + (this.options.maxWaitMs ?? 100);
    const state = this.ahead;
    for (;;) {
      const wait = Math.max(0, deadline - Date.now());
      const records = await asSourceCall(() => reader.fetch(new Map(state.offsets), Math.min(wait, 100)), this.options.topic, this.table);
      if (this.closed) return { batch: null, apply: () => undefined };
      const builder = this.merge(records, state);
      const after = cloneState(state);
      const apply = (): void => {
        this.committed = after;
      };
      if (builder !== null && builder.rows > 0) {
        this.emittedData = true;
        return { batch: builder.finish(), apply };
      }
      // Nothing to return, but offsets may have moved past dropped replays and control records.
      if (Date.now() >= deadline || signal?.aborted) return { batch: null, apply };
      apply();
    }
  }

  /**
   * Turns fetched records into one change batch, in stream order. Partitions are merged by
   * `refstream-position`: the smallest head goes first, but only once every other partition
   * is known to hold nothing smaller — it has a later head, or a watermark at or past it (the
   * writer writes watermarks to every partition once records are acknowledged). Records not
   * taken stay unread (offsets stop before them) and are fetched again by the next poll.
   */
  private merge(records: FetchedRecord[], state: StreamState): BatchBuilder | null {
    const limitRows = this.options.batchRows ?? 10_000;
    const limitBytes = this.options.batchBytes ?? 8 << 20;
    const globalOrder = this.options.globalOrder ?? true;
    const queues = new Map<number, FetchedRecord[]>();
    for (const p of state.offsets.keys()) queues.set(p, []);
    for (const r of records) if (r.offset >= state.offsets.get(r.partition)!) queues.get(r.partition)?.push(r);
    const next = new Map<number, number>([...queues.keys()].map((p) => [p, 0]));
    let builder: BatchBuilder | null = null;
    const full = (): boolean => builder !== null && (builder.rows >= limitRows || builder.byteLength >= limitBytes);
    const consume = (r: FetchedRecord): void => {
      next.set(r.partition, next.get(r.partition)! + 1);
      state.offsets.set(r.partition, r.offset + 1n);
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
            const before = this.descriptor;
            this.adoptSchema(r);
            // A new schema ends the batch; its rows come in the next one.
            if (builder !== null && before !== null && !sameTableSchema(before.fields, this.descriptor!.fields)) {
              this.descriptor = before;
              return builder;
            }
          } else if (control === 'watermark') {
            if (position !== undefined) noteFrontier(state, p, position);
          } else if (control === 'snapshot-start') {
            if (this.emittedData) {
              throw definite(
                'SNAPSHOT_RESTARTED',
                `the writer of topic ${this.options.topic} started a new snapshot; rows deleted meanwhile cannot be told apart`,
                {
                  table: this.table,
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
      let best: FetchedRecord | null = null;
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
        builder ??= new BatchBuilder(this.requireDescriptor(), 'changes');
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
    const b = builder ?? new BatchBuilder(this.requireDescriptor(), 'changes');
    const descriptor = b.descriptor;
    if (r.value === null) {
      b.appendChange('delete', keyRowFromJson(descriptor, parseJson(r.key!, 'record key', this.table)), position);
    } else {
      const op = r.headers[HEADERS.op]?.toString('utf8');
      const type: ChangeType = op === 'insert' ? 'insert' : 'update';
      b.appendChange(type, rowFromJson(descriptor, parseJson(r.value, `value of key ${r.key!.toString('utf8')}`, this.table)), position);
    }
    return b;
  }

  // ---- schema ----

  private adoptSchema(r: FetchedRecord): void {
    const bytes = r.headers[HEADERS.schema];
    if (bytes === undefined || this.options.schema !== undefined) return;
    this.descriptor = descriptorFromIpc(bytes);
  }

  private requireDescriptor(): TableDescriptor {
    if (this.descriptor === null) {
      throw definite('SCHEMA_INCOMPATIBLE', `topic ${this.options.topic} has rows but no schema record was read`, {
        table: this.table,
        hint: 'pass the table schema as the `schema` option (topics written with controlRecords: false have no schema record; in the previous record format compaction removed them)',
      });
    }
    return this.descriptor;
  }

  private schemaText(): string {
    return toIpc([], snapshotSchema(this.descriptor!)).toString('base64');
  }
}

/** A replay (at or below the partition's highest position) or a change the last truncate superseded. */
function isStale(state: StreamState, partition: number, position: string): boolean {
  return isReplay(state, partition, position) || (state.truncatedAt !== null && position <= state.truncatedAt);
}

function noteFrontier(state: StreamState, partition: number, position: string): void {
  const frontier = state.frontier.get(partition);
  if (frontier === undefined || position > frontier) state.frontier.set(partition, position);
}

function isReplay(state: StreamState, partition: number, position: string): boolean {
  const high = state.high.get(partition);
  return high !== undefined && position <= high;
}

function notePosition(state: StreamState, partition: number, position: string): void {
  const high = state.high.get(partition);
  if (high === undefined || position > high) state.high.set(partition, position);
}

function clearPartition(winners: Map<string, bigint>, partition: number): void {
  const prefix = `${partition}\u0000`;
  for (const key of winners.keys()) if (key.startsWith(prefix)) winners.delete(key);
}

async function asSourceCall<T>(call: () => Promise<T>, topic: string, table: string): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw asSourceError(error, topic, table);
  }
}
