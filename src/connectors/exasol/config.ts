/**
 * Configuration of the Exasol connector (zod). A bad config fails before any connection,
 * listing every problem; the password never appears in a message.
 */
import * as z from '../../sdk/zod.js';
import { batchLimitFields } from '../../sdk/batch-limits.js';
import { definite } from '../../sdk/errors.js';
import { parseConfig as parseWithSchema } from '../../sdk/config.js';
import type { WarningHandler } from '../../sdk/warnings.js';

/** Connection settings shared by {@link ExasolSource}, {@link ExasolTableSink} and the client. */
export const connectionSchema = z.object({
  /**
   * Exasol DSN: `host[..N][/FINGERPRINT][:port]`, several separated by commas, e.g.
   * `10.0.0.11..14/AB12…:8563`. Alternatively give `host` (and `port`).
   */
  dsn: z.optional(z.string().check(z.minLength(1))),
  host: z.optional(z.string().check(z.minLength(1))),
  port: z.optional(z.int().check(z.gte(1)).check(z.lte(65535))),
  user: z.string().check(z.minLength(1)),
  password: z.string(),
  /** wss (default true: Exasol 8 is TLS-only). */
  tls: z._default(z.boolean(), true),
  /** SHA-256 fingerprint of the server certificate (hex); pins a self-signed certificate. */
  fingerprint: z.optional(
    z
      .string()
      .check(z.regex(/^[0-9a-fA-F:]+$/, 'must be hex digits (colons allowed)'))
      .check(z.refine((s) => s.replace(/:/g, '').length === 64, 'must be a SHA-256 (64 hex digits)')),
  ),
  /** zlib compression of WebSocket frames. */
  compression: z._default(z.boolean(), false),
  connectTimeoutMs: z._default(z.int().check(z.positive()), 10_000),
  /** Statement timeout in seconds (0 = none). */
  queryTimeoutSeconds: z._default(z.int().check(z.nonnegative()), 0),
});

const identifier = z.string().check(z.minLength(1)).check(z.maxLength(128));

/** zod schema of {@link ExasolSourceConfig}. */
export const sourceConfigSchema = z
  .strictObject(
    z.extend(connectionSchema, {
      /** Schema and table, exactly as stored (unquoted names are upper-case in Exasol). */
      schema: identifier,
      table: identifier,
      /**
       * Columns to deliver, in this order (a projection: columns added to the table later are
       * ignored). Default: all columns in table order, minus `excludeColumns`; then an added
       * column stops the stream with SCHEMA_INCOMPATIBLE. Watermark columns are read either way.
       */
      columns: z.optional(z.array(identifier).check(z.minLength(1))),
      /** Columns never delivered (e.g. bookkeeping columns of the writers); not with `columns`. */
      excludeColumns: z._default(z.array(identifier), []),
      /** Primary key columns, when the table has no PRIMARY KEY constraint. */
      primaryKey: z.optional(z.array(identifier).check(z.minLength(1))),
      /** Arrow representation per column: `int64` for DECIMAL(p ≤ 19, 0) keys and counters (default Decimal128). */
      columnTypes: z._default(z.record(z.string(), z.enum(['int64', 'decimal'])), {}),
      /** How changes are found. */
      mode: z.enum(['watermark', 'diff']),
      watermark: z.optional(
        z.strictObject({
          /** Monotonic column (DECIMAL, DATE or TIMESTAMP) set on every insert and update. */
          column: identifier,
          /** Column set once at insert from the same sequence; tells inserts from updates. */
          insertedColumn: z.optional(identifier),
        }),
      ),
      diff: z.optional(
        z.strictObject({
          /** Directory of the content-addressed diff state files; must survive restarts. */
          stateDir: z.string().check(z.minLength(1)),
        }),
      ),
      /** Skip polls while `EXA_ALL_OBJECTS.LAST_COMMIT` of the table is unchanged (default true). */
      lastCommitGate: z._default(z.boolean(), true),
      snapshot: z._default(
        z.strictObject({
          /**
           * `export`: parallel EXPORT through HTTP-transport tunnels; `fetch`: paged WebSocket
           * fetch; `auto`: fetch when the catalog's row count is below `fetchBelowRows`, else export.
           */
          method: z._default(z.enum(['auto', 'export', 'fetch']), 'auto'),
          /** `auto` reads tables with fewer rows than this by fetch (tunnels cost more than they save). */
          fetchBelowRows: z._default(z.int().check(z.nonnegative()), 10_000),
          /** TLS on tunnels with PUBLIC KEY pinning: `auto` when the server supports it (≥ 8.32). */
          tunnelTls: z._default(z.enum(['auto', 'on', 'off']), 'auto'),
          /** At most this many tunnels (default: one per node). */
          maxTunnels: z.optional(z.int().check(z.positive())),
        }),
        { method: 'auto', fetchBelowRows: 10_000, tunnelTls: 'auto' },
      ),
      ...batchLimitFields(),
      /** Pause between polls while waiting for changes within `maxWaitMs`. */
      pollIntervalMs: z._default(z.int().check(z.positive()), 25),
      /** Byte budget of one `fetch`. */
      fetchBytes: z._default(
        z
          .int()
          .check(z.gte(1024))
          .check(z.lte(64 * 1024 * 1024)),
        4 * 1024 * 1024,
      ),
      /**
       * Follow changes of the table's columns (added, dropped, renamed, retyped non-key
       * columns): every row is sent again with the new columns. false: stop with
       * `SCHEMA_INCOMPATIBLE` (see docs/connectors/exasol.md, "Schema changes").
       */
      schemaEvolution: z._default(z.boolean(), true),
      /** Receives warnings such as `CHECKPOINT_UNIDENTIFIED` (default: Node process warnings on stderr). */
      onWarning: z.optional(z.custom<WarningHandler>((value) => typeof value === 'function', 'must be a function')),
    }).shape,
  )
  .check(
    z.superRefine((c, ctx) => {
      if (!c.dsn && !c.host) ctx.addIssue({ code: 'custom', path: ['dsn'], message: 'give dsn or host' });
      if (c.mode === 'watermark' && !c.watermark)
        ctx.addIssue({ code: 'custom', path: ['watermark'], message: 'mode "watermark" needs watermark.column' });
      if (c.mode === 'diff' && !c.diff) ctx.addIssue({ code: 'custom', path: ['diff'], message: 'mode "diff" needs diff.stateDir' });
      if (c.columns && c.excludeColumns.length > 0)
        ctx.addIssue({ code: 'custom', path: ['excludeColumns'], message: 'give columns or excludeColumns, not both' });
    }),
  );

/** Configuration of {@link ExasolSource} (input form: defaults optional). */
export type ExasolSourceConfig = z.input<typeof sourceConfigSchema>;
/** Parsed configuration with defaults applied. */
export type ResolvedSourceConfig = z.output<typeof sourceConfigSchema>;
/** Connection part of a configuration (input form). */
export type ExasolConnectionConfig = z.input<typeof connectionSchema>;

/** Parses an Exasol source or sink config, throwing definite CONFIG_INVALID that lists every problem. */
export function parseConfig<S extends z.core.$ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  return parseWithSchema(schema, input, { what: `${what} config`, hint: 'fix the listed settings (see docs/connectors/exasol.md)' });
}

/** One node address. */
export interface ExasolHost {
  host: string;
  port: number;
}

/** Expands a DSN (`10.0.0.1..3/FP:8563,other:8564`) into hosts and an optional fingerprint. */
export function parseDsn(dsn: string, defaultPort = 8563): { hosts: ExasolHost[]; fingerprint: string | undefined } {
  const hosts: ExasolHost[] = [];
  let fingerprint: string | undefined;
  for (const part of dsn
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(.+?)(?:\/([0-9A-Fa-f]+))?(?::(\d+))?$/.exec(part);
    if (!m) throw definite('CONFIG_INVALID', `invalid dsn element ${JSON.stringify(part)}`);
    const port = m[3] ? Number(m[3]) : defaultPort;
    if (m[2]) fingerprint = m[2];
    const range = /^(.*?)(\d+)\.\.(\d+)$/.exec(m[1]!);
    if (range) {
      for (let n = Number(range[2]); n <= Number(range[3]); n++) hosts.push({ host: `${range[1]}${n}`, port });
    } else hosts.push({ host: m[1]!, port });
  }
  return { hosts, fingerprint };
}

/** The hosts and fingerprint of a parsed connection config. */
export function connectionTargets(c: z.output<typeof connectionSchema>): { hosts: ExasolHost[]; fingerprint: string | undefined } {
  if (c.dsn) {
    const parsed = parseDsn(c.dsn, c.port ?? 8563);
    return { hosts: parsed.hosts, fingerprint: c.fingerprint ?? parsed.fingerprint };
  }
  return { hosts: [{ host: c.host!, port: c.port ?? 8563 }], fingerprint: c.fingerprint };
}
