/**
 * librdkafka's mock cluster, launched by a small C program (`mock-broker.c`) compiled once
 * and cached in the OS temp dir: `startKafkaTestBroker({ kind: 'mock' })`. Tests use it only
 * for what a real broker cannot do (see `broker.ts`).
 *
 * Limits of the mock (librdkafka 2.0): topics exist only if declared at launch (no
 * CreateTopics), it reports no valid controller id (so kafkajs admin operations that need
 * the controller and kafkajs's idempotent producer do not work), and it keeps messages in
 * memory (keep test volumes to a few MiB per partition). Produce, fetch, list offsets,
 * metadata and consumer groups work.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KafkaTestBroker, KafkaTestTopic, StartKafkaTestBrokerOptions } from './types.js';

/** Options of {@link startKafkaMockBroker}. */
export type StartKafkaMockBrokerOptions = Pick<StartKafkaTestBrokerOptions, 'brokers' | 'topics' | 'startTimeoutMs'>;

/** A running mock cluster. */
export interface MockKafkaTestBroker extends KafkaTestBroker {
  readonly kind: 'mock';
  /** The launcher's process id. */
  readonly pid: number;
}

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

function topicArgs(topics: Array<string | KafkaTestTopic>): string[] {
  return topics.map((t) => {
    const spec = typeof t === 'string' ? parseTopicSpec(t) : { name: t.name, partitions: t.partitions ?? 1 };
    if (typeof t !== 'string' && (t.config !== undefined || t.replicationFactor !== undefined))
      throw new TypeError(`the Kafka mock broker has no topic configs or replication (topic ${t.name})`);
    if (!TOPIC_NAME.test(spec.name)) throw new TypeError(`invalid topic name ${JSON.stringify(spec.name)}`);
    if (!Number.isInteger(spec.partitions) || spec.partitions < 1) throw new TypeError(`invalid partition count for topic ${spec.name}`);
    return `${spec.name}:${spec.partitions}`;
  });
}

function parseTopicSpec(spec: string): { name: string; partitions: number } {
  const colon = spec.lastIndexOf(':');
  if (colon < 0) return { name: spec, partitions: 1 };
  return { name: spec.slice(0, colon), partitions: Number(spec.slice(colon + 1)) };
}

/** Path of the C source, next to this module (src/testing/kafka or a copy in dist). */
function launcherSource(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [
    join(here, 'mock-broker.c'),
    join(here, 'kafka', 'mock-broker.c'),
    join(here, 'testing', 'kafka', 'mock-broker.c'),
  ]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`mock-broker.c not found next to ${here}`);
}

/**
 * Compiles the launcher unless a binary for this exact source is cached. The cache key is
 * the source hash, so an edited launcher is rebuilt and concurrent test processes share it.
 */
export function buildKafkaMockLauncher(): string {
  const source = launcherSource();
  const text = readFileSync(source);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'refstream-kafka-mock');
  const binary = join(dir, `mock-broker-${hash}`);
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const temp = `${binary}.${process.pid}.tmp`;
  const cc = process.env.CC ?? 'gcc';
  const result = spawnSync(cc, ['-O2', '-o', temp, source, '-lrdkafka'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    const detail = result.error ? result.error.message : result.stderr.trim();
    throw new Error(`cannot compile the Kafka mock launcher (needs ${cc} and librdkafka-dev): ${detail}`);
  }
  renameSync(temp, binary); // atomic: a concurrent build just replaces an identical file
  return binary;
}

/**
 * Starts a mock Kafka cluster with the given topics and resolves once it accepts
 * connections. The launcher dies with this process (its stdin is a pipe from us).
 */
export async function startKafkaMockBroker(options: StartKafkaMockBrokerOptions = {}): Promise<MockKafkaTestBroker> {
  const brokerCount = options.brokers ?? 1;
  if (!Number.isInteger(brokerCount) || brokerCount < 1 || brokerCount > 16) throw new TypeError('brokers must be an integer in 1..16');
  const args = [String(brokerCount), ...topicArgs(options.topics ?? [])];
  const binary = buildKafkaMockLauncher();
  const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  // Let the test process exit while the broker runs; stop() or process exit ends it.
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const bootstrapServers = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => fail(new Error(`Kafka mock broker did not start within ${options.startTimeoutMs ?? 20_000} ms`)),
      options.startTimeoutMs ?? 20_000,
    );
    function fail(error: Error): void {
      clearTimeout(timer);
      child.kill('SIGTERM');
      reject(error);
    }
    child.once('error', fail);
    const onEarlyExit = (code: number | null): void => fail(new Error(`Kafka mock broker exited with code ${code}: ${stderr.trim()}`));
    child.once('exit', onEarlyExit);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const newline = out.indexOf('\n');
      if (newline >= 0) {
        clearTimeout(timer);
        child.off('exit', onEarlyExit);
        resolve(out.slice(0, newline).trim());
      }
    });
  });
  (child.stdout as unknown as { unref?: () => void }).unref?.();
  (child.stderr as unknown as { unref?: () => void }).unref?.();

  // Answers to fault commands, one line each, in order.
  const answers: Array<(line: string) => void> = [];
  let pending = '';
  child.stdout!.on('data', (chunk: string) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line === bootstrapServers) continue;
      answers.shift()?.(line);
    }
  });
  const stdout = child.stdout as unknown as { ref?: () => void; unref?: () => void };
  const command = (text: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      stdout.ref?.(); // an awaited answer keeps the process alive
      answers.push((line) => {
        if (answers.length === 0) stdout.unref?.();
        if (line === 'ok') resolve();
        else reject(new Error(`mock broker: ${text}: ${line}`));
      });
      child.stdin!.write(`${text}\n`);
    });

  let stopping: Promise<void> | null = null;
  return {
    kind: 'mock',
    bootstrapServers,
    brokers: bootstrapServers.split(','),
    pid: child.pid!,
    brokerDown: (id) => command(`down ${id}`),
    brokerUp: (id) => command(`up ${id}`),
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.ref(); // keep the process alive until the launcher has gone
        child.stdin!.end();
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}
