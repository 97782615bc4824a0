/**
 * A real Apache Kafka cluster for tests: KRaft nodes (`kafka.Kafka`) started with the JDK on
 * this machine from jars resolved by Maven (see `broker-classpath.ts`), on random loopback
 * ports, with their data in a temp folder that is removed on stop.
 *
 * Cost, measured on a 2-core machine: about 3–4 s for one node (storage format plus start),
 * 6–7 s for three; each node takes about 150 MB resident when idle (heap capped at 512 MB).
 * The first start on a machine also downloads the broker (about 56 MB, 30 s from Maven Central).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../free-port.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { findJava, kafkaBrokerClasspath } from './broker-classpath.js';
import type { KafkaTestBroker, KafkaTestTopic } from './types.js';

/** Options of the real cluster (see `StartKafkaTestBrokerOptions`). */
export interface StartRealKafkaOptions {
  brokers?: number;
  topics?: Array<string | KafkaTestTopic>;
  startTimeoutMs?: number;
  /** Broker settings added to (or overriding) the generated `server.properties`. */
  serverProperties?: Record<string, string | number | boolean>;
  /** Maximum JVM heap of each node in MiB (default 512). */
  heapMb?: number;
}

/** One node of a real test cluster. */
export interface KafkaTestNode {
  /** `node.id`, 1-based. */
  readonly id: number;
  /** Its `host:port` (the PLAINTEXT listener). */
  readonly address: string;
  /** The JVM's process id while it runs, else undefined. */
  readonly pid: number | undefined;
  /** Its `log.dirs` (kept across {@link RealKafkaTestBroker.restartBroker}). */
  readonly dataDir: string;
}

/** A running real Kafka cluster. */
export interface RealKafkaTestBroker extends KafkaTestBroker {
  readonly kind: 'real';
  /** The nodes, in `node.id` order. */
  readonly nodes: readonly KafkaTestNode[];
  /**
   * Kills node `id` (default `SIGKILL`, as a crash: no controlled shutdown) and waits until
   * its process has gone. Its data stays for {@link restartBroker}.
   */
  killBroker(id: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts node `id` again on the same ports and data; resolves once the cluster lists it. */
  restartBroker(id: number): Promise<void>;
  /** Creates topics (replication factor defaults to min(brokers, 3)); waits for their leaders. */
  createTopics(topics: Array<string | KafkaTestTopic>): Promise<void>;
  /** The `node.id` leading `topic`'s `partition`. */
  partitionLeader(topic: string, partition: number): Promise<number>;
}

const JVM_FLAGS = [
  '-XX:+UseSerialGC',
  '-XX:TieredStopAtLevel=1', // C1 only: starts faster and is plenty for test volumes
  '-XX:-UsePerfData',
  '-XX:+ExitOnOutOfMemoryError',
  '-Djava.net.preferIPv4Stack=true',
  '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
  '-Dorg.slf4j.simpleLogger.showDateTime=true',
];

const running = new Set<() => void>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const kill of running) kill();
  });
}

/**
 * A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (as `kafka-storage
 * random-uuid`). One starting with `-` would be read as an option by `kafka-storage format -t`
 * (about one start in 64), so such an id is drawn again.
 */
export function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function tail(path: string, chars = 4000): string {
  try {
    return readFileSync(path, 'utf8').slice(-chars).trim();
  } catch {
    return '';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface TopicSpec {
  name: string;
  partitions: number;
  replicationFactor?: number;
  config?: Record<string, string>;
}

/** Parses `name`, `name:partitions` or a topic object (validated by the caller's TOPIC_NAME). */
export function topicSpec(t: string | KafkaTestTopic): TopicSpec {
  if (typeof t !== 'string')
    return {
      name: t.name,
      partitions: t.partitions ?? 1,
      replicationFactor: t.replicationFactor,
      config: t.config,
    };
  const colon = t.lastIndexOf(':');
  if (colon < 0) return { name: t, partitions: 1 };
  return { name: t.slice(0, colon), partitions: Number(t.slice(colon + 1)) };
}

class Node {
  child: ChildProcess | null = null;
  exited: Promise<void> = Promise.resolve();
  constructor(
    readonly id: number,
    readonly port: number,
    readonly controllerPort: number,
    readonly dir: string,
  ) {}
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
  get dataDir(): string {
    return join(this.dir, 'data');
  }
  get configPath(): string {
    return join(this.dir, 'server.properties');
  }
  get logPath(): string {
    return join(this.dir, 'server.log');
  }
  get alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }
}

/** Runs a JVM main class to completion (storage format); rejects with its output on failure. */
function runJava(java: string, args: string[], logPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fd = openSync(logPath, 'a');
    const child = spawn(java, args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${args.find((a) => a.startsWith('kafka.')) ?? 'java'} exited with ${code}:\n${tail(logPath)}`)),
    );
  });
}

/** Starts a real KRaft cluster; see {@link RealKafkaTestBroker}. */
export async function startRealKafka(options: StartRealKafkaOptions = {}): Promise<RealKafkaTestBroker> {
  const count = options.brokers ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > 9) throw new TypeError('brokers must be an integer in 1..9');
  const java = findJava();
  const classpath = await kafkaBrokerClasspath();
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const heap = options.heapMb ?? 512;
  const replication = Math.min(count, 3);

  const root = mkdtempSync(join(tmpdir(), 'refstream-kafka-'));
  installExitHook();
  const nodes: Node[] = [];
  for (let id = 1; id <= count; id++) {
    const dir = join(root, `node-${id}`);
    mkdirSync(dir);
    nodes.push(new Node(id, await freePort(), await freePort(), dir));
  }
  // Combined broker+controller nodes form the quorum (up to 3); the rest are brokers only.
  const voters = nodes.slice(0, replication);
  const quorum = voters.map((n) => `${n.id}@127.0.0.1:${n.controllerPort}`).join(',');

  // If this process dies without running exit hooks (kill -9), the watchdog's stdin closes:
  // it kills the JVMs and removes the data.
  const pidsFile = join(root, 'pids');
  const writePids = () => writeFileSync(pidsFile, nodes.flatMap((n) => (n.alive ? [String(n.child!.pid)] : [])).join('\n'));
  writePids();
  const watchdog = spawn(
    '/bin/sh',
    ['-c', 'cat >/dev/null; for p in $(cat "$1/pids"); do kill -9 -"$p" 2>/dev/null; done; sleep 0.5; rm -rf "$1"', 'kafka-watchdog', root],
    {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    },
  );
  watchdog.unref();
  (watchdog.stdin as unknown as { unref?: () => void }).unref?.();

  const killAllNow = () => {
    for (const n of nodes) {
      if (n.alive) {
        try {
          process.kill(-n.child!.pid!, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    rmSync(root, { recursive: true, force: true });
  };
  running.add(killAllNow);

  for (const n of nodes) {
    const isVoter = voters.includes(n);
    const props: Record<string, string | number | boolean> = {
      'process.roles': isVoter ? 'broker,controller' : 'broker',
      'node.id': n.id,
      'controller.quorum.voters': quorum,
      listeners: isVoter ? `PLAINTEXT://127.0.0.1:${n.port},CONTROLLER://127.0.0.1:${n.controllerPort}` : `PLAINTEXT://127.0.0.1:${n.port}`,
      'advertised.listeners': `PLAINTEXT://127.0.0.1:${n.port}`,
      'controller.listener.names': 'CONTROLLER',
      'inter.broker.listener.name': 'PLAINTEXT',
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      'log.dirs': n.dataDir,
      // Topics exist only once created (CreateTopics), as refstream expects of production
      // clusters; topics created with default settings get 4 partitions.
      'auto.create.topics.enable': false,
      'num.partitions': 4,
      'default.replication.factor': replication,
      'min.insync.replicas': 1,
      'offsets.topic.replication.factor': replication,
      'offsets.topic.num.partitions': 4,
      'transaction.state.log.replication.factor': replication,
      'transaction.state.log.min.isr': 1,
      'transaction.state.log.num.partitions': 4,
      'share.coordinator.state.topic.replication.factor': replication,
      'share.coordinator.state.topic.min.isr': 1,
      'group.initial.rebalance.delay.ms': 0,
      // A crashed node is noticed in seconds, so leader-failover tests stay short.
      'broker.heartbeat.interval.ms': 500,
      'broker.session.timeout.ms': 3000,
      // Compaction runs within a second of a segment rolling (topics set segment.ms and
      // min.cleanable.dirty.ratio), so tests can watch it happen.
      'log.cleaner.backoff.ms': 200,
      'log.cleaner.min.compaction.lag.ms': 0,
      'log.cleaner.dedupe.buffer.size': 8 << 20,
      'log.cleaner.threads': 1,
      'log.retention.check.interval.ms': 1000,
      // A small footprint: two cores are shared by everything on a test machine.
      'num.network.threads': 2,
      'num.io.threads': 2,
      'background.threads': 2,
      'num.recovery.threads.per.data.dir': 1,
      'num.replica.fetchers': 1,
      ...options.serverProperties,
    };
    writeFileSync(
      n.configPath,
      Object.entries(props)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n') + '\n',
    );
  }

  const jvm = (heapMb: number) => [`-Xms64m`, `-Xmx${heapMb}m`, ...JVM_FLAGS, '-cp', classpath];
  const clusterId = randomClusterId();
  const admin = (brokers: string[]): Admin =>
    new Kafka({
      brokers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      requestTimeout: 5000,
      retry: { retries: 0 },
    }).admin();

  const spawnNode = (n: Node): void => {
    const fd = openSync(n.logPath, 'a');
    const child = spawn(java, [...jvm(heap), 'kafka.Kafka', n.configPath], {
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    closeSync(fd);
    child.unref();
    n.child = child;
    n.exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    writePids();
  };

  /** Waits until `via` answers a metadata request listing every running node. */
  const waitReady = async (via: Node, what: string): Promise<void> => {
    const deadline = Date.now() + startTimeoutMs;
    let lastError: string;
    for (;;) {
      for (const n of nodes) {
        if (n.child !== null && !n.alive && (n === via || what === 'start-up')) {
          throw new Error(
            `Kafka test node ${n.id} exited (${n.child.exitCode ?? n.child.signalCode}) while waiting for ${what}:\n${tail(n.logPath)}`,
          );
        }
      }
      const client = admin([via.address]);
      try {
        await client.connect();
        const cluster = await client.describeCluster();
        const listed = new Set(cluster.brokers.map((b) => b.nodeId));
        if (cluster.controller !== null && cluster.controller >= 0 && nodes.every((n) => !n.alive || listed.has(n.id))) return;
        lastError = `the cluster lists nodes ${[...listed].join(',') || 'none'}`;
      } catch (error) {
        lastError = (error as Error).message;
      } finally {
        await client.disconnect().catch(() => {});
      }
      if (Date.now() > deadline)
        throw new Error(`Kafka test cluster not ready for ${what} within ${startTimeoutMs} ms (${lastError}):\n${tail(via.logPath)}`);
      await sleep(200);
    }
  };

  const kill = async (n: Node, signal: NodeJS.Signals): Promise<void> => {
    if (!n.alive) return;
    n.child!.ref(); // keep this process alive until the node has gone
    try {
      process.kill(-n.child!.pid!, signal);
    } catch {
      n.child!.kill(signal);
    }
    await n.exited;
    writePids();
  };

  const createTopics = async (topics: Array<string | KafkaTestTopic>): Promise<void> => {
    if (topics.length === 0) return;
    const client = admin(nodes.filter((n) => n.alive).map((n) => n.address));
    try {
      await client.connect();
      await client.createTopics({
        waitForLeaders: true,
        topics: topics.map(topicSpec).map((t) => ({
          topic: t.name,
          numPartitions: t.partitions,
          replicationFactor: t.replicationFactor ?? replication,
          configEntries: Object.entries(t.config ?? {}).map(([name, value]) => ({ name, value })),
        })),
      });
    } finally {
      await client.disconnect().catch(() => {});
    }
  };

  try {
    // Format each node's storage with the same cluster id (the static quorum needs no more).
    await Promise.all(
      nodes.map((n) => runJava(java, [...jvm(128), 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', n.configPath], n.logPath)),
    );
    for (const n of nodes) spawnNode(n);
    await waitReady(nodes[0]!, 'start-up');
    await createTopics(options.topics ?? []);
  } catch (error) {
    killAllNow();
    running.delete(killAllNow);
    watchdog.stdin!.end();
    throw error;
  }

  const nodeById = (id: number): Node => {
    const n = nodes[id - 1];
    if (n === undefined) throw new RangeError(`no Kafka test node ${id} (nodes 1..${nodes.length})`);
    return n;
  };

  let stopping: Promise<void> | null = null;
  const addresses = nodes.map((n) => n.address);
  return {
    kind: 'real',
    bootstrapServers: addresses.join(','),
    brokers: addresses,
    nodes: nodes.map((n) => ({
      id: n.id,
      address: n.address,
      get pid() {
        return n.alive ? n.child!.pid : undefined;
      },
      dataDir: n.dataDir,
    })),
    killBroker: (id, signal = 'SIGKILL') => kill(nodeById(id), signal),
    async restartBroker(id) {
      const n = nodeById(id);
      if (n.alive) throw new Error(`Kafka test node ${id} is running; kill it first`);
      spawnNode(n);
      await waitReady(n, `node ${id} to rejoin`);
    },
    brokerDown: (id) => kill(nodeById(id), 'SIGKILL'),
    async brokerUp(id) {
      const n = nodeById(id);
      if (n.alive) return;
      spawnNode(n);
      await waitReady(n, `node ${id} to rejoin`);
    },
    createTopics,
    async partitionLeader(topic, partition) {
      const client = admin(nodes.filter((n) => n.alive).map((n) => n.address));
      try {
        await client.connect();
        const { topics } = await client.fetchTopicMetadata({ topics: [topic] });
        const leader = topics[0]?.partitions.find((p) => p.partitionId === partition)?.leader;
        if (leader === undefined) throw new Error(`no partition ${topic}/${partition}`);
        return leader;
      } finally {
        await client.disconnect().catch(() => {});
      }
    },
    stop() {
      stopping ??= (async () => {
        // Controlled shutdown, brokers before the controller quorum; SIGKILL after 2 s: the
        // last voters cannot complete a controlled shutdown once the quorum is gone, and the
        // data is thrown away anyway.
        const timer = setTimeout(() => {
          for (const n of nodes) if (n.alive) void kill(n, 'SIGKILL');
        }, 2000);
        await Promise.all(nodes.filter((n) => !voters.includes(n)).map((n) => kill(n, 'SIGTERM')));
        await Promise.all(voters.map((n) => kill(n, 'SIGTERM')));
        clearTimeout(timer);
        killAllNow();
        running.delete(killAllNow);
        watchdog.stdin!.end();
      })();
      return stopping;
    },
  };
}
