/**
 * `refstream install-triggers` and `refstream uninstall-triggers`: set up or remove trigger
 * capture on one table (the change table, the consumers' progress, the trigger function and
 * the AFTER INSERT/UPDATE/DELETE/TRUNCATE triggers), for `refstream sync --capture trigger`.
 */
import type { Command, CommandContext } from './command.js';
import { CliError, EXIT } from './errors.js';
import { parseFlags } from './flags.js';

interface TriggerArgs {
  source: string;
  table: string;
  schema?: string;
  notify: boolean;
  lockTimeoutMs?: number;
  yes: boolean;
}

function parseTriggerArgs(command: 'install-triggers' | 'uninstall-triggers', args: string[]): TriggerArgs {
  const values = parseFlags(command, args, {
    source: { type: 'string' },
    table: { type: 'string' },
    'trigger-schema': { type: 'string' },
    'no-notify': { type: 'boolean', default: false },
    'lock-timeout-ms': { type: 'string' },
    yes: { type: 'boolean', short: 'y', default: false },
  });
  if (!values.source)
    throw new CliError(`--source is required: a postgres:// URL of the table's database (see refstream ${command} --help)`, EXIT.badUsage);
  if (!values.table) throw new CliError('--table is required: the table to capture (schema.table)', EXIT.badUsage);
  if (command === 'uninstall-triggers' && (values['trigger-schema'] !== undefined || values['no-notify'] === true)) {
    throw new CliError(
      '--trigger-schema and --no-notify are install-triggers options; uninstall-triggers finds the objects by themselves',
      EXIT.badUsage,
    );
  }
  let lockTimeoutMs: number | undefined;
  if (values['lock-timeout-ms'] !== undefined) {
    lockTimeoutMs = Number(values['lock-timeout-ms']);
    if (!Number.isInteger(lockTimeoutMs) || lockTimeoutMs < 0)
      throw new CliError(`--lock-timeout-ms: "${values['lock-timeout-ms']}" is not a non-negative integer`, EXIT.badUsage);
  }
  return {
    source: values.source,
    table: values.table,
    ...(values['trigger-schema'] !== undefined ? { schema: values['trigger-schema'] } : {}),
    notify: values['no-notify'] !== true,
    ...(lockTimeoutMs !== undefined ? { lockTimeoutMs } : {}),
    yes: values.yes === true,
  };
}

async function tableName(text: string) {
  const { parseQualifiedName } = await import('../connectors/postgres/index.js');
  const table = parseQualifiedName(text);
  if (!table) throw new CliError('--table: must be "table" or "schema.table" (double quotes around parts with dots)', EXIT.badUsage);
  return table;
}

async function runInstall(args: string[], context: CommandContext): Promise<number> {
  const options = parseTriggerArgs('install-triggers', args);
  const table = await tableName(options.table);
  const { installTriggers } = await import('../connectors/postgres/index.js');
  const { withPostgres } = await import('./postgres-admin.js');
  const result = await withPostgres('--source', options.source, 'refstream install-triggers', (client) =>
    installTriggers(client, table, {
      ...(options.schema !== undefined ? { schema: options.schema } : {}),
      notify: options.notify,
      ...(options.lockTimeoutMs !== undefined ? { lockTimeoutMs: options.lockTimeoutMs } : {}),
    }),
  );
  const o = result.objects;
  const what =
    result.action === 'installed'
      ? 'installed'
      : result.action === 'upgraded'
        ? `upgraded from version ${result.from}`
        : result.action === 'repaired'
          ? 'repaired (triggers, function or tables were missing, disabled or outdated)'
          : 'already installed, unchanged';
  context.stdout.write(
    `trigger capture of ${options.table} ${what}: change table ${o.schema}.${o.changes}, function ${o.schema}.${o.fn}()${options.notify ? `, notifications on channel ${o.channel}` : ', no notifications (readers poll)'}\n`,
  );
  return EXIT.ok;
}

async function runUninstall(args: string[], context: CommandContext): Promise<number> {
  const options = parseTriggerArgs('uninstall-triggers', args);
  const table = await tableName(options.table);
  const { readTriggerStatus, uninstallTriggers } = await import('../connectors/postgres/index.js');
  const { withPostgres } = await import('./postgres-admin.js');
  const out = (line: string) => context.stdout.write(line + '\n');
  return withPostgres('--source', options.source, 'refstream uninstall-triggers', async (client) => {
    const [status] = await readTriggerStatus(client, table);
    if (!status) {
      out(`no trigger capture on ${options.table}`);
      return EXIT.ok;
    }
    out(`trigger capture of ${status.table}: change table ${status.schema}.${status.changeTable} (${status.changeRows} rows)`);
    for (const c of status.consumers) {
      out(
        `  consumer ${c.consumer}: ${c.pendingRows} rows not yet committed${c.activePid !== null ? `, read now by backend pid ${c.activePid}` : ''}`,
      );
    }
    if (!options.yes) {
      const interactive = context.interactive ?? process.stdin.isTTY === true;
      if (!interactive)
        throw new CliError(
          'refusing to remove trigger capture without confirmation: stdin is not a terminal; pass --yes to remove it without asking',
          EXIT.badUsage,
        );
      const { askOnTerminal } = await import('./drop.js');
      if (!(await (context.confirm ?? askOnTerminal)('Remove it? Syncs of this table can then not resume. [y/N] '))) {
        out('nothing removed');
        return EXIT.ok;
      }
    }
    const { ConnectorError } = await import('../sdk/errors.js');
    try {
      const result = await uninstallTriggers(
        client,
        table,
        options.lockTimeoutMs !== undefined ? { lockTimeoutMs: options.lockTimeoutMs } : {},
      );
      const u = result.uninstalled;
      out(
        u
          ? `removed trigger capture of ${options.table}: ${u.triggers.length} triggers, function, change, consumers and epochs tables${u.schemaDropped ? `, schema ${u.objects!.schema}` : ''}`
          : `no trigger capture on ${options.table}`,
      );
      return EXIT.ok;
    } catch (error) {
      if (ConnectorError.is(error, 'CONSUMER_IN_USE')) throw new CliError(`${error.message}: ${error.hint}`, EXIT.failed);
      throw error;
    }
  });
}

const COMMON = [
  {
    flag: '--source <url>',
    description: "the table's PostgreSQL database (postgres://user:password@host:5432/db); the user must own the table",
  },
  { flag: '--table <schema.table>', description: 'the table' },
  {
    flag: '--lock-timeout-ms <n>',
    description: 'longest wait for the table lock (writes wait meanwhile; default 10000, 0 waits for ever)',
  },
];

export const installTriggersCommand: Command = {
  name: 'install-triggers',
  synopsis:
    'install-triggers --source <postgres url> --table <schema.table> [--trigger-schema <schema>] [--no-notify] [--lock-timeout-ms <n>]',
  summary:
    'Install trigger capture on a table (for sync --capture trigger, no logical replication needed): a change table and AFTER INSERT/UPDATE/DELETE/TRUNCATE triggers; needs ownership of the table only. Running it again upgrades or repairs the objects and keeps their rows.',
  options: [
    ...COMMON,
    {
      flag: '--trigger-schema <schema>',
      description: 'schema of the change table and the function (default refstream; created unless it exists)',
    },
    { flag: '--no-notify', description: 'no NOTIFY after each write: readers find changes by polling only' },
  ],
  run: runInstall,
};

export const uninstallTriggersCommand: Command = {
  name: 'uninstall-triggers',
  synopsis: 'uninstall-triggers --source <postgres url> --table <schema.table> [--yes] [--lock-timeout-ms <n>]',
  summary:
    'Remove trigger capture from a table: its triggers, function, change table and consumers (asks first unless --yes; refuses while a sync reads it).',
  options: [...COMMON, { flag: '--yes, -y', description: 'remove without asking (needed when stdin is not a terminal)' }],
  run: runUninstall,
};
