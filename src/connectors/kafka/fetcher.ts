/**
 * Direct partition reads: list offsets and fetch records of chosen partitions from chosen
 * offsets, with no consumer group. The refstream source and checkpoint store need exactly
 * this (their own offsets, pull on demand), which the kafkajs consumer API (group-managed,
 * push-based) does not offer; kafkajs's cluster layer does, so this module reaches it
 * through the client's private cluster factory. kafkajs 2.2 is the supported version.
 */
import type { Kafka } from 'kafkajs';
import { definite } from '../../sdk/errors.js';

/** One record as read from a partition. */
export interface FetchedRecord {
  partition: number;
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | undefined>;
}

interface KafkajsMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, Buffer | Buffer[] | undefined>;
  isControlRecord?: boolean;
  batchContext?: { producerId: string; inTransaction: boolean };
}

/** The key of a transaction marker that aborts (version 0, type 0). */
const ABORT_MARKER_KEY = Buffer.from([0, 0, 0, 0]);

/**
 * The records of `messages` (one partition, in offset order) that no aborted transaction
 * wrote: a read_committed fetch returns aborted records too, with the list of aborted
 * transactions (producer id, first offset), and the reader drops them up to each producer's
 * abort marker, as the Java and kafkajs consumers do.
 */
function withoutAborted(
  messages: KafkajsMessage[],
  aborted: Array<{ producerId: string; firstOffset: string }> | undefined,
): KafkajsMessage[] {
  if (aborted === undefined || aborted.length === 0) return messages.filter((m) => m.isControlRecord !== true);
  const upcoming = [...aborted].sort((a, b) => (BigInt(a.firstOffset) < BigInt(b.firstOffset) ? -1 : 1));
  const open = new Set<string>();
  return messages.filter((m) => {
    const offset = BigInt(m.offset);
    while (upcoming.length > 0 && offset >= BigInt(upcoming[0]!.firstOffset)) open.add(upcoming.shift()!.producerId);
    const producerId = m.batchContext?.producerId ?? '';
    if (m.isControlRecord) {
      if (m.key !== null && Buffer.from(m.key).equals(ABORT_MARKER_KEY)) open.delete(producerId);
      return false;
    }
    return !(m.batchContext?.inTransaction === true && open.has(producerId));
  });
}

/** What one fetch showed of a partition: its stable end, and how far its records went. */
interface PartitionSeen {
  stable: bigint;
  /** The offset after the last record the fetch returned, any kind (none: no batch at all). */
  scannedTo?: bigint;
}

/** A request kafkajs's connection can send (encoded by the caller). */
export interface RawRequest {
  request: {
    apiKey: number;
    apiVersion: number;
    apiName: string;
    expectResponse: () => boolean;
    /** `buffer` needs only what kafkajs uses of it: its length and `copy(target, offset)`. */
    encode: () => Promise<{ buf: Buffer; buffer: Buffer | { readonly length: number; copy(target: Buffer, targetStart: number): number } }>;
  };
  response: { decode: (raw: Buffer) => Promise<unknown>; parse: (decoded: unknown) => Promise<unknown> };
  requestTimeout?: number;
}

export interface KafkajsBroker {
  connectionPool: { send(request: RawRequest): Promise<unknown>; getConnection(index?: number): Promise<unknown> };
  metadata(topics: string[]): Promise<{ topicMetadata: Array<{ topic: string; topicErrorCode: number }> }>;
  fetch(request: {
    isolationLevel: number;
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    topics: Array<{ topic: string; partitions: Array<{ partition: number; fetchOffset: string; maxBytes: number }> }>;
  }): Promise<{
    responses: Array<{
      topicName: string;
      partitions: Array<{
        partition: number;
        highWatermark: string;
        lastStableOffset?: string;
        abortedTransactions?: Array<{ producerId: string; firstOffset: string }>;
        messages: KafkajsMessage[];
      }>;
    }>;
  }>;
}

export interface KafkajsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  refreshMetadata(): Promise<void>;
  /** Metadata v2+ carries the cluster id (null from older brokers). */
  metadata(args: {
    topics: string[];
  }): Promise<{ clusterId?: string | null; topicMetadata?: Array<{ topic: string; topicErrorCode: number }> }>;
  findTopicPartitionMetadata(topic: string): Array<{ partitionId: number; leader: number }>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(args: { nodeId: string }): Promise<KafkajsBroker>;
  fetchTopicsOffset(
    topics: Array<{ topic: string; partitions: Array<{ partition: number }>; fromBeginning: boolean }>,
  ): Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>>;
}

const READ_UNCOMMITTED = 0;
const READ_COMMITTED = 1;

/**
 * A kafkajs cluster (metadata, leaders, broker connections) built from the client's own
 * settings. Its offset lookups give last stable offsets (`read_committed`, the default) or
 * high watermarks (`read_uncommitted`).
 */
export function createCluster(kafka: Kafka, isolation: 'read_committed' | 'read_uncommitted' = 'read_committed'): KafkajsCluster {
  const factory = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster');
  const create = factory === undefined ? undefined : (kafka as unknown as Record<symbol, unknown>)[factory];
  if (typeof create !== 'function') {
    throw definite('INTERNAL', 'this kafkajs version does not expose its cluster factory (refstream supports kafkajs 2.2)');
  }
  return (create as (options: Record<string, unknown>) => unknown)({
    metadataMaxAge: 300_000,
    allowAutoTopicCreation: false,
    maxInFlightRequests: null,
    isolationLevel: isolation === 'read_committed' ? READ_COMMITTED : READ_UNCOMMITTED,
  }) as KafkajsCluster;
}

/** Reads partitions of one topic at offsets the caller keeps. */
export class PartitionReader {
  private readonly cluster: KafkajsCluster;
  private connected = false;

  constructor(
    kafka: Kafka,
    readonly topic: string,
    private readonly maxBytesPerPartition = 4 << 20,
  ) {
    this.cluster = createCluster(kafka);
  }

  async connect(): Promise<void> {
    if (this.connected) return;
    await this.cluster.connect();
    await this.cluster.addTargetTopic(this.topic);
    this.connected = true;
  }

  /** Partition ids of the topic (definite error when it has none, i.e. does not exist). */
  partitions(): number[] {
    const ids = this.cluster
      .findTopicPartitionMetadata(this.topic)
      .map((p) => p.partitionId)
      .sort((a, b) => a - b);
    if (ids.length === 0)
      throw definite('TABLE_NOT_FOUND', `Kafka topic ${this.topic} does not exist or has no partitions`, {
        hint: `create topic ${this.topic} or check the name`,
      });
    return ids;
  }

  /** The cluster's id from the Metadata response, or null when the broker reports none (Kafka < 0.10.1). */
  async clusterId(): Promise<string | null> {
    const metadata = await this.cluster.metadata({ topics: [this.topic] });
    return typeof metadata.clusterId === 'string' && metadata.clusterId !== '' ? metadata.clusterId : null;
  }

  /**
   * True when the cluster has topic `name`: a Metadata request for it alone, sent to the
   * leader of this topic's first partition (topics are never created by it).
   */
  async topicExists(name: string): Promise<boolean> {
    const nodeId = Object.keys(this.cluster.findLeaderForPartitions(this.topic, [this.partitions()[0]!]))[0];
    if (nodeId === undefined) throw definite('INTERNAL', `no leader known for topic ${this.topic}`);
    const broker = await this.cluster.findBroker({ nodeId });
    try {
      const metadata = await broker.metadata([name]);
      return metadata.topicMetadata.some((t) => t.topic === name && t.topicErrorCode === 0);
    } catch (error) {
      if ((error as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION') return false;
      throw error;
    }
  }

  /** The end offsets (last stable offsets) of the given partitions, or their start offsets. */
  async offsets(partitions: number[], which: 'end' | 'start'): Promise<Map<number, bigint>> {
    const result = await this.cluster.fetchTopicsOffset([
      { topic: this.topic, partitions: partitions.map((partition) => ({ partition })), fromBeginning: which === 'start' },
    ]);
    const out = new Map<number, bigint>();
    for (const p of result[0]?.partitions ?? []) out.set(p.partition, BigInt(p.offset));
    return out;
  }

  /**
   * Fetches committed records at or after the given offsets (one request per partition
   * leader, in parallel), in offset order per partition; records of aborted transactions,
   * transaction markers and records before the requested offset (a fetch returns whole record
   * batches) are dropped. `reached`, when given, receives per partition the offset up to which
   * everything was looked at: every record below it was returned or is not readable (aborted,
   * a marker, compacted away), so a reader may move its position there.
   */
  async fetch(
    positions: Map<number, bigint>,
    maxWaitMs: number,
    maxBytesPerPartition = this.maxBytesPerPartition,
    reached?: Map<number, bigint>,
  ): Promise<FetchedRecord[]> {
    const partitions = [...positions.keys()];
    if (partitions.length === 0) return [];
    const seen = new Map<number, PartitionSeen>();
    const out = await this.fetchOnce(positions, maxWaitMs, maxBytesPerPartition, seen);
    // A broker leaves out a partition whose next record batch is larger than its share of the
    // fetch, unless it is the first partition with data: those are fetched again alone, where
    // it answers with that batch whatever its size.
    const missed = partitions.filter((p) => seen.get(p)?.scannedTo === undefined && (seen.get(p)?.stable ?? 0n) > positions.get(p)!);
    if (missed.length > 1 || (missed.length === 1 && partitions.length > 1)) {
      const again = await Promise.all(missed.map((p) => this.fetchOnce(new Map([[p, positions.get(p)!]]), 0, maxBytesPerPartition, seen)));
      for (const records of again) out.push(...records);
    }
    if (reached !== undefined) {
      for (const p of partitions) {
        const s = seen.get(p);
        if (s === undefined) continue;
        // Alone in its fetch and no batch at all below the stable end: compacted away.
        const to = s.scannedTo ?? (s.stable > positions.get(p)! ? s.stable : undefined);
        if (to !== undefined) reached.set(p, to);
      }
    }
    return out;
  }

  private async fetchOnce(
    positions: Map<number, bigint>,
    maxWaitMs: number,
    maxBytesPerPartition: number,
    seen: Map<number, PartitionSeen>,
  ): Promise<FetchedRecord[]> {
    const byLeader = this.cluster.findLeaderForPartitions(this.topic, [...positions.keys()]);
    const responses = await Promise.all(
      Object.entries(byLeader).map(async ([nodeId, ids]) => {
        const broker = await this.cluster.findBroker({ nodeId });
        return broker.fetch({
          isolationLevel: READ_COMMITTED,
          maxWaitTime: maxWaitMs,
          minBytes: 1,
          maxBytes: maxBytesPerPartition * ids.length,
          topics: [
            {
              topic: this.topic,
              partitions: ids.map((partition) => ({
                partition,
                fetchOffset: String(positions.get(partition)!),
                maxBytes: maxBytesPerPartition,
              })),
            },
          ],
        });
      }),
    );
    const out: FetchedRecord[] = [];
    for (const response of responses) {
      for (const topic of response.responses) {
        for (const p of topic.partitions) {
          const from = positions.get(p.partition)!;
          const lso = BigInt(p.lastStableOffset ?? '-1');
          const last = p.messages.at(-1);
          seen.set(p.partition, {
            stable: lso >= 0n ? lso : BigInt(p.highWatermark),
            ...(last !== undefined && BigInt(last.offset) >= from ? { scannedTo: BigInt(last.offset) + 1n } : {}),
          });
          for (const m of withoutAborted(p.messages, p.abortedTransactions)) {
            const offset = BigInt(m.offset);
            if (offset < from) continue;
            const headers: Record<string, Buffer | undefined> = {};
            for (const [name, value] of Object.entries(m.headers ?? {})) headers[name] = Array.isArray(value) ? value.at(-1) : value;
            out.push({ partition: p.partition, offset, key: m.key, value: m.value, headers });
          }
        }
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.cluster.disconnect().catch(() => undefined);
    this.connected = false;
  }
}
