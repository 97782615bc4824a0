/**
 * Ordered, bounded delivery of messages through a kafkajs producer.
 *
 * One produce call is in flight at a time: the next one starts only after the previous one
 * was acknowledged. That keeps every partition's records in write order even when kafkajs
 * retries a request (what an idempotent producer would guarantee, without needing one), and
 * batches naturally: while a call is in flight, new records queue up and leave together in
 * the next call (up to `chunkBytes`). An idle sender sends at once, so latency stays low.
 * `enqueue` waits while more than `maxBufferedBytes` are queued or in flight, so memory stays
 * bounded however fast batches arrive.
 *
 * It also knows the highest `_position` acknowledged together with everything before it,
 * which the sink's watermarks (in the control topic) announce after each flush.
 */
import type { ConnectorError } from '../../sdk/errors.js';
import type { OutRecord } from './produce.js';
import { RecordBatchWriter } from './wire.js';
import { asSinkError } from './errors.js';

/** Settings of {@link OrderedSender}. */
export interface SenderOptions {
  topic: string;
  /** Most bytes of one partition's record batch (a single larger record goes alone). */
  chunkBytes: number;
  /** Bytes queued plus in flight before `enqueue` waits. */
  maxBufferedBytes: number;
  /** The partition of a record without an explicit one. */
  partitionOf: (record: OutRecord) => number;
}

/** A record to send and, for change rows, its `_position`. */
export interface SizedMessage {
  message: OutRecord;
  position?: string;
}

/** One group of appends (a sink write), see {@link OrderedSender.beginCall}. */
export interface SenderCall {
  /** Appends a message (partition: its own, else by key). */
  push(message: SizedMessage): void;
  /** The record batch that the next record of `partition` goes into (for in-place encoding). */
  writer(partition: number): RecordBatchWriter;
  /** Notes that records up to `position` are part of this group. */
  notePosition(position: string): void;
}

/** Buffers of acknowledged batches kept for new ones (fresh large buffers cost page faults and GC). */
const SPARE_BUFFERS = 8;

/** A record batch being filled for one partition, and the enqueue calls it holds records of. */
interface PendingBatch {
  writer: RecordBatchWriter;
  /** Sequence number of the first `enqueue` call with records in this batch. */
  firstCall: number;
}

/** One record batch per partition: what one produce call carries. */
export type PartitionBatches = Map<number, Buffer>;

export class OrderedSender {
  /** Per partition, batches in order; the head is sent next (one batch per partition per call). */
  private readonly partitions = new Map<number, PendingBatch[]>();
  private inFlightBytes = 0;
  private readonly lastBatchBytes = new Map<number, number>();
  /** Buffers of acknowledged batches, reused by new ones. */
  private spare: Buffer[] = [];
  private sending = false;
  private failure: ConnectorError | null = null;
  private calls = 0;
  /** Highest `_position` of each enqueue call that had any, oldest first. */
  private callPositions: Array<{ call: number; position: string }> = [];
  private callPosition: string | null = null;
  /** Highest position acknowledged together with everything before it. */
  private acked: string | null = null;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly produce: (batches: PartitionBatches) => Promise<void>,
    private readonly options: SenderOptions,
  ) {}

  /** Bytes accepted but not yet acknowledged. */
  get bufferedBytes(): number {
    return this.queuedBytes() + this.inFlightBytes;
  }

  /** Bytes encoded and waiting to be sent (a few batches per partition: cheap to add up). */
  private queuedBytes(): number {
    let bytes = 0;
    for (const queue of this.partitions.values()) for (const batch of queue) bytes += batch.writer.byteLength;
    return bytes;
  }

  /** The highest `_position` acknowledged together with everything written before it (null: none yet). */
  get ackedPosition(): string | null {
    return this.acked;
  }

  /**
   * Records that everything up to `position` is in the topic although no queued record
   * carried it (a truncate, recorded in the control topic once everything before it was flushed).
   */
  noteDelivered(position: string): void {
    if (this.acked === null || position > this.acked) this.acked = position;
  }

  /** The error that stopped this sender, if any (later calls rethrow it). */
  get error(): ConnectorError | null {
    return this.failure;
  }

  /**
   * Queues messages in order; resolves once there is room for more. They are encoded into
   * record batches right away, so the queue holds a few buffers rather than an object per record.
   */
  async enqueue(messages: readonly SizedMessage[]): Promise<void> {
    const call = this.beginCall();
    for (const m of messages) call.push(m);
    await this.endCall();
  }

  /**
   * Starts a group of appends (one sink write): `push` encodes each message into its
   * partition's batch immediately; `endCall` sends and applies backpressure.
   */
  beginCall(): SenderCall {
    this.throwIfFailed();
    const call = ++this.calls;
    this.callPosition = null;
    const notePosition = (position: string): void => {
      if (this.callPosition === null || position > this.callPosition) this.callPosition = position;
    };
    return {
      push: (m: SizedMessage): void => {
        this.openBatch(m.message.partition ?? this.options.partitionOf(m.message), call).writer.append(m.message);
        if (m.position !== undefined) notePosition(m.position);
      },
      writer: (partition) => this.openBatch(partition, call).writer,
      notePosition,
    };
  }

  /** Ends the group started by `beginCall`; resolves once there is room for more. */
  async endCall(): Promise<void> {
    if (this.callPosition !== null) this.callPositions.push({ call: this.calls, position: this.callPosition });
    this.callPosition = null;
    this.pump();
    // Let I/O run between writes: an acknowledgement arriving now starts the next request
    // while the caller encodes more, instead of waiting for the buffer to fill up.
    if (this.sending) await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.bufferedBytes > this.options.maxBufferedBytes && this.failure === null) await this.nextEvent();
    this.throwIfFailed();
  }

  /** Resolves when everything queued is acknowledged. */
  async flush(): Promise<void> {
    this.pump();
    while (this.failure === null && (this.sending || this.partitions.size > 0)) await this.nextEvent();
    this.throwIfFailed();
  }

  /** The last batch of `partition` if it has room, else a new one behind it. */
  private openBatch(partition: number, call: number): PendingBatch {
    let queue = this.partitions.get(partition);
    if (queue === undefined) this.partitions.set(partition, (queue = []));
    const last = queue[queue.length - 1];
    // Room for another record as large as the largest so far: batches stay within chunkBytes.
    if (last !== undefined && last.writer.byteLength + last.writer.largestRecord <= this.options.chunkBytes) return last;
    // Sized like this partition's last batch, so a busy partition's buffer need not grow by copying.
    const initial = Math.min(this.options.chunkBytes + (64 << 10), Math.max(64 << 10, (this.lastBatchBytes.get(partition) ?? 0) * 1.25));
    const batch: PendingBatch = { writer: new RecordBatchWriter(initial, this.spareBuffer(initial)), firstCall: call };
    queue.push(batch);
    return batch;
  }

  /** A spare buffer of at least `bytes`, if there is one. */
  private spareBuffer(bytes: number): Buffer | undefined {
    const i = this.spare.findIndex((b) => b.length >= bytes);
    return i < 0 ? undefined : this.spare.splice(i, 1)[0];
  }

  /** Starts the next produce call unless one is in flight: the head batch of every partition. */
  private pump(): void {
    if (this.sending || this.failure !== null || this.partitions.size === 0) return;
    const request: PartitionBatches = new Map();
    const buffers: Buffer[] = [];
    const now = Date.now();
    let bytes = 0;
    for (const [partition, queue] of this.partitions) {
      // A record larger than any before it can overflow a batch: it moves to the next one
      // (brokers reject batches above max.message.bytes, 1 MiB by default).
      const rest = queue[0]!.writer.splitAt(this.options.chunkBytes);
      if (rest !== null) queue.splice(1, 0, { writer: rest, firstCall: queue[0]!.firstCall });
      const writer = queue.shift()!.writer;
      buffers.push(writer.buffer);
      const batch = writer.finish(now);
      this.lastBatchBytes.set(partition, batch.length);
      request.set(partition, batch);
      bytes += batch.length;
      if (queue.length === 0) this.partitions.delete(partition);
    }
    this.inFlightBytes += bytes;
    this.sending = true;
    void this.send(request, bytes, buffers);
  }

  private async send(request: PartitionBatches, bytes: number, buffers: Buffer[]): Promise<void> {
    try {
      await this.produce(request);
      // Sent and acknowledged: nothing refers to these buffers any more.
      for (const b of buffers) if (this.spare.length < SPARE_BUFFERS) this.spare.push(b);
      this.noteAcknowledged();
    } catch (error) {
      // Nothing more is sent after a failure: later records must not overtake lost ones.
      this.failure ??= asSinkError(error, this.options.topic);
    } finally {
      this.inFlightBytes -= bytes;
      this.sending = false;
      this.pump();
      this.wake();
    }
  }

  /** Every enqueue call older than the oldest batch still queued is now fully acknowledged. */
  private noteAcknowledged(): void {
    let oldestQueued = this.calls + 1;
    for (const queue of this.partitions.values()) oldestQueued = Math.min(oldestQueued, queue[0]!.firstCall);
    let k = 0;
    while (k < this.callPositions.length && this.callPositions[k]!.call < oldestQueued) {
      this.noteDelivered(this.callPositions[k]!.position);
      k++;
    }
    if (k > 0) this.callPositions.splice(0, k);
  }

  private nextEvent(): Promise<void> {
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }
}
