/**
 * `refstream drop`: removes the replication slot and the publication refstream created for a
 * table, so the server stops keeping WAL for a sync that will not run again, and the table's
 * trigger capture (all of it, or one consumer).
 */
import type { DropPlan, Queryable } from '../connectors/postgres/index.js';
import type { Command, CommandContext } from './command.js';
import { CliError, EXIT } from './errors.js';
import { parseFlags } from './flags.js';

interface DropArgs {
  source: string;
  table?: string;
  slot?: string;
  publication?: string;
  consumer?: string;
  yes: boolean;
}

function parseDropArgs(args: string[]): DropArgs {
  const values = parseFlags('drop', args, {
    source: { type: 'string' },
    table: { type: 'string' },
    slot: { type: 'string' },
    publication: { type: 'string' },
    consumer: { type: 'string' },
    yes: { type: 'boolean', short: 'y', default: false },
  });
  if (!values.source)
    throw new CliError('--source is required: a postgres:// URL of the server (see refstream drop --help)', EXIT.badUsage);
  if (!values.table && !values.slot)
    throw new CliError(
      '--table is required: the table whose slot and publication to drop (schema.table); or --slot <name> for the slot of several tables',
      EXIT.badUsage,
    );
  return {
    source: values.source,
    ...(values.table !== undefined ? { table: values.table } : {}),
    ...(values.slot !== undefined ? { slot: values.slot } : {}),
    ...(values.publication !== undefined ? { publication: values.publication } : {}),
    ...(values.consumer !== undefined ? { consumer: values.consumer } : {}),
    yes: values.yes === true,
  };
}

async function runDrop(args: string[], context: CommandContext): Promise<number> {
  const options = parseDropArgs(args);
  const { dropTableObjects, planDrop, readTriggerStatus, dropTriggerCapture } = await import('../connectors/postgres/index.js');
  const { isValidSlotName, parseQualifiedName } = await import('../connectors/postgres/index.js');
  const table = options.table === undefined ? null : parseQualifiedName(options.table);
  if (table === undefined)
    throw new CliError('--table: must be "table" or "schema.table" (double quotes around parts with dots)', EXIT.badUsage);
  if (options.slot !== undefined && !isValidSlotName(options.slot))
    throw new CliError('--slot: replication slot names contain only a-z, 0-9 and _ (1 to 63 characters)', EXIT.badUsage);
  const { withPostgres } = await import('./postgres-admin.js');
  const out = (line: string) => context.stdout.write(line + '\n');
  return withPostgres('--source', options.source, 'refstream drop', async (client) => {
    if (table !== null && options.slot !== undefined) await refuseCaptureTable(client, options.slot, options.table!);
    const plan = await planDrop(client, table, {
      ...(options.slot ? { slot: options.slot } : {}),
      ...(options.publication ? { publication: options.publication } : {}),
    });
    // the slot of several tables has no trigger capture: only a table's does
    const [capture] = table !== null ? await readTriggerStatus(client, table) : [];
    const consumers = capture ? capture.consumers.filter((c) => options.consumer === undefined || c.consumer === options.consumer) : [];
    const dropsCapture = capture !== undefined && (options.consumer === undefined || consumers.length > 0);
    if (!plan.slot && !plan.publication?.createdByRefstream && !dropsCapture) {
      const publication = plan.publication
        ? `publication ${plan.publicationName} is kept: refstream did not create it`
        : `no publication ${plan.publicationName}`;
      const triggers = capture ? `no consumer ${options.consumer} of its trigger capture` : 'no trigger capture';
      out(`nothing to drop for ${plan.table}: no replication slot ${plan.slotName}, ${publication}, ${triggers}`);
      return EXIT.ok;
    }
    const busy = consumers.find((c) => c.activePid !== null);
    if (busy) {
      throw new CliError(
        `consumer ${busy.consumer} of the trigger capture of ${plan.table} is read by the process with backend pid ${busy.activePid}: stop the sync of ${plan.table} that reads it first, then run refstream drop again`,
        EXIT.failed,
      );
    }
    if (plan.slot?.active) {
      throw new CliError(
        `replication slot ${plan.slotName} is in use by the process with pid ${plan.slot.activePid}: stop the sync of ${plan.table} that holds it first, then run refstream drop again`,
        EXIT.failed,
      );
    }
    for (const line of describe(plan)) out(line);
    if (capture && dropsCapture) {
      const last = options.consumer === undefined || capture.consumers.every((c) => c.consumer === options.consumer);
      for (const c of consumers) out(`  consumer ${c.consumer} of the trigger capture (${c.pendingRows} change rows not yet committed)`);
      if (last)
        out(
          `  trigger capture: triggers on ${plan.table}, change table ${capture.schema}.${capture.changeTable} (${capture.changeRows} rows) and function`,
        );
    }
    if (!options.yes) {
      const interactive = context.interactive ?? process.stdin.isTTY === true;
      if (!interactive) {
        throw new CliError(
          'refusing to drop without confirmation: stdin is not a terminal; pass --yes to drop without asking',
          EXIT.badUsage,
        );
      }
      const ask = context.confirm ?? askOnTerminal;
      if (!(await ask('Drop these? [y/N] '))) {
        out('nothing dropped');
        return EXIT.ok;
      }
    }
    let result;
    try {
      result = await dropTableObjects(client, plan);
    } catch (error) {
      // a sync took the slot after the look-up
      const { ConnectorError } = await import('../sdk/errors.js');
      if (ConnectorError.is(error, 'SLOT_IN_USE') || ConnectorError.is(error, 'CONSUMER_IN_USE'))
        throw new CliError(`${error.message}: ${error.hint}`, EXIT.failed);
      throw error;
    }
    if (result.slot.dropped) out(`dropped replication slot ${result.slot.name}`);
    else if (!result.slot.existed) out(`no replication slot ${result.slot.name}`);
    if (result.publication.dropped) out(`dropped publication ${result.publication.name}`);
    else if (result.publication.keptBecause) out(`kept: ${result.publication.keptBecause}`);
    else if (!result.publication.existed) out(`no publication ${result.publication.name}`);
    if (capture && dropsCapture) {
      const removed = await dropTriggerCapture(client, table!, options.consumer !== undefined ? { consumer: options.consumer } : {});
      for (const c of options.consumer !== undefined ? removed.consumers : []) out(`dropped consumer ${c}`);
      if (removed.uninstalled) out(`dropped trigger capture (${removed.uninstalled.triggers.length} triggers, function, change table)`);
    }
    return EXIT.ok;
  });
}

/** A table of a capture is not dropped on its own: the slot and publication serve its other tables. */
async function refuseCaptureTable(client: Queryable, slot: string, table: string): Promise<void> {
  const { CAPTURE_MARKER } = await import('../connectors/postgres/index.js');
  const { rows } = await client.query(`SELECT 1 FROM pg_publication p WHERE obj_description(p.oid, 'pg_publication') = $1`, [
    `${CAPTURE_MARKER}${slot}`,
  ]);
  if (rows.length === 0) return;
  throw new CliError(
    `replication slot ${slot} is shared by several tables: to stop syncing ${table}, leave it out of the sync's --table list and restart it (that removes it from the publication and deletes its checkpoint); to drop the whole capture, run refstream drop --source … --slot ${slot} without --table`,
    EXIT.badUsage,
  );
}

function describe(plan: DropPlan): string[] {
  const bytesText = (n: number | null) => (n === null ? 'unknown' : `${n.toLocaleString('en-US')} bytes`);
  const lines = [`for ${plan.table}:`];
  if (plan.slot)
    lines.push(
      `  replication slot ${plan.slotName} (inactive, keeps ${bytesText(plan.slot.retainedBytes)} of WAL${plan.slot.walStatus === 'lost' ? ', invalidated' : ''})`,
    );
  else lines.push(`  no replication slot ${plan.slotName}`);
  if (plan.publication) {
    const tables = plan.publication.tables.join(', ') || 'no tables';
    lines.push(
      plan.publication.createdByRefstream
        ? `  publication ${plan.publicationName} (publishes ${tables})`
        : `  publication ${plan.publicationName} (publishes ${tables}) is kept: refstream did not create it`,
    );
  } else lines.push(`  no publication ${plan.publicationName}`);
  return lines;
}

/** Asks a yes/no question on the terminal (stdin/stderr). */
export async function askOnTerminal(question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export const dropCommand: Command = {
  name: 'drop',
  synopsis:
    'drop --source <postgres url> (--table <schema.table> [--slot <name>] [--consumer <name>] | --slot <name>) [--publication <name>] [--yes]',
  summary:
    'Remove what syncs of a table keep on the server: the replication slot and the publication refstream created, and its trigger capture (asks first unless --yes; refuses while a sync holds them).',
  options: [
    { flag: '--source <url>', description: 'the PostgreSQL server and database of the sync (postgres://user:password@host:5432/db)' },
    {
      flag: '--table <schema.table>',
      description: 'the table whose slot and publication to drop (leave it out to drop the slot of several tables named by --slot)',
    },
    { flag: '--slot <name>', description: 'the slot, if the sync used --slot (default refstream_<schema>_<table>)' },
    {
      flag: '--publication <name>',
      description: 'the publication, if the sync used --publication; a publication refstream did not create is never dropped',
    },
    {
      flag: '--consumer <name>',
      description:
        'trigger capture: drop only this consumer (a sync with --consumer); the triggers and the change table go with the last consumer. Without it, the whole trigger capture goes',
    },
    { flag: '--yes, -y', description: 'drop without asking (needed when stdin is not a terminal)' },
  ],
  run: runDrop,
};
