/**
 * The CLI's configuration: flags, or a `refstream.config.{json,yaml}` file validated by the
 * same zod schema, with `${VAR}` / `${VAR:-default}` interpolation so secrets can come from
 * the environment. Flags override the file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as z from '../sdk/zod.js';
import { CliError, EXIT } from './errors.js';
import { configProblems } from '../sdk/config.js';

const SINKS_NEEDED = 'needs at least one sink (arrow:<file|->, jsonl:<file|->, kafka://host:port/topic)';
const positiveInt = () => z.int().check(z.positive());

const tableName = () =>
  z
    .string({ error: 'is required (schema.table)' })
    .check(
      z.regex(
        /^("([^"]|"")+"|[^".]+)(\.("([^"]|"")+"|[^".]+))?$/,
        'must be "table" or "schema.table" (double quotes around parts with dots; * and ? match several tables)',
      ),
    );

export const syncConfigSchema = z.strictObject({
  source: z.string({ error: 'is required (a postgres:// URL)' }).check(z.minLength(1, 'is required (a postgres:// URL)')),
  /** One table (or a pattern); `tables` lists several. */
  table: z.optional(tableName()),
  tables: z.optional(z.array(tableName()).check(z.minLength(1, 'needs at least one table'))),
  sinks: z.array(z.string().check(z.minLength(1)), { error: SINKS_NEEDED }).check(z.minLength(1, SINKS_NEEDED)),
  checkpoint: z.optional(z.string().check(z.minLength(1))),
  batchRows: z.optional(positiveInt()),
  commitEvery: z.optional(z.strictObject({ rows: z.optional(positiveInt()), ms: z.optional(positiveInt()) })),
  slot: z.optional(z.string().check(z.minLength(1))),
  publication: z.optional(z.string().check(z.minLength(1))),
  snapshotParallelism: z.optional(z.int().check(z.gte(1), z.lte(64))),
  unknownTypes: z.optional(z.enum(['error', 'text'], { error: "must be 'error' or 'text'" })),
  toast: z.optional(z.enum(['lookup', 'identity-full'], { error: "must be 'lookup' or 'identity-full'" })),
  setReplicaIdentity: z.optional(z.boolean()),
  onSchemaChange: z.optional(z.enum(['error', 'resnapshot'], { error: "must be 'error' or 'resnapshot'" })),
  capture: z.optional(z.enum(['logical', 'trigger'], { error: "must be 'logical' or 'trigger'" })),
  consumer: z.optional(z.string().check(z.minLength(1))),
  installTriggers: z.optional(z.boolean()),
  triggerSchema: z.optional(z.string().check(z.minLength(1))),
  pollIntervalMs: z.optional(z.int().check(z.gte(10))),
  logFormat: z._default(z.enum(['auto', 'pretty', 'json']), 'auto'),
  metricsPort: z.optional(z.int().check(z.gte(0), z.lte(65535))),
  durationSeconds: z.optional(z.number().check(z.positive())),
  warnRetainedBytes: z.optional(z.int().check(z.gte(0))),
  retryForSeconds: z.optional(z.number().check(z.positive())),
  /** High availability: run as one replica of a group (docs/operations.md). */
  ha: z.optional(z.boolean()),
  group: z.optional(z.string().check(z.minLength(1), z.maxLength(200))),
  replicaId: z.optional(z.string().check(z.minLength(1), z.maxLength(200))),
  leaseMs: z.optional(z.int().check(z.gte(200), z.lte(600_000))),
});

export type SyncConfig = z.output<typeof syncConfigSchema>;

const CONFIG_FILES = ['refstream.config.json', 'refstream.config.yaml', 'refstream.config.yml'];

/** Replaces `${VAR}` and `${VAR:-default}` in every string of a parsed config file. */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, path = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      throw new CliError(
        `config ${path || '(root)'}: environment variable ${name} is not set (set it, or write \${${name}:-default})`,
        EXIT.badUsage,
      );
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, `${path}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, env, path ? `${path}.${k}` : k)]));
  }
  return value;
}

/** Reads the config file named by `--config`, or the first refstream.config.* in `cwd`. */
export async function readConfigFile(
  explicit: string | undefined,
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{ path: string | null; values: Record<string, unknown> }> {
  const path = explicit ? resolve(cwd, explicit) : CONFIG_FILES.map((f) => resolve(cwd, f)).find((p) => existsSync(p));
  if (!path) return { path: null, values: {} };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(
      `--config: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      EXIT.badUsage,
    );
  }
  let parsed: unknown;
  try {
    // the YAML parser is loaded only for YAML files (it costs start-up time)
    parsed = path.endsWith('.json') ? JSON.parse(text) : (await import('yaml')).parse(text);
  } catch (error) {
    throw new CliError(
      `${path}: not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message.split('\n')[0]}`,
      EXIT.badUsage,
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CliError(`${path}: must be an object with keys such as source, table, sinks`, EXIT.badUsage);
  }
  return { path, values: interpolateEnv(parsed, env) as Record<string, unknown> };
}

/** Validates the merged config; every problem is listed, values are never echoed. */
export function validateSyncConfig(input: Record<string, unknown>): SyncConfig {
  const parsed = syncConfigSchema.safeParse(input);
  const problems = parsed.success ? [] : configProblems(parsed.error, (key) => FLAG_OF[key] ?? key);
  if (input.table === undefined && input.tables === undefined) problems.unshift('--table: is required (schema.table, repeatable)');
  if (input.table !== undefined && input.tables !== undefined)
    problems.push('tables: give table or tables, not both (--table overrides both; repeat it for several tables)');
  for (const key of ['group', 'replicaId', 'leaseMs'] as const)
    if (input[key] !== undefined && input.ha !== true) problems.push(`${FLAG_OF[key]}: only used with --ha (high availability)`);
  if (problems.length > 0 || !parsed.success) throw new CliError(problems.join('; '), EXIT.badUsage);
  return parsed.data;
}

/** The tables (names or patterns) a sync config names, in the order given. */
export function tablesOf(config: SyncConfig): string[] {
  return config.tables ?? (config.table !== undefined ? [config.table] : []);
}

/** Whether `text` has a `*` or `?` outside double quotes: it names every table it matches. */
export function isTablePattern(text: string): boolean {
  return /[*?]/.test(text.replace(/"([^"]|"")*"/g, ''));
}

const FLAG_OF: Record<string, string> = {
  source: '--source',
  table: '--table',
  tables: 'tables',
  sinks: '--sink',
  checkpoint: '--checkpoint',
  batchRows: '--batch-rows',
  commitEvery: '--commit-rows/--commit-ms',
  slot: '--slot',
  publication: '--publication',
  snapshotParallelism: '--parallelism',
  unknownTypes: '--unknown-types',
  toast: '--toast',
  setReplicaIdentity: '--set-replica-identity',
  onSchemaChange: '--on-schema-change',
  capture: '--capture',
  consumer: '--consumer',
  installTriggers: '--install-triggers',
  triggerSchema: '--trigger-schema',
  pollIntervalMs: '--poll-interval-ms',
  logFormat: '--log-format',
  metricsPort: '--metrics-port',
  durationSeconds: '--duration',
  warnRetainedBytes: '--warn-retained-bytes',
  retryForSeconds: '--retry-for',
  ha: '--ha',
  group: '--group',
  replicaId: '--replica-id',
  leaseMs: '--lease-ms',
};
