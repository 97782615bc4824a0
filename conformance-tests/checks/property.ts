/**
 * PROP: the central invariant (docs/conformance.md): snapshot plus changes, folded, equal the table
 * across crashes and restores from any committed checkpoint, with batch size 1 and with
 * large batches.
 */
import { checkCrashRestoreProperty } from '../model/property.js';
import { defineCheck, NEEDS_CHANGES } from './helpers.js';

export const propertyChecks = [
  defineCheck({
    id: 'PROP-01',
    level: 'MUST',
    category: 'property',
    rule: 'Random histories of writes, polls, checkpoints, commits and crash+restore converge to the table, with nothing delivered twice under `exactlyOnce` — batch size 1.',
    method:
      'fast-check model run on a seeded table with `batchRows = 1` (every batch boundary is a possible checkpoint); `numRuns` runs; failures print the shrunk history and the seed.',
    requires: NEEDS_CHANGES,
    verifies: ['exactlyOnce'],
    slow: true,
    run: (ctx) => checkCrashRestoreProperty(ctx, 1),
  }),
  defineCheck({
    id: 'PROP-02',
    level: 'MUST',
    category: 'property',
    rule: 'The same histories converge with large batches.',
    method: 'As PROP-01 with `batchRows = 1000`.',
    requires: NEEDS_CHANGES,
    verifies: ['exactlyOnce'],
    slow: true,
    run: (ctx) => checkCrashRestoreProperty(ctx, 1000),
  }),
];
