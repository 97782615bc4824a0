/**
 * Flag parsing shared by the commands: Node's `parseArgs` (no positionals), with a parse error
 * turned into a usage error that points at the command's help.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError, EXIT, firstLine } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses `args` against `options`; an unknown flag or a missing value exits with the usage code. */
export function parseFlags<O extends Options>(
  command: string,
  args: string[],
  options: O,
): ReturnType<typeof parseArgs<{ options: O; allowPositionals: false }>>['values'] {
  try {
    return parseArgs({ args, options, allowPositionals: false }).values;
  } catch (error) {
    throw new CliError(`${firstLine((error as Error).message)} (see refstream ${command} --help)`, EXIT.badUsage);
  }
}
