/**
 * A minimal raw Exasol WebSocket client for the test server's protocol tests: it speaks the
 * JSON frames directly (login with RSA, optional zlib compression) and exposes the raw text of
 * every reply so tests can check exact number encoding.
 */
import { constants, createPublicKey, publicEncrypt } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import WebSocket from 'ws';

export interface RawReply {
  /** The reply as parsed JSON (numbers beyond 2^53 are rounded here; use `text` for them). */
  json: any;
  /** The exact reply text. */
  text: string;
  /** Whether the frame was binary (compressed). */
  binary: boolean;
}

export interface LoginOptions {
  user?: string;
  password?: string;
  protocolVersion?: number;
  useCompression?: boolean;
  attributes?: Record<string, unknown>;
}

export class RawExasolClient {
  private readonly replies: RawReply[] = [];
  private readonly waiters: ((reply: RawReply | Error) => void)[] = [];
  private compression = false;
  closed = false;
  closeCode: number | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const text = isBinary ? inflateSync(data).toString('utf8') : data.toString('utf8');
      const reply = { json: JSON.parse(text), text, binary: isBinary };
      const waiter = this.waiters.shift();
      if (waiter) waiter(reply);
      else this.replies.push(reply);
    });
    ws.on('close', (code) => {
      this.closed = true;
      this.closeCode = code;
      for (const waiter of this.waiters.splice(0)) waiter(new Error('WebSocket closed'));
    });
    ws.on('error', () => {});
  }

  static async connect(url: string, options: WebSocket.ClientOptions = {}): Promise<RawExasolClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new RawExasolClient(ws);
  }

  /** Sends one message and waits for its reply. */
  async request(message: Record<string, unknown>): Promise<RawReply> {
    this.send(message);
    return this.next();
  }

  /** Sends without waiting (e.g. abortQuery, which has no reply). */
  send(message: Record<string, unknown>): void {
    const text = JSON.stringify(message);
    if (this.compression) this.ws.send(deflateSync(Buffer.from(text)), { binary: true });
    else this.ws.send(text);
  }

  next(): Promise<RawReply> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.closed) return Promise.reject(new Error('WebSocket closed'));
    return new Promise((resolve, reject) => this.waiters.push((r) => (r instanceof Error ? reject(r) : resolve(r))));
  }

  /** Runs the login handshake; returns the final reply (ok or error). */
  async login(options: LoginOptions = {}): Promise<RawReply> {
    const keyReply = await this.request({ command: 'login', protocolVersion: options.protocolVersion ?? 3 });
    if (keyReply.json.status !== 'ok') return keyReply;
    const key = createPublicKey(keyReply.json.responseData.publicKeyPem);
    const encrypted = publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(options.password ?? 'exasol'));
    const reply = await this.request({
      username: options.user ?? 'sys',
      password: encrypted.toString('base64'),
      useCompression: options.useCompression ?? false,
      clientName: 'refstream raw test client',
      driverName: 'raw',
      attributes: options.attributes ?? { autocommit: true },
    });
    if (reply.json.status === 'ok') this.compression = options.useCompression ?? false;
    return reply;
  }

  async execute(sqlText: string, attributes?: Record<string, unknown>): Promise<RawReply> {
    return this.request({ command: 'execute', sqlText, ...(attributes ? { attributes } : {}) });
  }

  /** Executes and asserts success; returns the first result. */
  async ok(sqlText: string): Promise<any> {
    const reply = await this.execute(sqlText);
    if (reply.json.status !== 'ok') throw new Error(`${sqlText}: ${reply.text}`);
    return reply.json.responseData.results[0];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const closed = new Promise((r) => this.ws.once('close', r));
    this.ws.terminate();
    await closed;
  }
}
