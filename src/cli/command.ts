/**
 * The shape of one `refstream` command. Command files export a {@link Command}; the registry in
 * commands.ts lists them and loads each one only when it runs, so a command file never imports
 * the registry back.
 */

/** Where a command writes and what environment it sees (tests pass their own). */
export interface CommandContext {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Whether the user can answer a question on stdin (default: `process.stdin.isTTY`). */
  interactive?: boolean;
  /** Asks one yes/no question on the terminal (default: a readline prompt on stdin/stderr). */
  confirm?: (question: string) => Promise<boolean>;
}

/** One documented flag of a command. */
export interface CommandOption {
  flag: string;
  description: string;
}

/** A command: its help text and its handler, which resolves to the exit code. */
export interface Command {
  name: string;
  synopsis: string;
  summary: string;
  options: CommandOption[];
  run(args: string[], context: CommandContext): Promise<number>;
}
