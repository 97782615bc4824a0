/**
 * Arrow cells → the CSV text Exasol's IMPORT reads under the session formats pinned at
 * connect (`YYYY-MM-DD`, `YYYY-MM-DD HH24:MI:SS.FF9`, `.` decimal point): every value exact.
 */
import type { DataType, Field } from 'apache-arrow';
import { toJsonValue, type Cell } from '../../sdk/values.js';

/** Text of one CSV field (quoted where needed); `''` (empty, unquoted) for NULL. */
export function csvField(field: Field, cell: Cell): string {
  if (cell === null) return '';
  const type = field.type as DataType & { typeId: number };
  switch (type.typeId) {
    case 2:
    case 7:
      return String(cell);
    case 3:
      return Number.isFinite(cell as number) ? String(cell) : '';
    case 6:
      return cell ? 'TRUE' : 'FALSE';
    case 8:
      return String(toJsonValue(field, cell));
    case 10:
      return timestampText(String(toJsonValue(field, cell)));
    case 15:
      return Buffer.from(cell as Uint8Array).toString('hex');
    case 11:
      return intervalText(cell as { months: number; days: number; nanoseconds: bigint });
    case 5:
      return quote(cell as string);
    default:
      return quote(JSON.stringify(toJsonValue(field, cell)));
  }
}

function quote(text: string): string {
  return `"${text.replace(/"/g, '""')}"`;
}

/** ISO-8601 (`2024-01-01T12:00:00.123456789Z`) → `2024-01-01 12:00:00.123456789`. */
function timestampText(iso: string): string {
  const m = /^(-?\d{4,})-(\d\d)-(\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?/.exec(iso);
  if (!m) return iso;
  return `${m[1]}-${m[2]}-${m[3]} ${m[4]}.${(m[5] ?? '').padEnd(9, '0')}`;
}

/** Interval → Exasol text: `+Y-M` for month intervals, `+D HH:MI:SS.fffffffff` otherwise. */
function intervalText(iv: { months: number; days: number; nanoseconds: bigint }): string {
  if (iv.days === 0 && iv.nanoseconds === 0n) {
    const sign = iv.months < 0 ? '-' : '+';
    const m = Math.abs(iv.months);
    return `${sign}${Math.floor(m / 12)}-${m % 12}`;
  }
  const negative = iv.days < 0 || iv.nanoseconds < 0n;
  let ns = BigInt(Math.abs(iv.days)) * 86_400_000_000_000n + (iv.nanoseconds < 0n ? -iv.nanoseconds : iv.nanoseconds);
  const days = ns / 86_400_000_000_000n;
  ns %= 86_400_000_000_000n;
  const two = (v: bigint) => v.toString().padStart(2, '0');
  const h = ns / 3_600_000_000_000n;
  const mi = (ns / 60_000_000_000n) % 60n;
  const s = (ns / 1_000_000_000n) % 60n;
  const f = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${negative ? '-' : '+'}${days} ${two(h)}:${two(mi)}:${two(s)}.${f}`;
}
