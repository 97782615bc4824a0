/** The reverse direction: a refstream Kafka topic as a ReferenceTableSource. */
export { KafkaReferenceTableSource } from './source.js';
export type { KafkaSourceOptions } from './source.js';
