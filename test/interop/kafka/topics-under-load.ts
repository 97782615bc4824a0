/**
 * The topics the real-consumer tests read, made as a user makes them: the built
 * `refstream sync` of a Postgres `customers` table into Kafka while a writer inserts, updates
 * and deletes rows in small transactions, killed with kill -9 a few times and restarted, then
 * left to catch up and stopped. Two syncs run side by side from their own slots:
 *
 * - `<prefix>-customers`: the default `json` upsert format, with `?transactions=true` and the
 *   checkpoint in Kafka (exactly-once for read_committed consumers);
 * - `<prefix>-customers-debezium`: `format=debezium`, checkpoint in Postgres.
 *
 * Both topics carry refstream's control records on every partition, as users get them.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import type { KafkaTestBroker, KafkaTestTopic, TestPostgres } from '../../../src/testing/index.js';
import { ensureBuiltCli } from '../../helpers/built-cli.js';
import { startCliSync, type CliSync } from '../../helpers/cli-sync.js';
import { exited, waitFor } from '../../helpers/process.js';

const run = promisify(execFile);

/** The source table; the consumers map its columns to their own types. */
export const CUSTOMERS_DDL = `CREATE TABLE public.customers (
  id bigint PRIMARY KEY,
  name text NOT NULL,
  segment text,
  credit numeric(12,2) NOT NULL,
  active boolean NOT NULL,
  visits integer NOT NULL
)`;

/** A row of the table as the consumers compare it: every value as text, NULL as null. */
export type CustomerRow = { id: string; name: string; segment: string | null; credit: string; active: string; visits: string };

/** What {@link syncCustomersUnderLoad} leaves for the consumers. */
export interface CustomerTopics {
  /** `json` upsert topic, written in Kafka transactions. */
  upsertTopic: string;
  /** `debezium` envelope topic. */
  debeziumTopic: string;
  /** Changes the writer made. */
  changes: number;
  /** The table now, ordered by id. */
  tableRows(): Promise<CustomerRow[]>;
}

export interface SyncUnderLoadOptions {
  server: TestPostgres;
  broker: KafkaTestBroker;
  /** Names the topics, slots and checkpoint topic, so several tests can share a broker. */
  prefix: string;
  /** Topics named by `prefix` must exist: start the broker with {@link customerTopicsFor}. */
  /** Rows before the first sync starts (default 2000). */
  rows?: number;
  /** kill -9s of each sync during the load (default 2). */
  kills?: number;
}

/** The topics {@link syncCustomersUnderLoad} writes, to create when the broker starts. */
export function customerTopicsFor(prefix: string, partitions = 3): KafkaTestTopic[] {
  const compact = { 'cleanup.policy': 'compact' };
  return [
    { name: `${prefix}-customers`, partitions, config: compact },
    { name: `${prefix}-customers-debezium`, partitions, config: compact },
    { name: `${prefix}-checkpoints`, config: compact },
  ];
}

/** Reads the customers table as text values, ordered by id. */
export async function customerRows(server: TestPostgres): Promise<CustomerRow[]> {
  return server.query<CustomerRow>(
    `SELECT id::text, name, segment, credit::text, active::text, visits::text FROM public.customers ORDER BY id`,
  );
}

/** Small random transactions (insert, update, delete) until stopped. */
function startWriter(connectionString: string, firstNewId: number): { stop: () => Promise<number> } {
  let running = true;
  let changes = 0;
  const segments = ['enterprise', 'smb', 'public', null];
  const done = (async () => {
    const client = new pg.Client({ connectionString });
    client.on('error', () => {}); // the server stopping under a failed test is reported by the test
    await client.connect();
    let next = firstNewId;
    try {
      while (running) {
        const id = 1 + Math.floor(Math.random() * (next - 1));
        const r = Math.random();
        const segment = segments[changes % segments.length];
        if (r < 0.3)
          await client.query(`INSERT INTO public.customers VALUES ($1, $2, $3, $4, $5, 0)`, [
            next++,
            `new "${next}" ünïcode`,
            segment,
            (Math.random() * 10000).toFixed(2),
            r < 0.15,
          ]);
        else if (r < 0.8)
          await client.query(
            `UPDATE public.customers SET name = $2, segment = $3, credit = credit + 1.5, active = NOT active, visits = visits + 1 WHERE id = $1`,
            [id, `renamed ${changes}`, segment],
          );
        else await client.query(`DELETE FROM public.customers WHERE id = $1`, [id]);
        changes++;
        await new Promise((res) => setTimeout(res, 2));
      }
    } finally {
      await client.end();
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return changes;
    },
  };
}

/** The record count of `topic` visible to a read_committed consumer (via kcat). */
async function committedCount(broker: KafkaTestBroker, topic: string): Promise<number> {
  const { stdout } = await run(
    'kcat',
    ['-C', '-b', broker.bootstrapServers, '-t', topic, '-e', '-q', '-f', '%k\\n', '-X', 'isolation.level=read_committed'],
    { maxBuffer: 256 << 20 },
  );
  return stdout.split('\n').length - 1;
}

/**
 * Creates and fills the table, runs both syncs under load with kill -9s, waits until both
 * topics have every change (the sync logs a commit at the table's current position and the
 * topics stop growing), stops the syncs with SIGTERM and leaves the slots to the caller's server.
 */
export async function syncCustomersUnderLoad(options: SyncUnderLoadOptions): Promise<CustomerTopics> {
  ensureBuiltCli();
  const { server, broker, prefix } = options;
  const rows = options.rows ?? 2000;
  const kills = options.kills ?? 2;
  const upsertTopic = `${prefix}-customers`;
  const debeziumTopic = `${prefix}-customers-debezium`;
  await server.query(CUSTOMERS_DDL);
  await server.query(
    `INSERT INTO public.customers SELECT g, 'customer ' || g, (ARRAY['enterprise','smb','public',NULL])[1 + g % 4], g * 0.25, g % 3 = 0, g % 17 FROM generate_series(1, ${rows}) g`,
  );
  const common = ['--source', server.connectionString, '--table', 'public.customers', '--batch-rows', '500', '--commit-ms', '100'];
  const upsertArgs = [
    ...common,
    '--slot',
    `${prefix.replace(/\W/g, '_')}_upsert`,
    '--sink',
    `kafka://${broker.bootstrapServers}/${upsertTopic}?transactions=true`,
    '--checkpoint',
    `kafka://${broker.bootstrapServers}/${prefix}-checkpoints`,
  ];
  const debeziumArgs = [
    ...common,
    '--slot',
    `${prefix.replace(/\W/g, '_')}_debezium`,
    '--sink',
    `kafka://${broker.bootstrapServers}/${debeziumTopic}?format=debezium`,
    '--checkpoint',
    server.connectionString,
  ];

  const writer = startWriter(server.connectionString, rows + 1);
  const both = () => [startCliSync(upsertArgs), startCliSync(debeziumArgs)];
  for (let kill = 0; kill < kills; kill++) {
    const syncs = both();
    await waitFor(
      () => syncs.every((s) => s.commits() >= 2 + kill || s.child.exitCode !== null),
      90_000,
      `commits before kill ${kill + 1}`,
    );
    for (const s of syncs) if (s.child.exitCode !== null) throw new Error(`refstream sync exited early:\n${s.stderr()}`);
    // Killed mid-stream, a second or two into the load, with rows in flight.
    await new Promise((r) => setTimeout(r, 1000 + Math.random() * 1000));
    for (const s of syncs) s.child.kill('SIGKILL');
    await Promise.all(syncs.map((s) => exited(s.child)));
  }
  const changes = await writer.stop();

  const last = both();
  const { lsn } = (await server.query<{ lsn: string }>(`SELECT pg_current_wal_lsn()::text AS lsn`))[0]!;
  await waitFor(
    async () => (await Promise.all(last.map((s) => caughtUp(server, s, lsn)))).every(Boolean),
    90_000,
    'both syncs to catch up',
  );
  // The upsert topic's last transaction is visible to read_committed once its commit is logged.
  let previous = -1;
  await waitFor(
    async () => {
      const count = await committedCount(broker, upsertTopic);
      const stable = count === previous;
      previous = count;
      return stable;
    },
    30_000,
    'the upsert topic to stop growing',
    500,
  );
  for (const s of last) s.child.kill('SIGTERM');
  await Promise.all(last.map((s) => exited(s.child)));
  for (const s of last)
    if (s.child.exitCode !== 0) throw new Error(`refstream sync did not stop cleanly (${s.child.exitCode}):\n${s.stderr()}`);
  return { upsertTopic, debeziumTopic, changes, tableRows: () => customerRows(server) };
}

/** True once the sync's slot confirmed a position at or past `lsn` (it committed everything before). */
async function caughtUp(server: TestPostgres, sync: CliSync, lsn: string): Promise<boolean> {
  if (sync.child.exitCode !== null) throw new Error(`refstream sync exited early:\n${sync.stderr()}`);
  const slot = /"slot":"([^"]+)"/.exec(sync.stderr())?.[1];
  if (slot === undefined) return false;
  const rows = await server.query<{ done: boolean }>(
    `SELECT confirmed_flush_lsn >= $1::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = $2`,
    [lsn, slot],
  );
  return rows[0]?.done === true;
}
