/**
 * What a command is: its name, synopsis and options (help and docs/cli.md are rendered from
 * them) and its handler. Command files import these types from here, never the registry.
 */

/** Where a command writes and which environment it sees. */
export interface CommandContext {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

/** One option of a command, as the help shows it. */
export interface CommandOption {
  flag: string;
  description: string;
}

/** A `refstream` command. `run` resolves to the process exit code. */
export interface Command {
  name: string;
  synopsis: string;
  summary: string;
  options: CommandOption[];
  run(args: string[], context: CommandContext): Promise<number>;
}
