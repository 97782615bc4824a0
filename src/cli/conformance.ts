import { runConformanceCli } from '../../conformance-tests/cli.js';
import type { Command } from './command.js';

/** `refstream conformance <module>` / `--sink <module>`: runs the source or the sink conformance suite against a target module. */
export const conformanceCommand: Command = {
  name: 'conformance',
  synopsis: 'conformance <module> | --sink <module> [--json out.json] [--junit out.xml] [--seed N] [--only ID,…] [--num-runs N] [--strict]',
  summary:
    'Run the conformance suite against the ConformanceTarget default-exported by <module> (with --sink: the sink suite against a SinkConformanceTarget); exits 1 when a MUST check fails or a declared capability is contradicted.',
  options: [
    { flag: '--sink <module>', description: 'run the sink suite against the SinkConformanceTarget default-exported by <module>' },
    { flag: '--json <file>', description: 'write a JSON report' },
    { flag: '--junit <file>', description: 'write a JUnit XML report' },
    { flag: '--seed <n>', description: 'seed of the model-based property check (printed on failure, replays it)' },
    { flag: '--only <ids>', description: 'run only these check IDs (comma-separated, prefix* allowed)' },
    { flag: '--num-runs <n>', description: 'runs of each model-based property check' },
    { flag: '--timeout <ms>', description: 'time limit of one check' },
    { flag: '--converge-ms <ms>', description: 'how long to keep polling while a source delivers nothing after a marker row was written' },
    {
      flag: '--shrink-ms <ms|auto>',
      description: 'cap on the shrinking time of a failing property check (auto: about as long as its runs)',
    },
    { flag: '--strict', description: 'fail on skipped checks too' },
  ],
  async run(args, { stdout, stderr }) {
    return runConformanceCli(args, { out: (line) => stdout.write(line + '\n'), err: (line) => stderr.write(line + '\n') });
  },
};
