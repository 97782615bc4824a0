/**
 * Configuration of {@link PostgresCapture}: the tables, the slot they share, and every
 * `PostgresSource` setting, which applies to each table (validated by the source's schema).
 */
import * as z from '../../../sdk/zod.js';
import { definite } from '../../../sdk/errors.js';
import { configProblems } from '../../../sdk/config.js';
import { resolveConfig, type PostgresSourceConfig, type ResolvedConfig } from '../config.js';
import { isValidSlotName, parseQualifiedName, displayName, type QualifiedName } from '../identifiers.js';

/** Configuration accepted by `new PostgresCapture(config)`. */
export interface PostgresCaptureConfig extends Omit<PostgresSourceConfig, 'table' | 'slot' | 'mode'> {
  /** The tables (`schema.table`); more can be added while running with `addTable`. */
  tables: string[];
  /** The replication slot the tables share (a-z, 0-9, _). Keep it the same across runs: checkpoints record it. */
  slot: string;
  /** The publication (default: the slot's name). */
  publication?: string;
  /** Tables reading their snapshot at a time, one connection each (default 1). */
  snapshotParallelism?: number;
  /** Bytes of change stream waiting for slow tables before the stream pauses (default 16 MiB). */
  bufferBytes?: number;
}

const captureOnlySchema = z.object({
  tables: z.array(z.string().check(z.minLength(1))),
  slot: z.string().check(z.minLength(1)),
  bufferBytes: z._default(
    z
      .int()
      .check(z.gte(1 << 16))
      .check(z.lte(1 << 30)),
    16 << 20,
  ),
});

/** The capture's configuration after validation. */
export interface ResolvedCaptureConfig extends Omit<ResolvedConfig, 'table' | 'tableName' | 'slotName' | 'mode'> {
  readonly tables: string[];
  readonly tableNames: QualifiedName[];
  readonly slot: string;
  readonly bufferBytes: number;
  /** The settings every table's source gets (as given, without the capture's own keys). */
  readonly common: Omit<PostgresSourceConfig, 'table' | 'slot' | 'mode'>;
}

/** Validates a capture config: definite `CONFIG_INVALID` listing every problem (values never shown). */
export function resolveCaptureConfig(input: PostgresCaptureConfig): ResolvedCaptureConfig {
  const problems: string[] = [];
  const raw = (typeof input === 'object' && input !== null ? input : {}) as unknown as Record<string, unknown>;
  const own = z.safeParse(captureOnlySchema, { tables: raw.tables, slot: raw.slot, bufferBytes: raw.bufferBytes });
  if (!own.success) problems.push(...configProblems(own.error));
  if (typeof raw.slot === 'string' && !isValidSlotName(raw.slot))
    problems.push('slot: replication slot names may contain only a-z, 0-9 and _ (1 to 63 characters)');
  for (const key of ['table', 'mode'])
    if (raw[key] !== undefined) problems.push(`${key}: not a capture setting (list the tables in tables; a capture always streams)`);
  if (raw.capture !== undefined && raw.capture !== 'logical')
    problems.push("capture: a capture of many tables reads one replication slot ('logical'); trigger capture reads one table per source");
  const tableNames: QualifiedName[] = [];
  const seen = new Set<string>();
  for (const text of Array.isArray(raw.tables) ? (raw.tables as unknown[]) : []) {
    const name = typeof text === 'string' ? parseQualifiedName(text) : undefined;
    if (!name) {
      problems.push(`tables: ${JSON.stringify(String(text)).slice(0, 80)} is not "table" or "schema.table"`);
      continue;
    }
    if (seen.has(displayName(name))) continue;
    seen.add(displayName(name));
    tableNames.push(name);
  }
  const { tables: _tables, slot: _slot, bufferBytes: _buffer, ...common } = raw;
  void _tables;
  void _slot;
  void _buffer;
  let probe: ResolvedConfig | null = null;
  try {
    probe = resolveConfig({
      ...common,
      table: 'capture',
      slot: typeof raw.slot === 'string' && isValidSlotName(raw.slot) ? raw.slot : 'capture',
    });
  } catch (error) {
    problems.push(String((error as Error).message).replace(/^invalid PostgresSource config: /, ''));
  }
  if (problems.length > 0 || !own.success || probe === null) {
    throw definite('CONFIG_INVALID', `invalid PostgresCapture config: ${problems.join('; ')}`, {
      hint: 'fix the listed config keys (see docs/connectors/postgres-capture.md)',
    });
  }
  const { tableName: _name, slotName: _slotName, mode: _mode, table: _table, ...settings } = probe;
  void _name;
  void _slotName;
  void _mode;
  void _table;
  return {
    ...settings,
    publicationName: typeof raw.publication === 'string' ? raw.publication : own.data.slot,
    tables: tableNames.map(displayName),
    tableNames,
    slot: own.data.slot,
    bufferBytes: own.data.bufferBytes,
    common: common as ResolvedCaptureConfig['common'],
  };
}
