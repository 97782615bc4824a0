/**
 * Change streaming, refstream against Debezium embedded, on the same PostgreSQL table under the
 * same pgbench load, in one run:
 *
 * 1. Throughput at saturation: every peer gets `repeat` replication slots, all created before
 *    one pgbench load of `changes` single-row transactions (updates, inserts, deletes) is
 *    committed; then each slot is read to the end by its peer, peers alternating. Changes/s
 *    and the consumer's process CPU time are taken from the first to the last change handed
 *    to the consumer (start-up excluded); the walsender's CPU time (server side) is read from
 *    /proc for the whole read.
 * 2. Latency, commit → handed to the consumer, at about 1k and 10k changes/s (pgbench -R, updates
 *    and inserts): each change's updated_at is the clock_timestamp() of its statement, so the
 *    latency includes the commit itself. Peers alternate, each on a new slot, after a 2 s
 *    warm-up at the same rate.
 *
 * refstream: PostgresSource in a Node process (bench/peers/changes-refstream-child.ts).
 * Debezium: the embedded engine 3.6.1.Final with pgoutput, Connect records handed to a
 * ChangeConsumer (bench/peers/debezium/, Maven into the local repository). Both confirm their
 * position once a second (refstream's default commit interval; Debezium's offset flush
 * interval set to the same).
 *
 *   npm run bench:peers:changes -- [changes=300000] [repeat=3] [seconds=10]
 *
 * Needs PostgreSQL's pgbench, a JDK 17+ and Maven. Writes bench/results/peers-changes-<time>.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createBenchTable, median, PGBENCH, startBenchServer } from '../lib/postgres-bench.js';
import { PROJECT_ROOT } from '../../test/interop/python-env.js';
import { javaProgram } from '../../test/helpers/java-program.js';
import { bundledChild } from '../lib/bundled-child.js';

const changes = Number(process.argv[2] ?? 300_000);
const repeat = Number(process.argv[3] ?? 3);
const seconds = Number(process.argv[4] ?? 10);
if (![changes, repeat, seconds].every((n) => Number.isInteger(n) && n > 0)) {
  throw new Error('usage: npm run bench:peers:changes -- [changes=300000] [repeat=3] [seconds=10] (positive integers)');
}
const TIME = '/usr/bin/time';
for (const tool of [TIME, PGBENCH])
  if (!existsSync(tool)) throw new Error(`${tool} is missing (Debian/Ubuntu: apt-get install time postgresql-15)`);
const TABLE = 'public.chg';
const TABLE_ROWS = 100_000;
const MARKER = 'refstream-bench:';
const RATES = [1000, 10_000];
const CLOCK_TICKS_PER_SECOND = 100;

const debezium = await javaProgram(join(PROJECT_ROOT, 'bench', 'peers', 'debezium'));
// run compiled, as a user's program would (bench/lib/bundled-child.ts)
const REFSTREAM_CHILD = await bundledChild(join(PROJECT_ROOT, 'bench', 'peers', 'changes-refstream-child.ts'));
const pg = await startBenchServer();
const scratch = mkdtempSync(join(tmpdir(), 'refstream-peers-changes-'));

interface Peer {
  id: string;
  label: string;
  command(name: string, mode: 'prepare' | 'throughput' | 'latency', file?: string): [string, ...string[]];
}

function debeziumPeer(id: string, label: string, jvmOptions: string[]): Peer {
  return {
    id,
    label,
    command: (name, mode, file) => [
      debezium.java,
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
      ...jvmOptions,
      '-cp',
      debezium.classpath,
      'DebeziumStreamPeer',
      pg.connectionString,
      TABLE,
      name,
      mode,
      ...(file ? [file] : []),
    ],
  };
}

/** Every peer takes part in the latency runs; the throughput runs leave out the latency-tuned Debezium (a backlog fills its batches either way). */
const PEERS: Peer[] = [
  {
    id: 'refstream',
    label: 'refstream PostgresSource (in-process)',
    command: (name, mode, file) => [process.execPath, REFSTREAM_CHILD, pg.connectionString, TABLE, name, mode, ...(file ? [file] : [])],
  },
  debeziumPeer('debezium', 'Debezium embedded 3.6.1 (pgoutput)', []),
  debeziumPeer('debezium-poll10', 'Debezium, poll.interval.ms=10', ['-Dpeer.poll.interval.ms=10']),
];
const THROUGHPUT_PEERS = PEERS.filter((p) => p.id !== 'debezium-poll10');
/** Peers in round `round`: each round starts one peer later, so no peer always follows the same other one. */
const rotated = (peers: Peer[], round: number) => peers.map((_, k) => peers[(k + round) % peers.length]!);

/** A running peer: its stdout lines, its stderr, and its peak RSS once it exited. */
class Running {
  readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private waiting: (() => void) | null = null;
  private stderr = '';
  private readonly exited: Promise<number | null>;
  private readonly rssFile: string;

  constructor(
    readonly peer: Peer,
    readonly name: string,
    mode: 'prepare' | 'throughput' | 'latency',
    file?: string,
  ) {
    this.rssFile = join(scratch, `${name}.rss`);
    this.child = spawn(TIME, ['-f', '%M', '-o', this.rssFile, ...peer.command(name, mode, file)], { stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      this.waiting?.();
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-8000)));
    this.exited = new Promise((resolve) => this.child.once('exit', resolve));
    void this.exited.then(() => this.waiting?.());
  }

  /** The next stdout line; fails with the peer's stderr if it exits first or `timeoutMs` pass. */
  async line(timeoutMs = 600_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`${this.peer.label} (${this.name}) gave no output line (exit ${this.child.exitCode}):\n${this.stderr}`);
      }
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, 200);
      });
    }
    return this.lines.shift()!;
  }

  /** Tells the peer to stop (a line on stdin) and waits for it; returns its peak RSS in MB. */
  async finish(): Promise<number> {
    this.child.stdin!.end('stop\n');
    const code = await this.exited;
    if (code !== 0) throw new Error(`${this.peer.label} (${this.name}) exited with ${code}:\n${this.stderr}`);
    return Number(readFileSync(this.rssFile, 'utf8').trim().split('\n').pop()) / 1024;
  }
}

/** Inserts a marker row (negative id) that the peers react to. */
async function marker(kind: 'probe' | 'from' | 'end'): Promise<void> {
  await pg.query(
    `INSERT INTO ${TABLE} (id, name, amount, updated_at, active) VALUES (-nextval('chg_markers'), '${MARKER}${kind}', 0, clock_timestamp(), true)`,
  );
}

/** Inserts probe rows until the peer says it streams (its first marker arrived). */
async function untilReady(running: Running): Promise<void> {
  let said: string | null = null;
  const reading = running.line().then((l) => (said = l));
  reading.catch(() => {});
  while (said === null) {
    if (running.child.exitCode !== null) await reading; // throws with the peer's stderr
    await marker('probe');
    await Promise.race([reading, new Promise((r) => setTimeout(r, 300))]);
  }
  if (said !== 'ready') throw new Error(`${running.peer.label}: expected "ready", got ${said}`);
}

/** The CPU seconds the walsender serving `slot` has used so far. */
async function walsenderCpuSeconds(slot: string): Promise<number> {
  const [row] = await pg.query<{ pid: number | null }>('SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  if (!row?.pid) throw new Error(`no walsender serves slot ${slot}`);
  // /proc/<pid>/stat: fields after the command name; utime and stime are the 14th and 15th
  const stat = readFileSync(`/proc/${row.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

function pgbench(scripts: string[], extra: string[]): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(PGBENCH, ['-n', '-c', '4', '-j', '2', ...extra, ...scripts.flatMap((s) => ['-f', s]), pg.connectionString], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) =>
      code === 0 ? resolve({ ms: performance.now() - started, stdout }) : reject(new Error(`pgbench exited with ${code}: ${stderr}`)),
    );
  });
}

interface Throughput {
  changes: number;
  ms: number;
  cpuMs: number;
  walsenderCpuS: number;
  peakRssMB: number;
}

interface Latency {
  changes: number;
  ms: number;
  cpuMs: number;
  latencyMs: { count: number; p50: number; p99: number; max: number };
}

const script = (name: string, text: string) => {
  const file = join(scratch, name);
  writeFileSync(file, text);
  return file;
};
const UPDATE = script(
  'update.sql',
  `\\set id random(1, ${TABLE_ROWS})\nUPDATE ${TABLE} SET amount = amount + 0.01, updated_at = clock_timestamp() WHERE id = :id;\n`,
);
const INSERT = script(
  'insert.sql',
  `INSERT INTO ${TABLE} VALUES (nextval('chg_ids'), 'customer new', 12.34, clock_timestamp(), true, 'inserted row');\n`,
);
const DELETE = script('delete.sql', `DELETE FROM ${TABLE} WHERE id = (SELECT min(id) FROM ${TABLE} WHERE id >= 1000000000);\n`);

try {
  const loadBefore = loadavg();
  console.log(
    `load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} cores; PostgreSQL ${pg.version}; Node ${process.version}; Debezium 3.6.1.Final on ${debezium.java}`,
  );
  await createBenchTable(pg, TABLE, TABLE_ROWS);
  await pg.query(`CREATE SEQUENCE chg_ids START 1000000000`);
  await pg.query(`CREATE SEQUENCE chg_markers`);

  // ---- throughput: slots first, then one load, then each slot read to its end -----------
  const prepared: { peer: Peer; name: string; file: string }[] = [];
  for (let r = 0; r < repeat; r++) {
    for (const peer of THROUGHPUT_PEERS) {
      const name = `${peer.id}_tp_${r}`;
      const file = join(scratch, `${name}.offsets`);
      const running = new Running(peer, name, 'prepare', file);
      await untilReady(running);
      await running.finish();
      prepared.push({ peer, name, file });
    }
  }
  await marker('from');
  const load = await pgbench([`${UPDATE}@6`, `${INSERT}@2`, `${DELETE}@2`], ['-t', String(Math.ceil(changes / 4))]);
  await marker('end');
  console.log(
    `load: ${Math.ceil(changes / 4) * 4} transactions (60% update, 20% insert, 20% delete) committed in ${(load.ms / 1000).toFixed(1)} s`,
  );

  const throughput = new Map<string, Throughput[]>(THROUGHPUT_PEERS.map((p) => [p.id, []]));
  for (let r = 0; r < repeat; r++) {
    for (const peer of rotated(THROUGHPUT_PEERS, r)) {
      const { name, file } = prepared.find((p) => p.peer === peer && p.name.endsWith(`_${r}`))!;
      const running = new Running(peer, name, 'throughput', file);
      let out = await running.line();
      if (out === 'ready') out = await running.line();
      const result = JSON.parse(out) as Omit<Throughput, 'walsenderCpuS' | 'peakRssMB'>;
      const walsenderCpuS = await walsenderCpuSeconds(name);
      const peakRssMB = await running.finish();
      throughput.get(peer.id)!.push({ ...result, walsenderCpuS, peakRssMB });
      process.stderr.write('.');
    }
  }
  process.stderr.write('\n');
  const counts = new Set([...throughput.values()].flat().map((t) => t.changes));
  if (counts.size !== 1) throw new Error(`the peers counted different numbers of changes: ${[...counts].join(', ')}`);

  // ---- latency at fixed rates ------------------------------------------------------------
  const latency = new Map<string, Latency[]>(PEERS.flatMap((p) => RATES.map((rate) => [`${p.id}@${rate}`, []] as [string, Latency[]])));
  for (const rate of RATES) {
    for (let r = 0; r < repeat; r++) {
      for (const peer of rotated(PEERS, r)) {
        const name = `${peer.id.replace(/-/g, '_')}_lat_${rate}_${r}`;
        const running = new Running(peer, name, 'latency');
        await untilReady(running);
        await pgbench([`${UPDATE}@4`, `${INSERT}@1`], ['-R', String(rate), '-T', '2']);
        await marker('from');
        await pgbench([`${UPDATE}@4`, `${INSERT}@1`], ['-R', String(rate), '-T', String(seconds)]);
        await marker('end');
        latency.get(`${peer.id}@${rate}`)!.push(JSON.parse(await running.line()) as Latency);
        await running.finish();
        process.stderr.write('.');
      }
    }
  }
  process.stderr.write('\n');
  const loadAfter = loadavg();

  // ---- report ----------------------------------------------------------------------------
  const summary = PEERS.map((peer) => {
    const t = throughput.get(peer.id);
    const latencyAt = (rate: number) => {
      const l = latency.get(`${peer.id}@${rate}`)!;
      return {
        achievedPerSecond: median(l.map((x) => x.latencyMs.count / (x.ms / 1000))),
        p50Ms: median(l.map((x) => x.latencyMs.p50)),
        p99Ms: median(l.map((x) => x.latencyMs.p99)),
        maxMs: median(l.map((x) => x.latencyMs.max)),
        consumerCpuPercent: median(l.map((x) => (x.cpuMs / x.ms) * 100)),
      };
    };
    const cpuPer100k = t && median(t.map((x) => (x.cpuMs / 1000 / x.changes) * 100_000));
    return {
      peer: peer.id,
      label: peer.label,
      throughput: t && {
        changes: t[0]!.changes,
        changesPerSecond: median(t.map((x) => x.changes / (x.ms / 1000))),
        consumerCpuSecondsPer100k: cpuPer100k!,
        changesPerCpuSecond: 100_000 / cpuPer100k!,
        walsenderCpuSecondsPer100k: median(t.map((x) => (x.walsenderCpuS / x.changes) * 100_000)),
        peakRssMB: median(t.map((x) => x.peakRssMB)),
      },
      latency: Object.fromEntries(RATES.map((rate) => [rate, latencyAt(rate)])),
      samples: { throughput: t ?? null, latency: Object.fromEntries(RATES.map((rate) => [rate, latency.get(`${peer.id}@${rate}`)])) },
    };
  });
  const by = (id: string) => summary.find((s) => s.peer === id)!;
  const ours = by('refstream');
  const theirs = by('debezium');
  console.log(
    `\nthroughput at saturation (${ours.throughput!.changes} changes read from a backlog; medians of ${repeat}, peers alternating)`,
  );
  console.log(`  ${'peer'.padEnd(40)} changes/s  consumer CPU s/100k  changes per CPU s  walsender CPU s/100k  peak RSS MB`);
  for (const s of summary) {
    const t = s.throughput;
    if (!t) continue;
    console.log(
      `  ${s.label.padEnd(40)} ${t.changesPerSecond.toFixed(0).padStart(9)} ${t.consumerCpuSecondsPer100k.toFixed(2).padStart(20)} ${t.changesPerCpuSecond.toFixed(0).padStart(18)} ${t.walsenderCpuSecondsPer100k.toFixed(2).padStart(21)} ${t.peakRssMB.toFixed(0).padStart(12)}`,
    );
  }
  console.log(
    `  refstream vs Debezium: ${(ours.throughput!.changesPerSecond / theirs.throughput!.changesPerSecond).toFixed(2)}x changes/s, ${(ours.throughput!.changesPerCpuSecond / theirs.throughput!.changesPerCpuSecond).toFixed(2)}x changes per consumer CPU second`,
  );
  console.log(`\ncommit → handed to the consumer (updates and inserts at a fixed rate for ${seconds} s; medians of ${repeat})`);
  console.log(`  ${'rate'.padStart(6)}  ${'peer'.padEnd(40)} achieved/s  p50 ms  p99 ms  max ms  consumer CPU %`);
  for (const rate of RATES) {
    for (const s of summary) {
      const l = s.latency[rate]!;
      console.log(
        `  ${String(rate).padStart(6)}  ${s.label.padEnd(40)} ${l.achievedPerSecond.toFixed(0).padStart(10)} ${l.p50Ms.toFixed(1).padStart(7)} ${l.p99Ms.toFixed(1).padStart(7)} ${l.maxMs.toFixed(1).padStart(7)} ${l.consumerCpuPercent.toFixed(0).padStart(15)}`,
      );
    }
    const p99 = (id: string) => by(id).latency[rate]!.p99Ms;
    console.log(
      `          p99 refstream / Debezium ${(p99('refstream') / p99('debezium')).toFixed(2)}, / Debezium poll.interval.ms=10 ${(p99('refstream') / p99('debezium-poll10')).toFixed(2)} (<1 = refstream lower)`,
    );
  }
  console.log(`\nload average after: ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`);
  const resultsDir = join(PROJECT_ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `peers-changes-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        conditions: {
          cores: cpus().length,
          loadAverageBefore: loadBefore,
          loadAverageAfter: loadAfter,
          postgres: pg.version,
          node: process.version,
          debezium: '3.6.1.Final',
          changes,
          repeat,
          seconds,
        },
        results: summary,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`results: ${file}`);
} finally {
  await pg.stop();
  rmSync(scratch, { recursive: true, force: true });
}
