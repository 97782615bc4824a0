/**
 * Test harnesses: real servers started from npm packages, for connector tests,
 * the conformance suite and examples.
 */
export { startPostgres, findPostgresBinaries } from './postgres.js';
export type { StartPostgresOptions, TestPostgres } from './postgres.js';
