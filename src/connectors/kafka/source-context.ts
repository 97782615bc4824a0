/**
 * What the Kafka source's snapshot and change readers share: the topic, batch limits, the
 * schema and the connection, owned by KafkaReferenceTableSource.
 */
import type { ControlFeed } from './control-feed.js';
import type { PartitionReader } from './fetcher.js';
import { asSourceError } from './errors.js';
import type { TopicSchema } from './source-schema.js';

/** The source as its readers see it. */
export interface ReadContext {
  readonly topic: string;
  readonly table: string;
  /** Most rows per batch. */
  readonly batchRows: number;
  /** Approximate most bytes per batch. */
  readonly batchBytes: number;
  readonly schema: TopicSchema;
  /** The control topic (inactive for topics of earlier versions, which have none). */
  readonly control: ControlFeed;
  /** True once the source is closed: a read in progress then returns no batch. */
  isClosed(): boolean;
  /** The connected reader (connects on first use). */
  connect(): Promise<PartitionReader>;
}

/** Runs a broker call, turning its failure into the source's error. */
export async function asSourceCall<T>(call: () => Promise<T>, topic: string, table: string): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw asSourceError(error, topic, table);
  }
}
