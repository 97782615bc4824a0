/**
 * Fast Arrow column builders.
 *
 * They write straight into growable typed arrays and hand the buffers to `makeData`
 * without copying, avoiding apache-arrow's generic `Builder` path (per-value type dispatch,
 * chunk bookkeeping), which is several times slower on the hot path (see bench/builders.ts).
 * Each builder also has raw appenders (`appendInt64BE`, `appendBytes`, …) that decoders of
 * binary wire formats use to skip the JS value entirely.
 */
export { ColumnBuilder } from './builders/column-builder.js';
export {
  Int8ColumnBuilder,
  Int16ColumnBuilder,
  Int32ColumnBuilder,
  Float32ColumnBuilder,
  Float64ColumnBuilder,
  Date32ColumnBuilder,
} from './builders/fixed-width.js';
export { Int64ColumnBuilder, TimestampColumnBuilder } from './builders/word64.js';
export { dateToUnit, parseIsoToUnit } from './builders/time-units.js';
export { BoolColumnBuilder } from './builders/bool.js';
export { Utf8ColumnBuilder, BinaryColumnBuilder, FixedSizeBinaryColumnBuilder } from './builders/var-bytes.js';
export { Decimal128ColumnBuilder } from './builders/decimal.js';
export { FixedDictionaryColumnBuilder, ListColumnBuilder } from './builders/nested.js';
export { IntervalMonthDayNanoColumnBuilder } from './builders/interval.js';
export { builderFor } from './builders/builder-for.js';
