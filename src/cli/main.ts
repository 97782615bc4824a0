/**
 * The `refstream` command.
 */
import { commands, renderHelp, type CommandContext } from './commands.js';
import { packageInfo } from './package-info.js';
import { CliError, EXIT } from './errors.js';

export async function main(argv: string[], context: CommandContext = defaultContext()): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    context.stdout.write(renderHelp(rest[0]));
    return first === undefined ? EXIT.badUsage : EXIT.ok;
  }
  if (first === '--version' || first === '-v') {
    context.stdout.write(`${packageInfo().version}\n`);
    return EXIT.ok;
  }
  const command = commands.find((c) => c.name === first);
  if (!command) {
    context.stderr.write(`refstream: unknown command "${first}". Run \`refstream --help\` for the list of commands.\n`);
    return EXIT.badUsage;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    context.stdout.write(renderHelp(command.name));
    return EXIT.ok;
  }
  try {
    return await command.run(rest, context);
  } catch (error) {
    if (error instanceof CliError) {
      context.stderr.write(`refstream ${command.name}: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
}

function defaultContext(): CommandContext {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

const isEntry = process.argv[1] !== undefined && /(?:^|[\\/])(cli\.(?:js|cjs|mjs)|main\.ts|refstream)$/.test(process.argv[1]);
if (isEntry) {
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
