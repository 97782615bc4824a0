/**
 * KafkaReferenceTableSource: loads a topic written by KafkaSink (format `json`) back as a
 * reference table — the reverse direction, so a refstream topic can feed any process.
 *
 * Snapshot = the topic folded by key up to the end offsets captured when the snapshot
 * starts; changes = the records after them. Checkpoint = the next offset of every partition
 * plus, per partition, the highest `refstream-position` seen, so restoring resumes with
 * exactly the next change and replays the writer left in the topic (after its own crash) are
 * dropped rather than re-applied.
 *
 * This class coordinates: it connects and checks the cluster's identity, owns the stream
 * state and the checkpoint, and runs polls one at a time (poll-scheduler.ts). Reading is
 * elsewhere: the snapshot in source-snapshot.ts, the change stream in source-changes.ts,
 * the table schema in source-schema.ts.
 */
import { Schema, type RecordBatch } from 'apache-arrow';
import type { Kafka } from 'kafkajs';
import * as z from '../../sdk/zod.js';
import { descriptorOf, type TableDescriptor } from '../../sdk/batch.js';
import { makeCheckpoint, parseCheckpoint, parsePosition, type SourceCheckpoint } from '../../sdk/checkpoint.js';
import { definite, throwIfAborted } from '../../sdk/errors.js';
import type { PollOptions, ReferenceTableSource, SourceCapabilities } from '../../sdk/source.js';
import type { WarningHandler } from '../../sdk/warnings.js';
import { connectionOptionsSchema, createKafkaClient, describeConnection, parseConfig, type KafkaConnectionOptions } from './client.js';
import { descriptorFromIpc } from './decode.js';
import { PartitionReader } from './fetcher.js';
import { ControlFeed } from './control-feed.js';
import { defaultControlTopic } from './records.js';
import { asSourceError } from './errors.js';
import { PollScheduler, type PollResult } from './poll-scheduler.js';
import { ChangeReader } from './source-changes.js';
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
import type { ReadContext } from './source-context.js';
import { TopicSchema } from './source-schema.js';
import { SnapshotReader } from './source-snapshot.js';

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
  /** The control topic the writer used (default `<topic>.refstream-control`, as KafkaSink's `controlTopic`). */
  controlTopic?: string;
}

const optionsSchema = z.extend(connectionOptionsSchema, {
  topic: z.string().check(z.regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name')),
  table: z.optional(z.string().check(z.minLength(1))),
  schema: z.optional(z.unknown()),
  batchRows: z.optional(z.int().check(z.positive())),
  batchBytes: z.optional(z.int().check(z.positive())),
  maxWaitMs: z.optional(z.int().check(z.nonnegative())),
  globalOrder: z.optional(z.boolean()),
  controlTopic: z.optional(z.string().check(z.regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name'))),
  onWarning: z.optional(z.custom<WarningHandler>((value) => typeof value === 'function', 'must be a function')),
});

const CONNECTOR = 'kafka';

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
  private readonly schema: TopicSchema;
  private readonly feed: ControlFeed;
  private readonly snapshot: SnapshotReader;
  private readonly changes: ChangeReader;
  private snapshotDone = false;
  private closed = false;
  private polled = false;
  /** State after the last batch returned (what `checkpoint()` describes). */
  private committed: StreamState = emptyState();
  /** Read-ahead state of the job in progress (ahead of `committed` until its batch is returned). */
  private ahead: StreamState = emptyState();
  private readonly polls: PollScheduler;
  private emittedData = false;
  /** The connected cluster and topic (known once connected). */
  private identity: KafkaSourceIdentity | null = null;
  private restored = false;
  /** The identity a restored checkpoint recorded, until it is checked (when connecting). */
  private restoredFrom: { source: KafkaSourceIdentity | undefined; resumes: boolean } | null = null;

  constructor(options: KafkaSourceOptions) {
    this.options = parseConfig(optionsSchema, options, 'KafkaReferenceTableSource') as KafkaSourceOptions;
    this.table = this.options.table ?? this.options.topic;
    this.polls = new PollScheduler(
      this.table,
      () => this.closed,
      () => this.throwIfClosed(),
    );
    const s = this.options.schema as Schema | TableDescriptor | undefined;
    this.schema = new TopicSchema(this.options.topic, this.table, s === undefined ? null : 'primaryKey' in s ? s : descriptorOf(s));
    this.kafka = createKafkaClient(this.options);
    this.feed = new ControlFeed(this.kafka, this.options.controlTopic ?? defaultControlTopic(this.options.topic));
    const context: ReadContext = {
      topic: this.options.topic,
      table: this.table,
      batchRows: this.options.batchRows ?? 10_000,
      batchBytes: this.options.batchBytes ?? 8 << 20,
      schema: this.schema,
      control: this.feed,
      isClosed: () => this.closed,
      connect: () => this.connect(),
    };
    this.snapshot = new SnapshotReader(context);
    this.changes = new ChangeReader(context, {
      maxWaitMs: this.options.maxWaitMs ?? 100,
      globalOrder: this.options.globalOrder ?? true,
      emittedData: () => this.emittedData,
    });
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
    return makeCheckpoint(
      CONNECTOR,
      this.table,
      'changes',
      encodeChangePosition(this.options.topic, this.committed, this.schema.text(), this.identity),
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
    if (this.schema.descriptor === null && position.schema !== null)
      this.schema.descriptor = descriptorFromIpc(Buffer.from(position.schema, 'base64'));
    this.committed = state;
    this.ahead = cloneState(state);
    this.snapshotDone = true;
    this.restoredFrom = { source: position.source, resumes: true };
    await this.connect();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.snapshot.discard();
    await Promise.all([this.reader?.close(), this.feed.close()]);
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
      // Where the control topic is read from: a restored position names it per partition.
      if (await this.feed.discover(reader, this.ahead.offsets, true)) {
        const cursors = [...this.ahead.control.values()];
        if (cursors.length > 0)
          this.feed.restart(
            cursors.reduce((a, b) => (a < b ? a : b)),
            this.ahead.offsets,
          );
      }
    } catch (error) {
      await Promise.all([reader.close(), this.feed.close()]);
      throw asSourceError(error, this.options.topic, this.table);
    }
    if (this.closed) {
      await Promise.all([reader.close(), this.feed.close()]);
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

  // ---- reading ----

  private async nextSnapshotBatch(): Promise<PollResult> {
    const step = await this.snapshot.next(this.ahead);
    if (step.batch !== null) {
      this.emittedData = true;
      return { batch: step.batch, apply: () => undefined };
    }
    const end = step.end;
    if (end === null) return { batch: null, apply: () => undefined };
    return {
      batch: null,
      apply: () => {
        this.committed = end;
        this.ahead = cloneState(end);
        this.snapshotDone = true;
        this.snapshot.discard();
      },
    };
  }

  private async nextChangeBatch(signal?: AbortSignal): Promise<PollResult> {
    const step = await this.changes.next(this.ahead, (after) => (this.committed = after), signal);
    if (step.batch !== null) this.emittedData = true;
    const after = step.after;
    if (after === null) return { batch: null, apply: () => undefined };
    return {
      batch: step.batch,
      apply: () => {
        this.committed = after;
      },
    };
  }
}
