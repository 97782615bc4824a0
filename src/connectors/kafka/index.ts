/**
 * refstream/kafka: the Kafka sink, the Kafka checkpoint store and the reverse source that
 * loads a refstream topic back as a reference table.
 *
 * @packageDocumentation
 * @module refstream/kafka
 */
export { KafkaSink, isControlKey } from './sink.js';
export type { KafkaSinkOptions } from './sink.js';
export type { CreateTopicOptions } from './create-topic.js';
export type { KafkaValueFormat } from './encode.js';
export { partitionFor } from './encode.js';
export { HEADERS as KAFKA_HEADERS, CONTROL_KEY_PROPERTY, controlKey } from './records.js';
export type { ControlKind } from './records.js';
export type { KafkaConnectionOptions } from './client.js';
export { KafkaCheckpointStore } from './checkpoint-store.js';
export type { KafkaCheckpointStoreOptions } from './checkpoint-store.js';
export { KafkaReferenceTableSource } from './source.js';
export type { KafkaSourceOptions } from './source.js';
