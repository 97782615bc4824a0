/**
 * The check catalogue: every rule of the source contract with its stable ID, in report order.
 */
import { abortChecks } from './checks/abort.js';
import { capabilityChecks } from './checks/capabilities.js';
import { changeChecks } from './checks/changes.js';
import { checkpointChecks } from './checks/checkpoint.js';
import { errorChecks } from './checks/errors.js';
import { lifecycleChecks } from './checks/lifecycle.js';
import { memoryChecks } from './checks/memory.js';
import { propertyChecks } from './checks/property.js';
import { schemaChecks } from './checks/schema.js';
import { snapshotChecks } from './checks/snapshot.js';
import { valueChecks } from './checks/values.js';
import type { ConformanceCheck } from './types.js';

/** All checks, in the order they run and are reported. IDs are stable and never reused. */
export const checks: readonly ConformanceCheck[] = Object.freeze([
  ...capabilityChecks,
  ...lifecycleChecks,
  ...snapshotChecks,
  ...valueChecks,
  ...schemaChecks,
  ...changeChecks,
  ...checkpointChecks,
  ...errorChecks,
  ...abortChecks,
  ...memoryChecks,
  ...propertyChecks,
]);

/**
 * Selects checks by ID. Entries may end in `*` to match a prefix (`CKPT-*`). Unknown IDs
 * throw, so a typo never silently runs nothing.
 */
export function selectChecks(only: readonly string[] | undefined, from: readonly ConformanceCheck[] = checks): ConformanceCheck[] {
  if (!only || only.length === 0) return [...from];
  const wanted = only.map((s) => s.trim().toUpperCase()).filter(Boolean);
  for (const w of wanted) {
    const matches = w.endsWith('*') ? from.some((c) => c.id.startsWith(w.slice(0, -1))) : from.some((c) => c.id === w);
    if (!matches) throw new RangeError(`no conformance check matches ${w} (known: ${from.map((c) => c.id).join(', ')})`);
  }
  return from.filter((c) => wanted.some((w) => (w.endsWith('*') ? c.id.startsWith(w.slice(0, -1)) : c.id === w)));
}
