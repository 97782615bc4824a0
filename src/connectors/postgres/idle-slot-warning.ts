/**
 * The start-up warning of a streaming source: other refstream slots on the server that no
 * sync reads and that keep WAL. Such a slot (a stopped sync, a table nobody syncs any more)
 * pins WAL until the disk fills, and nothing else would tell the operator.
 */
import { reportWarning, type WarningHandler } from '../../sdk/warnings.js';
import { findIdleSlotsRetaining } from './admin.js';
import type { Queryable } from './catalog.js';

/** Formats a byte count for people (binary units). */
function size(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * Reports one `IDLE_SLOT_RETAINS_WAL` warning per inactive refstream slot other than
 * `ownSlot` that retains more than `thresholdBytes` (0 turns the check off). Best effort: a
 * role that cannot read the slots gets no warning rather than a failed start.
 */
export async function warnAboutIdleSlots(
  client: Queryable,
  table: string,
  ownSlot: string,
  thresholdBytes: number,
  onWarning: WarningHandler | undefined,
): Promise<void> {
  if (thresholdBytes <= 0) return;
  let idle;
  try {
    idle = await findIdleSlotsRetaining(client, thresholdBytes, ownSlot);
  } catch {
    return;
  }
  for (const slot of idle) {
    reportWarning(onWarning, {
      code: 'IDLE_SLOT_RETAINS_WAL',
      table,
      message:
        `replication slot ${slot.slot} (database ${slot.database}) is inactive and retains ${size(slot.retainedBytes ?? 0)} of WAL` +
        `${slot.inactiveSince ? ` (inactive since ${slot.inactiveSince})` : ''}; the server keeps that WAL until the slot is read or dropped. ` +
        `Resume its sync, or remove it with refstream drop (refstream status lists what refstream holds)`,
    });
  }
}
