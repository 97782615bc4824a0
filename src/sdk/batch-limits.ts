/**
 * The batch limits sources take, as config schema fields: one definition of their types, ranges
 * and defaults.
 */
import { z } from 'zod';

/** Defaults of {@link batchLimitFields}. */
export interface BatchLimitDefaults {
  batchRows: number;
  batchBytes: number;
  maxWaitMs: number;
}

/**
 * Zod fields `batchRows` (rows per batch), `batchBytes` (approximate Arrow bytes per batch) and
 * `maxWaitMs` (how long a change poll waits for a first change) to spread into a source's
 * config schema.
 */
export function batchLimitFields(defaults: BatchLimitDefaults = { batchRows: 10_000, batchBytes: 8 * 1024 * 1024, maxWaitMs: 100 }) {
  return {
    batchRows: z.number().int().positive().default(defaults.batchRows),
    batchBytes: z.number().int().positive().default(defaults.batchBytes),
    maxWaitMs: z.number().int().nonnegative().default(defaults.maxWaitMs),
  };
}
