/**
 * Test harnesses: real servers started from npm packages (PostgreSQL) and Maven artifacts
 * (Apache Kafka), for connector tests,
 * the conformance suite and examples.
 *
 * @packageDocumentation
 * @module refstream/testing
 */
export { startPostgres, findPostgresBinaries } from './postgres.js';
export type { StartPostgresOptions, TestPostgres } from './postgres.js';
export { startKafkaTestBroker } from './kafka/broker.js';
export type {
  StartKafkaTestBrokerOptions,
  KafkaTestBroker,
  KafkaTestTopic,
  RealKafkaTestBroker,
  MockKafkaTestBroker,
  KafkaTestNode,
} from './kafka/broker.js';
export { buildKafkaMockLauncher } from './kafka/mock-broker.js';
export { kafkaBrokerClasspath, KAFKA_TEST_BROKER_VERSION } from './kafka/broker-classpath.js';
export { findJava, resolveMavenClasspath } from './java/maven-classpath.js';
export type { MavenClasspathRequest } from './java/maven-classpath.js';
export { startExasolTestServer, ExasolFaults, Transcript, createSelfSignedCertificate } from './exasol/index.js';
export type {
  ExasolTestServer,
  ExasolTestServerOptions,
  TranscriptEntry,
  SelfSignedCertificate,
  RejectLoginFault,
  FailStatementFault,
  DropTunnelFault,
  StallBeforePutFault,
  CloseWebSocketFault,
} from './exasol/index.js';
