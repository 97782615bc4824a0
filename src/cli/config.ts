/**
 * The CLI's configuration: flags, or a `refstream.config.{json,yaml}` file validated by the
 * same zod schema, with `${VAR}` / `${VAR:-default}` interpolation so secrets can come from
 * the environment. Flags override the file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { CliError, EXIT } from './errors.js';
import { configProblems } from '../sdk/config.js';

export const syncConfigSchema = z
  .object({
    source: z.string({ error: 'is required (a postgres:// URL)' }).min(1, 'is required (a postgres:// URL)'),
    table: z
      .string({ error: 'is required (schema.table)' })
      .regex(
        /^("([^"]|"")+"|[^".]+)(\.("([^"]|"")+"|[^".]+))?$/,
        'must be "table" or "schema.table" (double quotes around parts with dots)',
      ),
    sinks: z
      .array(z.string().min(1), { error: 'needs at least one sink (arrow:<file|->, jsonl:<file|->, kafka://host:port/topic)' })
      .min(1, 'needs at least one sink (arrow:<file|->, jsonl:<file|->, kafka://host:port/topic)'),
    checkpoint: z.string().min(1).optional(),
    batchRows: z.number().int().positive().optional(),
    commitEvery: z.object({ rows: z.number().int().positive().optional(), ms: z.number().int().positive().optional() }).strict().optional(),
    slot: z.string().min(1).optional(),
    publication: z.string().min(1).optional(),
    snapshotParallelism: z.number().int().min(1).max(64).optional(),
    unknownTypes: z.enum(['error', 'text'], { error: "must be 'error' or 'text'" }).optional(),
    logFormat: z.enum(['auto', 'pretty', 'json']).default('auto'),
    metricsPort: z.number().int().min(0).max(65535).optional(),
    durationSeconds: z.number().positive().optional(),
    warnRetainedBytes: z.number().int().min(0).optional(),
    retryForSeconds: z.number().positive().optional(),
  })
  .strict();

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
  if (parsed.success) return parsed.data;
  const problems = configProblems(parsed.error, (key) => FLAG_OF[key] ?? key);
  throw new CliError(problems.join('; '), EXIT.badUsage);
}

const FLAG_OF: Record<string, string> = {
  source: '--source',
  table: '--table',
  sinks: '--sink',
  checkpoint: '--checkpoint',
  batchRows: '--batch-rows',
  commitEvery: '--commit-rows/--commit-ms',
  slot: '--slot',
  publication: '--publication',
  snapshotParallelism: '--parallelism',
  unknownTypes: '--unknown-types',
  logFormat: '--log-format',
  metricsPort: '--metrics-port',
  durationSeconds: '--duration',
  warnRetainedBytes: '--warn-retained-bytes',
  retryForSeconds: '--retry-for',
};
