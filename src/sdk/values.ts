/**
 * Reading Arrow columns back into JS values, and rendering them losslessly as JSON.
 *
 * "Cells" are the exact values: Int64 → bigint, Decimal → decimal text, Timestamp → bigint
 * count of the field's unit, Date32 → day number, Binary → Uint8Array, List → array.
 * `toUserValue` turns a cell into what users expect from `ReferenceTable.get` (Dates for
 * dates and timestamps); `toJsonValue` into lossless JSON (int64 and decimals as strings,
 * timestamps as ISO-8601 with all sub-second digits).
 */
import { TimeUnit, type Data, type DataType, type Field, type RecordBatch, type Vector } from 'apache-arrow';
import { readDecimal128, unscaledToDecimalString } from './decimal.js';

/** An exact cell value. */
export type Cell = null | boolean | number | bigint | string | Uint8Array | Cell[] | { months: number; days: number; nanoseconds: bigint };

/** Reads cell `i` of one column. */
export type CellReader = (index: number) => Cell;

/** Validity of a column's rows, honouring the slice offset (all valid without a null bitmap). */
export function validityReader(data: Data): (i: number) => boolean {
  const bitmap = data.nullBitmap;
  if (!bitmap || data.nullCount === 0 || bitmap.length === 0) return () => true;
  const offset = data.offset;
  return (i) => {
    const j = i + offset;
    return (bitmap[j >> 3]! & (1 << (j & 7))) !== 0;
  };
}

// ignoreBOM: a value that begins with U+FEFF is data, not a byte-order mark to strip.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** A fast reader of the cells of one column (`Data` of a RecordBatch child). */
export function cellReader(data: Data): CellReader {
  const valid = validityReader(data);
  const type = data.type as DataType & Record<string, unknown>;
  // apache-arrow slices value and offset buffers along with the Data: only the validity
  // bitmap and boolean bits are indexed with the slice offset.
  const off = data.offset;
  const values = data.values as ArrayLike<number> & {
    buffer: ArrayBufferLike;
    byteOffset: number;
    subarray(a: number, b: number): Uint8Array;
  };
  switch (data.typeId) {
    case 2: {
      const bits = type.bitWidth as number;
      if (bits === 64) {
        const v = new BigInt64Array(values.buffer, values.byteOffset, (values as unknown as BigInt64Array).length);
        const u = type.isSigned ? null : new BigUint64Array(values.buffer, values.byteOffset, v.length);
        return (i) => (valid(i) ? (u ? u[i]! : v[i]!) : null);
      }
      return (i) => (valid(i) ? values[i]! : null);
    }
    case 3:
      return (i) => (valid(i) ? values[i]! : null);
    case 6: {
      const bits = values as unknown as Uint8Array;
      return (i) => {
        if (!valid(i)) return null;
        const j = i + off;
        return (bits[j >> 3]! & (1 << (j & 7))) !== 0;
      };
    }
    case 4:
    case 5: {
      const offsets = data.valueOffsets as Int32Array;
      const bytes = values as unknown as Uint8Array;
      if (data.typeId === 5) return (i) => (valid(i) ? decoder.decode(bytes.subarray(offsets[i]!, offsets[i + 1]!)) : null);
      return (i) => (valid(i) ? bytes.slice(offsets[i]!, offsets[i + 1]!) : null);
    }
    case 15: {
      const width = type.byteWidth as number;
      const bytes = values as unknown as Uint8Array;
      return (i) => (valid(i) ? bytes.slice(i * width, (i + 1) * width) : null);
    }
    case 7: {
      const words = values as unknown as Uint32Array;
      const scale = type.scale as number;
      if ((type.bitWidth as number) !== 128) break;
      return (i) => (valid(i) ? unscaledToDecimalString(readDecimal128(words, i), scale) : null);
    }
    case 8: {
      if ((type.unit as number) === 0) return (i) => (valid(i) ? values[i]! : null);
      const v = new BigInt64Array(values.buffer, values.byteOffset, (values as unknown as BigInt64Array).length);
      return (i) => (valid(i) ? Number(v[i]!) : null);
    }
    case 10: {
      const v = new BigInt64Array(values.buffer, values.byteOffset, (values as unknown as BigInt64Array).length);
      return (i) => (valid(i) ? v[i]! : null);
    }
    case 11: {
      const w = values as unknown as Int32Array;
      if ((type.unit as number) === 2) {
        return (i) => {
          if (!valid(i)) return null;
          const o = i * 4;
          const ns = (BigInt(w[o + 3]!) << 32n) | BigInt(w[o + 2]! >>> 0);
          return { months: w[o]!, days: w[o + 1]!, nanoseconds: ns };
        };
      }
      break;
    }
    case 12: {
      const offsets = data.valueOffsets as Int32Array;
      const child = cellReader(data.children[0]!);
      return (i) => {
        if (!valid(i)) return null;
        const out: Cell[] = [];
        for (let k = offsets[i]!; k < offsets[i + 1]!; k++) out.push(child(k));
        return out;
      };
    }
    case -1: {
      const dictionary = data.dictionary as Vector | undefined;
      if (!dictionary) break;
      const dictValues: Cell[] = [];
      for (let k = 0; k < dictionary.length; k++) dictValues.push(dictionary.get(k) as Cell);
      return (i) => (valid(i) ? dictValues[Number(values[i]!)]! : null);
    }
  }
  // Anything else: the (slower) generic accessor.
  return (i) => {
    const v = (data as unknown as { get?: (i: number) => unknown }).get;
    return (v ? v.call(data, i) : null) as Cell;
  };
}

/** Readers for every column of a batch. */
export function batchReaders(batch: RecordBatch): CellReader[] {
  return batch.data.children.map((child) => cellReader(child as Data));
}

/** Reads row `i` of a batch as cells, column by column. */
export function readRow(readers: CellReader[], index: number, count = readers.length): Cell[] {
  const row = new Array<Cell>(count);
  for (let c = 0; c < count; c++) row[c] = readers[c]!(index);
  return row;
}

const UNIT_DIGITS: Record<number, number> = {
  [TimeUnit.SECOND]: 0,
  [TimeUnit.MILLISECOND]: 3,
  [TimeUnit.MICROSECOND]: 6,
  [TimeUnit.NANOSECOND]: 9,
};

/**
 * Formats a timestamp cell as ISO-8601 with every digit of its unit (`Z` suffix when zoned).
 * Works for the whole int64 range (JavaScript's Date stops at year 275760), with years
 * outside 0..9999 written as JavaScript does: sign and six or more digits.
 */
export function formatTimestamp(value: bigint, unit: TimeUnit, zoned: boolean): string {
  const digits = UNIT_DIGITS[unit]!;
  const perSecond = 10n ** BigInt(digits);
  let seconds = value / perSecond;
  let fraction = value % perSecond;
  if (fraction < 0n) {
    fraction += perSecond;
    seconds -= 1n;
  }
  let days = seconds / 86400n;
  let time = Number(seconds % 86400n);
  if (time < 0) {
    time += 86400;
    days -= 1n;
  }
  const h = Math.floor(time / 3600);
  const m = Math.floor((time % 3600) / 60);
  const clock = `${pad2(h)}:${pad2(m)}:${pad2(time % 60)}`;
  const frac = digits > 0 ? `.${fraction.toString().padStart(digits, '0')}` : '';
  return `${formatDate(Number(days))}T${clock}${frac}${zoned ? 'Z' : ''}`;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Formats a Date32 cell (days since epoch) as `YYYY-MM-DD` (proleptic Gregorian, any year). */
export function formatDate(days: number): string {
  // Civil date from a day count (H. Hinnant's algorithm), exact for any safe integer.
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const y = year >= 0 && year <= 9999 ? String(year).padStart(4, '0') : `${year < 0 ? '-' : '+'}${String(Math.abs(year)).padStart(6, '0')}`;
  return `${y}-${pad2(month)}-${pad2(day)}`;
}

function isUuidField(field: Field): boolean {
  return (
    (field.type as DataType & { byteWidth?: number }).byteWidth === 16 && /uuid/i.test(field.metadata.get('refstream.source_type') ?? '')
  );
}

function formatUuid(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Formats an interval cell as an ISO-8601 duration (`P1M2DT3.000000004S`). */
export function formatInterval(v: { months: number; days: number; nanoseconds: bigint }): string {
  const negative = v.nanoseconds < 0n;
  const ns = negative ? -v.nanoseconds : v.nanoseconds;
  const seconds = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  const time =
    ns === 0n ? '' : `T${negative ? '-' : ''}${seconds}${frac ? `.${frac.toString().padStart(9, '0').replace(/0+$/, '')}` : ''}S`;
  const body = `${v.months ? `${v.months}M` : ''}${v.days ? `${v.days}D` : ''}${time}`;
  return body === '' ? 'PT0S' : `P${body}`;
}

/**
 * Lossless JSON for a cell of `field`: int64 and decimals as strings, timestamps as ISO-8601
 * with all sub-second digits, dates as `YYYY-MM-DD`, binary as base64, UUIDs as text,
 * non-finite floats as the strings `NaN`, `Infinity`, `-Infinity`.
 */
export function toJsonValue(field: Field, cell: Cell): unknown {
  if (cell === null) return null;
  const type = field.type as DataType & Record<string, unknown>;
  switch (type.typeId) {
    case 2:
      return typeof cell === 'bigint' ? cell.toString() : cell;
    case 3:
      return Number.isFinite(cell as number) ? cell : String(cell);
    case 4:
      return Buffer.from(cell as Uint8Array).toString('base64');
    case 15:
      return isUuidField(field) ? formatUuid(cell as Uint8Array) : Buffer.from(cell as Uint8Array).toString('hex');
    case 8:
      return formatDate(cell as number);
    case 10:
      return formatTimestamp(cell as bigint, type.unit as TimeUnit, type.timezone != null);
    case 11:
      return formatInterval(cell as { months: number; days: number; nanoseconds: bigint });
    case 12: {
      const child = (type.children as Field[])[0]!;
      return (cell as Cell[]).map((c) => toJsonValue(child, c));
    }
    default:
      return typeof cell === 'bigint' ? cell.toString() : cell;
  }
}

/**
 * A cell as users expect it from `ReferenceTable.get`: Date for dates and timestamps
 * (millisecond precision), UUID text for uuid columns, everything else as the cell.
 */
export function toUserValue(field: Field, cell: Cell): unknown {
  if (cell === null) return null;
  const type = field.type as DataType & Record<string, unknown>;
  switch (type.typeId) {
    case 8:
      return new Date((cell as number) * 86_400_000);
    case 10: {
      const v = cell as bigint;
      const unit = type.unit as TimeUnit;
      const ms =
        unit === TimeUnit.SECOND
          ? v * 1000n
          : unit === TimeUnit.MILLISECOND
            ? v
            : unit === TimeUnit.MICROSECOND
              ? floorDiv(v, 1000n)
              : floorDiv(v, 1_000_000n);
      return new Date(Number(ms));
    }
    case 15:
      return isUuidField(field) ? formatUuid(cell as Uint8Array) : cell;
    case 12: {
      const child = (type.children as Field[])[0]!;
      return (cell as Cell[]).map((c) => toUserValue(child, c));
    }
    default:
      return cell;
  }
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

/** A stable string for comparing cells (used for keys and row equality). */
export function cellKey(cell: Cell): string {
  if (cell === null) return 'null';
  switch (typeof cell) {
    case 'bigint':
    case 'number':
      return String(cell);
    case 'string':
      return JSON.stringify(cell);
    case 'boolean':
      return cell ? 'true' : 'false';
  }
  if (cell instanceof Uint8Array) return `x${Buffer.from(cell).toString('hex')}`;
  if (Array.isArray(cell)) return `[${cell.map(cellKey).join(',')}]`;
  const iv = cell as { months: number; days: number; nanoseconds: bigint };
  return `i${iv.months}/${iv.days}/${iv.nanoseconds}`;
}
