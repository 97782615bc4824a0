/**
 * Debezium's envelope with its Kafka Connect schema, as JsonConverter writes it with
 * `schemas.enable=true`: key `{"schema": <Key struct>, "payload": {key columns}}`, value
 * `{"schema": <Envelope struct>, "payload": {before, after, source, op, ts_ms}}`. The schema
 * is derived from each batch's columns (connect-schema.ts), so a schema change in the stream
 * (added, dropped, renamed or widened column) shows as a changed `schema` from the next record
 * on, as in Debezium's topics.
 */
import type { RecordBatch, Schema } from 'apache-arrow';
import { batchInfo, type ChangeType } from '../../sdk/batch.js';
import { batchReaders, type CellReader } from '../../sdk/values.js';
import { changeColumns, DEBEZIUM_OP, headersOf, sized, type Op, type RowEncoder } from './encode.js';
import { columnCodec, connectField, type ConnectSchema } from './connect-schema.js';

/** Options of {@link debeziumConnectEncoder}. */
export interface DebeziumConnectOptions {
  /** Follow each delete event with a tombstone. */
  tombstones: boolean;
  /** First part of the struct names (`<prefix>.<schema>.<table>.Value`), as Debezium's `topic.prefix`. */
  prefix: string;
}

/** Name of the struct of the `source` block (refstream's fields, not the PostgreSQL connector's). */
export const SOURCE_STRUCT_NAME = 'dev.refstream.Source';

const SOURCE_SCHEMA: ConnectSchema = {
  type: 'struct',
  fields: [
    { type: 'string', optional: false, field: 'connector' },
    { type: 'string', optional: false, field: 'name' },
    { type: 'string', optional: false, field: 'table' },
    { type: 'string', optional: false, field: 'snapshot' },
    { type: 'string', optional: true, field: 'position' },
    { type: 'int64', optional: false, field: 'ts_ms' },
  ],
  optional: false,
  name: SOURCE_STRUCT_NAME,
  field: 'source',
};

/**
 * The parts of a qualified table name (`public.regions`, `"My Schema"."T"`), unquoted, for
 * the struct names.
 */
export function tableNameParts(table: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < table.length; i++) {
    const c = table[i]!;
    if (c === '"') {
      if (quoted && table[i + 1] === '"') {
        current += '"';
        i++;
      } else quoted = !quoted;
    } else if (c === '.' && !quoted) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts;
}

/** What a batch's schema gives every row: the schema JSON of key and value, and the column writers. */
interface Prepared {
  /** `{"schema":<Key>,"payload":` */
  keyHead: string;
  /** `{"schema":<Envelope>,"payload":` */
  valueHead: string;
  names: string[];
  keyColumns: number[];
  isKey: boolean[];
  writers: Array<(cell: NonNullable<ReturnType<CellReader>>) => string>;
}

/** The Connect schemas of a table batch: `Key`, and `Envelope` around `Value`. */
export function connectSchemas(
  schema: Schema,
  prefix: string,
): { key: ConnectSchema; envelope: ConnectSchema; writers: Prepared['writers'] } {
  const info = batchInfo(schema);
  const base = [prefix, ...tableNameParts(info.table)].join('.');
  const columns = schema.fields.slice(0, info.tableColumnCount);
  const codecs = columns.map((f) => columnCodec(f));
  const keySet = new Set(info.primaryKey);
  // Key columns are required; every other column optional: change batches carry no NOT NULL,
  // and an update's `before` holds only the key.
  const valueFields = columns.map((f, i) => connectField(codecs[i]!, !keySet.has(f.name), f.name));
  const keyFields = info.primaryKey.map((k) => {
    const i = columns.findIndex((f) => f.name === k);
    return connectField(codecs[i]!, false, k);
  });
  const value = (field: string): ConnectSchema => ({ type: 'struct', fields: valueFields, optional: true, name: `${base}.Value`, field });
  return {
    key: { type: 'struct', fields: keyFields, optional: false, name: `${base}.Key` },
    envelope: {
      type: 'struct',
      fields: [
        value('before'),
        value('after'),
        SOURCE_SCHEMA,
        { type: 'string', optional: false, field: 'op' },
        { type: 'int64', optional: true, field: 'ts_ms' },
      ],
      optional: false,
      name: `${base}.Envelope`,
      version: 1,
    },
    writers: codecs.map((c) => c.json),
  };
}

function prepare(schema: Schema, prefix: string): Prepared {
  const info = batchInfo(schema);
  const { key, envelope, writers } = connectSchemas(schema, prefix);
  const names = schema.fields.slice(0, info.tableColumnCount).map((f) => JSON.stringify(f.name));
  const columnNames = schema.fields.slice(0, info.tableColumnCount).map((f) => f.name);
  return {
    keyHead: `{"schema":${JSON.stringify(key)},"payload":`,
    valueHead: `{"schema":${JSON.stringify(envelope)},"payload":`,
    names,
    keyColumns: info.primaryKey.map((k) => columnNames.indexOf(k)),
    isKey: columnNames.map((n) => info.primaryKey.includes(n)),
    writers,
  };
}

/** Debezium's envelope with Connect schemas on key and value (JsonConverter, `schemas.enable=true`). */
export function debeziumConnectEncoder(options: DebeziumConnectOptions): RowEncoder {
  const prepared = new WeakMap<Schema, Prepared>();
  return {
    encode(batch: RecordBatch, out, from) {
      let p = prepared.get(batch.schema);
      if (p === undefined) prepared.set(batch.schema, (p = prepare(batch.schema, options.prefix)));
      const { keyHead, valueHead, names, keyColumns, isKey, writers } = p;
      const info = batchInfo(batch);
      const readers = batchReaders(batch);
      const changes = changeColumns(batch, info);
      const now = Date.now();
      const cellJson = (c: number, row: number): string => {
        const cell = readers[c]!(row);
        return cell === null ? 'null' : writers[c]!(cell);
      };
      const struct = (row: number, keyOnly: boolean): string =>
        `{${names.map((n, c) => `${n}:${keyOnly && !isKey[c] ? 'null' : cellJson(c, row)}`).join(',')}}`;
      for (let i = from; i < batch.numRows; i++) {
        const op: Op = changes === null ? 'snapshot' : (changes.op(i) as ChangeType);
        if (op === 'truncate') return i;
        const position = changes === null ? null : changes.position.text(i);
        const key = `${keyHead}{${keyColumns.map((c) => `${names[c]}:${cellJson(c, i)}`).join(',')}}}`;
        const row = struct(i, false);
        const before = op === 'delete' ? row : op === 'update' ? struct(i, true) : 'null';
        const after = op === 'delete' ? 'null' : row;
        const source =
          `{"connector":"refstream","name":"refstream","table":${JSON.stringify(info.table)},` +
          `"snapshot":"${op === 'snapshot'}","position":${position === null ? 'null' : JSON.stringify(position)},"ts_ms":${now}}`;
        const value = `${valueHead}{"before":${before},"after":${after},"source":${source},"op":"${DEBEZIUM_OP[op]}","ts_ms":${now}}}`;
        const headers = headersOf({ op, position });
        out.push(sized({ key, value, headers }, position));
        if (op === 'delete' && options.tombstones) out.push(sized({ key, value: null, headers }, position));
      }
      return batch.numRows;
    },
  };
}
