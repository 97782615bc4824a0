/**
 * The sink's side of the control topic: its control records (schema, snapshot markers,
 * truncates, watermarks) go to a topic of their own, so the data topic holds nothing but rows
 * and tombstones. Each record carries the end offsets of the data partitions when it was
 * written, which places it among the rows exactly (records.ts, `ControlRecord`).
 *
 * The topic has one partition (one order) and is compacted: the latest record of each kind
 * stays. It is created on first use when missing, like the internal topics of Kafka Streams.
 */
import type { Kafka } from 'kafkajs';
import { ConnectorError, definite } from '../../sdk/errors.js';
import { ensureTopic } from './create-topic.js';
import { asSinkError } from './errors.js';
import { LeanProducer } from './produce.js';
import { HEADERS, encodeControlRecord, type ControlRecord } from './records.js';
import type { KafkaTransaction } from './transaction.js';

/** Settings of {@link ControlWriter}. */
export interface ControlWriterOptions {
  /** The control topic. */
  topic: string;
  /** The data topic (named in messages). */
  dataTopic: string;
  timeoutMs: number;
  /** Replicas when the topic is created (default: the broker's `default.replication.factor`). */
  replicationFactor?: number;
  /** Topic configs when it is created (the sink's `createTopic.config`), over the defaults below. */
  config?: Record<string, string>;
  /** Write inside this transaction (the sink's), so control records commit and abort with the rows. */
  transaction?: KafkaTransaction;
}

/**
 * Segments roll hourly so compaction can drop superseded watermarks (one per flush) within
 * hours instead of the week a default segment stays open.
 */
const CONTROL_TOPIC_CONFIG = { 'segment.ms': String(3_600_000) };

/** Writes control records, one at a time, each acknowledged by all in-sync replicas. */
export class ControlWriter {
  private producer: LeanProducer | null = null;

  constructor(
    private readonly kafka: Kafka,
    private readonly options: ControlWriterOptions,
  ) {}

  /** Writes `record` and resolves once it is acknowledged. */
  async write(record: ControlRecord): Promise<void> {
    const producer = this.producer ?? (await this.connect());
    try {
      await producer.send([
        {
          key: record.kind,
          value: encodeControlRecord(record),
          partition: 0,
          headers: { [HEADERS.control]: record.kind, ...(record.table !== '' ? { [HEADERS.table]: record.table } : {}) },
        },
      ]);
    } catch (error) {
      throw asSinkError(error, this.options.topic);
    }
  }

  private async connect(): Promise<LeanProducer> {
    const { topic, dataTopic, timeoutMs, transaction, replicationFactor } = this.options;
    try {
      // cleanup.policy stays compact whatever the data topic's is (arrow topics delete).
      await ensureTopic(this.kafka, topic, 'compact', {
        partitions: 1,
        ...(replicationFactor !== undefined ? { replicationFactor } : {}),
        config: { ...CONTROL_TOPIC_CONFIG, ...this.options.config, 'cleanup.policy': 'compact' },
      });
    } catch (error) {
      if (ConnectorError.is(error)) throw error;
      throw definite('SINK_FAILED', `cannot create the control topic ${topic} of ${dataTopic}: ${(error as Error).message}`, {
        cause: error,
        hint: `create it (1 partition, cleanup.policy=compact) or allow refstream to create topics; or set controlTopic, or controlRecords: false (CLI: ?controlRecords=false)`,
      });
    }
    const producer = new LeanProducer(this.kafka, {
      topic,
      acks: -1,
      timeoutMs,
      idempotent: false,
      ...(transaction ? { transaction } : {}),
    });
    try {
      await producer.connect();
    } catch (error) {
      await producer.disconnect();
      throw asSinkError(error, topic);
    }
    this.producer = producer;
    return producer;
  }

  async disconnect(): Promise<void> {
    const producer = this.producer;
    this.producer = null;
    await producer?.disconnect();
  }
}
