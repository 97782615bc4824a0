/**
 * End to end: a Postgres table → sync (child process) → ExasolTableSink keeps the Exasol copy
 * equal to the Postgres table under concurrent writes, across a kill -9 and restart of the
 * sync process (checkpoint in a file; the Postgres slot and the Exasol target survive).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ExasolConnection } from '../../src/connectors/exasol/index.js';
import { startExasolTestServer, startPostgres, type ExasolTestServer, type TestPostgres } from '../../src/testing/index.js';
import { connect } from './helpers.js';
import { exited, startSyncFixture, waitFor } from '../helpers/process.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/sync-postgres-to-exasol.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'refstream-exasol-e2e-'));
let pg: TestPostgres;
let exa: ExasolTestServer;
let exaSession: ExasolConnection;

before(async () => {
  pg = await startPostgres();
  // the Exasol test server keeps its tables in the same PostgreSQL (schema SINKS), apart from public
  exa = await startExasolTestServer({ postgres: pg });
  exaSession = await connect(exa);
  await pg.query(`create table public.items (
    id bigint primary key, name text not null, amount numeric(12,2) not null,
    updated_at timestamptz not null, active boolean not null, note text)`);
  await pg.query(`insert into public.items
    select i, 'item ' || i, i * 1.25, timestamptz '2024-01-01 00:00:00.123456+00' + i * interval '1 second', i % 2 = 0, case when i % 3 = 0 then null else 'note ' || i end
    from generate_series(1, 2000) i`);
});
after(async () => {
  await exaSession?.close();
  await exa?.stop();
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function startSync() {
  const settings = {
    pg: pg.connectionString,
    table: 'public.items',
    slot: 'exasol_e2e',
    exasol: { host: exa.host, port: exa.port, user: exa.user, password: exa.password },
    target: { schema: 'SINKS', table: 'ITEMS' },
    checkpointPath: join(dir, 'checkpoint.json'),
  };
  return startSyncFixture(FIXTURE, [JSON.stringify(settings)]);
}

/** Canonical rows of the Postgres table: id → [name, amount, µs since epoch, active, note]. */
async function postgresRows(): Promise<Map<string, string>> {
  const rows = await pg.query<Record<string, string | boolean | null>>(`select id::text as id, name, amount::text as amount,
      (extract(epoch from updated_at) * 1000000)::bigint::text as ts, active, note from public.items`);
  return new Map(rows.map((r) => [String(r.id), JSON.stringify([r.name, r.amount, r.ts, r.active, r.note])]));
}

/** The same canonical rows of the Exasol copy. */
async function exasolRows(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  try {
    for await (const page of exaSession.query('SELECT "id", "name", "amount", "updated_at", "active", "note" FROM SINKS.ITEMS')) {
      for (let r = 0; r < page.numRows; r++) {
        const ts = String(page.data[3]![r]); // YYYY-MM-DD HH:MI:SS.ffffff… (UTC session)
        const micros = BigInt(Date.parse(`${ts.slice(0, 19).replace(' ', 'T')}Z`)) * 1000n + BigInt((ts.slice(20) + '000000').slice(0, 6));
        out.set(
          String(page.data[0]![r]),
          JSON.stringify([page.data[1]![r], page.data[2]![r], micros.toString(), page.data[4]![r], page.data[5]![r]]),
        );
      }
    }
  } catch {
    // the target does not exist before the first flush
  }
  return out;
}

function differences(a: Map<string, string>, b: Map<string, string>): string[] {
  const lines: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) lines.push(`id ${k}: postgres ${v}, exasol ${b.get(k) ?? '(absent)'}`);
  for (const k of b.keys()) if (!a.has(k)) lines.push(`id ${k}: only in exasol`);
  return lines;
}

/** Writes in the background until stopped: updates, deletes, inserts (one transaction each). */
function concurrentWriter(): { stop(): Promise<number> } {
  let running = true;
  let round = 0;
  const loop = (async () => {
    while (running) {
      round++;
      await pg.query(
        `update public.items set name = 'round ${round} ' || id, amount = amount + 1, updated_at = now() where id % 13 = ${round % 13}`,
      );
      await pg.query(`delete from public.items where id % 97 = ${round % 97} and id < 2000`);
      await pg.query(
        `insert into public.items values (${10_000 + round}, 'new ${round}', ${round}.5, now(), true, 'ü "quoted", line\nbreak') on conflict do nothing`,
      );
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return round;
    },
  };
}

test('Postgres → sync → ExasolTableSink converges under concurrent writes across kill -9 and restart', { timeout: 80_000 }, async () => {
  const first = startSync();
  await waitFor(() => first.commits() >= 1, 30_000, 'the first commit');
  const writer = concurrentWriter();
  await waitFor(() => first.commits() >= 4, 20_000, 'commits while writing');
  first.child.kill('SIGKILL'); // no flush, no commit, no cleanup
  await exited(first.child);
  await new Promise((r) => setTimeout(r, 300)); // writes continue while nothing syncs
  const second = startSync();
  await waitFor(() => second.commits() >= 3, 30_000, 'commits after the restart');
  const rounds = await writer.stop();
  let diff: string[] = [];
  await waitFor(
    async () => {
      diff = differences(await postgresRows(), await exasolRows());
      return diff.length === 0;
    },
    30_000,
    'the Exasol copy to equal the Postgres table',
  ).catch((error: Error) => {
    throw new Error(`${error.message}: ${diff.slice(0, 5).join('; ')}`);
  });
  assert.ok(rounds > 5, `${rounds} concurrent write rounds`);
  second.child.kill('SIGTERM');
  await exited(second.child);
});
