/**
 * Runs the conformance CLI from the repository: `node --import tsx conformance-tests/bin.ts <module> …`.
 * (The published `refstream conformance` subcommand calls `runConformanceCli` the same way.)
 * Exits explicitly: a target may keep a test server running until the process ends.
 */
import { runConformanceCli } from './cli.js';

process.exit(await runConformanceCli(process.argv.slice(2)));
