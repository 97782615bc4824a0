/**
 * One Exasol WebSocket session: the login handshake (RSA-encrypted password), then the JSON
 * commands — execute, executeBatch, fetch, closeResultSet, getHosts, get/setAttributes,
 * abortQuery, disconnect — answered strictly in request order, optionally zlib-compressed.
 */
import { deflateSync, inflateSync } from 'node:zlib';
import type { WebSocket, RawData } from 'ws';
import type pg from 'pg';
import { writeJson } from './json.js';
import { ExasolError, SqlCode, authenticationFailed } from './errors.js';
import { maskCredentials, type Transcript } from './transcript.js';
import type { ExasolFaults } from './faults.js';
import type { LoginKeyPair } from './rsa-login.js';
import { INLINE_ROW_LIMIT, type StoredResultSet } from './result-sets.js';
import { SqlExecutor, openSessionConnection, type SessionSettings, type StatementResult } from './sql-executor.js';
import type { TunnelRegistry } from './http-transport.js';

/** What a session needs from its server. */
export interface SessionEnvironment {
  user: string;
  password: string;
  keys: LoginKeyPair;
  connectionString: string;
  faults: ExasolFaults;
  transcript: Transcript;
  tunnels: TunnelRegistry;
  nodeHosts: string[];
  releaseVersion: string;
  databaseName: string;
  maxProtocolVersion: number;
  transportTimeoutMs: number;
  nextSessionId(): bigint;
}

type Message = Record<string, unknown>;

/** Largest fetch budget Exasol accepts (64 MiB). */
const MAX_FETCH_BYTES = 64 * 1024 * 1024;

export class WebSocketSession {
  private state: 'new' | 'credentials' | 'ready' | 'closed' = 'new';
  private protocolVersion = 1;
  private compression = false;
  private sessionId = 0n;
  private client: pg.Client | undefined;
  private executor: SqlExecutor | undefined;
  private readonly resultSets = new Map<number, StoredResultSet>();
  private nextHandle = 1;
  private queue: Promise<void> = Promise.resolve();
  private readonly settings: SessionSettings = {
    currentSchema: '',
    autocommit: true,
    queryTimeout: 0,
    timezone: 'UTC',
    resultSetMaxRows: 0,
    timestampFractionDigits: 6,
  };
  private snapshotTransactions = false;
  private feedbackInterval = 1;

  constructor(
    private readonly ws: WebSocket,
    private readonly node: number,
    private readonly connection: number,
    private readonly env: SessionEnvironment,
  ) {
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('close', () => void this.close());
    ws.on('error', () => void this.close());
  }

  private closing: Promise<void> | undefined;

  /** Ends the session: aborts a running statement, closes the PostgreSQL connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.state = 'closed';
    if (this.ws.readyState === this.ws.OPEN) this.ws.terminate();
    // A statement still running (e.g. an EXPORT waiting for its tunnel) must not outlive the session.
    if (this.executor?.running) await this.executor.abort();
    await this.queue.catch(() => {});
    await this.client?.end().catch(() => {});
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    let text: string;
    const raw = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    try {
      text = isBinary && this.compression ? inflateSync(raw).toString('utf8') : raw.toString('utf8');
    } catch {
      this.ws.close(1002, 'invalid compressed frame');
      return;
    }
    let message: Message;
    try {
      message = JSON.parse(text) as Message;
    } catch {
      this.record('in', text);
      this.enqueue(async () => this.sendError(new ExasolError('Invalid JSON request', SqlCode.general)));
      return;
    }
    this.record('in', message.command === undefined || message.command === 'login' ? maskCredentials(text) : text);
    // abortQuery bypasses the queue: it must reach the statement that is running now.
    if (message.command === 'abortQuery') {
      void this.executor?.abort();
      return;
    }
    this.enqueue(() => this.handle(message));
  }

  private enqueue(task: () => Promise<void>): void {
    this.queue = this.queue.then(task).catch(() => {
      /* errors are answered inside the task */
    });
  }

  private async handle(message: Message): Promise<void> {
    if (this.state === 'closed') return;
    try {
      if (this.state === 'new') return await this.loginStart(message);
      if (this.state === 'credentials') return await this.loginFinish(message);
      await this.command(message);
    } catch (error) {
      if (error instanceof ExasolError) return this.sendError(error);
      return this.sendError(new ExasolError(`internal error: ${(error as Error).message}`, SqlCode.general));
    }
  }

  private async loginStart(message: Message): Promise<void> {
    if (message.command === 'loginToken')
      throw new ExasolError('OpenID token login is not supported by the test server', SqlCode.authentication);
    if (message.command !== 'login') throw new ExasolError('login expected', SqlCode.authentication);
    const requested = Number(message.protocolVersion ?? 1);
    // Exasol accepts a too-high version and downgrades to what it supports.
    this.protocolVersion = Math.max(1, Math.min(requested, this.env.maxProtocolVersion));
    this.state = 'credentials';
    this.send({ status: 'ok', responseData: this.env.keys.publicKey });
  }

  private async loginFinish(message: Message): Promise<void> {
    const fault = this.env.faults.take('rejectLogin');
    const password = typeof message.password === 'string' ? this.env.keys.decryptPassword(message.password) : undefined;
    if (fault || message.username !== this.env.user || password !== this.env.password) {
      this.state = 'new';
      throw fault
        ? new ExasolError(fault.text ?? authenticationFailed().text, fault.sqlCode ?? SqlCode.authentication)
        : authenticationFailed();
    }
    this.client = await openSessionConnection(this.env.connectionString);
    this.executor = new SqlExecutor(this.client, this.env.connectionString, this.settings, this.env.faults, {
      registry: this.env.tunnels,
      faults: this.env.faults,
      transcript: this.env.transcript,
      timeoutMs: this.env.transportTimeoutMs,
      publicKeySupported: supportsPublicKeyPins(this.env.releaseVersion),
    });
    this.sessionId = this.env.nextSessionId();
    const attributes = (message.attributes ?? {}) as Message;
    await this.applyAttributes(attributes);
    this.state = 'ready';
    this.send({
      status: 'ok',
      responseData: {
        protocolVersion: this.protocolVersion,
        sessionId: this.sessionId,
        releaseVersion: this.env.releaseVersion,
        databaseName: this.env.databaseName,
        productName: 'EXASolution',
        maxDataMessageSize: 67_108_864,
        maxIdentifierLength: 128,
        maxVarcharLength: 2_000_000,
        identifierQuoteString: '"',
        timeZone: this.settings.timezone,
        timeZoneBehavior: 'INVALID SHIFT AMBIGUOUS ST',
      },
    });
    // Compression starts with the first message after the login reply.
    this.compression = message.useCompression === true;
  }

  private async command(message: Message): Promise<void> {
    const executor = this.executor!;
    for (const key of Object.keys(executor.changed)) delete executor.changed[key];
    if (message.attributes) await this.applyAttributes(message.attributes as Message);
    switch (message.command) {
      case 'execute': {
        const result = await this.withHeartbeat(() => executor.execute(String(message.sqlText ?? '')));
        return this.sendOk({ numResults: 1, results: [this.resultToWire(result)] });
      }
      case 'executeBatch': {
        const texts = Array.isArray(message.sqlTexts) ? message.sqlTexts.map(String) : [];
        const results: Record<string, unknown>[] = [];
        await this.withHeartbeat(async () => {
          for (const text of texts) results.push(this.resultToWire(await executor.execute(text)));
        });
        return this.sendOk({ numResults: results.length, results });
      }
      case 'fetch':
        return this.fetch(message);
      case 'closeResultSet': {
        const handles = Array.isArray(message.resultSetHandles) ? message.resultSetHandles : [];
        for (const handle of handles) this.resultSets.delete(Number(handle));
        return this.sendOk(undefined);
      }
      case 'getHosts':
        return this.sendOk({ numNodes: this.env.nodeHosts.length, nodes: this.env.nodeHosts });
      case 'getAttributes':
        return this.send({ status: 'ok', attributes: this.allAttributes() });
      case 'setAttributes':
        return this.sendOk(undefined);
      case 'disconnect':
        this.sendOk(undefined);
        this.ws.close(1000);
        return;
      case 'createPreparedStatement':
      case 'executePreparedStatement':
      case 'closePreparedStatement':
      case 'enterParallel':
      case 'requestParallelConnections':
        throw new ExasolError(`command ${String(message.command)} is not supported by the test server`, SqlCode.general);
      default:
        throw new ExasolError(`unknown command ${String(message.command)}`, SqlCode.general);
    }
  }

  /** Sends Pong frames every `feedbackInterval` seconds while a statement runs, as Exasol does. */
  private async withHeartbeat<T>(run: () => Promise<T>): Promise<T> {
    const interval = this.feedbackInterval > 0 ? setInterval(() => this.ws.pong(), this.feedbackInterval * 1000) : undefined;
    try {
      return await run();
    } finally {
      clearInterval(interval);
    }
  }

  private fetch(message: Message): void {
    if (this.env.faults.take('closeWebSocketMidFetch')) {
      this.ws.terminate();
      return;
    }
    const handle = Number(message.resultSetHandle);
    const resultSet = this.resultSets.get(handle);
    if (!resultSet) throw new ExasolError(`Result set handle ${handle} not found`, SqlCode.general);
    const start = Number(message.startPosition ?? 0);
    const numBytes = Math.min(Number(message.numBytes ?? 1024 * 1024), MAX_FETCH_BYTES);
    if (!Number.isInteger(start) || start < 0 || start > resultSet.numRows) {
      throw new ExasolError(`invalid start position ${String(message.startPosition)}`, SqlCode.general);
    }
    this.sendOk(resultSet.fetch(start, numBytes));
  }

  private resultToWire(result: StatementResult): Record<string, unknown> {
    if (result.resultType === 'rowCount') return { resultType: 'rowCount', rowCount: result.rowCount };
    const set = result.resultSet;
    let handle: number | undefined;
    if (set.numRows >= INLINE_ROW_LIMIT) {
      handle = this.nextHandle++;
      this.resultSets.set(handle, set);
    }
    return { resultType: 'resultSet', resultSet: set.toWire(handle, this.protocolVersion) };
  }

  private async applyAttributes(attributes: Message): Promise<void> {
    const executor = this.executor!;
    for (const [name, value] of Object.entries(attributes)) {
      switch (name) {
        case 'autocommit':
          await executor.setAutocommit(value === true);
          executor.changed.autocommit = value === true;
          break;
        case 'currentSchema':
          if (typeof value === 'string' && value !== this.settings.currentSchema) await executor.setSchema(value);
          break;
        case 'queryTimeout':
          await executor.setQueryTimeout(Number(value));
          executor.changed.queryTimeout = Number(value);
          break;
        case 'resultSetMaxRows':
          this.settings.resultSetMaxRows = Number(value);
          executor.changed.resultSetMaxRows = Number(value);
          break;
        case 'snapshotTransactionsEnabled':
          this.snapshotTransactions = value === true;
          executor.changed.snapshotTransactionsEnabled = this.snapshotTransactions;
          break;
        case 'feedbackInterval':
          this.feedbackInterval = Number(value);
          executor.changed.feedbackInterval = this.feedbackInterval;
          break;
        default:
          // Read-only or client-side attributes (compressionEnabled, timezone, …) are ignored.
          break;
      }
    }
  }

  private allAttributes(): Record<string, unknown> {
    return {
      autocommit: this.settings.autocommit,
      compressionEnabled: this.compression,
      currentSchema: this.settings.currentSchema,
      dateFormat: 'YYYY-MM-DD',
      dateLanguage: 'ENG',
      datetimeFormat: `YYYY-MM-DD HH24:MI:SS${this.settings.timestampFractionDigits ? '.FF' + this.settings.timestampFractionDigits : ''}`,
      defaultLikeEscapeCharacter: '\\',
      feedbackInterval: this.feedbackInterval,
      numericCharacters: '.,',
      openTransaction: this.executor?.inTransaction ?? false,
      queryTimeout: this.settings.queryTimeout,
      resultSetMaxRows: this.settings.resultSetMaxRows,
      snapshotTransactionsEnabled: this.snapshotTransactions,
      timestampUtcEnabled: false,
      timezone: this.settings.timezone,
      timeZoneBehavior: 'INVALID SHIFT AMBIGUOUS ST',
    };
  }

  private sendOk(responseData: unknown): void {
    const changed = this.executor ? { ...this.executor.changed } : {};
    this.send({ status: 'ok', attributes: Object.keys(changed).length ? changed : undefined, responseData });
  }

  private sendError(error: ExasolError): void {
    const changed = this.executor ? { ...this.executor.changed } : {};
    this.send({ status: 'error', attributes: Object.keys(changed).length ? changed : undefined, exception: error.toException() });
  }

  private send(message: Message): void {
    if (this.state === 'closed' || this.ws.readyState !== this.ws.OPEN) return;
    const text = writeJson(message);
    this.record('out', text);
    if (this.compression) this.ws.send(deflateSync(Buffer.from(text, 'utf8'), { level: 1 }), { binary: true });
    else this.ws.send(text);
  }

  private record(direction: 'in' | 'out', text: string): void {
    this.env.transcript.record({
      node: this.node,
      connection: this.connection,
      channel: 'websocket',
      direction,
      text,
      compressed: this.compression || undefined,
    });
  }
}

/**
 * Whether a release knows `PUBLIC KEY` in IMPORT/EXPORT (8.32 on, year-numbered releases
 * included). Written here on purpose rather than imported from the connector: the test server
 * models the real server independently, so a wrong rule in the connector shows up as a failure.
 */
export function supportsPublicKeyPins(releaseVersion: string): boolean {
  const [major = 0, minor = 0] = releaseVersion.split('.').map(Number);
  return major > 8 || (major === 8 && minor >= 32);
}
