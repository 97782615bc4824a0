/**
 * `refstream/postgres`: the PostgreSQL connector (`PostgresSource`, with logical replication or
 * trigger capture), the `PostgresCheckpointStore`, the `PostgresTableSink`, and the operator
 * functions behind `refstream status`, `drop`, `install-triggers` and `uninstall-triggers`.
 *
 * @packageDocumentation
 * @module refstream/postgres
 */
export { PostgresSource, POSTGRES_CONNECTOR, type PostgresCloseOptions } from './source.js';
export { postgresSourceConfigSchema, resolveConfig, type PostgresSourceConfig, type ResolvedConfig } from './config.js';
export { PostgresCapture, type CaptureTableStatus, type CaptureTableSettings } from './capture/capture.js';
export { resolveTables, isTablePattern } from './capture/table-patterns.js';
export type { PostgresCaptureConfig, ResolvedCaptureConfig } from './capture/capture-config.js';
export { PostgresCheckpointStore, type PostgresCheckpointStoreOptions } from './checkpoint-store.js';
export { PostgresLeaseStore, type PostgresLeaseStoreOptions, type LeaseStatus } from './lease-store.js';
export type { Queryable } from './catalog.js';
export { quoteIdent, quoteLiteral, parseQualifiedName, displayName, type QualifiedName } from './identifiers.js';
export { formatLsn, parseLsn } from './lsn.js';
export { PostgresTableSink, pgType } from './sink.js';
export type { PostgresTableSinkOptions } from './sink.js';
export {
  readServerStatus,
  planDrop,
  dropTableObjects,
  findIdleSlotsRetaining,
  isSlotInvalid,
  defaultNames,
  PUBLICATION_MARKER,
  CAPTURE_MARKER,
  type ServerStatus,
  type SlotStatus,
  type PublicationStatus,
  type StatusFilter,
  type DropPlan,
  type DropResult,
} from './admin.js';
export { isValidSlotName } from './identifiers.js';
export { mapPgError } from './errors.js';
export {
  installTriggers,
  uninstallTriggers,
  dropTriggerCapture,
  readTriggerStatus,
  type TriggerCaptureStatus,
  type ConsumerStatus,
  type TriggerDropResult,
} from './trigger/admin.js';
export {
  installTriggerCapture,
  uninstallTriggerCapture,
  readInstallation,
  installationProblem,
  type Installation,
  type InstallOptions,
  type InstallResult,
  type UninstallResult,
} from './trigger/install.js';
export { TRIGGER_CAPTURE_VERSION, DEFAULT_TRIGGER_SCHEMA, defaultTriggerObjects, type TriggerObjects } from './trigger/objects.js';
