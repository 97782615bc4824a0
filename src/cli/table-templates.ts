/**
 * Sink and checkpoint URLs for several tables: `{schema}` and `{table}` in a URL are replaced
 * by each table's schema and name (`jsonl:out/{table}.jsonl`, `kafka://host:9092/{schema}.{table}`,
 * `postgres://…#{schema}.{table}_copy`). Given for several tables, an output without a
 * placeholder would mix them, so it is refused; two tables mapping to one output are too.
 */
import { redactSecrets } from '../sdk/errors.js';
import { CliError, EXIT } from './errors.js';

/** A table as its schema and name (unquoted). */
export interface TableName {
  schema: string;
  name: string;
}

const PLACEHOLDER = /\{(schema|table)\}/;

/** Whether `spec` names its table with `{schema}` or `{table}`. */
export function hasPlaceholder(spec: string): boolean {
  return PLACEHOLDER.test(spec);
}

/** `schema.table` as typed (quotes removed); a bare name is in `public`. */
export function splitTableName(text: string): TableName {
  const parts = text.match(/"([^"]|"")*"|[^.]+/g) ?? [text];
  const unquote = (p: string) => (p.startsWith('"') ? p.slice(1, -1).replace(/""/g, '"') : p);
  return parts.length >= 2
    ? { schema: unquote(parts[0]!), name: unquote(parts.slice(1).join('.')) }
    : { schema: 'public', name: unquote(parts[0]!) };
}

/** `spec` for `table`: `{schema}` and `{table}` replaced. */
export function expandTemplate(spec: string, table: TableName): string {
  return spec.replace(/\{schema\}/g, table.schema).replace(/\{table\}/g, table.name);
}

/** Stores and sinks that need no placeholder: they keep every table apart by themselves. */
function keyedPerTable(spec: string, kind: 'sink' | 'checkpoint'): boolean {
  if (kind === 'sink') return spec === 'memory' || spec === 'memory:';
  // postgres:// and kafka:// checkpoint stores key their entries by table and source
  return /^(postgres|postgresql|kafka|kafkas):\/\//i.test(spec);
}

/**
 * The specs of every table: `specs[i]` expanded for each table, checked so that no two tables
 * share an output. `flag` names the option in errors.
 */
export function expandForTables(flag: string, specs: string[], tables: TableName[], kind: 'sink' | 'checkpoint'): string[][] {
  if (tables.length > 1) {
    for (const spec of specs) {
      if (!hasPlaceholder(spec) && !keyedPerTable(spec, kind)) {
        throw new CliError(
          `${flag} ${redactSecrets(spec)} has no {table} placeholder, but ${tables.length} tables would write to it; name each table's output with {schema} and {table}, e.g. ${example(spec)}`,
          EXIT.badUsage,
        );
      }
    }
  }
  const perTable = tables.map((t) => specs.map((spec) => expandTemplate(spec, t)));
  for (let s = 0; s < specs.length; s++) {
    if (keyedPerTable(specs[s]!, kind) && !hasPlaceholder(specs[s]!)) continue;
    const seen = new Map<string, TableName>();
    for (let t = 0; t < tables.length; t++) {
      const out = perTable[t]![s]!;
      const other = seen.get(out);
      if (other) {
        throw new CliError(
          `${flag} ${redactSecrets(specs[s]!)} gives ${other.schema}.${other.name} and ${tables[t]!.schema}.${tables[t]!.name} the same output ${redactSecrets(out)}; add {schema} to tell them apart`,
          EXIT.badUsage,
        );
      }
      seen.set(out, tables[t]!);
    }
  }
  return perTable;
}

function example(spec: string): string {
  if (spec.startsWith('jsonl:')) return 'jsonl:out/{schema}.{table}.jsonl';
  if (spec.startsWith('arrow:')) return 'arrow:out/{schema}.{table}.arrow';
  if (/^kafkas?:\/\//i.test(spec)) return 'kafka://host:9092/{schema}.{table}';
  if (/^postgres(ql)?:\/\//i.test(spec)) return 'postgres://…#{schema}.{table}_copy';
  if (spec.startsWith('exasol://')) return 'exasol://…#SCHEMA.{table}';
  return '.refstream/{schema}.{table}.checkpoint.json';
}
