/**
 * Connection settings shared by the Kafka sink, checkpoint store and source, and the
 * kafkajs client built from them. Secrets (SASL passwords) never reach logs or errors.
 */
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Kafka, logLevel as KafkaLogLevel, type LogEntry, type SASLOptions } from 'kafkajs';
import * as z from '../../sdk/zod.js';
import { redactSecrets } from '../../sdk/errors.js';
import { parseConfig as parseWithSchema } from '../../sdk/config.js';

/** How to reach a Kafka cluster. */
export interface KafkaConnectionOptions {
  /** Bootstrap servers: `host:port` strings or one comma-separated string. */
  brokers: string[] | string;
  /** Client id sent to the brokers (default `refstream`). */
  clientId?: string;
  /** TLS: `true` for system CAs, or Node TLS options (CA, client certificate, …). */
  ssl?: boolean | TlsOptions;
  /** SASL authentication. The password is never logged. */
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  /** TCP connect timeout (default 3000 ms). */
  connectionTimeoutMs?: number;
  /** Request timeout (default 30 000 ms). */
  requestTimeoutMs?: number;
  /** kafkajs log level (default `error`); logs go to stderr with secrets redacted. */
  logLevel?: 'nothing' | 'error' | 'warn' | 'info' | 'debug';
}

export const connectionOptionsSchema = z.object({
  brokers: z.union([z.string().check(z.minLength(1)), z.array(z.string().check(z.minLength(1))).check(z.minLength(1))]),
  clientId: z.optional(z.string().check(z.minLength(1))),
  ssl: z.optional(z.union([z.boolean(), z.record(z.string(), z.unknown())])),
  sasl: z.optional(
    z.object({
      mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
      username: z.string(),
      password: z.string(),
    }),
  ),
  connectionTimeoutMs: z.optional(z.int().check(z.positive())),
  requestTimeoutMs: z.optional(z.int().check(z.positive())),
  logLevel: z.optional(z.enum(['nothing', 'error', 'warn', 'info', 'debug'])),
});

/** Validates the options of a Kafka sink, source or store (one definite `CONFIG_INVALID` listing every problem). */
export function parseConfig<T>(schema: z.core.$ZodType<T>, input: unknown, what: string): T {
  return parseWithSchema(schema, input, { what: `${what} options`, hint: `see docs/sinks/kafka.md for the ${what} options` }) as T;
}

/** The broker list as an array. */
export function brokerList(brokers: string[] | string): string[] {
  return (Array.isArray(brokers) ? brokers : brokers.split(',')).map((b) => b.trim()).filter((b) => b.length > 0);
}

const LEVELS = {
  nothing: KafkaLogLevel.NOTHING,
  error: KafkaLogLevel.ERROR,
  warn: KafkaLogLevel.WARN,
  info: KafkaLogLevel.INFO,
  debug: KafkaLogLevel.DEBUG,
} as const;

/**
 * Error responses the transactional producer expects and retries (the coordinator still
 * writing the previous transaction's markers, loading, or not elected yet): not worth a log line.
 */
const RETRIED_COORDINATOR_RESPONSE = /^Response (InitProducerId|AddPartitionsToTxn|EndTxn|GroupCoordinator)\(/;
const RETRIED_COORDINATOR_ERRORS = [
  /concurrent operation on the same transaction/,
  /coordinator is loading/,
  /coordinator is not available/,
];

function isRetriedCoordinatorResponse(message: unknown, error: unknown): boolean {
  return (
    typeof message === 'string' &&
    RETRIED_COORDINATOR_RESPONSE.test(message) &&
    typeof error === 'string' &&
    RETRIED_COORDINATOR_ERRORS.some((e) => e.test(error))
  );
}

/** kafkajs logs on stderr, one line each, with credentials masked. */
function redactingLogCreator() {
  return ({ namespace, label, log }: LogEntry): void => {
    const { message, timestamp: _timestamp, logger: _logger, ...extra } = log as Record<string, unknown>;
    if (isRetriedCoordinatorResponse(message, extra.error)) return;
    const details = Object.keys(extra).length > 0 ? ` ${JSON.stringify(extra)}` : '';
    process.stderr.write(redactSecrets(`[kafkajs] ${label} ${namespace}: ${String(message)}${details}`) + '\n');
  };
}

const warnedPlaintext = new Set<string>();

/**
 * SASL/PLAIN sends the password as it is: without TLS anyone on the path can read it. Warned
 * once per process and cluster, as a Node process warning (`process.on('warning')`).
 */
function warnPlainOverPlaintext(options: KafkaConnectionOptions): void {
  if (options.sasl?.mechanism !== 'plain' || (options.ssl !== undefined && options.ssl !== false)) return;
  const brokers = describeConnection(options);
  if (warnedPlaintext.has(brokers)) return;
  warnedPlaintext.add(brokers);
  process.emitWarning(
    `Kafka ${brokers}: SASL/PLAIN without TLS sends the password unencrypted; use kafkas:// (or tls=true / ssl), or sasl=scram-sha-256|scram-sha-512`,
    { type: 'RefstreamWarning', code: 'KAFKA_PLAINTEXT_PASSWORD' },
  );
}

/** Builds a kafkajs client from validated connection options. */
export function createKafkaClient(options: KafkaConnectionOptions): Kafka {
  warnPlainOverPlaintext(options);
  return new Kafka({
    brokers: brokerList(options.brokers),
    clientId: options.clientId ?? 'refstream',
    ...(options.ssl !== undefined ? { ssl: options.ssl } : {}),
    ...(options.sasl !== undefined ? { sasl: options.sasl as SASLOptions } : {}),
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    logLevel: LEVELS[options.logLevel ?? 'error'],
    logCreator: redactingLogCreator,
  });
}

/** A one-line, secret-free description of where a client connects (for names and errors). */
export function describeConnection(options: KafkaConnectionOptions): string {
  return brokerList(options.brokers).join(',');
}
