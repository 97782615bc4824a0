/**
 * Runs the conformance suite against the NDJSON example connector.
 */
import { test } from 'node:test';
import { registerConformance } from '../../conformance-tests/index.js';
import target from './conformance-target.js';

registerConformance(test, target, { seed: 42, numRuns: 30 });
