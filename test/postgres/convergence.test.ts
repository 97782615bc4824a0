/**
 * Convergence under load and crashes: four writers insert, update (including key changes)
 * and delete for ten seconds while a reader process is killed with SIGKILL at random points
 * (mid-snapshot and mid-stream) and restarted from its last committed checkpoint. At the end
 * the folded output equals `SELECT *` (0 missing, 0 extra, 0 stale), and the slot never
 * confirmed past the last committed checkpoint.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { parseLsn } from '../../src/connectors/postgres/index.js';
import { PG_VERSIONS, Fold, createTestTable, diffStates, tableState, type ChangeRow } from './helpers.js';

const READER = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'reader.ts');
const WRITE_MS = 10_000;

function spawnReader(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', READER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

async function writer(connectionString: string, table: string, id: number, until: number): Promise<number> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  let ops = 0;
  let next = id * 1_000_000;
  const rnd = (n: number) => 1 + Math.floor(Math.random() * n);
  try {
    while (Date.now() < until) {
      try {
        await writeOnce(client, table, id, ops, rnd, () => next++);
      } catch (error) {
        // concurrent writers may deadlock or collide on keys: that operation is given up
        const code = (error as { code?: string }).code;
        if (code !== '40P01' && code !== '40001' && code !== '23505') throw error;
        await client.query('ROLLBACK');
      }
      ops++;
    }
  } finally {
    await client.end();
  }
  return ops;
}

async function writeOnce(
  client: pg.Client,
  table: string,
  id: number,
  ops: number,
  rnd: (n: number) => number,
  nextId: () => number,
): Promise<void> {
  const r = Math.random();
  if (r < 0.35) {
    await client.query(`UPDATE ${table} SET amount = amount + 1, name = 'w${id}-' || $2, updated_at = now() WHERE id = $1`, [
      rnd(10000),
      ops,
    ]);
  } else if (r < 0.6) {
    await client.query(`INSERT INTO ${table} VALUES ($1, 'new', 1.5, now(), true, $2)`, [nextId(), Math.random() < 0.5 ? null : 'note']);
  } else if (r < 0.75) {
    await client.query(`DELETE FROM ${table} WHERE id = $1`, [rnd(10000)]);
  } else if (r < 0.85) {
    // a key change
    await client.query(`UPDATE ${table} SET id = $2 WHERE id = $1`, [rnd(10000), nextId()]);
  } else {
    const ids = Array.from({ length: 20 }, () => rnd(10000)).sort((a, b) => a - b);
    const first = nextId();
    await client.query('BEGIN');
    for (const k of ids) await client.query(`UPDATE ${table} SET active = NOT active WHERE id = $1`, [k]);
    await client.query(
      `INSERT INTO ${table} SELECT g, 'batch', 2, now(), false, null FROM generate_series($1::int8 * 100, $1::int8 * 100 + 50) g`,
      [first],
    );
    await client.query(Math.random() < 0.2 ? 'ROLLBACK' : 'COMMIT');
  }
}

for (const version of PG_VERSIONS) {
  describe(`postgres ${version}: convergence under load and SIGKILL`, () => {
    let server: TestPostgres;
    let dir: string;
    before(async () => {
      server = await startPostgres({ version });
      dir = mkdtempSync(join(tmpdir(), 'refstream-conv-'));
    });
    after(async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('folded output equals the table after random kills; the slot never passes the committed checkpoint', async () => {
      const table = 'conv';
      const slot = 'conv_slot';
      await createTestTable(server, table);
      await server.query(
        `INSERT INTO ${table} SELECT g, 'n' || g, g, now(), g % 2 = 0, CASE WHEN g % 3 = 0 THEN NULL ELSE 'x' END FROM generate_series(1, 30000) g`,
      );
      const cpFile = join(dir, 'cp.json');
      const outFile = join(dir, 'out.jsonl');
      const args = [server.connectionString, table, slot, cpFile, outFile, '500'];

      const until = Date.now() + WRITE_MS;
      const writers = Promise.all([1, 2, 3, 4].map((w) => writer(server.connectionString, table, w, until)));
      let kills = 0;
      let killsMidSnapshot = 0;
      let killsMidStream = 0;
      let killsBeforeFirstCommit = 0;
      let violations = 0;
      const checkSlot = async () => {
        if (!existsSync(cpFile)) return;
        const cp = JSON.parse(readFileSync(cpFile, 'utf8')).checkpoint;
        const limit =
          cp.phase === 'changes' ? parseLsn(cp.position.lsn) : cp.position.snapshotLsn ? parseLsn(cp.position.snapshotLsn) : null;
        const [row] = await server.query<{ lsn: string | null }>(
          'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
          [slot],
        );
        if (row?.lsn && limit !== null && parseLsn(row.lsn) > limit) violations++;
      };
      while (Date.now() < until - 500) {
        const child = spawnReader(args);
        let output = '';
        child.stdout!.on('data', (d) => (output += d));
        child.stderr!.on('data', (d) => (output += d));
        const exited = new Promise((r) => child.once('exit', r));
        if (kills === 0) {
          // the first kill lands right after the first mid-snapshot commit
          const deadline = Date.now() + 10_000;
          while (!/committed snapshot/.test(output) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        } else {
          await new Promise((r) => setTimeout(r, 900 + Math.random() * 1600));
        }
        child.kill('SIGKILL');
        await exited;
        kills++;
        const phases = output.match(/committed \w+/g) ?? [];
        if (phases.length === 0) killsBeforeFirstCommit++;
        else if (!output.includes('snapshot complete') && phases.at(-1) !== 'committed changes') killsMidSnapshot++;
        else killsMidStream++;
        assert.doesNotMatch(output, /definite error/, output);
        if (process.env.REFSTREAM_TEST_DEBUG)
          process.stdout.write(`# kill ${kills}: ${JSON.stringify(output.split('\n').slice(-3))} ${output.length}\n`);
        await checkSlot();
      }
      const ops = (await writers).reduce((a, b) => a + b, 0);

      // last run: catch up and exit once idle
      const final = spawnReader([...args, '--until-idle']);
      let finalOutput = '';
      final.stderr!.on('data', (d) => (finalOutput += d));
      const code = await new Promise((r) => final.once('exit', r));
      assert.equal(code, 0, finalOutput);
      await checkSlot();

      const fold = new Fold();
      let broken = 0;
      for (const line of readFileSync(outFile, 'utf8').split('\n')) {
        if (line === '') continue;
        let entry: { k: 's' | 'c'; rows: unknown[] };
        try {
          entry = JSON.parse(line);
        } catch {
          broken++; // a line cut by SIGKILL: never checkpointed, so it was delivered again
          continue;
        }
        if (entry.k === 's') for (const r of entry.rows as unknown[][]) fold.rows.set(r[0] as string, r);
        else for (const r of entry.rows as ChangeRow[]) fold.change(r);
      }
      const diff = diffStates(await tableState(server, table), fold.rows);
      const summary = {
        kills,
        killsBeforeFirstCommit,
        killsMidSnapshot,
        killsMidStream,
        ops,
        broken,
        missing: diff.missing.length,
        extra: diff.extra.length,
        stale: diff.stale.length,
        violations,
      };
      process.stdout.write(`# convergence pg${version}: ${JSON.stringify(summary)}\n`);
      assert.ok(kills >= 4, `killed ${kills} times`);
      assert.ok(killsMidSnapshot >= 1, 'at least one kill interrupted the snapshot');
      assert.ok(ops > 100, `writers did ${ops} operations`);
      assert.deepEqual(diff, { missing: [], extra: [], stale: [] });
      assert.equal(violations, 0, 'confirmed_flush_lsn passed the last committed checkpoint');
      // the final commit confirmed the final checkpoint exactly
      const cp = JSON.parse(readFileSync(cpFile, 'utf8')).checkpoint;
      const [row] = await server.query<{ lsn: string; active: boolean }>(
        'SELECT confirmed_flush_lsn::text AS lsn, active FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      assert.equal(parseLsn(row!.lsn), parseLsn(cp.position.lsn));
      assert.equal(row!.active, false);
    });
  });
}
