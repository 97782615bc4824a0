/**
 * Kafka Connect schemas of table columns, as Debezium's PostgreSQL connector declares them with
 * its default settings (`decimal.handling.mode=precise`, `time.precision.mode=adaptive`,
 * `binary.handling.mode=bytes`, `interval.handling.mode=numeric`), and each value rendered as
 * JSON the way that schema says, so that Kafka Connect's JsonConverter (`schemas.enable=true`)
 * reads it back. The Arrow type decides how a value is stored; the column's source type
 * (`refstream.source_type`) refines it where Debezium distinguishes more (json, uuid, numeric
 * with its scale, timestamp precision, time of day). Anything else is a plain `string`.
 */
import { DateUnit, Precision, TimeUnit, type DataType, type Field } from 'apache-arrow';
import { METADATA } from '../../sdk/batch.js';
import { decimalStringToUnscaled } from '../../sdk/decimal.js';
import { formatTimestamp, toJsonValue, type Cell } from '../../sdk/values.js';

/** A Connect schema in JsonConverter's JSON form (`field` is set for the fields of a struct). */
export interface ConnectSchema {
  type: 'int8' | 'int16' | 'int32' | 'int64' | 'float' | 'double' | 'boolean' | 'string' | 'bytes' | 'array' | 'struct';
  fields?: ConnectSchema[];
  items?: ConnectSchema;
  optional: boolean;
  name?: string;
  version?: number;
  parameters?: Record<string, string>;
  field?: string;
}

/** How one column is declared and its (non-null) values written. */
export interface ColumnCodec {
  /** The schema without `optional` and `field` (the column's place decides those). */
  schema: Omit<ConnectSchema, 'optional' | 'field'>;
  /** The JSON text of a value; `null` for values the schema cannot hold (NaN in a decimal, say). */
  json: (cell: Exclude<Cell, null>) => string;
}

/** JsonConverter's field order: type, fields/items, optional, name, version, parameters, field. */
export function connectField(codec: ColumnCodec, optional: boolean, field?: string): ConnectSchema {
  const { type, fields, items, name, version, parameters } = codec.schema;
  return {
    type,
    ...(fields !== undefined ? { fields } : {}),
    ...(items !== undefined ? { items } : {}),
    optional,
    ...(name !== undefined ? { name } : {}),
    ...(version !== undefined ? { version } : {}),
    ...(parameters !== undefined ? { parameters } : {}),
    ...(field !== undefined ? { field } : {}),
  };
}

const str = (value: string): string => JSON.stringify(value);
const base64 = (bytes: Uint8Array): string => `"${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}"`;

/** µs per month as Debezium's MicroDuration counts it: 365.25 / 12 days. */
const MICROS_PER_MONTH = 2_629_800_000_000n;
const MICROS_PER_DAY = 86_400_000_000n;

/**
 * An integer as Java's `BigInteger.toByteArray` writes it (what Connect's Decimal holds):
 * big-endian two's complement in the fewest bytes that keep the sign.
 */
export function twosComplementBytes(value: bigint): Buffer {
  let n = 1;
  while (value >= 1n << BigInt(8 * n - 1) || value < -(1n << BigInt(8 * n - 1))) n++;
  const unsigned = value < 0n ? (1n << BigInt(8 * n)) + value : value;
  return Buffer.from(unsigned.toString(16).padStart(2 * n, '0'), 'hex');
}

/** The precision (fractional digits) in a source type such as `timestamp(3) without time zone`. */
function precisionOf(sourceType: string): number | null {
  const m = /^\w+\((\d+)\)/.exec(sourceType);
  return m ? Number(m[1]) : null;
}

function decimalCodec(scale: number, precision: number | null): ColumnCodec {
  return {
    schema: {
      type: 'bytes',
      name: 'org.apache.kafka.connect.data.Decimal',
      version: 1,
      parameters: { scale: String(scale), ...(precision !== null ? { 'connect.decimal.precision': String(precision) } : {}) },
    },
    json: (cell) => {
      const text = String(cell);
      if (!/\d/.test(text)) return 'null'; // NaN, ±Infinity
      return `"${twosComplementBytes(decimalStringToUnscaled(text, scale, 1_000_000)).toString('base64')}"`;
    },
  };
}

/** Unconstrained numeric: Debezium's VariableScaleDecimal (`scale` and the unscaled bytes). */
const variableScaleDecimal: ColumnCodec = {
  schema: {
    type: 'struct',
    fields: [
      { type: 'int32', optional: false, field: 'scale' },
      { type: 'bytes', optional: false, field: 'value' },
    ],
    name: 'io.debezium.data.VariableScaleDecimal',
    version: 1,
  },
  json: (cell) => {
    const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(String(cell));
    if (!m) return 'null'; // NaN, ±Infinity
    const fraction = m[3] ?? '';
    const unscaled = BigInt(`${m[1] === '-' ? '-' : ''}${m[2] ?? ''}${fraction}` || '0');
    return `{"scale":${fraction.length},"value":"${twosComplementBytes(unscaled).toString('base64')}"}`;
  },
};

/** `HH:MM:SS[.ffffff]` (PostgreSQL's time output) as µs since midnight. */
function timeOfDayMicros(text: string): bigint | null {
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/.exec(text);
  if (!m) return null;
  const seconds = BigInt(Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]));
  return seconds * 1_000_000n + BigInt((m[4] ?? '').padEnd(6, '0') || '0');
}

function timeOfDayCodec(precision: number | null): ColumnCodec {
  const millis = precision !== null && precision <= 3;
  return {
    schema: millis
      ? { type: 'int32', name: 'io.debezium.time.Time', version: 1 }
      : { type: 'int64', name: 'io.debezium.time.MicroTime', version: 1 },
    json: (cell) => {
      const micros = timeOfDayMicros(String(cell));
      if (micros === null) return 'null';
      return String(millis ? micros / 1000n : micros);
    },
  };
}

const stringCodec: ColumnCodec = { schema: { type: 'string' }, json: (cell) => str(String(cell)) };

/** The codec of anything without a closer mapping: its lossless JSON rendering, as a string. */
function fallbackCodec(field: Field): ColumnCodec {
  return {
    schema: { type: 'string' },
    json: (cell) => {
      const value = toJsonValue(field, cell);
      return str(typeof value === 'string' ? value : JSON.stringify(value));
    },
  };
}

/** Utf8 columns: Debezium's type for what the source type says the text holds. */
function textCodec(sourceType: string): ColumnCodec {
  if (sourceType === 'json' || sourceType === 'jsonb') {
    return { schema: { type: 'string', name: 'io.debezium.data.Json', version: 1 }, json: (cell) => str(String(cell)) };
  }
  if (sourceType === 'xml')
    return { schema: { type: 'string', name: 'io.debezium.data.Xml', version: 1 }, json: (cell) => str(String(cell)) };
  if (sourceType === 'numeric') return variableScaleDecimal;
  const numeric = /^numeric\((\d+),(-?\d+)\)$/.exec(sourceType);
  if (numeric) return Number(numeric[2]) >= 0 ? decimalCodec(Number(numeric[2]), Number(numeric[1])) : variableScaleDecimal;
  if (/^time(\(\d\))? without time zone$/.test(sourceType)) return timeOfDayCodec(precisionOf(sourceType));
  return stringCodec;
}

function timestampCodec(type: DataType & Record<string, unknown>, sourceType: string): ColumnCodec {
  const unit = type.unit as TimeUnit;
  const perSecond = [1n, 1000n, 1_000_000n, 1_000_000_000n][unit]!;
  const precision = precisionOf(sourceType);
  if (type.timezone != null) {
    // ISO-8601 in UTC with the column's fractional digits (6 unless it declares fewer).
    const digits = precision ?? Math.min(6, [0, 3, 6, 9][unit]!);
    return {
      schema: { type: 'string', name: 'io.debezium.time.ZonedTimestamp', version: 1 },
      json: (cell) => {
        const iso = formatTimestamp(cell as bigint, unit, true);
        const dot = iso.indexOf('.');
        if (dot < 0) return str(iso);
        return str(digits === 0 ? `${iso.slice(0, dot)}Z` : `${iso.slice(0, dot + 1 + digits)}Z`);
      },
    };
  }
  const floor = (value: bigint, divisor: bigint): bigint => {
    const q = value / divisor;
    return value % divisor < 0n ? q - 1n : q;
  };
  if (precision !== null && precision <= 3) {
    return {
      schema: { type: 'int64', name: 'io.debezium.time.Timestamp', version: 1 },
      json: (cell) => String(floor((cell as bigint) * 1000n, perSecond)),
    };
  }
  if (unit === TimeUnit.NANOSECOND) {
    return { schema: { type: 'int64', name: 'io.debezium.time.NanoTimestamp', version: 1 }, json: (cell) => String(cell) };
  }
  return {
    schema: { type: 'int64', name: 'io.debezium.time.MicroTimestamp', version: 1 },
    json: (cell) => String(floor((cell as bigint) * 1_000_000n, perSecond)),
  };
}

/** The Connect schema of a column and how its values are written. */
export function columnCodec(field: Field): ColumnCodec {
  const type = field.type as DataType & Record<string, unknown>;
  const sourceType = (field.metadata.get(METADATA.sourceType) ?? '').trim().toLowerCase();
  switch (type.typeId) {
    case 6:
      return { schema: { type: 'boolean' }, json: (cell) => (cell ? 'true' : 'false') };
    case 2: {
      const bits = type.bitWidth as number;
      const signed = type.isSigned as boolean;
      const width = signed ? bits : bits * 2;
      if (width > 64) return fallbackCodec(field);
      const connect = width <= 8 ? 'int8' : width <= 16 ? 'int16' : width <= 32 ? 'int32' : 'int64';
      return { schema: { type: connect }, json: (cell) => String(cell) };
    }
    case 3: {
      const single = (type.precision as Precision) !== Precision.DOUBLE;
      // JSON has no NaN or Infinity: such values are written as null.
      return { schema: { type: single ? 'float' : 'double' }, json: (cell) => (Number.isFinite(cell) ? String(cell) : 'null') };
    }
    case 5:
      return textCodec(sourceType);
    case 4:
      return { schema: { type: 'bytes' }, json: (cell) => base64(cell as Uint8Array) };
    case 15:
      if (/uuid/.test(sourceType) && (type.byteWidth as number) === 16) {
        return {
          schema: { type: 'string', name: 'io.debezium.data.Uuid', version: 1 },
          json: (cell) => str(toJsonValue(field, cell) as string),
        };
      }
      return { schema: { type: 'bytes' }, json: (cell) => base64(cell as Uint8Array) };
    case 7: {
      const numeric = /^numeric\((\d+),(-?\d+)\)$/.exec(sourceType);
      return decimalCodec(type.scale as number, numeric ? Number(numeric[1]) : (type.precision as number));
    }
    case 8: {
      const days = (type.unit as DateUnit) === DateUnit.DAY;
      return {
        schema: { type: 'int32', name: 'io.debezium.time.Date', version: 1 },
        json: (cell) => String(days ? cell : Math.floor((cell as number) / 86_400_000)),
      };
    }
    case 10:
      return timestampCodec(type, sourceType);
    case 11:
      if ((type.unit as number) !== 2) return fallbackCodec(field);
      return {
        // Debezium's default interval.handling.mode=numeric: µs, a month being 365.25/12 days.
        schema: { type: 'int64', name: 'io.debezium.time.MicroDuration', version: 1 },
        json: (cell) => {
          const v = cell as { months: number; days: number; nanoseconds: bigint };
          return String(BigInt(v.months) * MICROS_PER_MONTH + BigInt(v.days) * MICROS_PER_DAY + v.nanoseconds / 1000n);
        },
      };
    case 12: {
      const child = (type.children as Field[])[0]!;
      const items = columnCodec(child);
      return {
        schema: { type: 'array', items: connectField(items, true) },
        json: (cell) => `[${(cell as Cell[]).map((c) => (c === null ? 'null' : items.json(c))).join(',')}]`,
      };
    }
    default:
      return fallbackCodec(field);
  }
}
