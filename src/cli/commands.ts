/**
 * The command table: every command's name, synopsis and handler. The help text and
 * docs/cli.md are rendered from it.
 */
import { packageInfo } from './package-info.js';
import { inspectCommand } from './inspect.js';
import { conformanceCommand } from './conformance.js';
import { snapshotCommand, syncCommand } from './sync-command.js';
import { demoCommand } from './demo.js';

import type { Command } from './command.js';

export type { Command, CommandContext, CommandOption } from './command.js';

export const commands: Command[] = [demoCommand, syncCommand, snapshotCommand, conformanceCommand, inspectCommand];

/** Help for one command, or the overview. */
export function renderHelp(name?: string): string {
  const command = name ? commands.find((c) => c.name === name) : undefined;
  if (command) {
    const width = Math.max(...command.options.map((o) => o.flag.length), 0);
    return [
      `Usage: refstream ${command.synopsis}`,
      '',
      command.summary,
      '',
      ...(command.options.length ? ['Options:', ...command.options.map((o) => `  ${o.flag.padEnd(width)}  ${o.description}`), ''] : []),
    ].join('\n');
  }
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `refstream ${packageInfo().version} — ${packageInfo().description}`,
    '',
    'Usage: refstream <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    '  --help, -h     show help (also after a command)',
    '  --version, -v  print the version',
    '',
  ].join('\n');
}
