/**
 * A Kafka transactional producer session: the producer id and epoch the transaction
 * coordinator hands out for a `transactional.id`, the partitions of the open transaction and
 * the sequence numbers of every topic-partition written in it. The sink's lean produce path
 * (produce.ts) stamps its batches with this identity; the coordinator requests (FindCoordinator,
 * InitProducerId, AddPartitionsToTxn, EndTxn) go through kafkajs's broker connections.
 *
 * `init` fences every older producer with the same `transactional.id` (its epoch becomes
 * stale: its next produce, AddPartitionsToTxn or EndTxn fails) and resolves any transaction it
 * left open: aborted if it was still open, completed if its commit had begun. After `init`,
 * a `read_committed` reader therefore sees the final outcome of every earlier transaction.
 */
import type { Kafka } from 'kafkajs';
import { ConnectorError, definite, transient } from '../../sdk/errors.js';
import { createCluster, type KafkajsCluster } from './fetcher.js';
import { stampProducer } from './wire.js';

/** Settings of {@link KafkaTransaction}. */
export interface KafkaTransactionOptions {
  transactionalId: string;
  /** The coordinator aborts a transaction left open this long (`transaction.timeout.ms`). */
  transactionTimeoutMs: number;
  /** How long coordinator requests are retried while the coordinator is busy or moving. */
  timeoutMs: number;
  /** The error a fenced producer reports (default {@link fencedError}; high availability reports `LEASE_LOST`). */
  fencedError?: (cause: unknown) => ConnectorError;
}

/** What kafkajs's broker object offers for transactions (the subset used here). */
interface CoordinatorBroker {
  initProducerId(args: { transactionalId: string; transactionTimeout: number }): Promise<{ producerId: string; producerEpoch: number }>;
  addPartitionsToTxn(args: {
    transactionalId: string;
    producerId: string;
    producerEpoch: number;
    topics: Array<{ topic: string; partitions: number[] }>;
  }): Promise<unknown>;
  endTxn(args: { transactionalId: string; producerId: string; producerEpoch: number; transactionResult: boolean }): Promise<unknown>;
}

interface ClusterWithCoordinator extends KafkajsCluster {
  findGroupCoordinator(args: { groupId: string; coordinatorType: number }): Promise<CoordinatorBroker>;
}

const TRANSACTION_COORDINATOR = 1;
/** Broker error types meaning a newer producer with this transactional id took over. */
const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING']);
const FENCED_CODES = new Set([47, 49, 90]);
/** Retried with backoff: the coordinator is loading, moving, or finishing the previous transaction. */
const BUSY = new Set(['CONCURRENT_TRANSACTIONS', 'COORDINATOR_LOAD_IN_PROGRESS', 'COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR']);
/** The batch attributes bit that marks a record batch as part of a transaction. */
const TRANSACTIONAL_ATTRIBUTE = 0x10;

interface KafkaErrorLike {
  name?: string;
  type?: string;
  code?: number;
  retriable?: boolean;
}

/** True when `error` says a newer producer with the same transactional id fenced this one. */
export function isFencedError(error: unknown): boolean {
  const e = error as KafkaErrorLike;
  return FENCED.has(e.type ?? '') || FENCED_CODES.has(e.code ?? -1);
}

/** The definite error a fenced (zombie) producer reports. */
export function fencedError(transactionalId: string, cause: unknown): ConnectorError {
  return definite(
    'PRODUCER_FENCED',
    `another refstream process took over transactional.id "${transactionalId}"; this one was fenced by the broker and stops (its open transaction is aborted, nothing of it is visible to read_committed consumers)`,
    {
      cause,
      hint: 'run one copy of a sync at a time; if both copies are meant to run, give each its own transactionalId',
    },
  );
}

/** One transactional producer identity (see the module comment). */
export class KafkaTransaction {
  private readonly cluster: ClusterWithCoordinator;
  private producerId: string | null = null;
  private epoch = 0;
  private readonly sequences = new Map<string, number>();
  /** `topic` → partitions added to the open transaction. */
  private readonly open = new Map<string, Set<number>>();
  private fenced: ConnectorError | null = null;

  constructor(
    kafka: Kafka,
    private readonly options: KafkaTransactionOptions,
  ) {
    this.cluster = createCluster(kafka) as ClusterWithCoordinator;
  }

  get transactionalId(): string {
    return this.options.transactionalId;
  }

  /** True while records were written since the last commit or abort. */
  get inTransaction(): boolean {
    return this.open.size > 0;
  }

  /**
   * Gets this transactional id's producer id and a new epoch: fences older producers with the
   * same id and resolves the transaction they left open (see the module comment).
   */
  async init(): Promise<void> {
    await this.cluster.connect();
    const response = await this.withCoordinator((coordinator) =>
      coordinator.initProducerId({ transactionalId: this.options.transactionalId, transactionTimeout: this.options.transactionTimeoutMs }),
    );
    this.producerId = response.producerId;
    this.epoch = response.producerEpoch;
    this.sequences.clear();
    this.open.clear();
  }

  /** Adds partitions to the open transaction (starting it); those already in it are skipped. */
  async addPartitions(topic: string, partitions: Iterable<number>): Promise<void> {
    const known = this.open.get(topic);
    const fresh = [...partitions].filter((p) => known === undefined || !known.has(p));
    if (fresh.length === 0) return;
    const { producerId, producerEpoch } = this.identity();
    await this.withCoordinator((coordinator) =>
      coordinator.addPartitionsToTxn({
        transactionalId: this.options.transactionalId,
        producerId,
        producerEpoch,
        topics: [{ topic, partitions: fresh }],
      }),
    );
    let set = this.open.get(topic);
    if (set === undefined) this.open.set(topic, (set = new Set()));
    for (const p of fresh) set.add(p);
  }

  /** Marks finished batches (one per partition) as transactional and stamps id, epoch and sequence. */
  stamp(topic: string, batches: Map<number, Buffer>): void {
    const { producerId } = this.identity();
    const id = BigInt(producerId);
    for (const [partition, batch] of batches) {
      const key = `${topic}\u0000${partition}`;
      const sequence = this.sequences.get(key) ?? 0;
      batch.writeInt16BE(batch.readInt16BE(21) | TRANSACTIONAL_ATTRIBUTE, 21);
      stampProducer(batch, id, this.epoch, sequence); // the CRC (over the attributes too) is written when sent
      this.sequences.set(key, (sequence + batch.readInt32BE(57)) % 2 ** 31);
    }
  }

  /** Commits the open transaction: its records become visible to `read_committed` readers at once. */
  async commit(): Promise<void> {
    await this.end(true);
  }

  /** Aborts the open transaction: its records stay invisible to `read_committed` readers. */
  async abort(): Promise<void> {
    await this.end(false);
  }

  /** The fencing error, once a request was refused because a newer producer took over. */
  get fencedBy(): ConnectorError | null {
    return this.fenced;
  }

  /** Turns a produce failure into the fencing error when it is one (else returns it unchanged). */
  classify(error: unknown): unknown {
    if (this.fenced !== null) return this.fenced;
    if (isFencedError(error)) return (this.fenced = this.fencingError(error));
    return error;
  }

  async disconnect(): Promise<void> {
    await this.cluster.disconnect().catch(() => undefined);
  }

  private fencingError(cause: unknown): ConnectorError {
    return this.options.fencedError?.(cause) ?? fencedError(this.options.transactionalId, cause);
  }

  private async end(commit: boolean): Promise<void> {
    if (this.open.size === 0) return;
    const { producerId, producerEpoch } = this.identity();
    await this.withCoordinator((coordinator) =>
      coordinator.endTxn({ transactionalId: this.options.transactionalId, producerId, producerEpoch, transactionResult: commit }),
    );
    this.open.clear();
  }

  private identity(): { producerId: string; producerEpoch: number } {
    if (this.fenced !== null) throw this.fenced;
    if (this.producerId === null)
      throw definite('INVALID_STATE', `transactional producer ${this.options.transactionalId} is not initialised`);
    return { producerId: this.producerId, producerEpoch: this.epoch };
  }

  /**
   * Runs a request on the transaction coordinator, retrying while it is busy (the previous
   * transaction still completing) or has moved. A fenced producer gets the definite fencing
   * error; a network failure is transient (the runner reconnects, which runs `init` again).
   */
  private async withCoordinator<T>(request: (coordinator: CoordinatorBroker) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.options.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const coordinator = await this.cluster.findGroupCoordinator({
          groupId: this.options.transactionalId,
          coordinatorType: TRANSACTION_COORDINATOR,
        });
        return await request(coordinator);
      } catch (error) {
        if (isFencedError(error)) throw (this.fenced = this.fencingError(error));
        const e = error as KafkaErrorLike;
        const busy = BUSY.has(e.type ?? '') || e.retriable === true || e.name === 'KafkaJSConnectionError';
        if (!busy || Date.now() >= deadline) {
          if (ConnectorError.is(error)) throw error;
          const what = `${e.name ?? 'Error'}: ${(error as Error).message ?? String(error)}`;
          if (busy)
            throw transient('CONNECTION_LOST', `Kafka transaction coordinator for ${this.options.transactionalId}: ${what}`, {
              cause: error,
            });
          throw definite('SINK_FAILED', `Kafka transaction coordinator refused a request for ${this.options.transactionalId}: ${what}`, {
            cause: error,
            hint:
              e.type === 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED'
                ? `grant the principal Write and Describe on TransactionalId ${this.options.transactionalId}`
                : 'check the broker log; transactions need transaction.state.log.replication.factor brokers in sync',
          });
        }
        if (e.type === 'NOT_COORDINATOR' || e.type === 'COORDINATOR_NOT_AVAILABLE')
          await this.cluster.refreshMetadata().catch(() => undefined);
        await new Promise((r) => setTimeout(r, Math.min(20 * 2 ** attempt, 500)));
      }
    }
  }
}
