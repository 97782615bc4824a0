/** The options and handles every Kafka test cluster shares, real or mock (see `broker.ts`). */

/** A topic created when the broker starts. */
export interface KafkaTestTopic {
  name: string;
  /** Default 1. */
  partitions?: number;
  /** Real broker only: replicas per partition (default min(brokers, 3)). */
  replicationFactor?: number;
  /** Real broker only: topic configs, e.g. `{ 'cleanup.policy': 'compact' }`. */
  config?: Record<string, string>;
}

/** Options of `startKafkaTestBroker`. */
export interface StartKafkaTestBrokerOptions {
  /** `real` (default): Apache Kafka in KRaft mode; `mock`: librdkafka's mock cluster. */
  kind?: 'real' | 'mock';
  /**
   * Number of brokers in the cluster (default 1). Real: the first three are combined
   * broker+controller nodes forming the quorum, so a 3-broker cluster survives losing one.
   */
  brokers?: number;
  /** Topics to create: names (1 partition), `name:partitions` strings, or objects. */
  topics?: Array<string | KafkaTestTopic>;
  /**
   * Milliseconds to wait for the cluster to come up (default 60 000 real, 20 000 mock). A
   * first-time Maven download is not counted.
   */
  startTimeoutMs?: number;
  /** Real broker only: settings added to (or overriding) the generated `server.properties`. */
  serverProperties?: Record<string, string | number | boolean>;
  /** Real broker only: maximum JVM heap of each node in MiB (default 512). */
  heapMb?: number;
}

/** A running test cluster, real or mock. */
export interface KafkaTestBroker {
  readonly kind: 'real' | 'mock';
  /** Comma-separated `host:port` list, as kcat `-b` and Kafka clients take it. */
  readonly bootstrapServers: string;
  /** The same servers as an array (kafkajs `brokers`). */
  readonly brokers: string[];
  /**
   * Fault hook: takes broker `id` (1-based) offline until {@link brokerUp}. Mock: its
   * connections are dropped and new ones refused. Real: the node is killed with SIGKILL.
   */
  brokerDown(id: number): Promise<void>;
  /** Brings broker `id` back after {@link brokerDown} (real: restarted on the same data). */
  brokerUp(id: number): Promise<void>;
  /** Stops the cluster and deletes its data. Idempotent. */
  stop(): Promise<void>;
}
