/**
 * Exactly-once into Kafka, as a user runs it: the built `refstream sync` from a PostgreSQL
 * table under a concurrent writer into `kafka://…?transactions=true` with the checkpoint in
 * Kafka, killed with kill -9 three times and restarted. A read_committed consumer (kcat) then
 * folds the topic to the table, with no (position, key) delivered twice and one snapshot.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { isDeepStrictEqual } from 'node:util';
import pg from 'pg';
import { startKafkaTestBroker, startPostgres, type KafkaTestBroker, type TestPostgres } from '../../src/testing/index.js';
import { builtCli, ensureBuiltCli } from '../helpers/built-cli.js';
import { exited, waitFor } from '../helpers/process.js';
import { foldById, readTopic as readKafkaTopic, type TopicRecord } from '../helpers/kcat-topic.js';

const ROWS = 5000;
const TABLE = 'public.accounts';
let server: TestPostgres;
let broker: KafkaTestBroker;

before(async () => {
  ensureBuiltCli();
  [server, broker] = await Promise.all([
    startPostgres(),
    startKafkaTestBroker({ topics: ['eo-accounts:3', { name: 'eo-checkpoints', config: { 'cleanup.policy': 'compact' } }] }),
  ]);
  await server.query(`CREATE TABLE ${TABLE} (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2) NOT NULL, note text)`);
  await server.query(
    `INSERT INTO ${TABLE} SELECT g, 'name ' || g, g * 0.25, CASE WHEN g % 7 = 0 THEN NULL ELSE 'note ' || g END FROM generate_series(1, ${ROWS}) g`,
  );
});
after(async () => {
  await Promise.all([server?.stop(), broker?.stop()]);
});

/** Small random transactions (insert, update, delete) until stopped. */
function startWriter(): { stop: () => Promise<number> } {
  let running = true;
  let ops = 0;
  const done = (async () => {
    const client = new pg.Client({ connectionString: server.connectionString });
    await client.connect();
    let next = ROWS + 1;
    try {
      while (running) {
        const id = 1 + Math.floor(Math.random() * (next - 1));
        const r = Math.random();
        if (r < 0.3)
          await client.query(`INSERT INTO ${TABLE} VALUES ($1, $2, $3, NULL)`, [next++, `new ${next}`, (Math.random() * 1000).toFixed(2)]);
        else if (r < 0.8)
          await client.query(`UPDATE ${TABLE} SET name = $2, amount = amount + 1, note = $3 WHERE id = $1`, [
            id,
            `upd ${ops}`,
            `note ${ops}`,
          ]);
        else await client.query(`DELETE FROM ${TABLE} WHERE id = $1`, [id]);
        ops++;
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
      return ops;
    },
  };
}

function startSync(): { child: ChildProcess; commits: () => number; stderr: () => string } {
  const child = spawn(
    process.execPath,
    [
      builtCli,
      'sync',
      '--source',
      server.connectionString,
      '--table',
      TABLE,
      '--slot',
      'eo_kafka_tx',
      '--sink',
      `kafka://${broker.bootstrapServers}/eo-accounts?transactions=true`,
      '--checkpoint',
      `kafka://${broker.bootstrapServers}/eo-checkpoints`,
      '--batch-rows',
      '500',
      '--commit-rows',
      '500',
      '--commit-ms',
      '100',
      '--log-format',
      'json',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const commits = () => err.split('\n').filter((l) => l.includes('"event":"commit"')).length;
  return { child, commits, stderr: () => err };
}

function readTopic(isolation: 'read_committed' | 'read_uncommitted', topic = 'eo-accounts'): Promise<TopicRecord[]> {
  return readKafkaTopic(broker.bootstrapServers, topic, { isolation });
}

/** The first few keys where the folded topic and the table differ, or '' when they are equal. */
function describeDifferences(folded: Map<string, Record<string, unknown>>, expected: Map<string, Record<string, unknown>>): string {
  const diffs: string[] = [];
  for (const [k, row] of expected)
    if (!isDeepStrictEqual(folded.get(k), row)) diffs.push(`${k}: topic ${JSON.stringify(folded.get(k))} table ${JSON.stringify(row)}`);
  for (const k of folded.keys()) if (!expected.has(k)) diffs.push(`${k}: only in the topic`);
  return diffs.length === 0
    ? ''
    : `${diffs.length} keys differ (topic ${folded.size}, table ${expected.size} rows), e.g. ${diffs.slice(0, 5).join('; ')}`;
}

async function tableRows(): Promise<Map<string, Record<string, unknown>>> {
  const rows = await server.query<Record<string, unknown>>(`SELECT id::text AS id, name, amount::text AS amount, note FROM ${TABLE}`);
  return new Map(rows.map((r) => [r.id as string, r]));
}

test(
  'refstream sync into kafka://…?transactions=true under a concurrent writer, kill -9 three times: read_committed sees every change once and folds to the table',
  { timeout: 240_000 },
  async () => {
    const writer = startWriter();
    for (let kill = 0; kill < 3; kill++) {
      const sync = startSync();
      await waitFor(() => sync.commits() >= 3 + kill || sync.child.exitCode !== null, 60_000, `commits before kill ${kill + 1}`);
      assert.equal(sync.child.exitCode, null, sync.stderr());
      // Somewhere inside an open transaction: rows are produced continuously between commits.
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 150));
      sync.child.kill('SIGKILL');
      await exited(sync.child);
    }
    const ops = await writer.stop();
    assert.ok(ops > 100, `the writer made ${ops} changes`);

    const last = startSync();
    const expected = await tableRows();
    let differences = '';
    try {
      await waitFor(
        async () => {
          if (last.child.exitCode !== null) return true;
          const folded = foldById(await readTopic('read_committed'));
          // every row as in the table, not only every key: the last updates may still be on their way
          differences = describeDifferences(folded, expected);
          return differences === '';
        },
        60_000,
        'the topic to catch up',
        500,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}: ${differences}\nsync log (tail):\n${last.stderr().slice(-4000)}`, { cause: error });
    }
    assert.equal(last.child.exitCode, null, `the last sync exited early:\n${last.stderr().slice(-4000)}`);
    last.child.kill('SIGTERM');
    await exited(last.child);
    assert.equal(last.child.exitCode, 0, last.stderr());

    const committed = await readTopic('read_committed');
    const folded = foldById(committed);
    assert.deepEqual([...folded.keys()].sort(), [...expected.keys()].sort());
    for (const [id, row] of folded) assert.deepEqual(row, expected.get(id), `row ${id}`);

    // Exactly once: no change (position, key) twice, no snapshot row twice, one snapshot.
    const seen = new Set<string>();
    for (const r of committed) {
      if (r.headers['refstream-control'] !== undefined) continue;
      const op = r.headers['refstream-op'] ?? '';
      const id = `${op === 'snapshot' ? 'snapshot' : r.headers['refstream-position']}|${r.key}|${r.payload === null ? 'tombstone' : 'value'}`;
      assert.ok(!seen.has(id), `delivered twice to read_committed: ${id}`);
      seen.add(id);
    }
    assert.ok(
      committed.every((r) => r.headers['refstream-control'] === undefined),
      'no control record in the data topic',
    );
    assert.equal(
      (await readTopic('read_committed', 'eo-accounts.refstream-control')).filter((r) => r.key === 'snapshot-start').length,
      1,
      'one snapshot-start in the control topic: one snapshot',
    );
    const all = await readTopic('read_uncommitted');
    console.log(`${ops} writer changes; ${committed.length} committed records, ${all.length - committed.length} in aborted transactions`);
  },
);
