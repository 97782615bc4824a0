/**
 * refstream — reference tables from operational databases into stream processors:
 * a consistent snapshot, then ordered changes, as Apache Arrow RecordBatches, with
 * checkpoints that resume exactly where the last durable one left off.
 *
 * This entry is database-free: the source contract, errors, checkpoints, batch conventions,
 * column builders, ReferenceTable, the sync runner, file/stdout/memory sinks and the
 * in-memory source. Connectors live in `refstream/postgres`, `refstream/exasol`, `refstream/kafka`.
 *
 * @packageDocumentation
 * @module refstream
 */
export * from './sdk/errors.js';
export * from './sdk/source.js';
export * from './sdk/poll-gate.js';
export * from './sdk/checkpoint.js';
export * from './sdk/checkpoint-store.js';
export { parseConfig, configProblems, type ConfigOrigin } from './sdk/config.js';
export * from './sdk/batch.js';
export * from './sdk/builders.js';
export * from './sdk/decimal.js';
export * from './sdk/values.js';
export * from './sdk/table.js';
export * from './sdk/sink.js';
export * from './sources/memory/index.js';
export * from './sdk/sync.js';
export * from './sdk/lease.js';
export * from './sdk/leadership.js';
export * from './sinks/index.js';
