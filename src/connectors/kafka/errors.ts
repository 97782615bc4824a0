/**
 * kafkajs and broker failures as ConnectorErrors, one classification for the sink, the
 * checkpoint store and the topic source: network trouble, leader moves and the broker's own
 * retriable error codes are transient; everything else is definite.
 */
import { ConnectorError, definite, transient } from '../../sdk/errors.js';

interface KafkaErrorLike {
  name?: string;
  message?: string;
  /** kafkajs sets it from the broker's error code table (retriable codes). */
  retriable?: boolean;
  /** The broker's error code name, e.g. `UNKNOWN_TOPIC_OR_PARTITION`. */
  type?: string;
  /** Set by the sink's producer when the broker no longer knows its producer id. */
  producerStateLost?: boolean;
}

const RETRIABLE_CLIENT_ERRORS = new Set(['KafkaJSNumberOfRetriesExceeded', 'KafkaJSConnectionError', 'KafkaJSRequestTimeoutError']);

/** Whether retrying (after a reconnect) can succeed. */
export function isRetriableKafkaError(error: unknown): boolean {
  const e = error as KafkaErrorLike;
  return e.retriable === true || RETRIABLE_CLIENT_ERRORS.has(e.name ?? '');
}

function describe(error: unknown): string {
  const e = error as KafkaErrorLike;
  return `${e.name ?? 'Error'}: ${e.message ?? String(error)}`;
}

/** A failure while producing to `topic` (the sink and the Kafka checkpoint store). */
export function asSinkError(error: unknown, topic: string): ConnectorError {
  if (ConnectorError.is(error)) return error;
  const e = error as KafkaErrorLike;
  const what = describe(error);
  if (e.type === 'UNKNOWN_TOPIC_OR_PARTITION') {
    return definite('SINK_FAILED', `Kafka topic ${topic} does not exist (${what})`, {
      cause: error,
      hint: `create topic ${topic} (cleanup.policy=compact) before starting`,
    });
  }
  if (e.producerStateLost === true) {
    // The broker forgot this producer id (expired, or its log was truncated): a new one
    // after the runner's reset continues safely from the last checkpoint.
    return transient('SINK_FAILED', `Kafka lost the producer state for topic ${topic} (${what}); the sink needs a new producer id`, {
      cause: error,
    });
  }
  if (e.type === 'MESSAGE_TOO_LARGE' || e.type === 'RECORD_LIST_TOO_LARGE') {
    return definite('SINK_FAILED', `Kafka topic ${topic} refused a record batch as too large (${what})`, {
      cause: error,
      hint: `lower the sink's chunkBytes below the topic's max.message.bytes, or raise max.message.bytes (topic) and message.max.bytes (broker) above the largest row`,
    });
  }
  if (isRetriableKafkaError(error))
    return transient('CONNECTION_LOST', `producing to Kafka topic ${topic} failed: ${what}`, { cause: error });
  return definite('SINK_FAILED', `producing to Kafka topic ${topic} failed: ${what}`, { cause: error });
}

/** A failure while reading `topic` as the reference table `table` (the topic source). */
export function asSourceError(error: unknown, topic: string, table: string): ConnectorError {
  if (ConnectorError.is(error)) return error;
  const e = error as KafkaErrorLike;
  const what = describe(error);
  if (e.type === 'OFFSET_OUT_OF_RANGE') {
    return definite('CHECKPOINT_EXPIRED', `reading topic ${topic}: ${what}`, {
      table,
      cause: error,
      hint: 'delete the checkpoint to load the table again',
    });
  }
  if (isRetriableKafkaError(error)) return transient('CONNECTION_LOST', `reading topic ${topic}: ${what}`, { table, cause: error });
  return definite('QUERY_FAILED', `reading topic ${topic}: ${what}`, { table, cause: error });
}
