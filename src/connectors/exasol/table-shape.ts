/**
 * The shape of a source table as refstream delivers it: the delivered columns with codecs,
 * the key, the hidden watermark columns, and the SQL expressions that read them.
 */
import type { TableDescriptor } from '../../sdk/batch.js';
import { validateDescriptor } from '../../sdk/batch.js';
import { definite } from '../../sdk/errors.js';
import { decimalStringToUnscaled, unscaledToDecimalString } from '../../sdk/decimal.js';
import type { CatalogTable } from './catalog.js';
import type { ResolvedSourceConfig } from './config.js';
import { qualified, quoteIdent, quoteString } from './sql.js';
import { codecOf, fieldOf, resolveColumn, type ExasolColumn, type ExasolType, type ValueCodec } from './types.js';

/** Everything the source needs to know about its table. */
export interface TableShape {
  /** `SCHEMA.TABLE` as named in batches and checkpoints. */
  name: string;
  /** Quoted `"SCHEMA"."TABLE"`. */
  sqlName: string;
  columns: ExasolColumn[];
  codecs: ValueCodec[];
  descriptor: TableDescriptor;
  /** Indexes (into `columns`) of the key columns. */
  keyIndexes: number[];
  /** Hidden columns read along in watermark mode. */
  watermark?: { column: ExasolColumn; inserted?: ExasolColumn | undefined } | undefined;
  /** Fingerprint of columns and types; a checkpoint of another shape is rejected. */
  signature: string;
  /** True when the columns were listed explicitly (a projection: added columns are ignored). */
  projected: boolean;
  /** Columns never delivered (`excludeColumns`) and the hidden watermark columns. */
  ignored: ReadonlySet<string>;
}

/** Resolves the delivered columns, key and watermark against the catalog; lists every problem at once. */
export function resolveShape(config: ResolvedSourceConfig, catalog: CatalogTable): TableShape {
  const name = `${config.schema}.${config.table}`;
  const byName = new Map(catalog.columns.map((c) => [c.name, c]));
  const problems: string[] = [];
  const wanted = config.columns ?? catalog.columns.map((c) => c.name).filter((n) => !config.excludeColumns.includes(n));
  for (const n of wanted) if (!byName.has(n)) problems.push(`columns: ${n} is not a column of ${name}`);
  for (const n of config.excludeColumns) if (!byName.has(n)) problems.push(`excludeColumns: ${n} is not a column of ${name}`);
  const primaryKey = config.primaryKey ?? catalog.primaryKey;
  if (primaryKey.length === 0) problems.push(`${name} has no PRIMARY KEY constraint: set primaryKey`);
  for (const k of primaryKey) if (!wanted.includes(k)) problems.push(`primary key column ${k} is not delivered (add it to columns)`);
  for (const c of Object.keys(config.columnTypes)) if (!byName.has(c)) problems.push(`columnTypes: ${c} is not a column of ${name}`);
  for (const w of [config.watermark?.column, config.watermark?.insertedColumn]) {
    if (w !== undefined && !byName.has(w)) problems.push(`watermark: ${w} is not a column of ${name}`);
  }
  if (problems.length > 0) {
    const kind = catalog.primaryKey.length === 0 && !config.primaryKey && problems.length === 1 ? 'NO_PRIMARY_KEY' : 'CONFIG_INVALID';
    throw definite(kind, `invalid source config for ${name}: ${problems.join('; ')}`, { table: name });
  }
  const columns = wanted.map((n) => {
    const c = byName.get(n)!;
    return resolveColumn(name, n, c.typeText, c.nullable && !primaryKey.includes(n), config.columnTypes[n]);
  });
  const keyIndexes = primaryKey.map((k) => wanted.indexOf(k));
  for (const i of keyIndexes) assertKeyType(columns[i]!, name);
  let watermark: TableShape['watermark'];
  if (config.mode === 'watermark' && config.watermark) {
    const column = resolveColumn(name, config.watermark.column, byName.get(config.watermark.column)!.typeText, false);
    if (!['DECIMAL', 'TIMESTAMP', 'DATE'].includes(column.type.kind)) {
      throw definite(
        'CONFIG_INVALID',
        `watermark column ${column.name} of ${name} is ${column.typeText}; use a DECIMAL, DATE or TIMESTAMP column`,
        { table: name },
      );
    }
    const insertedName = config.watermark.insertedColumn;
    const inserted = insertedName ? resolveColumn(name, insertedName, byName.get(insertedName)!.typeText, true) : undefined;
    watermark = { column, inserted };
  }
  const descriptor: TableDescriptor = { table: name, primaryKey, fields: columns.map(fieldOf) };
  validateDescriptor(descriptor);
  return {
    name,
    sqlName: qualified(config.schema, config.table),
    columns,
    codecs: columns.map((c) => codecOf(c, name)),
    descriptor,
    keyIndexes,
    watermark,
    signature: columns.map((c) => `${c.name}:${c.typeText}:${c.override ?? ''}`).join(','),
    projected: config.columns !== undefined,
    ignored: new Set([
      ...config.excludeColumns,
      ...(watermark ? [watermark.column.name] : []),
      ...(watermark?.inserted ? [watermark.inserted.name] : []),
    ]),
  };
}

/**
 * Compares the table's current columns with the shape: a delivered column gone or retyped,
 * or (without an explicit `columns` projection) a column added, is a definite
 * SCHEMA_INCOMPATIBLE naming it. Polling sources cannot deliver a schema change in order.
 */
export function assertSameColumns(shape: TableShape, catalog: CatalogTable): void {
  const now = new Map(catalog.columns.map((c) => [c.name, c]));
  const problems: string[] = [];
  let first: string | undefined;
  for (const column of shape.columns) {
    const current = now.get(column.name);
    if (!current) problems.push(`column ${(first ??= column.name)} was dropped`);
    else if (current.typeText !== column.typeText)
      problems.push(`column ${(first ??= column.name)} changed from ${column.typeText} to ${current.typeText}`);
  }
  if (!shape.projected) {
    const known = new Set(shape.columns.map((c) => c.name));
    for (const c of catalog.columns)
      if (!known.has(c.name) && !shape.ignored.has(c.name)) problems.push(`column ${(first ??= c.name)} (${c.typeText}) was added`);
  }
  if (problems.length > 0) {
    throw definite('SCHEMA_INCOMPATIBLE', `the columns of ${shape.name} changed: ${problems.join('; ')}`, {
      table: shape.name,
      hint: 'delete the checkpoint to start over with a new snapshot, or list the delivered columns with the "columns" option; diff mode with schemaEvolution (the default) follows such changes',
    });
  }
}

function assertKeyType(column: ExasolColumn, table: string): void {
  if (!['DECIMAL', 'CHAR', 'VARCHAR', 'DATE', 'TIMESTAMP', 'BOOLEAN'].includes(column.type.kind)) {
    throw definite(
      'CONFIG_INVALID',
      `key column ${column.name} of ${table} has type ${column.typeText}, which refstream cannot use as a key`,
      { table },
    );
  }
}

/** The select list of the delivered columns. */
export function selectList(shape: TableShape): string {
  return shape.columns.map((c) => quoteIdent(c.name)).join(', ');
}

/**
 * The row hash computed in Exasol for diff mode: MD5 over every delivered column, each
 * preceded by a NULL marker and separated by CHR(1) so that neither NULLs nor separators in
 * values can make two different rows hash alike.
 */
export function rowHashExpression(shape: TableShape): string {
  const parts = shape.columns.flatMap((c) => {
    const ident = quoteIdent(c.name);
    return [`CASE WHEN ${ident} IS NULL THEN 'n' ELSE 'v' END`, ident, 'CHR(1)'];
  });
  return `HASH_MD5(${parts.join(', ')})`;
}

/** Canonical text of one key value (a `fetch` JSON value or CSV field text), equal for equal values. */
export function keyValueText(type: ExasolType, value: unknown): string {
  if (value === null || value === undefined) return '';
  if (type.kind === 'DECIMAL') {
    const text = String(value);
    return type.scale === 0 && /^-?\d+$/.test(text)
      ? text.replace(/^(-?)0+(?=\d)/, '$1')
      : unscaledToDecimalString(decimalStringToUnscaled(text, type.scale), type.scale);
  }
  if (type.kind === 'BOOLEAN') return value === true || /^(true|1)$/i.test(String(value)) ? 'true' : 'false';
  return String(value);
}

/** The key text of a row: JSON array of the canonical key value texts. */
export function keyText(parts: string[]): string {
  return JSON.stringify(parts);
}

/** A SQL literal of a key or watermark value given as canonical text. */
export function literalOf(type: ExasolType, text: string): string {
  switch (type.kind) {
    case 'DECIMAL':
      if (!/^-?\d+(\.\d+)?$/.test(text)) throw new RangeError(`not a decimal: ${text}`);
      return text;
    case 'DATE':
      return `DATE ${quoteString(text)}`;
    case 'TIMESTAMP':
      return `TIMESTAMP ${quoteString(text)}`;
    case 'BOOLEAN':
      return text === 'true' ? 'TRUE' : 'FALSE';
    default:
      return quoteString(text);
  }
}

/** `(k1, k2) > (v1, v2)` spelled out for SQL dialects without row comparison. */
export function tupleGreaterThan(columns: readonly ExasolColumn[], values: readonly string[]): string {
  const terms: string[] = [];
  for (let i = 0; i < columns.length; i++) {
    const eq = columns.slice(0, i).map((c, j) => `${quoteIdent(c.name)} = ${literalOf(c.type, values[j]!)}`);
    const gt = `${quoteIdent(columns[i]!.name)} > ${literalOf(columns[i]!.type, values[i]!)}`;
    terms.push(`(${[...eq, gt].join(' AND ')})`);
  }
  return terms.join(' OR ');
}

/** A sortable text of a watermark value: string order equals value order. */
export function sortableWatermark(type: ExasolType, text: string): string {
  if (type.kind !== 'DECIMAL') return text;
  const unscaled = decimalStringToUnscaled(text, type.scale);
  const digits = 40;
  return unscaled >= 0n
    ? `p${unscaled.toString().padStart(digits, '0')}`
    : `n${(10n ** BigInt(digits) + unscaled).toString().padStart(digits, '0')}`;
}

const SHORT_INTEGER = /^-?\d{1,15}$/;

/** Compares two watermark texts by value. */
export function compareWatermarks(type: ExasolType, a: string, b: string): number {
  // the common case, integer sequences, without BigInt
  if (type.kind === 'DECIMAL' && SHORT_INTEGER.test(a) && SHORT_INTEGER.test(b)) return Math.sign(Number(a) - Number(b));
  if (type.kind !== 'DECIMAL') return a < b ? -1 : a > b ? 1 : 0;
  const x = sortableWatermark(type, a);
  const y = sortableWatermark(type, b);
  return x < y ? -1 : x > y ? 1 : 0;
}
