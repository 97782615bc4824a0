/**
 * KafkaSink: writes a reference table to a Kafka topic in the upsert format that Flink
 * `upsert-kafka`, Kafka Streams KTables/GlobalKTables and ksqlDB tables consume.
 * See docs/sinks/kafka.md for the record formats and guarantees.
 */
import { randomUUID } from 'node:crypto';
import type { RecordBatch } from 'apache-arrow';
import type { Kafka } from 'kafkajs';
import * as z from '../../sdk/zod.js';
import { batchInfo, descriptorOf, sameTableSchema, snapshotSchema, type TableDescriptor } from '../../sdk/batch.js';
import { ConnectorError, definite } from '../../sdk/errors.js';
import type { Sink, SnapshotStartInfo } from '../../sdk/sink.js';
import { leaseLost, type Fence } from '../../sdk/lease.js';
import { cellReader } from '../../sdk/values.js';
import { connectionOptionsSchema, createKafkaClient, describeConnection, parseConfig, type KafkaConnectionOptions } from './client.js';
import { debeziumConnectEncoder } from './debezium-connect.js';
import { arrowEncoder, debeziumEncoder, jsonEncoder, toIpc, type KafkaValueFormat, type RowEncoder } from './encode.js';
import { CONTROL_KEY_PROPERTY, defaultControlTopic, type ControlRecord } from './records.js';
import { LeanProducer } from './produce.js';
import { asSinkError } from './errors.js';
import { OrderedSender } from './sender.js';
import { ControlWriter } from './control-writer.js';
import { gzipRecordBatch } from './wire.js';
import { ensureTopic, type CreateTopicOptions } from './create-topic.js';
import { KafkaTransaction } from './transaction.js';

/** Options of {@link KafkaSink}. */
export interface KafkaSinkOptions extends KafkaConnectionOptions {
  /**
   * Target topic. It must exist (with `cleanup.policy=compact` for the `json` and `debezium`
   * formats) unless {@link createTopic} is set.
   */
  topic: string;
  /**
   * Create the topic on first connect if it does not exist: `true` (the broker's default
   * partitions and replication) or partitions, replication factor and configs. It gets
   * `cleanup.policy=compact` for the `json` and `debezium` formats, `delete` for `arrow`.
   * An existing topic is used as it is. Default false: a missing topic is a definite error.
   */
  createTopic?: boolean | CreateTopicOptions;
  /** Value format (default `json`, the upsert format). */
  format?: KafkaValueFormat;
  /**
   * Write control records (schema, snapshot-start, snapshot-complete, truncate, watermark) to
   * the control topic. Default true. Without them a truncate cannot be recorded and stops the
   * sync with `TABLE_TRUNCATED`. See docs/sinks/kafka.md, "Control records".
   */
  controlRecords?: boolean;
  /**
   * The topic control records go to (default `<topic>.refstream-control`; one partition,
   * compacted, created on first use when missing). Readers of the topic name the same one.
   */
  controlTopic?: string;
  /**
   * What a `truncate` change becomes: `control-record` (default; consumers that understand it
   * clear their state, see the docs) or `fail` (definite `TABLE_TRUNCATED`).
   */
  onTruncate?: 'control-record' | 'fail';
  /** `debezium` format: follow each delete event with a tombstone (default true, as Debezium). */
  tombstonesOnDelete?: boolean;
  /**
   * `debezium` format only: write key and value with their Kafka Connect schema, as Kafka
   * Connect's JsonConverter does with `schemas.enable=true` (`{"schema": …, "payload": …}`), the
   * schema following Debezium's PostgreSQL connector's types. A schema change in the stream shows
   * as a changed `schema` from the next record on. Default false (schemaless, as
   * `schemas.enable=false`). See docs/sinks/kafka.md, "Debezium envelope with schemas".
   */
  schemas?: boolean;
  /**
   * `debezium` format with `schemas`: the first part of the Connect struct names
   * (`<prefix>.<schema>.<table>.Value`, `.Key`, `.Envelope`), as Debezium's `topic.prefix`.
   * Default `refstream`.
   */
  schemaNamePrefix?: string;
  /**
   * Most bytes of one partition's record batch in a produce call (default 1 MiB, within the
   * broker's default `max.message.bytes`). A single row larger than this is sent alone.
   */
  chunkBytes?: number;
  /** Bytes queued plus unacknowledged before `write` waits (default 16 MiB). */
  maxBufferedBytes?: number;
  /**
   * Record batch compression: `none` (default) or `gzip` (compressed on the thread pool;
   * every Kafka client reads it). Batches are limited by `chunkBytes` before compression.
   */
  compression?: 'none' | 'gzip';
  /**
   * Idempotent produce (default true): batches carry a producer id and sequence numbers, so
   * a retried request is never written twice. Falls back to plain produce when the cluster
   * does not hand out producer ids.
   */
  idempotent?: boolean;
  /** Produce request timeout (default 30 000 ms). */
  timeoutMs?: number;
  /**
   * Exactly-once into Kafka (default false): everything written between two runner commits
   * goes out in one Kafka transaction, so `read_committed` consumers see whole commits only.
   * A {@link KafkaCheckpointStore} joined with `transactionsOf: sink` writes the checkpoint in
   * the same transaction and commits it; without one, each `flush` commits the transaction.
   * See docs/sinks/kafka.md, "Exactly-once (transactions)".
   */
  transactions?: boolean;
  /**
   * The `transactional.id` (default `refstream-<topic>`). Two processes with the same id are
   * two copies of one sync: the broker fences the older one. Give every sync its own, stable
   * across restarts (the CLI derives it from the table, its source and the topic).
   */
  transactionalId?: string;
  /** The broker aborts a transaction left open this long (default 60 000 ms). */
  transactionTimeoutMs?: number;
}

/** A record the joined checkpoint store writes into the open transaction, and commits with it. */
export interface TransactionalCheckpointRecord {
  topic: string;
  key: string;
  /** The envelope JSON, or null for a tombstone (clear). */
  value: string | null;
}

const sinkOptionsSchema = z.extend(connectionOptionsSchema, {
  topic: z.string().check(z.regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name')),
  format: z.optional(z.enum(['json', 'debezium', 'arrow'])),
  controlRecords: z.optional(z.boolean()),
  controlTopic: z.optional(z.string().check(z.regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name'))),
  onTruncate: z.optional(z.enum(['control-record', 'fail'])),
  tombstonesOnDelete: z.optional(z.boolean()),
  schemas: z.optional(z.boolean()),
  schemaNamePrefix: z.optional(z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'a Connect schema name part'))),
  chunkBytes: z.optional(z.int().check(z.positive())),
  maxBufferedBytes: z.optional(z.int().check(z.positive())),
  timeoutMs: z.optional(z.int().check(z.positive())),
  compression: z.optional(z.enum(['none', 'gzip'])),
  idempotent: z.optional(z.boolean()),
  transactions: z.optional(z.boolean()),
  transactionalId: z.optional(z.string().check(z.minLength(1), z.maxLength(32767))),
  transactionTimeoutMs: z.optional(z.int().check(z.positive())),
  createTopic: z.optional(
    z.union([
      z.boolean(),
      z.object({
        partitions: z.optional(z.int().check(z.positive())),
        replicationFactor: z.optional(z.int().check(z.positive())),
        config: z.optional(z.record(z.string(), z.string())),
      }),
    ]),
  ),
});

/**
 * A {@link Sink} writing rows as keyed records: key = primary key (JSON object), value = row
 * (JSON, Debezium envelope or Arrow IPC), delete = tombstone, header `refstream-position`.
 * Records are partitioned by murmur2 of the key bytes (kafkajs' default partitioner, the
 * same as Java clients), so each key stays in one partition, in order. `flush()` resolves
 * once every record written is acknowledged by all in-sync replicas (`acks=-1`).
 *
 * @example
 * const sink = new KafkaSink({ brokers: ['localhost:9092'], topic: 'customers' });
 */
export class KafkaSink implements Sink {
  readonly name: string;
  private readonly options: KafkaSinkOptions;
  private readonly kafka: Kafka;
  private producer: LeanProducer | null = null;
  private sender: OrderedSender | null = null;
  private connecting: Promise<OrderedSender> | null = null;
  private partitions = 0;
  private readonly encoder: RowEncoder;
  private tableFields: TableDescriptor | null = null;
  /** Writes the control records (null: not connected, or `controlRecords: false`). */
  private controlWriter: ControlWriter | null = null;
  /** Rows were written since the last control record (a watermark is due at the next flush). */
  private unmarked = false;
  private closed = false;
  /** The transactional session (transactions: true), renewed by `reset`. */
  private transaction: KafkaTransaction | null = null;
  /** Produces the joined store's checkpoint records, in the same transaction. */
  private checkpointProducers = new Map<string, LeanProducer>();
  private checkpointJoined = false;
  /** High availability: the lease epoch this sink writes for (a fenced producer then reports `LEASE_LOST`). */
  private leaseFence: Fence | null = null;
  /**
   * Transactional sinks only: before every attempt that resumes from a committed checkpoint
   * (after a transient failure of the source, say) the runner calls it, and it aborts the
   * open transaction, so the replay that follows is written once. Idempotent sinks have none
   * (a replay there is the documented at-least-once).
   */
  restore?: (state: unknown) => Promise<void>;

  constructor(options: KafkaSinkOptions) {
    this.options = parseConfig(sinkOptionsSchema, options, 'KafkaSink') as KafkaSinkOptions;
    this.name = `kafka:${this.options.topic}`;
    if (this.options.controlTopic === undefined && defaultControlTopic(this.options.topic).length > 249) {
      throw definite('CONFIG_INVALID', `KafkaSink: topic ${this.options.topic} is too long to name its control topic after it`, {
        hint: 'set controlTopic (CLI: ?controlTopic=<name>) to a topic name of at most 249 characters',
      });
    }
    const format = this.options.format ?? 'json';
    if (this.options.schemas === true && format !== 'debezium') {
      throw definite('CONFIG_INVALID', `KafkaSink ${this.name}: schemas applies to the debezium format only, not ${format}`, {
        hint: "set format: 'debezium' (CLI: ?format=debezium&schemas=true), or leave schemas off",
      });
    }
    if (this.options.schemaNamePrefix !== undefined && this.options.schemas !== true) {
      throw definite('CONFIG_INVALID', `KafkaSink ${this.name}: schemaNamePrefix names Connect schemas, which only schemas: true writes`, {
        hint: "set format: 'debezium' and schemas: true (CLI: ?format=debezium&schemas=true), or leave schemaNamePrefix out",
      });
    }
    this.kafka = createKafkaClient(this.options);
    const tombstones = this.options.tombstonesOnDelete ?? true;
    this.encoder =
      format === 'json'
        ? jsonEncoder(() => this.partitions)
        : format === 'debezium'
          ? this.options.schemas === true
            ? debeziumConnectEncoder({ tombstones, prefix: this.options.schemaNamePrefix ?? 'refstream' })
            : debeziumEncoder(tombstones)
          : arrowEncoder(() => this.partitions);
    if (this.transactional) this.restore = () => this.abortOpenTransaction();
  }

  /** Drops what was written since the last commit: waits for it to be acknowledged, then aborts its transaction. */
  private async abortOpenTransaction(): Promise<void> {
    const transaction = this.transaction;
    if (this.sender === null || transaction === null) return;
    await this.sender.flush();
    if (!transaction.inTransaction) return;
    await transaction.abort();
    this.tableFields = null; // the schema record may have been in the aborted transaction
  }

  /** Bytes written but not yet acknowledged by Kafka (0 right after `flush`). */
  get bufferedBytes(): number {
    return this.sender?.bufferedBytes ?? 0;
  }

  /** True when this sink writes in Kafka transactions (`transactions: true`). */
  get transactional(): boolean {
    return this.options.transactions === true;
  }

  /** The `transactional.id` of a transactional sink (else null). */
  get transactionalId(): string | null {
    return this.transactional ? (this.options.transactionalId ?? `refstream-${this.options.topic}`) : null;
  }

  /**
   * Called by a {@link KafkaCheckpointStore} that writes its checkpoints in this sink's
   * transactions: from then on `flush` leaves the transaction open and the store's `save`
   * commits it. Definite error when the sink is not transactional or already has a store.
   */
  joinCheckpoints(): void {
    if (!this.transactional) {
      throw definite(
        'CONFIG_INVALID',
        `KafkaSink ${this.name} is not transactional; a checkpoint store can only join a sink's transactions`,
        {
          hint: 'set transactions: true on the sink (CLI: ?transactions=true)',
        },
      );
    }
    if (this.checkpointJoined) {
      throw definite('CONFIG_INVALID', `KafkaSink ${this.name} already writes the checkpoint of another store in its transactions`, {
        hint: 'use one checkpoint store per sync',
      });
    }
    this.checkpointJoined = true;
  }

  /**
   * Connects and starts the transactional session: older producers with the same
   * `transactional.id` are fenced and the transaction they left open is aborted (or its
   * commit completed), so what a `read_committed` reader sees afterwards is final. The joined
   * checkpoint store calls this before it loads.
   */
  async beginTransactions(): Promise<void> {
    await this.ready();
  }

  /**
   * Writes `record` (the joined store's checkpoint) into the open transaction after
   * everything written so far, and commits: the records and the checkpoint become visible
   * together, or (after a crash) neither. A commit whose outcome is unknown is a definite
   * error: the next start reads the outcome from Kafka.
   */
  async commitTransaction(record: TransactionalCheckpointRecord): Promise<void> {
    const sender = await this.ready();
    const transaction = this.transaction!;
    await sender.flush();
    try {
      const producer = await this.checkpointProducer(record.topic, transaction);
      await producer.send([{ key: record.key, value: record.value }]);
    } catch (error) {
      throw asSinkError(transaction.classify(error), record.topic);
    }
    try {
      await transaction.commit();
    } catch (error) {
      if (ConnectorError.is(error) && error.kind === 'definite') throw error;
      throw definite('SINK_FAILED', `KafkaSink ${this.name}: committing the Kafka transaction failed and its outcome is unknown`, {
        cause: error,
        hint: 'restart: the next start reads the committed checkpoint from Kafka and resumes exactly after it',
      });
    }
  }

  /**
   * High availability: writes from now on belong to `fence`'s epoch. Starts the transactional
   * session now (when not started yet), which makes the broker fence every older producer
   * with the same `transactional.id` — the one of a replica that lost the lease — and abort
   * the transaction it left open. The runner confirms the lease after this and before any
   * write, so a producer started by a replica that lost the lease is fenced in turn by the
   * leader's next start. Only a transactional sink can be fenced.
   */
  async fence(fence: Fence): Promise<void> {
    if (!this.transactional) {
      throw definite(
        'CONFIG_INVALID',
        `KafkaSink ${this.name} cannot be fenced: an idempotent producer of a replica that lost the lease could still write`,
        {
          hint: 'set transactions: true on the sink (CLI: ?transactions=true) to run it under high availability',
        },
      );
    }
    if (this.leaseFence?.epoch !== fence.epoch && this.connecting !== null) await this.reset(); // a session of an earlier term
    this.leaseFence = fence;
    await this.ready();
  }

  /** The topic the control records go to. */
  get controlTopic(): string {
    return this.options.controlTopic ?? defaultControlTopic(this.options.topic);
  }

  /** True once connected with a producer id (idempotent or transactional produce). */
  get idempotent(): boolean {
    return this.producer?.idempotent ?? false;
  }

  /** Number of partitions of the topic (known after the first write). */
  get partitionCount(): number {
    return this.partitions;
  }

  async snapshotStart(info: SnapshotStartInfo): Promise<void> {
    // A restarted snapshot redoes everything after the last commit: drop the open transaction.
    if (info.restart) await this.abortOpenTransaction();
    await this.ready();
    const table = (info as { table?: string }).table ?? this.tableFields?.table ?? '';
    await this.mark({ kind: 'snapshot-start', table, marker: randomUUID(), restart: info.restart });
  }

  async write(batch: RecordBatch): Promise<void> {
    const sender = await this.ready();
    const info = batchInfo(batch);
    const descriptor = descriptorOf(batch.schema);
    if (this.tableFields === null || !sameTableSchema(this.tableFields.fields, descriptor.fields)) {
      // Announce the (new) table schema before its first row, so readers can type the JSON.
      this.tableFields = descriptor;
      await this.mark({
        kind: 'schema',
        table: info.table,
        schema: toIpc([], snapshotSchema(withKeyNotNull(descriptor))).toString('base64'),
      });
    }
    for (let from = 0; from < batch.numRows;) {
      const out = sender.beginCall();
      let stop: number;
      try {
        stop = this.encoder.encode(batch, out, from);
        if (stop > from) this.unmarked = true;
      } finally {
        await sender.endCall();
      }
      if (stop === batch.numRows) break;
      // A truncate: recorded once every row before it is in the topic.
      await this.truncate(info.table, cellReader(batch.data.children[info.tableColumnCount + 1]!)(stop) as string);
      from = stop + 1;
    }
  }

  async snapshotComplete(): Promise<void> {
    await this.ready();
    await this.mark({ kind: 'snapshot-complete', table: this.tableFields?.table ?? '' });
  }

  /**
   * Resolves once everything written is acknowledged, then writes a watermark to the control
   * topic when rows were written since the last control record. A transactional sink without
   * a joined checkpoint store then commits its transaction; with one, the store's `save` commits.
   */
  async flush(): Promise<void> {
    if (this.sender === null) return;
    await this.settle(this.sender);
    if (this.transaction !== null && !this.checkpointJoined) await this.transaction.commit();
  }

  /** Waits for every record to be acknowledged; then the watermark, if rows went out since the last control record. */
  private async settle(sender: OrderedSender): Promise<void> {
    await sender.flush();
    if (this.unmarked) await this.mark({ kind: 'watermark', table: this.tableFields?.table ?? '', position: sender.ackedPosition });
  }

  /**
   * Writes a control record once every row written before it is acknowledged, with the data
   * partitions' end offsets that place it among them. Nothing without control records.
   */
  private async mark(record: Omit<ControlRecord, 'offsets'>): Promise<void> {
    const sender = this.sender;
    const writer = this.controlWriter;
    if (sender === null || writer === null) return;
    await sender.flush();
    let offsets: bigint[];
    try {
      offsets = await this.producer!.endOffsets();
    } catch (error) {
      throw asSinkError(error, this.options.topic);
    }
    await writer.write({ ...record, offsets });
    this.unmarked = false;
  }

  /** Flushes what was written, then disconnects. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.connecting !== null) {
        const sender = await this.connecting.catch(() => null);
        if (sender !== null && sender.error === null) {
          await this.settle(sender);
          // What no checkpoint covers is replayed by the next run: abort it, not commit it.
          if (this.transaction !== null && this.transaction.fencedBy === null)
            await (this.checkpointJoined ? this.transaction.abort().catch(() => undefined) : this.transaction.commit());
        }
      }
    } finally {
      await this.disconnectAll();
    }
  }

  /**
   * After a transient failure (the cluster went away): drops the unacknowledged records and
   * the connection; the next write reconnects. The runner replays from its last checkpoint,
   * which covers everything dropped (it is saved only after `flush`).
   */
  async reset(): Promise<void> {
    if (this.closed) throw definite('CLOSED', `KafkaSink ${this.name} is closed`);
    this.sender = null;
    this.connecting = null;
    this.tableFields = null; // announce the schema again
    // A new transactional session on reconnect bumps the epoch, which aborts the open transaction.
    await this.disconnectAll();
  }

  private async disconnectAll(): Promise<void> {
    const producers = [...(this.producer !== null ? [this.producer] : []), ...this.checkpointProducers.values()];
    const transaction = this.transaction;
    const controlWriter = this.controlWriter;
    this.producer = null;
    this.transaction = null;
    this.controlWriter = null;
    this.unmarked = false;
    this.checkpointProducers = new Map();
    await Promise.all([...producers.map((p) => p.disconnect().catch(() => undefined)), controlWriter?.disconnect().catch(() => undefined)]);
    await transaction?.disconnect();
  }

  private async checkpointProducer(topic: string, transaction: KafkaTransaction): Promise<LeanProducer> {
    let producer = this.checkpointProducers.get(topic);
    if (producer === undefined) {
      producer = new LeanProducer(this.kafka, { topic, acks: -1, timeoutMs: this.options.timeoutMs ?? 30_000, transaction });
      this.checkpointProducers.set(topic, producer);
      await producer.connect();
    }
    return producer;
  }

  /**
   * A truncate: a control record (written once every row before it is acknowledged) that
   * readers of the control topic clear their state on. Without control records it cannot be
   * recorded, so it stops the sync like `onTruncate: 'fail'`.
   */
  private async truncate(table: string, position: string): Promise<void> {
    const fail = (this.options.onTruncate ?? 'control-record') === 'fail';
    if (fail || this.controlWriter === null) {
      throw definite(
        'TABLE_TRUNCATED',
        fail
          ? `table ${table} was truncated and KafkaSink ${this.name} is configured with onTruncate: 'fail'`
          : `table ${table} was truncated and KafkaSink ${this.name} writes no control records (controlRecords: false) to record it in`,
        {
          table,
          hint: fail
            ? "recreate the topic and resync, or use onTruncate: 'control-record'"
            : 'recreate the topic and resync, or enable control records so readers of the control topic learn about truncates',
        },
      );
    }
    await this.mark({ kind: 'truncate', table, position, marker: position });
    this.sender!.noteDelivered(position);
  }

  private ready(): Promise<OrderedSender> {
    if (this.closed) return Promise.reject(definite('CLOSED', `KafkaSink ${this.name} is closed`));
    if (this.sender !== null) return Promise.resolve(this.sender);
    this.connecting ??= this.connect();
    return this.connecting;
  }

  private async connect(): Promise<OrderedSender> {
    const { topic, createTopic } = this.options;
    try {
      if (createTopic !== undefined && createTopic !== false) {
        await ensureTopic(
          this.kafka,
          topic,
          this.options.format === 'arrow' ? 'delete' : 'compact',
          createTopic === true ? {} : createTopic,
        );
      }
      let transaction: KafkaTransaction | undefined;
      if (this.transactional) {
        const fence = this.leaseFence;
        transaction = new KafkaTransaction(this.kafka, {
          transactionalId: this.transactionalId!,
          transactionTimeoutMs: this.options.transactionTimeoutMs ?? 60_000,
          timeoutMs: this.options.timeoutMs ?? 30_000,
          ...(fence ? { fencedError: () => leaseLost(fence, `the broker fenced ${this.name}: a newer producer started`) } : {}),
        });
        this.transaction = transaction;
        await transaction.init();
      }
      const producer = new LeanProducer(this.kafka, {
        topic,
        acks: -1,
        timeoutMs: this.options.timeoutMs ?? 30_000,
        idempotent: this.options.idempotent ?? true,
        ...(transaction !== undefined ? { transaction } : {}),
      });
      this.producer = producer;
      this.partitions = await producer.connect();
      const gzip = this.options.compression === 'gzip';
      this.sender = new OrderedSender(async (batches) => producer.sendBatches(gzip ? await gzipAll(batches) : batches), {
        topic,
        partitionOf: (record) => producer.partitionOf(record),
        chunkBytes: this.options.chunkBytes ?? 1 << 20,
        maxBufferedBytes: this.options.maxBufferedBytes ?? 16 << 20,
      });
      if (this.options.controlRecords !== false) {
        const created = typeof createTopic === 'object' ? createTopic : {};
        this.controlWriter = new ControlWriter(this.kafka, {
          topic: this.controlTopic,
          dataTopic: topic,
          timeoutMs: this.options.timeoutMs ?? 30_000,
          ...(created.replicationFactor !== undefined ? { replicationFactor: created.replicationFactor } : {}),
          ...(created.config !== undefined ? { config: created.config } : {}),
          ...(transaction !== undefined ? { transaction } : {}),
        });
      }
      return this.sender;
    } catch (error) {
      this.connecting = null;
      await this.disconnectAll();
      const wrapped = asSinkError(error, topic);
      throw new ConnectorError(
        wrapped.code,
        `KafkaSink ${this.name} cannot connect to ${describeConnection(this.options)}: ${wrapped.message}`,
        {
          kind: wrapped.kind,
          cause: error,
          ...(wrapped.hint ? { hint: wrapped.hint } : {}),
        },
      );
    }
  }
}

/**
 * The table schema as the snapshot has it: change batches mark every column nullable (a
 * truncate row has no values), but a key column of the table never holds null.
 */
function withKeyNotNull(descriptor: TableDescriptor): TableDescriptor {
  const fields = descriptor.fields.map((f) => (f.nullable && descriptor.primaryKey.includes(f.name) ? f.clone({ nullable: false }) : f));
  return { ...descriptor, fields };
}

async function gzipAll(batches: Map<number, Buffer>): Promise<Map<number, Buffer>> {
  const entries = await Promise.all([...batches].map(async ([partition, batch]) => [partition, await gzipRecordBatch(batch)] as const));
  return new Map(entries);
}

/**
 * True for the key of a control record that earlier versions wrote into the data topic
 * (`["__refstream_control",…]`, or `{"__refstream_control":…}` before that). Consumers of such
 * topics skip these; the `refstream-control` header says the same. Data topics written now hold
 * no control records (they go to the control topic).
 */
export function isControlKey(key: Buffer | string | null): boolean {
  if (key === null) return false;
  const text = typeof key === 'string' ? key : key.toString('utf8');
  return text.startsWith(`["${CONTROL_KEY_PROPERTY}"`) || text.startsWith(`{"${CONTROL_KEY_PROPERTY}"`);
}
