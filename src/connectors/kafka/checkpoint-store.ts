/**
 * KafkaCheckpointStore: keeps the runner's checkpoint in a compacted Kafka topic, so a
 * deployment that writes to Kafka needs no local disk for its state.
 */
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import * as z from '../../sdk/zod.js';
import {
  decodeCheckpointEnvelope,
  encodeCheckpointEnvelope,
  type CheckpointStore,
  type StoredCheckpoint,
} from '../../sdk/checkpoint-store.js';
import { PartitionReader } from './fetcher.js';
import { connectionOptionsSchema, createKafkaClient, parseConfig, type KafkaConnectionOptions } from './client.js';
import { partitionFor } from './encode.js';
import { asSinkError } from './errors.js';
import type { KafkaSink } from './sink.js';

/** Options of {@link KafkaCheckpointStore}. */
export interface KafkaCheckpointStoreOptions extends KafkaConnectionOptions {
  /** The checkpoint topic (create it with `cleanup.policy=compact`; one topic serves many tables). */
  topic: string;
  /** Record key of this checkpoint, unique per synced table, e.g. `orders-db.public.customers`. */
  key: string;
  /**
   * A transactional {@link KafkaSink} on the same cluster whose transactions this store's
   * checkpoints join: `save` writes the checkpoint record into the sink's open transaction and
   * commits it, so the sink's records and the checkpoint become visible together, or not at
   * all (exactly-once into Kafka). Can also be set later with {@link KafkaCheckpointStore.joinTransactionsOf}.
   */
  transactionsOf?: KafkaSink;
}

const storeOptionsSchema = z.extend(connectionOptionsSchema, {
  topic: z.string().check(z.regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name')),
  key: z.string().check(z.minLength(1)),
});

/**
 * A {@link CheckpointStore} in a compacted topic: `save` produces `{key → envelope JSON}`
 * (the shared envelope: source checkpoint and sink states)
 * with `acks=-1` and resolves once it is acknowledged; `load` reads the key's partition to its
 * end and takes the last value of the key; `clear` writes a tombstone. Compaction keeps the
 * topic at one record per key.
 */
export class KafkaCheckpointStore implements CheckpointStore {
  private readonly options: KafkaCheckpointStoreOptions;
  private readonly kafka: Kafka;
  private producer: Producer | null = null;
  private reader: PartitionReader | null = null;
  private partition: number | null = null;
  private sink: KafkaSink | null = null;

  constructor(options: KafkaCheckpointStoreOptions) {
    const { transactionsOf, ...rest } = options;
    this.options = parseConfig(storeOptionsSchema, rest, 'KafkaCheckpointStore') as KafkaCheckpointStoreOptions;
    this.kafka = createKafkaClient(this.options);
    if (transactionsOf !== undefined) this.joinTransactionsOf(transactionsOf);
  }

  /**
   * Writes this store's checkpoints in `sink`'s Kafka transactions (see
   * {@link KafkaCheckpointStoreOptions.transactionsOf}); call it before the first `load`.
   */
  joinTransactionsOf(sink: KafkaSink): void {
    sink.joinCheckpoints();
    this.sink = sink;
  }

  /** The transactional sink this store's checkpoints are committed with, if any. */
  get transactionalSink(): KafkaSink | null {
    return this.sink;
  }

  /**
   * The last checkpoint saved. Records of transactions that were not committed are never
   * read; with a joined sink, the sink's transactional session starts first, which fences an
   * older copy of the sync and settles the transaction it left open, so the checkpoint read
   * is final.
   */
  async load(): Promise<StoredCheckpoint | null> {
    if (this.sink !== null) await this.sink.beginTransactions();
    const reader = await this.connectReader();
    const partition = this.partition!;
    const [start, end] = await Promise.all([reader.offsets([partition], 'start'), reader.offsets([partition], 'end')]);
    let offset = start.get(partition) ?? 0n;
    const last = end.get(partition) ?? 0n;
    let latest: Buffer | null | undefined;
    while (offset < last) {
      const reached = new Map<number, bigint>();
      const records = await reader.fetch(new Map([[partition, offset]]), 100, undefined, reached);
      for (const r of records) {
        offset = r.offset + 1n;
        if (r.key !== null && r.key.toString('utf8') === this.options.key) latest = r.value;
      }
      // Past records not readable (aborted transactions, markers, a compacted-away tail).
      const to = reached.get(partition);
      if (to !== undefined && to > offset) offset = to;
      else if (records.length === 0) break;
    }
    if (latest === undefined || latest === null) return null;
    return decodeCheckpointEnvelope(
      latest.toString('utf8'),
      `checkpoint record ${this.options.key} in topic ${this.options.topic}`,
      'clear the checkpoint (next start takes a new snapshot)',
    );
  }

  async save(stored: StoredCheckpoint): Promise<void> {
    await this.produce(JSON.stringify(encodeCheckpointEnvelope(stored)));
  }

  async clear(): Promise<void> {
    await this.produce(null);
  }

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined);
    await this.reader?.close();
    this.producer = null;
    this.reader = null;
  }

  private async produce(value: string | null): Promise<void> {
    if (this.sink !== null) {
      await this.sink.commitTransaction({ topic: this.options.topic, key: this.options.key, value });
      return;
    }
    try {
      if (this.producer === null) {
        const producer = this.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
        await producer.connect();
        this.producer = producer;
      }
      await this.producer.send({ topic: this.options.topic, acks: -1, messages: [{ key: this.options.key, value }] });
    } catch (error) {
      throw asSinkError(error, this.options.topic);
    }
  }

  private async connectReader(): Promise<PartitionReader> {
    if (this.reader === null) {
      const reader = new PartitionReader(this.kafka, this.options.topic);
      try {
        await reader.connect();
        this.partition = partitionFor(this.options.topic, this.options.key, reader.partitions().length);
      } catch (error) {
        await reader.close();
        throw asSinkError(error, this.options.topic);
      }
      this.reader = reader;
    }
    return this.reader;
  }
}
