/**
 * A small Exasol WebSocket API client: RSA login, TLS with certificate fingerprint pinning,
 * optional zlib compression, strictly ordered commands, lossless numbers, streaming `fetch`
 * with a byte budget and `abortQuery` on cancellation.
 *
 * The official `@exasol/exasol-driver-ts` buffers whole results and rounds numbers beyond
 * 2^53, so the data path of refstream is built on this client instead.
 */
import { constants, createPublicKey, publicEncrypt } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { deflateSync, inflateSync } from 'node:zlib';
import type { TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import { abortError, ConnectorError, definite, transient } from '../../sdk/errors.js';
import { connectionLost, mapExasolException, type ExasolException } from './errors.js';
import { parseLosslessJson, stringifyRequest } from './lossless-json.js';

/** Where and how to connect. */
export interface ExasolConnectOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Use wss (Exasol 8 is TLS-only). */
  tls: boolean;
  /** SHA-256 of the server certificate (hex, colons optional). Without it the certificate must be trusted. */
  fingerprint?: string | undefined;
  /** Compress every frame after login with zlib. */
  compression?: boolean;
  /** Open this schema at login. */
  schema?: string | undefined;
  /** Give up connecting after this many ms (default 10 000). */
  connectTimeoutMs?: number;
  /** Statement timeout in seconds (0 = none). */
  queryTimeoutSeconds?: number;
  /** Shown in Exasol's session views. */
  clientName?: string;
}

/** Session information from the login reply. */
export interface ExasolSessionInfo {
  sessionId: string;
  protocolVersion: number;
  releaseVersion: string;
  databaseName: string;
  maxDataMessageSize: number;
  timeZone: string;
}

/** One column of a result set, as Exasol describes it. */
export interface ExasolResultColumn {
  name: string;
  dataType: {
    type: string;
    precision?: number;
    scale?: number;
    size?: number;
    srid?: number;
    withLocalTimeZone?: boolean;
    fraction?: number;
  };
}

/** A result set as returned by `execute` (rows may be behind a handle). */
export interface ExasolResultSet {
  resultSetHandle?: number;
  numColumns: number;
  numRows: number;
  numRowsInMessage: number;
  columns: ExasolResultColumn[];
  /** Column-major values (present when `numRowsInMessage > 0`). */
  data?: unknown[][];
}

/** One result of `execute`. */
export type ExasolResult = { resultType: 'rowCount'; rowCount: number } | { resultType: 'resultSet'; resultSet: ExasolResultSet };

/** A page of rows from a query: column-major values. */
export interface ExasolPage {
  columns: ExasolResultColumn[];
  /** `data[c][r]`. */
  data: unknown[][];
  numRows: number;
}

interface Reply {
  status: 'ok' | 'error';
  responseData?: Record<string, unknown>;
  exception?: ExasolException;
  attributes?: Record<string, unknown>;
}

/** Default `fetch` budget: 4 MiB per message. */
export const DEFAULT_FETCH_BYTES = 4 * 1024 * 1024;

/** Session settings pinned at connect so value text never depends on server or user defaults. */
export const SESSION_SETUP = [
  "ALTER SESSION SET TIME_ZONE = 'UTC'",
  "ALTER SESSION SET NLS_DATE_FORMAT = 'YYYY-MM-DD'",
  "ALTER SESSION SET NLS_TIMESTAMP_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF9'",
  "ALTER SESSION SET NLS_NUMERIC_CHARACTERS = '.,'",
  "ALTER SESSION SET HASHTYPE_FORMAT = 'HEX'",
];

/** Normalises a fingerprint to upper-case hex without separators. */
export function normaliseFingerprint(fingerprint: string): string {
  return fingerprint.replace(/[^0-9a-f]/gi, '').toUpperCase();
}

/** A logged-in Exasol session. Commands run one at a time, in order. */
export class ExasolConnection {
  private readonly waiters: { resolve: (reply: Reply) => void; reject: (error: Error) => void }[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private compressed = false;
  private lost: ConnectorError | undefined;
  private closing = false;
  /** Attributes as last echoed by the server. */
  readonly attributes: Record<string, unknown> = {};
  session!: ExasolSessionInfo;

  private constructor(
    private readonly ws: WebSocket,
    readonly host: string,
    readonly port: number,
  ) {
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('close', () => this.fail(connectionLost(`WebSocket to ${host}:${port} closed`)));
    ws.on('error', (error) => this.fail(connectionLost(`WebSocket error on ${host}:${port}`, error)));
  }

  /** Connects, logs in and pins the session settings. */
  static async connect(options: ExasolConnectOptions): Promise<ExasolConnection> {
    const ws = await openWebSocket(options);
    const connection = new ExasolConnection(ws, options.host, options.port);
    try {
      await connection.login(options);
      await connection.executeBatch(SESSION_SETUP);
      return connection;
    } catch (error) {
      connection.destroy();
      throw error;
    }
  }

  /** True until the connection failed or was closed. */
  get isOpen(): boolean {
    return this.lost === undefined && !this.closing;
  }

  private async login(options: ExasolConnectOptions): Promise<void> {
    const keyReply = await this.request({ command: 'login', protocolVersion: 3 }, 'login');
    const pem = String(keyReply.responseData?.publicKeyPem ?? '');
    let encrypted: string;
    try {
      encrypted = publicEncrypt(
        { key: createPublicKey(pem), padding: constants.RSA_PKCS1_PADDING },
        Buffer.from(options.password, 'utf8'),
      ).toString('base64');
    } catch (error) {
      throw definite('AUTHENTICATION_FAILED', 'the server sent an unusable login public key', { cause: error });
    }
    const attributes: Record<string, unknown> = { autocommit: true, queryTimeout: options.queryTimeoutSeconds ?? 0 };
    if (options.schema) attributes.currentSchema = options.schema;
    const reply = await this.request(
      {
        username: options.user,
        password: encrypted,
        useCompression: options.compression === true,
        clientName: options.clientName ?? 'refstream',
        driverName: 'refstream-exasol',
        clientOs: process.platform,
        clientOsUsername: safeUserName(),
        clientRuntime: `node ${process.version}`,
        clientVersion: '0.1.0',
        attributes,
      },
      'login',
    );
    const data = reply.responseData ?? {};
    this.session = {
      sessionId: String(data.sessionId),
      protocolVersion: Number(data.protocolVersion ?? 1),
      releaseVersion: String(data.releaseVersion ?? ''),
      databaseName: String(data.databaseName ?? ''),
      maxDataMessageSize: Number(data.maxDataMessageSize ?? 64 * 1024 * 1024),
      timeZone: String(data.timeZone ?? ''),
    };
    // Every frame after the login reply is compressed, in both directions.
    this.compressed = options.compression === true;
  }

  /** Runs one statement. With `signal`, an abort sends `abortQuery` and rejects with an AbortError. */
  async execute(sqlText: string, opts: { signal?: AbortSignal | undefined; table?: string | undefined } = {}): Promise<ExasolResult> {
    const reply = await this.command(
      { command: 'execute', sqlText },
      opts.table !== undefined ? `statement on ${opts.table}` : 'statement',
      opts.signal,
    );
    const results = (reply.responseData?.results ?? []) as ExasolResult[];
    return results[0] ?? { resultType: 'rowCount', rowCount: 0 };
  }

  /** Runs several statements in one request. */
  async executeBatch(sqlTexts: string[], opts: { signal?: AbortSignal | undefined } = {}): Promise<ExasolResult[]> {
    const reply = await this.command({ command: 'executeBatch', sqlTexts }, 'statement batch', opts.signal);
    return (reply.responseData?.results ?? []) as ExasolResult[];
  }

  /** Fetches up to `numBytes` of rows of an open result set. */
  async fetch(
    resultSetHandle: number,
    startPosition: number,
    numBytes: number,
    signal?: AbortSignal,
  ): Promise<{ numRows: number; data: unknown[][] }> {
    const reply = await this.command({ command: 'fetch', resultSetHandle, startPosition, numBytes }, 'fetch', signal);
    const data = reply.responseData ?? {};
    return { numRows: Number(data.numRows ?? 0), data: (data.data ?? []) as unknown[][] };
  }

  /** Closes result sets (best effort). */
  async closeResultSet(handles: number[]): Promise<void> {
    if (handles.length === 0 || !this.isOpen) return;
    await this.command({ command: 'closeResultSet', resultSetHandles: handles }, 'closeResultSet').catch(() => undefined);
  }

  /** The node addresses of the cluster (`getHosts`). */
  async getHosts(hostIp: string): Promise<string[]> {
    const reply = await this.command({ command: 'getHosts', hostIp }, 'getHosts');
    return ((reply.responseData?.nodes ?? []) as unknown[]).map(String);
  }

  /** Sets session attributes (e.g. `{ autocommit: false }`). */
  async setAttributes(attributes: Record<string, unknown>): Promise<void> {
    await this.command({ command: 'setAttributes', attributes }, 'setAttributes');
  }

  /**
   * Runs a query and yields its rows page by page: the inline rows, then `fetch` pages of at
   * most `fetchBytes` each. The result set is closed when the iteration ends.
   */
  async *query(
    sqlText: string,
    opts: { fetchBytes?: number; signal?: AbortSignal | undefined; table?: string | undefined } = {},
  ): AsyncGenerator<ExasolPage> {
    const result = await this.execute(sqlText, opts);
    if (result.resultType !== 'resultSet')
      throw definite('QUERY_FAILED', 'the statement returned no result set', opts.table !== undefined ? { table: opts.table } : {});
    const rs = result.resultSet;
    const handle = rs.resultSetHandle;
    try {
      if (rs.numRowsInMessage > 0 && rs.data) yield { columns: rs.columns, data: rs.data, numRows: rs.numRowsInMessage };
      if (handle === undefined || handle < 0) return;
      let position = rs.numRowsInMessage;
      while (position < rs.numRows) {
        const page = await this.fetch(handle, position, opts.fetchBytes ?? DEFAULT_FETCH_BYTES, opts.signal);
        if (page.numRows === 0) break;
        position += page.numRows;
        yield { columns: rs.columns, data: page.data, numRows: page.numRows };
      }
    } finally {
      if (handle !== undefined && handle >= 0) await this.closeResultSet([handle]);
    }
  }

  /** Asks the server to abort the running statement. No reply comes; the statement fails. */
  abortQuery(): void {
    if (!this.isOpen) return;
    try {
      this.send({ command: 'abortQuery' });
    } catch {
      // the connection is going away anyway
    }
  }

  /** Sends `disconnect` and closes the socket. Idempotent. */
  async close(): Promise<void> {
    if (this.closing) return;
    if (this.lost === undefined) {
      const bye = this.command({ command: 'disconnect' }, 'disconnect').catch(() => undefined);
      await Promise.race([bye, new Promise((r) => setTimeout(r, 500).unref())]);
    }
    this.closing = true;
    this.destroy();
  }

  /** Closes the socket at once (pending commands fail with CONNECTION_LOST). */
  destroy(): void {
    this.closing = true;
    this.fail(definite('CLOSED', 'the Exasol connection was closed'));
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }

  /** Queues a command; with `signal`, an abort while it runs sends `abortQuery`. */
  private command(message: Record<string, unknown>, what: string, signal?: AbortSignal): Promise<Reply> {
    const run = async (): Promise<Reply> => {
      if (signal?.aborted) throw abortError(signal);
      let aborted = false;
      const onAbort = () => {
        aborted = true;
        this.abortQuery();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        return await this.request(message, what);
      } catch (error) {
        if (aborted || (ConnectorError.is(error, 'QUERY_ABORTED') && signal?.aborted)) throw abortError(signal);
        throw error;
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Sends one message and waits for its (in-order) reply; maps error replies. */
  private request(message: Record<string, unknown>, what: string): Promise<Reply> {
    if (this.lost) return Promise.reject(this.lost);
    return new Promise<Reply>((resolve, reject) => {
      this.waiters.push({
        resolve: (reply) => {
          if (reply.attributes) Object.assign(this.attributes, reply.attributes);
          if (reply.status === 'ok') resolve(reply);
          else reject(mapExasolException(reply.exception ?? { text: 'error reply without exception', sqlCode: '00000' }, { what }));
        },
        reject,
      });
      try {
        this.send(message);
      } catch (error) {
        this.fail(connectionLost(`sending ${what}`, error));
      }
    });
  }

  private send(message: Record<string, unknown>): void {
    const text = stringifyRequest(message);
    if (this.compressed) this.ws.send(deflateSync(Buffer.from(text, 'utf8'), { level: 1 }), { binary: true });
    else this.ws.send(text);
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    const waiter = this.waiters.shift();
    if (!waiter) return;
    try {
      const text = isBinary ? inflateSync(data).toString('utf8') : data.toString('utf8');
      waiter.resolve(parseLosslessJson(text) as Reply);
    } catch (error) {
      waiter.reject(transient('PROTOCOL_ERROR', 'unreadable reply from Exasol', { cause: error }));
    }
  }

  private fail(error: ConnectorError): void {
    if (!this.lost) this.lost = error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.lost);
  }
}

function safeUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return hostname();
  }
}

/** Opens the WebSocket, checking the certificate fingerprint before any credentials are sent. */
async function openWebSocket(options: ExasolConnectOptions): Promise<WebSocket> {
  const url = `${options.tls ? 'wss' : 'ws'}://${options.host}:${options.port}`;
  const pinned = options.fingerprint ? normaliseFingerprint(options.fingerprint) : undefined;
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    maxPayload: 1024 * 1024 * 1024,
    handshakeTimeout: options.connectTimeoutMs ?? 10_000,
    ...(options.tls && pinned ? { rejectUnauthorized: false } : {}),
  });
  return new Promise<WebSocket>((resolve, reject) => {
    let pinError: ConnectorError | undefined;
    ws.once('upgrade', (response) => {
      if (!options.tls || !pinned) return;
      const socket = response.socket as TLSSocket;
      const actual = normaliseFingerprint(socket.getPeerCertificate?.().fingerprint256 ?? '');
      if (actual !== pinned) {
        pinError = definite(
          'TLS_FINGERPRINT_MISMATCH',
          `the certificate of ${options.host}:${options.port} does not match the pinned fingerprint`,
          {
            hint: 'check the fingerprint in the DSN/config against the database certificate',
          },
        );
        ws.terminate();
      }
    });
    ws.once('open', () => {
      ws.removeAllListeners('error');
      if (pinError) reject(pinError);
      else resolve(ws);
    });
    ws.once('error', (error: Error & { code?: string }) => {
      if (pinError) return reject(pinError);
      const refused = error.code === 'ECONNREFUSED';
      reject(
        transient(
          refused ? 'CONNECTION_REFUSED' : 'CONNECTION_LOST',
          `cannot connect to Exasol at ${options.host}:${options.port}: ${error.code ?? error.message}`,
          {
            cause: error,
            hint: 'check host, port and TLS settings; the runner retries',
          },
        ),
      );
    });
    ws.once('close', () => reject(pinError ?? connectionLost(`WebSocket to ${options.host}:${options.port} closed during connect`)));
  });
}
