/**
 * Picks the column builder for an Arrow type.
 */
import { IntervalUnit, type Dictionary, type Field, type DataType, type TimeUnit } from 'apache-arrow';
import { ColumnBuilder } from './column-builder.js';
import {
  Int8ColumnBuilder,
  Int16ColumnBuilder,
  Int32ColumnBuilder,
  Float32ColumnBuilder,
  Float64ColumnBuilder,
  Date32ColumnBuilder,
} from './fixed-width.js';
import { Int64ColumnBuilder, TimestampColumnBuilder } from './word64.js';
import { BoolColumnBuilder } from './bool.js';
import { Utf8ColumnBuilder, BinaryColumnBuilder, FixedSizeBinaryColumnBuilder } from './var-bytes.js';
import { Decimal128ColumnBuilder } from './decimal.js';
import { ListColumnBuilder } from './nested.js';
import { IntervalMonthDayNanoColumnBuilder } from './interval.js';

/**
 * A builder for any supported Arrow type (the types refstream's connectors produce).
 * Throws for other types so the caller can report `UNSUPPORTED_TYPE`.
 */
export function builderFor(type: DataType): ColumnBuilder {
  const t = type as DataType & Record<string, unknown>;
  switch (type.typeId) {
    case 2: {
      // Int
      const bits = t.bitWidth as number;
      if (t.isSigned === false) break;
      if (bits === 8) return new Int8ColumnBuilder();
      if (bits === 16) return new Int16ColumnBuilder();
      if (bits === 32) return new Int32ColumnBuilder();
      if (bits === 64) return new Int64ColumnBuilder();
      break;
    }
    case 3: // Float
      return (t.precision as number) === 1 ? new Float32ColumnBuilder() : new Float64ColumnBuilder();
    case 4:
      return new BinaryColumnBuilder();
    case 5:
      return new Utf8ColumnBuilder();
    case 6:
      return new BoolColumnBuilder();
    case 7:
      if ((t.bitWidth as number) === 128) return new Decimal128ColumnBuilder(t.precision as number, t.scale as number);
      break;
    case 8:
      if ((t.unit as number) === 0) return new Date32ColumnBuilder();
      break;
    case 10:
      return new TimestampColumnBuilder(t.unit as TimeUnit, (t.timezone as string | null) ?? null);
    case 11:
      if ((t.unit as number) === IntervalUnit.MONTH_DAY_NANO) return new IntervalMonthDayNanoColumnBuilder();
      break;
    case 12: {
      const childField = (t.children as Field[])[0]!;
      return new ListColumnBuilder(builderFor(childField.type), childField);
    }
    case 15:
      return new FixedSizeBinaryColumnBuilder(t.byteWidth as number);
    case -1: {
      const dict = type as unknown as Dictionary;
      const keys = dict.indices;
      if (keys.bitWidth === 8 && (dict.dictionary as DataType).typeId === 5) {
        throw new TypeError('dictionary columns need their value list: use FixedDictionaryColumnBuilder');
      }
      break;
    }
  }
  throw new TypeError(`no column builder for Arrow type ${String(type)}`);
}
