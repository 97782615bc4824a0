/**
 * Snapshot to Arrow, refstream against the tools users would pick instead, on the same embedded
 * PostgreSQL table in the same run: refstream in-process (PostgresSource) and through the CLI,
 * the ADBC PostgreSQL driver (`cursor.fetch_arrow_table()`), ConnectorX
 * (`read_sql(return_type="arrow")`, also partitioned), Debezium embedded's initial snapshot
 * (until the last snapshot record reaches the consumer) and `psql COPY binary` as the baseline.
 * Every measurement is its own process under `/usr/bin/time` (peak RSS); peers alternate and
 * rotate their order in each round so that all see the same machine load.
 *
 * Then, against the Exasol test server (3 nodes, TLS), refstream's ExasolSource snapshot
 * (parallel EXPORT, and paged fetch) against pyexasol's HTTP-transport exports (export_to_pandas,
 * export_to_callback into pyarrow, export_parallel over the three nodes into pyarrow).
 *
 *   npm run bench:peers -- [rows=2000000] [wideRows=500000] [repeat=3] [exasolRows=200000]
 *
 * (exasolRows 0 skips the Exasol part.)
 * Needs the built CLI (`npm run build`), Python 3 with venv (the peers are installed from
 * bench/peers/requirements.txt into .cache/python/) and a JDK 17+ with Maven (Debezium from
 * bench/peers/debezium/pom.xml into the local Maven repository). Writes bench/results/peers-<time>.json.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBenchTable, median, PSQL, startBenchServer } from '../lib/postgres-bench.js';
import { PROJECT_ROOT, pythonEnv } from '../../test/interop/python-env.js';
import { javaProgram } from '../../test/helpers/java-program.js';
import { createWideTable, WIDE_COLUMNS } from './wide-table.js';
import { bundledChild } from '../lib/bundled-child.js';

const rows = Number(process.argv[2] ?? 2_000_000);
const wideRows = Number(process.argv[3] ?? 500_000);
const repeat = Number(process.argv[4] ?? 3);
const exasolRows = Number(process.argv[5] ?? 200_000);
if (![rows, wideRows, repeat].every((n) => Number.isInteger(n) && n > 0) || !(Number.isInteger(exasolRows) && exasolRows >= 0)) {
  throw new Error(
    'usage: npm run bench:peers -- [rows=2000000] [wideRows=500000] [repeat=3] [exasolRows=200000] (integers; exasolRows 0 skips Exasol)',
  );
}
const CLI = join(PROJECT_ROOT, 'dist', 'cli.js');
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
// the in-process peers run compiled, as a user's program would (bench/lib/bundled-child.ts)
const CHILD = await bundledChild(join(PROJECT_ROOT, 'bench', 'lib', 'postgres-snapshot-child.ts'));
const PEER_PY = join(PROJECT_ROOT, 'bench', 'peers', 'peer.py');
const PYEXASOL_PY = join(PROJECT_ROOT, 'bench', 'peers', 'pyexasol_peer.py');
const EXASOL_CHILD = await bundledChild(join(PROJECT_ROOT, 'bench', 'peers', 'exasol-refstream-child.ts'));
const TIME = '/usr/bin/time';
if (!existsSync(TIME)) throw new Error(`${TIME} is missing (Debian/Ubuntu: apt-get install time); it reports each process's peak RSS`);

/** How one peer reads `table`: the process to run and whether it reports its own read time as JSON. */
interface Peer {
  id: string;
  label: string;
  connections: number;
  command(table: string, rows: number): { cmd: string; args: string[]; selfTimed: boolean };
}

interface Measurement {
  /** Connecting + reading into Arrow as the peer timed it; the whole process for CLI and psql. */
  readMs: number;
  processMs: number;
  /** User + system CPU time of the whole process (every thread), in seconds. */
  cpuSeconds: number;
  peakRssMB: number;
  rows: number | undefined;
}

const py = pythonEnv(join(PROJECT_ROOT, 'bench', 'peers', 'requirements.txt'));
const debezium = await javaProgram(join(PROJECT_ROOT, 'bench', 'peers', 'debezium'));
const pg = await startBenchServer();
const scratch = mkdtempSync(join(tmpdir(), 'refstream-peers-'));
const pgUri = pg.connectionString.replace(/^postgres:/, 'postgresql:');

const PEERS: Peer[] = [
  {
    id: 'psql',
    label: 'psql COPY binary > /dev/null',
    connections: 1,
    command: (t) => ({ cmd: PSQL, args: [pg.connectionString, '-c', `COPY ${t} TO STDOUT (FORMAT binary)`], selfTimed: false }),
  },
  {
    id: 'refstream-sdk',
    label: 'refstream PostgresSource (in-process)',
    connections: 1,
    command: (t) => ({
      cmd: process.execPath,
      args: [CHILD, pg.connectionString, t, '1', '65536', String(8 << 20), '1'],
      selfTimed: true,
    }),
  },
  {
    id: 'refstream-cli',
    label: 'refstream snapshot --sink arrow:- > /dev/null',
    connections: 1,
    command: (t) => ({
      cmd: process.execPath,
      args: [CLI, 'snapshot', '--source', pg.connectionString, '--table', t, '--sink', 'arrow:-', '--log-format', 'json'],
      selfTimed: false,
    }),
  },
  {
    id: 'adbc',
    label: 'ADBC postgresql fetch_arrow_table()',
    connections: 1,
    command: (t) => ({ cmd: py.python, args: [PEER_PY, 'adbc', pgUri, t], selfTimed: true }),
  },
  {
    id: 'connectorx',
    label: 'ConnectorX read_sql(return_type="arrow")',
    connections: 1,
    command: (t) => ({ cmd: py.python, args: [PEER_PY, 'connectorx', pgUri, t], selfTimed: true }),
  },
  {
    id: 'refstream-sdk-p2',
    label: 'refstream PostgresSource, parallelism 2',
    connections: 2,
    command: (t) => ({
      cmd: process.execPath,
      args: [CHILD, pg.connectionString, t, '2', '65536', String(8 << 20), '1'],
      selfTimed: true,
    }),
  },
  {
    id: 'refstream-cli-p2',
    label: 'refstream snapshot --parallelism 2',
    connections: 2,
    command: (t) => ({
      cmd: process.execPath,
      args: [
        CLI,
        'snapshot',
        '--source',
        pg.connectionString,
        '--table',
        t,
        '--sink',
        'arrow:-',
        '--parallelism',
        '2',
        '--log-format',
        'json',
      ],
      selfTimed: false,
    }),
  },
  {
    id: 'debezium',
    label: 'Debezium embedded 3.6.1 initial snapshot',
    connections: 2,
    command: (t, n) => ({
      cmd: debezium.java,
      args: [
        '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
        '-cp',
        debezium.classpath,
        'DebeziumSnapshotPeer',
        pg.connectionString,
        t,
        String(n),
      ],
      selfTimed: true,
    }),
  },
  {
    id: 'connectorx-p2',
    label: 'ConnectorX partition_on=id, partition_num=2',
    connections: 2,
    command: (t) => ({ cmd: py.python, args: [PEER_PY, 'connectorx', pgUri, t, 'id', '2'], selfTimed: true }),
  },
];

/** Runs one peer under /usr/bin/time: wall time, its own read time and peak RSS. */
function measure(peer: Peer, table: string, tableRows: number): Promise<Measurement> {
  const { cmd, args, selfTimed } = peer.command(table, tableRows);
  const rssFile = join(scratch, `${peer.id}.rss`);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(TIME, ['-f', '%M %U %S', '-o', rssFile, cmd, ...args], {
      stdio: ['ignore', selfTimed ? 'pipe' : 'ignore', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const processMs = performance.now() - started;
      if (code !== 0) return reject(new Error(`${peer.label} on ${table} exited with ${code}:\n${stderr.slice(-2000)}`));
      const [rssKB, user, system] = readFileSync(rssFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number) as [
        number,
        number,
        number,
      ];
      const peakRssMB = rssKB / 1024;
      const cpuSeconds = user + system;
      if (!selfTimed) return resolve({ readMs: processMs, processMs, cpuSeconds, peakRssMB, rows: undefined });
      const report = JSON.parse(stdout.trim().split('\n').pop()!) as { ms?: number; rows?: number; runs?: { ms: number; rows: number }[] };
      const own = report.runs ? report.runs[0]! : { ms: report.ms!, rows: report.rows! };
      resolve({ readMs: own.ms, processMs, cpuSeconds, peakRssMB, rows: own.rows });
    });
  });
}

interface Row {
  peer: string;
  label: string;
  connections: number;
  readMs: number;
  processMs: number;
  /** User + system CPU time of the peer's process, in seconds (the database server's is not in it). */
  cpuSeconds: number;
  rowsPerSecond: number;
  /** Baseline read time / this peer's (psql for PostgreSQL; pyexasol into Arrow for Exasol): > 1 is faster. */
  ratio: number;
  peakRssMB: number;
  samplesReadMs: number[];
}

async function compare(peers: Peer[], table: string, tableRows: number, baseline: string): Promise<Row[]> {
  const samples = new Map<string, Measurement[]>(peers.map((p) => [p.id, []]));
  for (const peer of peers) await measure(peer, table, tableRows); // warm caches, JIT and the server's buffers
  for (let round = 0; round < repeat; round++) {
    // Each round starts one peer later, so no peer always runs right after the same other one.
    for (let k = 0; k < peers.length; k++) {
      const peer = peers[(k + round) % peers.length]!;
      const m = await measure(peer, table, tableRows);
      if (m.rows !== undefined && m.rows !== tableRows)
        throw new Error(`${peer.label} read ${m.rows} rows of ${table}, expected ${tableRows}`);
      samples.get(peer.id)!.push(m);
      process.stderr.write('.');
    }
  }
  process.stderr.write('\n');
  const baselineMs = median(samples.get(baseline)!.map((m) => m.readMs));
  return peers.map((peer) => {
    const s = samples.get(peer.id)!;
    const readMs = median(s.map((m) => m.readMs));
    return {
      peer: peer.id,
      label: peer.label,
      connections: peer.connections,
      readMs,
      processMs: median(s.map((m) => m.processMs)),
      cpuSeconds: median(s.map((m) => m.cpuSeconds)),
      rowsPerSecond: tableRows / (readMs / 1000),
      ratio: baselineMs / readMs,
      peakRssMB: median(s.map((m) => m.peakRssMB)),
      samplesReadMs: s.map((m) => Math.round(m.readMs)),
    };
  });
}

function print(title: string, table: Row[], baseline: string): void {
  console.log(`\n${title}`);
  console.log(`  ${'peer'.padEnd(46)} conns  read ms  M rows/s  vs ${baseline.padEnd(5)}  process ms  CPU s  peak RSS MB`);
  for (const r of table) {
    console.log(
      `  ${r.label.padEnd(46)} ${String(r.connections).padStart(5)} ${r.readMs.toFixed(0).padStart(8)} ${(r.rowsPerSecond / 1e6).toFixed(2).padStart(9)} ${r.ratio.toFixed(2).padStart(8)}x ${r.processMs.toFixed(0).padStart(11)} ${r.cpuSeconds.toFixed(2).padStart(6)} ${r.peakRssMB.toFixed(0).padStart(12)}`,
    );
  }
}

function printGoals(table: Row[]): void {
  const by = (id: string) => table.find((r) => r.peer === id)!;
  const ahead = (a: string, b: string) => `${(by(b).readMs / by(a).readMs).toFixed(2)}x`;
  console.log(
    `  refstream in-process vs ADBC ${ahead('refstream-sdk', 'adbc')}, vs ConnectorX ${ahead('refstream-sdk', 'connectorx')}, vs Debezium ${ahead('refstream-sdk', 'debezium')}; parallelism 2 vs ConnectorX partitioned ${ahead('refstream-sdk-p2', 'connectorx-p2')} (CLI: ${ahead('refstream-cli-p2', 'connectorx-p2')}); >1 = refstream faster`,
  );
}

/** refstream's Exasol snapshot against pyexasol's exports, on the 3-node TLS test server (sharing the bench PostgreSQL). */
async function compareExasol(): Promise<Row[]> {
  const { startExasolTestServer } = await import('../../src/testing/index.js');
  const { ExasolConnection } = await import('../../src/connectors/exasol/index.js');
  const server = await startExasolTestServer({ nodes: 3, tls: true, postgres: pg });
  server.transcript.enabled = false;
  try {
    const admin = await ExasolConnection.connect({
      host: server.host,
      port: server.port,
      user: server.user,
      password: server.password,
      tls: true,
      fingerprint: server.fingerprint,
    });
    await admin.execute('CREATE SCHEMA PEERS');
    await admin.execute(
      'CREATE TABLE PEERS.T (ID DECIMAL(18,0) PRIMARY KEY, NAME VARCHAR(100), AMOUNT DECIMAL(12,2), UPDATED_AT TIMESTAMP(6), ACTIVE BOOLEAN, NOTE VARCHAR(200))',
    );
    await admin.execute(
      `INSERT INTO PEERS.T SELECT g, 'customer ' || g, g * 1.25, TIMESTAMP '2024-01-01 00:00:00.123456' + g * INTERVAL '1' SECOND, g % 2 = 0, CASE WHEN g % 3 = 0 THEN NULL ELSE 'note for row ' || g END FROM generate_series(1, ${exasolRows}) g`,
    );
    await admin.close();
    const ours = JSON.stringify({
      host: server.host,
      port: server.port,
      user: server.user,
      password: server.password,
      fingerprint: server.fingerprint,
      schema: 'PEERS',
      table: 'T',
    });
    const theirs = JSON.stringify({ dsn: server.dsn, user: server.user, password: server.password, table: 'PEERS.T', nodes: 3 });
    const peers: Peer[] = [
      {
        id: 'pyexasol-arrow',
        label: 'pyexasol export_to_callback → pyarrow.csv',
        connections: 1,
        command: () => ({ cmd: py.python, args: [PYEXASOL_PY, 'arrow', theirs], selfTimed: true }),
      },
      {
        id: 'pyexasol-pandas',
        label: 'pyexasol export_to_pandas',
        connections: 1,
        command: () => ({ cmd: py.python, args: [PYEXASOL_PY, 'pandas', theirs], selfTimed: true }),
      },
      {
        id: 'pyexasol-parallel',
        label: 'pyexasol export_parallel ×3 → pyarrow.csv',
        connections: 3,
        command: () => ({ cmd: py.python, args: [PYEXASOL_PY, 'parallel-arrow', theirs], selfTimed: true }),
      },
      {
        id: 'refstream-export',
        label: 'refstream ExasolSource, parallel EXPORT ×3',
        connections: 3,
        command: () => ({ cmd: process.execPath, args: [EXASOL_CHILD, ours, 'export'], selfTimed: true }),
      },
      {
        id: 'refstream-fetch',
        label: 'refstream ExasolSource, paged fetch',
        connections: 1,
        command: () => ({ cmd: process.execPath, args: [EXASOL_CHILD, ours, 'fetch'], selfTimed: true }),
      },
    ];
    const results = await compare(peers, 'PEERS.T', exasolRows, 'pyexasol-arrow');
    print(
      `${exasolRows} rows on the Exasol test server (3 nodes, TLS; DECIMAL(18,0), VARCHAR, DECIMAL(12,2), TIMESTAMP(6), BOOLEAN, VARCHAR null)`,
      results,
      'pyexa',
    );
    const by = (id: string) => results.find((r) => r.peer === id)!;
    console.log(
      `  refstream parallel EXPORT vs pyexasol export_parallel ${(by('pyexasol-parallel').readMs / by('refstream-export').readMs).toFixed(2)}x, vs export_to_pandas ${(by('pyexasol-pandas').readMs / by('refstream-export').readMs).toFixed(2)}x; >1 = refstream faster (the test server's own CSV work is in every number)`,
    );
    return results;
  } finally {
    await server.stop();
  }
}

try {
  const loadBefore = loadavg();
  const pipFreeze = await new Promise<string>((resolve) => {
    const child = spawn(py.python, ['-m', 'pip', 'freeze', '--disable-pip-version-check'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', () => resolve(out));
  });
  const versions = Object.fromEntries(
    pipFreeze
      .split('\n')
      .filter((l) => /^(pyarrow|adbc-driver-postgresql|adbc-driver-manager|connectorx|pyexasol|pandas)==/i.test(l))
      .map((l) => l.split('==') as [string, string]),
  );
  console.log(
    `load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} cores; PostgreSQL ${pg.version}; Node ${process.version}; ${Object.entries(
      versions,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  console.log(
    `medians of ${repeat} alternating rounds after one warm-up round; read ms = connect + read into Arrow as each peer times itself (in-process peers) or the whole process (CLI, psql)`,
  );
  await createBenchTable(pg, 'public.t', rows);
  const standard = await compare(PEERS, 'public.t', rows, 'psql');
  print(`${rows} rows, standard shape (id int8 pk, text, numeric(12,2), timestamptz, bool, nullable text)`, standard, 'psql');
  printGoals(standard);
  await pg.query('DROP TABLE public.t');
  await createWideTable(pg, 'public.wide', wideRows);
  const wide = await compare(PEERS, 'public.wide', wideRows, 'psql');
  await pg.query('DROP TABLE public.wide');
  print(
    `${wideRows} rows, wide shape (${WIDE_COLUMNS} columns: int2/4/8, float4/8, numeric, text, varchar, bool, date, timestamp(tz), uuid, bytea; some nullable)`,
    wide,
    'psql',
  );
  printGoals(wide);
  const exasol = exasolRows > 0 ? await compareExasol() : undefined;
  const loadAfter = loadavg();
  console.log(`\nload average after: ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`);

  const resultsDir = join(PROJECT_ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `peers-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const conditions = {
    cores: cpus().length,
    loadAverageBefore: loadBefore,
    loadAverageAfter: loadAfter,
    postgres: pg.version,
    node: process.version,
    python: versions,
    repeat,
  };
  writeFileSync(
    file,
    JSON.stringify(
      {
        conditions,
        standard: { rows, results: standard },
        wide: { rows: wideRows, columns: WIDE_COLUMNS, results: wide },
        exasol: exasol && { rows: exasolRows, results: exasol },
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
