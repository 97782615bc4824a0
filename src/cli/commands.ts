/**
 * The command registry: one row per command with its name, its one-line summary (for the
 * overview help) and a loader. A command's module, and everything it imports (connectors,
 * apache-arrow, pg, kafkajs, …), is loaded only when that command runs or its help is shown,
 * so `refstream --help` and `--version` start in a few tens of milliseconds.
 */
import type { Command } from './command.js';
import { packageInfo } from './package-info.js';

/** A registry row. `summary` must equal the loaded command's summary (a test checks it). */
export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

export const commands: readonly CommandEntry[] = [
  {
    name: 'demo',
    summary:
      'Start an embedded PostgreSQL with a sample customers table and a background writer, sync it live into an in-memory table and an Arrow file with a progress view, then verify the table equals the database (Ctrl-C or --duration to stop).',
    load: async () => (await import('./demo.js')).demoCommand,
  },
  {
    name: 'sync',
    summary:
      'Snapshot the table, then stream its changes into the sinks until stopped (Ctrl-C commits and exits 0), resuming from the checkpoint.',
    load: async () => (await import('./sync-command.js')).syncCommand,
  },
  {
    name: 'snapshot',
    summary:
      'Write a consistent snapshot of the table into the sinks and exit once it is complete and committed. Leaves nothing on the server: no replication slot, no publication (Postgres reads one REPEATABLE READ transaction); writes a checkpoint only with --checkpoint.',
    load: async () => (await import('./sync-command.js')).snapshotCommand,
  },
  {
    name: 'status',
    summary:
      "Show refstream's replication slots, publications and trigger captures on a PostgreSQL server: active or not, retained WAL, lag, wal_status, change rows waiting per consumer, the checkpoint's position; with a postgres:// checkpoint store, the high-availability leases beside it (leader, epoch, lease age).",
    load: async () => (await import('./status.js')).statusCommand,
  },
  {
    name: 'drop',
    summary:
      'Remove what syncs of a table keep on the server: the replication slot and the publication refstream created, and its trigger capture (asks first unless --yes; refuses while a sync holds them).',
    load: async () => (await import('./drop.js')).dropCommand,
  },
  {
    name: 'install-triggers',
    summary:
      'Install trigger capture on a table (for sync --capture trigger, no logical replication needed): a change table and AFTER INSERT/UPDATE/DELETE/TRUNCATE triggers; needs ownership of the table only. Running it again upgrades or repairs the objects and keeps their rows.',
    load: async () => (await import('./triggers.js')).installTriggersCommand,
  },
  {
    name: 'uninstall-triggers',
    summary:
      'Remove trigger capture from a table: its triggers, function, change table and consumers (asks first unless --yes; refuses while a sync reads it).',
    load: async () => (await import('./triggers.js')).uninstallTriggersCommand,
  },
  {
    name: 'conformance',
    summary:
      'Run the conformance suite against the ConformanceTarget default-exported by <module> (with --sink: the sink suite against a SinkConformanceTarget); exits 1 when a MUST check fails or a declared capability is contradicted.',
    load: async () => (await import('./conformance.js')).conformanceCommand,
  },
  {
    name: 'inspect',
    summary: 'Summarise an Arrow IPC output, a checkpoint or a JSON Lines output (counts by kind and operation, schema, position range).',
    load: async () => (await import('./inspect.js')).inspectCommand,
  },
];

/** The registry row of `name`, if there is one. */
export function findCommand(name: string): CommandEntry | undefined {
  return commands.find((c) => c.name === name);
}

/** Help of one (loaded) command. */
export function renderCommandHelp(command: Command): string {
  const width = Math.max(...command.options.map((o) => o.flag.length), 0);
  return [
    `Usage: refstream ${command.synopsis}`,
    '',
    command.summary,
    '',
    ...(command.options.length ? ['Options:', ...command.options.map((o) => `  ${o.flag.padEnd(width)}  ${o.description}`), ''] : []),
  ].join('\n');
}

/** The overview help: every command with its summary (loads no command). */
export function renderOverview(): string {
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
