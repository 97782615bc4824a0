/**
 * `startExasolTestServer`: a protocol-faithful Exasol server for tests, backed by a real
 * PostgreSQL. See docs/testing/exasol-test-server.md for what it reproduces and what not.
 */
import { ExasolFaults } from './faults.js';
import { Transcript } from './transcript.js';
import { LoginKeyPair } from './rsa-login.js';
import { createSelfSignedCertificate } from './certificate.js';
import { TunnelRegistry } from './http-transport.js';
import { startNodeListeners } from './server.js';
import { installCatalog } from './catalog.js';
import { startPostgres, type TestPostgres } from '../postgres.js';
import pg from 'pg';

export { ExasolFaults } from './faults.js';
export type { RejectLoginFault, FailStatementFault, DropTunnelFault, StallBeforePutFault, CloseWebSocketFault } from './faults.js';
export { Transcript } from './transcript.js';
export type { TranscriptEntry } from './transcript.js';
export { createSelfSignedCertificate } from './certificate.js';
export type { SelfSignedCertificate } from './certificate.js';

/** Options of {@link startExasolTestServer}. */
export interface ExasolTestServerOptions {
  /** Simulated cluster nodes, each with its own listener (default 1). */
  nodes?: 1 | 2 | 3;
  /**
   * The PostgreSQL that executes the SQL: a {@link TestPostgres} or anything with a
   * `connectionString`. Without it a private one is started and stopped with the server.
   */
  postgres?: Pick<TestPostgres, 'connectionString'>;
  /** Login user (default `sys`). */
  user?: string;
  /** Login password (default `exasol`). */
  password?: string;
  /** Also accept TLS (wss) on the node ports, with a generated self-signed certificate. */
  tls?: boolean;
  /** `releaseVersion` reported at login (default `8.34.0`, which has `PUBLIC KEY` pinning). */
  releaseVersion?: string;
  /** Highest WebSocket protocol version accepted; higher requests are downgraded (default 3). */
  maxProtocolVersion?: number;
  /** `databaseName` reported at login. */
  databaseName?: string;
  /** Append the transcript as JSON lines to this file as well. */
  transcriptPath?: string;
  /** Give up on a silent HTTP-transport peer after this many ms (default 30 000). */
  transportTimeoutMs?: number;
}

/** A running Exasol test server. */
export interface ExasolTestServer {
  /** First node's host and port. */
  readonly host: string;
  readonly port: number;
  /** All nodes (what `getHosts` reports, with their ports). */
  readonly nodes: readonly { host: string; port: number }[];
  /** Exasol DSN, e.g. `127.0.0.1..3:8563` or with TLS `127.0.0.1/FINGERPRINT:8563`. */
  readonly dsn: string;
  /** `ws://host:port` (or `wss://` with TLS) of the first node. */
  readonly url: string;
  readonly user: string;
  readonly password: string;
  /** SHA-256 of the TLS certificate (upper-case hex), when `tls` is on. */
  readonly fingerprint: string | undefined;
  /** PEM of the TLS certificate (usable as `ca`), when `tls` is on. */
  readonly certificatePem: string | undefined;
  /** False when 127.0.0.2/.3 were unusable and all nodes listen on 127.0.0.1 (distinct ports). */
  readonly loopbackAliases: boolean;
  /** The PostgreSQL behind the server. */
  readonly postgresConnectionString: string;
  /** Fault injection hooks. */
  readonly faults: ExasolFaults;
  /** Frames sent and received (credentials masked). */
  readonly transcript: Transcript;
  /** Number of tunnels that completed the handshake and were not used yet. */
  readonly openTunnels: number;
  /**
   * Severs every client connection (WebSockets and tunnels) at once, like a network failure
   * or a node restart; returns how many were cut. New connections are accepted as before.
   */
  dropConnections(): number;
  /** Closes all listeners, sessions and tunnels; stops a PostgreSQL it started. Idempotent. */
  stop(): Promise<void>;
}

/** Starts an Exasol test server. Always `stop()` it. */
export async function startExasolTestServer(options: ExasolTestServerOptions = {}): Promise<ExasolTestServer> {
  const ownPostgres = options.postgres ? undefined : await startPostgres();
  const connectionString = (options.postgres ?? ownPostgres)!.connectionString;
  const user = options.user ?? 'sys';
  const password = options.password ?? 'exasol';
  const faults = new ExasolFaults();
  const transcript = new Transcript(options.transcriptPath);
  const tunnels = new TunnelRegistry();
  try {
    const admin = new pg.Client({ connectionString });
    await admin.connect();
    try {
      await installCatalog(admin);
    } finally {
      await admin.end();
    }
    const count = options.nodes ?? 1;
    const certificate = options.tls
      ? createSelfSignedCertificate('exasol-test-server', ['127.0.0.1', '127.0.0.2', '127.0.0.3'])
      : undefined;
    let sessionCounter = 0n;
    const nodeHosts: string[] = [];
    const listeners = await startNodeListeners({
      count,
      tls: certificate,
      tunnels,
      env: {
        user,
        password,
        keys: new LoginKeyPair(),
        connectionString,
        faults,
        transcript,
        tunnels,
        nodeHosts,
        releaseVersion: options.releaseVersion ?? '8.34.0',
        databaseName: options.databaseName ?? 'exa_test',
        maxProtocolVersion: options.maxProtocolVersion ?? 3,
        transportTimeoutMs: options.transportTimeoutMs ?? 30_000,
        // Session ids beyond 2^53, as real ones are, so clients must parse them losslessly.
        nextSessionId: () => 1_750_902_846_820_319_232n + ++sessionCounter,
      },
    });
    nodeHosts.push(...listeners.nodes.map((n) => n.host));
    const first = listeners.nodes[0];
    const samePort = listeners.nodes.every((n) => n.port === first.port);
    const hostPart = count > 1 && samePort && listeners.loopbackAliases ? `${first.host}..${count}` : first.host;
    const dsn = `${hostPart}${certificate ? '/' + certificate.fingerprint : ''}:${first.port}`;
    let stopped = false;
    return {
      host: first.host,
      port: first.port,
      nodes: listeners.nodes,
      dsn,
      url: `${certificate ? 'wss' : 'ws'}://${first.host}:${first.port}`,
      user,
      password,
      fingerprint: certificate?.fingerprint,
      certificatePem: certificate?.certPem,
      loopbackAliases: listeners.loopbackAliases,
      postgresConnectionString: connectionString,
      faults,
      transcript,
      get openTunnels() {
        return tunnels.size;
      },
      dropConnections() {
        tunnels.destroyAll();
        return listeners.dropConnections();
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        tunnels.destroyAll();
        await listeners.close();
        await ownPostgres?.stop();
      },
    };
  } catch (error) {
    tunnels.destroyAll();
    await ownPostgres?.stop();
    throw error;
  }
}
