/**
 * A lean produce path: records are partitioned and encoded into v2 record batches here
 * (wire.ts), and sent as Produce (v3) requests over kafkajs's broker connections, which
 * keep handling bootstrap, metadata, TLS and SASL. kafkajs's own producer builds several
 * objects per record and is several times slower for the many small records of a table.
 *
 * Idempotent by default (producer id and sequence numbers, so a retry is never written twice),
 * or transactional with a {@link KafkaTransaction} (transaction.ts).
 */
import type { Kafka } from 'kafkajs';
import { createCluster, type KafkajsBroker, type KafkajsCluster } from './fetcher.js';
import { sendFramed } from './framed-request.js';
import { encodeRecordBatch, keyPartition, sealRecordBatch, stampProducer, type WireRecord } from './wire.js';
import type { KafkaTransaction } from './transaction.js';

/** A record with an optional explicit partition (else: murmur2 of the key). */
export interface OutRecord extends WireRecord {
  partition?: number;
}

/** Settings of {@link LeanProducer}. */
export interface LeanProducerOptions {
  topic: string;
  /** `-1` (all in-sync replicas) or `1`. */
  acks: -1 | 1;
  timeoutMs: number;
  /** Attempts per partition batch for retriable errors (default 8). */
  attempts?: number;
  /**
   * Use a producer id and per-partition sequence numbers, so the broker drops a batch that a
   * retry sends twice (default true; falls back to plain produce when the cluster refuses an
   * id, e.g. without the IdempotentWrite permission on old clusters).
   */
  idempotent?: boolean;
  /**
   * Produce inside this transactional session: each batch's partition is added to the open
   * transaction first, batches carry its producer id, epoch, sequences and the transactional
   * flag (the `idempotent` setting is then ignored: a transactional producer is idempotent).
   */
  transaction?: KafkaTransaction;
}

/** Errors that end an idempotent producer's session: a new producer id is needed. */
const PRODUCER_STATE_LOST = new Set([45, 47, 59]);
const DUPLICATE_SEQUENCE_NUMBER = 46;
/** Where a v2 record batch holds its record count. */
const RECORD_COUNT_AT = 57;
/** The `buf` kafkajs checks a request payload for (its bytes come from `buffer`: see ProduceBody). */
const EMPTY = Buffer.alloc(0);

/**
 * InitProducerId errors that pass: REQUEST_TIMED_OUT, COORDINATOR_LOAD_IN_PROGRESS,
 * COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, CONCURRENT_TRANSACTIONS.
 */
const INIT_PRODUCER_ID_RETRIABLE = new Set([7, 14, 15, 16, 51]);

/** Kafka error codes worth retrying (leadership moves, timeouts, replicas catching up). */
const RETRIABLE = new Set([3, 5, 6, 7, 13, 14, 15, 16, 19, 20, 56, 74, 75]);

const ERROR_NAMES: Record<number, string> = {
  2: 'CORRUPT_MESSAGE',
  3: 'UNKNOWN_TOPIC_OR_PARTITION',
  5: 'LEADER_NOT_AVAILABLE',
  6: 'NOT_LEADER_FOR_PARTITION',
  7: 'REQUEST_TIMED_OUT',
  10: 'MESSAGE_TOO_LARGE',
  13: 'NETWORK_EXCEPTION',
  18: 'RECORD_LIST_TOO_LARGE',
  19: 'NOT_ENOUGH_REPLICAS',
  20: 'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
  21: 'INVALID_REQUIRED_ACKS',
  29: 'TOPIC_AUTHORIZATION_FAILED',
  45: 'OUT_OF_ORDER_SEQUENCE_NUMBER',
  47: 'INVALID_PRODUCER_EPOCH',
  48: 'INVALID_TXN_STATE',
  49: 'INVALID_PRODUCER_ID_MAPPING',
  59: 'UNKNOWN_PRODUCER_ID',
  87: 'INVALID_RECORD',
  90: 'PRODUCER_FENCED',
};

/** A failed produce, shaped like kafkajs errors (`type`, `retriable`) so callers classify both alike. */
export class ProduceError extends Error {
  override readonly name = 'KafkaJSProtocolError';
  constructor(
    readonly code: number,
    readonly type: string,
    readonly retriable: boolean,
    readonly partition: number,
  ) {
    super(`partition ${partition}: ${type} (Kafka error ${code})`);
  }

  /** The broker lost this producer's sequence state: retrying needs a new producer (reset). */
  get producerStateLost(): boolean {
    return PRODUCER_STATE_LOST.has(this.code);
  }
}

/** InitProducerId v0 for a non-transactional producer. */
function encodeInitProducerId(): Buffer {
  const buf = Buffer.allocUnsafe(6);
  buf.writeInt16BE(-1, 0); // transactional id: null
  buf.writeInt32BE(60_000, 2); // transaction timeout (unused without transactions)
  return buf;
}

interface PartitionResult {
  partition: number;
  errorCode: number;
  /** Offset of the batch's first record (-1 when the broker does not say, e.g. for a duplicate). */
  baseOffset: bigint;
}

/**
 * A Produce v3 request body that writes itself straight into the request's frame
 * (framed-request.ts), so the record batches are copied once, there, instead of first into a
 * body of their own (the batches are most of the sink's bytes; every copy of them costs).
 */
interface ProduceBody {
  readonly length: number;
  copy(target: Buffer, targetStart: number): number;
}

function encodeProduceRequest(
  topic: string,
  acks: number,
  timeoutMs: number,
  batches: Map<number, Buffer>,
  transactionalId: string | null = null,
): ProduceBody {
  const topicBytes = Buffer.from(topic, 'utf8');
  const idBytes = transactionalId === null ? null : Buffer.from(transactionalId, 'utf8');
  let length = 2 + (idBytes?.length ?? 0) + 2 + 4 + 4 + 2 + topicBytes.length + 4;
  for (const b of batches.values()) length += 4 + 4 + b.length;
  return {
    length,
    copy(buf: Buffer, at: number): number {
      let o = buf.writeInt16BE(idBytes === null ? -1 : idBytes.length, at); // transactional id (null: none)
      if (idBytes !== null) o += idBytes.copy(buf, o);
      o = buf.writeInt16BE(acks, o);
      o = buf.writeInt32BE(timeoutMs, o);
      o = buf.writeInt32BE(1, o); // one topic
      o = buf.writeInt16BE(topicBytes.length, o);
      o += topicBytes.copy(buf, o);
      o = buf.writeInt32BE(batches.size, o);
      for (const [partition, b] of batches) {
        o = buf.writeInt32BE(partition, o);
        o = buf.writeInt32BE(b.length, o);
        o += b.copy(buf, o);
      }
      return o - at;
    },
  };
}

/** Produce v3 response: per-partition error codes and base offsets. */
async function decodeProduceResponse(raw: Buffer): Promise<PartitionResult[]> {
  const out: PartitionResult[] = [];
  let o = 0;
  const topics = raw.readInt32BE(o);
  o += 4;
  for (let t = 0; t < topics; t++) {
    const nameLength = raw.readInt16BE(o);
    o += 2 + Math.max(nameLength, 0);
    const partitions = raw.readInt32BE(o);
    o += 4;
    for (let p = 0; p < partitions; p++) {
      out.push({ partition: raw.readInt32BE(o), errorCode: raw.readInt16BE(o + 4), baseOffset: raw.readBigInt64BE(o + 6) });
      o += 4 + 2 + 8 + 8;
    }
  }
  return out;
}

/**
 * An idempotent producer's identity and the next sequence number of each partition: every
 * batch gets the id, the epoch and its partition's next sequence, which then advances by the
 * batch's record count (wrapping at 2^31, as the Java client's).
 */
export class ProducerSequences {
  private readonly next = new Map<number, number>();

  constructor(
    readonly id: bigint,
    readonly epoch: number,
  ) {}

  /** Stamps finished batches (one per partition, in send order). */
  stamp(batches: Map<number, Buffer>): void {
    for (const [partition, batch] of batches) {
      const sequence = this.next.get(partition) ?? 0;
      stampProducer(batch, this.id, this.epoch, sequence);
      this.next.set(partition, (sequence + batch.readInt32BE(RECORD_COUNT_AT)) % 2 ** 31);
    }
  }
}

/** Produces to one topic; each `send` is acknowledged as a whole or fails. */
export class LeanProducer {
  private readonly cluster: KafkajsCluster;
  private partitions = 0;
  /** The idempotent producer's id, epoch and sequences (null: plain produce). */
  private producer: ProducerSequences | null = null;
  /**
   * Per partition, the offset after the last record this producer wrote (or the partition's
   * end when it connected); a partition missing here is looked up again before it is reported.
   */
  private readonly nextOffset = new Map<number, bigint>();

  constructor(
    kafka: Kafka,
    private readonly options: LeanProducerOptions,
  ) {
    // Offset lookups give high watermarks: the end of everything written, committed or not.
    this.cluster = createCluster(kafka, 'read_uncommitted');
  }

  /** Connects and loads the topic's metadata; resolves to its partition count. */
  async connect(): Promise<number> {
    await this.cluster.connect();
    await this.cluster.addTargetTopic(this.options.topic);
    this.partitions = this.cluster.findTopicPartitionMetadata(this.options.topic).length;
    if (this.partitions === 0) throw new ProduceError(3, 'UNKNOWN_TOPIC_OR_PARTITION', false, -1);
    if (this.options.transaction === undefined && this.options.idempotent !== false && this.options.acks === -1) {
      const id = await this.initProducerId();
      if (id !== null) this.producer = new ProducerSequences(id.id, id.epoch);
    }
    return this.partitions;
  }

  /** True when batches carry a producer id and sequence numbers. */
  get idempotent(): boolean {
    return this.producer !== null || this.options.transaction !== undefined;
  }

  /**
   * A producer id from the cluster, or null when it does not give one (plain produce then).
   * A broker that is still loading its producer-id state (just started, or taking over after
   * a failover) answers with a retriable error: asked again, with a short backoff, until the
   * produce timeout, so a transient state never turns idempotence off.
   */
  private async initProducerId(): Promise<{ id: bigint; epoch: number } | null> {
    const deadline = Date.now() + this.options.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const response = await this.requestProducerId();
      if (response === null) return null;
      if (response.errorCode === 0) return { id: response.id, epoch: response.epoch };
      if (!INIT_PRODUCER_ID_RETRIABLE.has(response.errorCode) || Date.now() >= deadline) return null;
      await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 500)));
    }
  }

  private async requestProducerId(): Promise<{ errorCode: number; id: bigint; epoch: number } | null> {
    try {
      const leaders = this.cluster.findLeaderForPartitions(this.options.topic, [0]);
      const nodeId = Object.keys(leaders)[0];
      if (nodeId === undefined) return null;
      const broker = await this.cluster.findBroker({ nodeId });
      const body = encodeInitProducerId();
      return (await broker.connectionPool.send({
        request: {
          apiKey: 22,
          apiVersion: 0,
          apiName: 'InitProducerId',
          expectResponse: () => true,
          encode: async () => ({ buf: EMPTY, buffer: body }), // see ProduceBody
        },
        response: {
          decode: async (raw: Buffer) => ({ errorCode: raw.readInt16BE(4), id: raw.readBigInt64BE(6), epoch: raw.readInt16BE(14) }),
          parse: async (decoded: unknown) => decoded,
        },
        requestTimeout: this.options.timeoutMs + 5000,
      })) as { errorCode: number; id: bigint; epoch: number };
    } catch {
      return null;
    }
  }

  get partitionCount(): number {
    return this.partitions;
  }

  /**
   * Per partition (index = partition), the offset after every record this producer has had
   * acknowledged: what a control record written now stands before. Partitions it has not
   * written to, or whose last offset the broker did not report, are looked up (ListOffsets).
   */
  async endOffsets(): Promise<bigint[]> {
    const unknown: number[] = [];
    for (let p = 0; p < this.partitions; p++) if (!this.nextOffset.has(p)) unknown.push(p);
    // Leaders may still be moving (a topic just created, a failover): retried after a metadata refresh.
    for (let attempt = 1; unknown.length > 0; attempt++) {
      try {
        const result = await this.cluster.fetchTopicsOffset([
          { topic: this.options.topic, partitions: unknown.map((partition) => ({ partition })), fromBeginning: false },
        ]);
        for (const p of result[0]?.partitions ?? []) this.nextOffset.set(p.partition, BigInt(p.offset));
        break;
      } catch (error) {
        if ((error as { retriable?: boolean }).retriable !== true || attempt >= (this.options.attempts ?? 8)) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** (attempt - 1), 3000)));
        await this.cluster.refreshMetadata().catch(() => undefined);
      }
    }
    return Array.from({ length: this.partitions }, (_, p) => this.nextOffset.get(p) ?? 0n);
  }

  /** The partition of a record: its explicit one, else murmur2 of its key. */
  partitionOf(record: OutRecord): number {
    return record.partition ?? keyPartition(typeof record.key === 'string' ? record.key : String(record.key), this.partitions);
  }

  /** Sends records (in order per partition) and resolves once all are acknowledged. */
  async send(records: readonly OutRecord[]): Promise<void> {
    const byPartition = new Map<number, WireRecord[]>();
    for (const r of records) {
      const partition = this.partitionOf(r);
      let list = byPartition.get(partition);
      if (list === undefined) byPartition.set(partition, (list = []));
      list.push(r);
    }
    const now = Date.now();
    const batches = new Map<number, Buffer>();
    for (const [partition, list] of byPartition) batches.set(partition, encodeRecordBatch(list, now));
    await this.sendBatches(batches);
  }

  /**
   * Sends one encoded record batch per partition (Produce v3+ takes exactly one) and resolves
   * once all are acknowledged. Retriable failures are retried for the failed partitions only,
   * so no partition's records are reordered.
   */
  async sendBatches(batches: Map<number, Buffer>): Promise<void> {
    const transaction = this.options.transaction;
    if (transaction === undefined) return this.sendStamped(batches);
    try {
      await transaction.addPartitions(this.options.topic, batches.keys());
      transaction.stamp(this.options.topic, batches);
      await this.sendStamped(batches);
    } catch (error) {
      throw transaction.classify(error);
    }
  }

  private async sendStamped(batches: Map<number, Buffer>): Promise<void> {
    // Stamped and sealed once: a retry resends the same sequence, which the broker recognises.
    this.producer?.stamp(batches);
    for (const batch of batches.values()) sealRecordBatch(batch);
    let pending = new Map(batches);
    const attempts = this.options.attempts ?? 8;
    for (let attempt = 1; pending.size > 0; attempt++) {
      const failures = await this.sendOnce(pending);
      if (failures.length === 0) return;
      const fatal = failures.find((f) => !f.retriable) ?? (attempt >= attempts ? failures[0] : undefined);
      if (fatal !== undefined) throw fatal.error;
      const retry = new Map<number, Buffer>();
      for (const f of failures) for (const p of f.partitions) retry.set(p, pending.get(p)!);
      pending = retry;
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** (attempt - 1), 3000)));
      await this.cluster.refreshMetadata().catch(() => undefined);
    }
  }

  private async sendOnce(batches: Map<number, Buffer>): Promise<Array<{ partitions: number[]; retriable: boolean; error: Error }>> {
    const byLeader = this.cluster.findLeaderForPartitions(this.options.topic, [...batches.keys()]);
    const failures: Array<{ partitions: number[]; retriable: boolean; error: Error }> = [];
    await Promise.all(
      Object.entries(byLeader).map(async ([nodeId, partitions]) => {
        const own = new Map(partitions.map((p) => [p, batches.get(p)!]));
        try {
          const broker: KafkajsBroker = await this.cluster.findBroker({ nodeId });
          const body = encodeProduceRequest(
            this.options.topic,
            this.options.acks,
            this.options.timeoutMs,
            own,
            this.options.transaction?.transactionalId ?? null,
          );
          const results = (await sendFramed(broker.connectionPool, {
            apiKey: 0,
            apiVersion: 3,
            apiName: 'Produce',
            body,
            decode: decodeProduceResponse,
            requestTimeout: this.options.timeoutMs + 5000,
          })) as PartitionResult[];
          for (const r of results) {
            if (r.errorCode === 0 || r.errorCode === DUPLICATE_SEQUENCE_NUMBER) {
              const batch = own.get(r.partition);
              if (r.errorCode === 0 && r.baseOffset >= 0n && batch !== undefined)
                this.nextOffset.set(r.partition, r.baseOffset + BigInt(batch.readInt32BE(RECORD_COUNT_AT)));
              else this.nextOffset.delete(r.partition); // looked up when next needed
              continue;
            }
            const type = ERROR_NAMES[r.errorCode] ?? `ERROR_${r.errorCode}`;
            const retriable = RETRIABLE.has(r.errorCode);
            failures.push({ partitions: [r.partition], retriable, error: new ProduceError(r.errorCode, type, retriable, r.partition) });
          }
        } catch (error) {
          const e = error as { retriable?: boolean; name?: string };
          const retriable =
            e.retriable === true ||
            e.name === 'KafkaJSConnectionError' ||
            e.name === 'KafkaJSRequestTimeoutError' ||
            e.name === 'KafkaJSConnectionClosedError';
          failures.push({ partitions, retriable, error: error as Error });
        }
      }),
    );
    // Partitions without a known leader: retry after a metadata refresh.
    const led = new Set(Object.values(byLeader).flat());
    const orphans = [...batches.keys()].filter((p) => !led.has(p));
    if (orphans.length > 0)
      failures.push({ partitions: orphans, retriable: true, error: new ProduceError(5, 'LEADER_NOT_AVAILABLE', true, orphans[0]!) });
    return failures;
  }

  async disconnect(): Promise<void> {
    await this.cluster.disconnect().catch(() => undefined);
  }
}
