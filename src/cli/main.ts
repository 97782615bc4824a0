/**
 * The `refstream` command. This module stays small: a command's code is loaded only when that
 * command runs (see commands.ts).
 */
import nodeModule from 'node:module';
import type { CommandContext } from './command.js';
import { findCommand, renderCommandHelp, renderOverview } from './commands.js';
import { packageInfo } from './package-info.js';
import { CliError, EXIT } from './errors.js';
import { ConnectorError } from '../sdk/errors.js';

export async function main(argv: string[], context: CommandContext = defaultContext()): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const entry = rest[0] !== undefined ? findCommand(rest[0]) : undefined;
    context.stdout.write(entry ? renderCommandHelp(await entry.load()) : renderOverview());
    return first === undefined ? EXIT.badUsage : EXIT.ok;
  }
  if (first === '--version' || first === '-v') {
    context.stdout.write(`${packageInfo().version}\n`);
    return EXIT.ok;
  }
  const entry = findCommand(first);
  if (!entry) {
    context.stderr.write(`refstream: unknown command "${first}". Run \`refstream --help\` for the list of commands.\n`);
    return EXIT.badUsage;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    context.stdout.write(renderCommandHelp(command));
    return EXIT.ok;
  }
  try {
    return await command.run(rest, context);
  } catch (error) {
    if (error instanceof CliError) {
      context.stderr.write(`refstream ${command.name}: ${error.message}\n`);
      return error.exitCode;
    }
    // bad options a constructor rejected (a sink, a store) are usage errors, not internal ones
    if (ConnectorError.is(error, 'CONFIG_INVALID')) {
      context.stderr.write(`refstream ${command.name}: ${error.message}${error.hint ? ` — ${error.hint}` : ''}\n`);
      return EXIT.badUsage;
    }
    throw error;
  }
}

function defaultContext(): CommandContext {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

const isEntry = process.argv[1] !== undefined && /(?:^|[\\/])(cli\.(?:js|cjs|mjs)|main\.ts|refstream)$/.test(process.argv[1]);
if (isEntry) {
  // Node ≥ 22.1 keeps compiled code of the modules a command loads (apache-arrow, pg, …) on
  // disk, which cuts the start-up of every later run; older Node versions have no such cache.
  (nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`refstream: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = EXIT.internal;
    },
  );
}
