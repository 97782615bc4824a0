/**
 * Test harnesses: real servers started from npm packages, for connector tests,
 * the conformance suite and examples.
 *
 * @packageDocumentation
 * @module refstream/testing
 */
export { startPostgres, findPostgresBinaries } from './postgres.js';
export type { StartPostgresOptions, TestPostgres } from './postgres.js';
export { startKafkaTestBroker, buildKafkaMockLauncher } from './kafka/broker.js';
export type { StartKafkaTestBrokerOptions, KafkaTestBroker, KafkaTestTopic } from './kafka/broker.js';
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
