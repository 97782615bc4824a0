/**
 * The sink check catalogue: every rule of the sink contract with its stable ID, in report order.
 */
import { deliveryChecks } from './checks/delivery.js';
import { isolationChecks } from './checks/isolation.js';
import { propertyChecks } from './checks/property.js';
import { replayChecks } from './checks/replay.js';
import type { SinkCheck } from './types.js';

/** All sink checks, in the order they run and are reported. IDs are stable and never reused. */
export const sinkChecks: readonly SinkCheck[] = Object.freeze([...deliveryChecks, ...replayChecks, ...isolationChecks, ...propertyChecks]);

/**
 * Selects sink checks by ID. Entries may end in `*` to match a prefix (`SINK-0*`). Unknown
 * IDs throw, so a typo never silently runs nothing.
 */
export function selectSinkChecks(only: readonly string[] | undefined, from: readonly SinkCheck[] = sinkChecks): SinkCheck[] {
  if (!only || only.length === 0) return [...from];
  const wanted = only.map((s) => s.trim().toUpperCase()).filter(Boolean);
  const matches = (c: SinkCheck, w: string) => (w.endsWith('*') ? c.id.startsWith(w.slice(0, -1)) : c.id === w);
  for (const w of wanted) {
    if (!from.some((c) => matches(c, w)))
      throw new RangeError(`no sink conformance check matches ${w} (known: ${from.map((c) => c.id).join(', ')})`);
  }
  return from.filter((c) => wanted.some((w) => matches(c, w)));
}
