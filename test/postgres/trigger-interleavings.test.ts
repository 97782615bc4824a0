/**
 * Property: whatever the interleaving of concurrent transactions — transaction ids taken in one
 * order, statements interleaved, commits and rollbacks in another order, the snapshot taken
 * while some are open, the reader polling, checkpointing, committing and crashing in between —
 * trigger capture loses no change: the fold of what it delivered equals the table, and
 * positions only grow.
 *
 * Each generated scenario runs on real connections of a `wal_level = replica` server, one per
 * transaction. A statement that would wait for another open transaction's lock gives up after
 * a few milliseconds and its transaction rolls back (a blocked statement cannot wait in a
 * sequential run); unique violations of key moves roll back the same way.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { PostgresSource } from '../../src/connectors/postgres/index.js';
import type { SourceCheckpoint } from '../../src/sdk/checkpoint.js';
import { changeRows, jsonRows, uniqueName } from './helpers.js';

const seed = Number(process.env.REFSTREAM_PROPERTY_SEED ?? 20261207);
const numRuns = Number(process.env.REFSTREAM_PROPERTY_RUNS ?? 40);

let server: TestPostgres;
before(async () => {
  server = await startPostgres({ walLevel: 'replica', settings: { max_connections: 60 } });
});
after(async () => {
  await server?.stop();
});

type Op = { kind: 'upsert'; key: number; value: number } | { kind: 'delete'; key: number } | { kind: 'move'; key: number; to: number };
interface Txn {
  ops: Op[];
  end: 'commit' | 'rollback';
}
type ReaderStep = 'poll' | 'checkpoint' | 'commit' | 'crash';
interface Scenario {
  txns: Txn[];
  /** The order in which the transactions take their ids (a permutation of their indexes). */
  xidOrder: number[];
  /** Interleaving: each transaction index appears once per op and once more for its end. */
  tokens: number[];
  /** Where the reader takes its snapshot (token index). */
  snapshotAt: number;
  /** Reader steps after given token indexes. */
  reader: { at: number; step: ReaderStep; pick: number }[];
  /** Whether the reader polls right after the n-th commit. */
  pollAfterCommit: boolean[];
}

const key = fc.integer({ min: 1, max: 6 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant<'upsert'>('upsert'), key, value: fc.integer({ min: 1, max: 99 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant<'delete'>('delete'), key }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant<'move'>('move'), key, to: key }) },
);
const txn: fc.Arbitrary<Txn> = fc.record({
  ops: fc.array(op, { minLength: 1, maxLength: 3 }),
  end: fc.constantFrom<'commit' | 'rollback'>('commit', 'commit', 'commit', 'commit', 'rollback'),
});

const scenario: fc.Arbitrary<Scenario> = fc.array(txn, { minLength: 3, maxLength: 6 }).chain((txns) => {
  const counts = txns.map((t) => t.ops.length + 1);
  const slots = counts.flatMap((n, i) => Array.from({ length: n }, () => i));
  return fc.record({
    txns: fc.constant(txns),
    xidOrder: fc.shuffledSubarray(
      txns.map((_, i) => i),
      { minLength: txns.length, maxLength: txns.length },
    ),
    tokens: fc.shuffledSubarray(slots, { minLength: slots.length, maxLength: slots.length }),
    snapshotAt: fc.integer({ min: 0, max: slots.length }),
    reader: fc.array(
      fc.record({
        at: fc.integer({ min: 0, max: slots.length }),
        step: fc.constantFrom<ReaderStep>('poll', 'poll', 'poll', 'checkpoint', 'commit', 'crash'),
        pick: fc.nat(),
      }),
      { minLength: 2, maxLength: 20 },
    ),
    pollAfterCommit: fc.array(fc.boolean(), { minLength: txns.length, maxLength: txns.length }),
  });
});

const GIVE_UP = new Set(['55P03', '23505', '40P01', '40001']);

interface Saved {
  checkpoint: SourceCheckpoint;
  fold: Map<number, number>;
}

/** The reader of one run: a source, its fold, and what it saved. */
class Reader {
  source!: PostgresSource;
  fold = new Map<number, number>();
  saved: Saved[] = [];
  committed = -1;
  lastPosition: string | null = null;
  stats = { rows: 0, crashes: 0 };

  constructor(private readonly table: string) {}

  open(): void {
    this.source = new PostgresSource({
      connectionString: server.connectionString,
      table: this.table,
      capture: 'trigger',
      batchRows: 3,
      maxWaitMs: 20,
      pollIntervalMs: 10,
    });
    this.lastPosition = null;
  }

  async snapshot(): Promise<void> {
    for (let b = await this.source.pollSnapshot(); b !== null; b = await this.source.pollSnapshot()) {
      for (const [k, v] of jsonRows(b)) this.fold.set(k as number, v as number);
    }
  }

  /** Polls until a poll returns nothing. */
  async drain(): Promise<void> {
    if (!this.source.isSnapshotComplete()) await this.snapshot();
    for (;;) {
      const b = await this.source.pollChanges();
      if (b === null) return;
      for (const r of changeRows(b)) {
        this.stats.rows++;
        assert.ok(this.lastPosition === null || r.position > this.lastPosition, `position ${r.position} after ${this.lastPosition}`);
        this.lastPosition = r.position;
        const k = r.values[0] as number;
        if (r.type === 'truncate') this.fold.clear();
        else if (r.type === 'delete') this.fold.delete(k);
        else this.fold.set(k, r.values[1] as number);
      }
    }
  }

  async step(step: ReaderStep, pick: number): Promise<void> {
    if (step === 'poll') return this.drain();
    if (!this.source.isSnapshotComplete()) return; // checkpoints of a finished snapshot only: the snapshot is read in one go here
    if (step === 'checkpoint') this.saved.push({ checkpoint: structuredClone(this.source.checkpoint()), fold: new Map(this.fold) });
    else if (step === 'commit') {
      if (this.saved.length === 0) return;
      await this.source.commit(this.saved.at(-1)!.checkpoint);
      this.committed = this.saved.length - 1;
    } else {
      await this.source.close();
      this.stats.crashes++;
      const restorable = this.saved.slice(Math.max(this.committed, 0));
      this.open();
      if (restorable.length === 0) {
        this.fold = new Map();
        this.saved = [];
        this.committed = -1;
        return;
      }
      const chosen = restorable[pick % restorable.length]!;
      await this.source.restore(structuredClone(chosen.checkpoint));
      this.fold = new Map(chosen.fold);
    }
  }
}

async function runScenario(
  s: Scenario,
  stats: { runs: number; commitOrderDiffered: number; rolledBack: number; rowsWhileOpen: number; crashes: number },
): Promise<void> {
  const table = uniqueName('inter');
  await server.query(`CREATE TABLE ${table} (k int PRIMARY KEY, v int NOT NULL)`);
  await server.query(`INSERT INTO ${table} SELECT g, 0 FROM generate_series(1, 4) g`);
  const { installTriggers, parseQualifiedName } = await import('../../src/connectors/postgres/index.js');
  const admin = new pg.Client({ connectionString: server.connectionString });
  await admin.connect();
  await installTriggers(admin, parseQualifiedName(table)!);
  const clients = await Promise.all(
    s.txns.map(async () => {
      const c = new pg.Client({ connectionString: server.connectionString });
      await c.connect();
      await c.query(`SET lock_timeout = '15ms'`);
      return c;
    }),
  );
  const reader = new Reader(table);
  reader.open();
  const doomed = new Set<number>();
  const commits: number[] = [];
  try {
    for (const i of s.xidOrder) {
      await clients[i]!.query('BEGIN');
      await clients[i]!.query('SELECT pg_current_xact_id()');
    }
    const done = new Array<number>(s.txns.length).fill(0);
    const readerAt = (at: number) => s.reader.filter((r) => r.at === at);
    for (let t = 0; t <= s.tokens.length; t++) {
      if (t === s.snapshotAt) await reader.snapshot();
      for (const r of readerAt(t)) await reader.step(r.step, r.pick);
      if (t === s.tokens.length) break;
      const i = s.tokens[t]!;
      const c = clients[i]!;
      const n = done[i]++;
      const x = s.txns[i]!;
      if (n === x.ops.length) {
        // the end of transaction i
        if (doomed.has(i)) continue;
        await c.query(x.end === 'commit' ? 'COMMIT' : 'ROLLBACK');
        if (x.end === 'commit') {
          commits.push(i);
          if (s.pollAfterCommit[commits.length - 1] && reader.source.isSnapshotComplete()) await reader.drain();
        }
        continue;
      }
      if (doomed.has(i)) continue;
      const o = x.ops[n]!;
      try {
        if (o.kind === 'upsert')
          await c.query(`INSERT INTO ${table} VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, [o.key, o.value]);
        else if (o.kind === 'delete') await c.query(`DELETE FROM ${table} WHERE k = $1`, [o.key]);
        else await c.query(`UPDATE ${table} SET k = $2 WHERE k = $1`, [o.key, o.to]);
      } catch (error) {
        if (!GIVE_UP.has((error as { code?: string }).code ?? '')) throw error;
        await c.query('ROLLBACK');
        doomed.add(i);
      }
    }
    if (!reader.source.isSnapshotComplete()) await reader.snapshot();
    stats.rowsWhileOpen += reader.stats.rows;
    const expected = new Map((await server.query<{ k: number; v: number }>(`SELECT k, v FROM ${table}`)).map((r) => [r.k, r.v]));
    const deadline = Date.now() + 5_000;
    for (;;) {
      await reader.drain();
      const same = expected.size === reader.fold.size && [...expected].every(([k, v]) => reader.fold.get(k) === v);
      if (same) break;
      if (Date.now() > deadline) {
        assert.deepEqual([...reader.fold].sort(), [...expected].sort(), 'the fold of the delivered changes equals the table');
      }
    }
    // commit order against the order of transaction ids
    const xidRank = new Map(s.xidOrder.map((i, rank) => [i, rank]));
    if (commits.some((i, n) => n > 0 && xidRank.get(i)! < xidRank.get(commits[n - 1]!)!)) stats.commitOrderDiffered++;
    stats.rolledBack += doomed.size + s.txns.filter((x, i) => x.end === 'rollback' && !doomed.has(i)).length;
    stats.crashes += reader.stats.crashes;
    stats.runs++;
  } finally {
    await reader.source.close();
    for (const c of clients) await c.end().catch(() => {});
    await admin.end();
  }
}

test(
  'concurrent transactions committing out of transaction-id order, with crashes and restores: no change is lost',
  { timeout: 600_000 },
  async () => {
    const stats = { runs: 0, commitOrderDiffered: 0, rolledBack: 0, rowsWhileOpen: 0, crashes: 0 };
    await fc.assert(
      fc.asyncProperty(scenario, (s) => runScenario(s, stats)),
      { seed, numRuns, endOnFailure: true },
    );
    console.log(
      `${stats.runs} runs: commit order differed from xid order in ${stats.commitOrderDiffered}, ${stats.rolledBack} transactions rolled back, ${stats.rowsWhileOpen} change rows read while transactions were being run, ${stats.crashes} crashes (seed ${seed})`,
    );
    assert.ok(
      stats.commitOrderDiffered >= numRuns / 4,
      `commit order differed from xid order in only ${stats.commitOrderDiffered} of ${stats.runs} runs`,
    );
  },
);
