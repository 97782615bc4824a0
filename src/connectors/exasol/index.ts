/**
 * `refstream/exasol`: the Exasol connector — `ExasolSource` (snapshot by parallel EXPORT,
 * changes by watermark or hash-diff polling), `ExasolTableSink` (IMPORT + MERGE), and the
 * small WebSocket client they are built on.
 *
 * @packageDocumentation
 * @module refstream/exasol
 */
export { ExasolSource } from './source.js';
export { supportsPublicKey } from './tunnel.js';
export { sourceConfigSchema, connectionSchema, parseDsn } from './config.js';
export type { ExasolSourceConfig, ExasolConnectionConfig, ResolvedSourceConfig, ExasolHost } from './config.js';
export { ExasolConnection, SESSION_SETUP, DEFAULT_FETCH_BYTES, normaliseFingerprint } from './connection.js';
export type {
  ExasolConnectOptions,
  ExasolSessionInfo,
  ExasolResult,
  ExasolResultSet,
  ExasolResultColumn,
  ExasolPage,
} from './connection.js';
export { openSession } from './session.js';
export { mapExasolException, ExasolServerError } from './errors.js';
export type { ExasolException } from './errors.js';
export { parseExasolType, arrowTypeOf, SRID_METADATA } from './types.js';
export type { ExasolType, ColumnTypeOverride } from './types.js';
export { parseLosslessJson } from './lossless-json.js';
export { runParallelExport, exportStatement } from './export.js';
export { ExasolTableSink, sinkConfigSchema, exasolTypeOf } from './sink.js';
export type { ExasolTableSinkConfig } from './sink.js';
export type { ExportConsumer, ParallelExportOptions, RunningExport } from './export.js';
