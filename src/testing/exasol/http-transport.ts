/**
 * Exasol's HTTP transport as seen from the database side.
 *
 * A client opens a plain TCP connection to a node, sends the 12-byte magic
 * (`0x02212102, 1, 1` as int32 LE) and gets 24 bytes back: 4 unused, the internal port
 * (int32 LE) and the node's internal IPv4 address (ASCII, NUL-padded). The client then names
 * `http(s)://<address>:<port>` in an EXPORT/IMPORT statement, and the database — the HTTP
 * *client* — talks HTTP back through that very socket: `PUT /<file>` with a chunked CSV body for
 * EXPORT, `GET /<file>` for IMPORT. For `https` the tunnel peer is the TLS *server* and the
 * database checks its key against the statement's `PUBLIC KEY 'sha256//…'` pin.
 *
 * URLs that name no tunnel are connected to directly, as Exasol does for ordinary HTTP servers.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { publicKeyPin } from './certificate.js';
import { ExasolError, SqlCode } from './errors.js';
import type { ExasolFaults } from './faults.js';
import type { Transcript } from './transcript.js';

/** The magic a tunnel starts with: int32 LE 0x02212102, 1, 1. */
export const TUNNEL_MAGIC = Buffer.from([0x02, 0x21, 0x21, 0x02, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00]);

/** Size of the chunks of an EXPORT body (as pyexasol and Exasol use ~64 KiB). */
const CHUNK_SIZE = 65_524;

interface Tunnel {
  socket: Socket;
  host: string;
  port: number;
  node: number;
  connection: number;
}

/** Tunnels opened with the magic handshake, by internal address. */
export class TunnelRegistry {
  private readonly tunnels = new Map<string, Tunnel>();
  private nextPort = 20_000 + Math.floor(Math.random() * 10_000);

  /** Registers a tunnel socket (after its 12 magic bytes were read) and returns the 24-byte reply. */
  open(socket: Socket, host: string, node: number, connection: number): Buffer {
    const port = this.nextPort++;
    const key = `${host}:${port}`;
    this.tunnels.set(key, { socket, host, port, node, connection });
    socket.once('close', () => this.tunnels.delete(key));
    const reply = Buffer.alloc(24);
    reply.writeInt32LE(port, 4);
    reply.write(host, 8, 16, 'ascii');
    return reply;
  }

  /** Hands a tunnel to one transfer; it cannot be used twice. */
  take(host: string, port: number): Tunnel | undefined {
    const key = `${host}:${port}`;
    const tunnel = this.tunnels.get(key);
    this.tunnels.delete(key);
    return tunnel;
  }

  get size(): number {
    return this.tunnels.size;
  }

  destroyAll(): void {
    for (const tunnel of this.tunnels.values()) tunnel.socket.destroy();
    this.tunnels.clear();
  }
}

/** Context of one transfer. */
export interface TransportContext {
  registry: TunnelRegistry;
  faults: ExasolFaults;
  transcript: Transcript;
  signal: AbortSignal;
  /** Gives up on a silent peer after this many ms. */
  timeoutMs: number;
  /** `PUBLIC KEY` pins exist from Exasol 8.32 on; older releases reject the clause. */
  publicKeySupported: boolean;
}

/** An HTTP peer reached through a tunnel (or directly). */
export class TransportPeer {
  private readonly reader: SocketReader;
  bytesTransferred = 0;

  private constructor(
    readonly socket: Duplex,
    readonly url: string,
    readonly node: number,
    readonly connection: number,
    private readonly context: TransportContext,
  ) {
    this.reader = new SocketReader(socket);
  }

  /** Connects to `url` (tunnel or direct), with TLS and key pinning for `https`. */
  static async open(url: string, pin: string | undefined, context: TransportContext): Promise<TransportPeer> {
    const parsed = /^(https?):\/\/([^:/]+):(\d+)\/?$/i.exec(url);
    if (!parsed) throw etlError('5105', 'writing to', url, 0, 'invalid URL');
    const [, scheme, host, portText] = parsed;
    if (pin !== undefined && !context.publicKeySupported) {
      throw new ExasolError('syntax error, unexpected PUBLIC_, expecting FILE_ [line 1, column 1]', SqlCode.syntax);
    }
    const tunnel = context.registry.take(host, Number(portText));
    let socket: Socket;
    if (tunnel) {
      socket = tunnel.socket;
    } else {
      socket = await new Promise<Socket>((resolve, reject) => {
        const s = netConnect({ host, port: Number(portText) }, () => resolve(s));
        s.once('error', () => reject(etlError('5105', 'writing to', url, 0, "Couldn't connect to server")));
      });
    }
    let stream: Duplex = socket;
    if (scheme.toLowerCase() === 'https') stream = await upgradeToTls(socket, url, pin);
    return new TransportPeer(stream, url, tunnel?.node ?? 0, tunnel?.connection ?? 0, context);
  }

  /**
   * `PUT /file` with a chunked body; resolves once the peer answered 2xx. The body may be
   * produced lazily (an iterable of pieces), so the upload streams while rows are formatted.
   */
  async put(file: string, body: Buffer | Iterable<Buffer>): Promise<void> {
    const { faults, signal } = this.context;
    await this.stallIfArmed();
    const head = `PUT /${file} HTTP/1.1\r\nHost: ${hostOf(this.url)}\r\nTransfer-Encoding: chunked\r\n\r\n`;
    this.record('out', head);
    this.socket.write(head);
    const drop = faults.take('dropTunnelMidBody');
    for (const piece of Buffer.isBuffer(body) ? [body] : body)
      for (let offset = 0; offset < piece.length; offset += CHUNK_SIZE) {
        throwIfAborted(signal, this.url, file, this.bytesTransferred);
        const chunk = piece.subarray(offset, offset + CHUNK_SIZE);
        if (drop && this.bytesTransferred + chunk.length >= (drop.afterBytes ?? 1)) {
          const keep = Math.max(0, (drop.afterBytes ?? 1) - this.bytesTransferred);
          this.socket.write(`${chunk.length.toString(16)}\r\n`);
          this.socket.write(chunk.subarray(0, keep));
          this.bytesTransferred += keep;
          await new Promise((r) => setImmediate(r));
          this.socket.destroy();
          throw etlError('5105', 'writing to', `${this.url}/${file}`, this.bytesTransferred, 'Connection reset by peer (fault injected)');
        }
        await this.write(`${chunk.length.toString(16)}\r\n`);
        await this.write(chunk);
        await this.write('\r\n');
        this.bytesTransferred += chunk.length;
      }
    if (drop) {
      // The body was shorter than the cut-off point: drop before the terminating chunk.
      this.socket.destroy();
      throw etlError('5105', 'writing to', `${this.url}/${file}`, this.bytesTransferred, 'Connection reset by peer (fault injected)');
    }
    await this.write('0\r\n\r\n');
    const response = await this.readResponseHead(file, 'writing to');
    if (response.status < 200 || response.status >= 300) {
      throw etlError('5105', 'writing to', `${this.url}/${file}`, this.bytesTransferred, `HTTP status ${response.status}`);
    }
    await this.readBody(response.headers, file, 'writing to');
  }

  /** `GET /file`; resolves to the response body. */
  async get(file: string): Promise<Buffer> {
    await this.stallIfArmed();
    const head = `GET /${file} HTTP/1.1\r\nHost: ${hostOf(this.url)}\r\n\r\n`;
    this.record('out', head);
    await this.write(head);
    const response = await this.readResponseHead(file, 'reading from');
    if (response.status < 200 || response.status >= 300) {
      throw etlError('5106', 'reading from', `${this.url}/${file}`, 0, `HTTP status ${response.status}`);
    }
    const body = await this.readBody(response.headers, file, 'reading from');
    this.bytesTransferred += body.length;
    return body;
  }

  close(): void {
    this.socket.destroy();
  }

  private async stallIfArmed(): Promise<void> {
    const stall = this.context.faults.take('stallBeforePut');
    if (stall) await abortableSleep(stall.ms, this.context.signal);
  }

  private record(direction: 'in' | 'out', text: string): void {
    this.context.transcript.record({ node: this.node, connection: this.connection, channel: 'http', direction, text });
  }

  private write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(data, (error) => (error ? reject(error) : resolve()));
    });
  }

  private async readResponseHead(file: string, verb: string): Promise<{ status: number; headers: Map<string, string> }> {
    const head = await this.withDeadline(this.reader.readUntil('\r\n\r\n'), file, verb);
    const text = head.toString('latin1');
    this.record('in', text);
    const [statusLine, ...lines] = text.split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? NaN);
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    return { status, headers };
  }

  private async readBody(headers: Map<string, string>, file: string, verb: string): Promise<Buffer> {
    if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) {
      const parts: Buffer[] = [];
      for (;;) {
        const sizeLine = (await this.withDeadline(this.reader.readUntil('\r\n'), file, verb)).toString('latin1');
        const size = parseInt(sizeLine.split(';')[0], 16);
        if (Number.isNaN(size)) throw etlError('5106', verb, `${this.url}/${file}`, 0, 'malformed chunked body');
        if (size === 0) {
          // Trailers end with an empty line.
          while ((await this.withDeadline(this.reader.readUntil('\r\n'), file, verb)).length > 2);
          return Buffer.concat(parts);
        }
        parts.push(await this.withDeadline(this.reader.readExact(size), file, verb));
        await this.withDeadline(this.reader.readExact(2), file, verb);
      }
    }
    const length = headers.get('content-length');
    if (length !== undefined) return this.withDeadline(this.reader.readExact(Number(length)), file, verb);
    return this.withDeadline(this.reader.readToEnd(), file, verb);
  }

  private withDeadline<T>(promise: Promise<T>, file: string, verb: string): Promise<T> {
    const { signal, timeoutMs } = this.context;
    return new Promise<T>((resolve, reject) => {
      const fail = (reason: string) =>
        reject(etlError(verb === 'reading from' ? '5106' : '5105', verb, `${this.url}/${file}`, this.bytesTransferred, reason));
      const timer = setTimeout(() => fail('Operation timed out'), timeoutMs);
      const onAbort = () => fail('aborted');
      signal.addEventListener('abort', onAbort, { once: true });
      promise.then(
        (value) => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: Error) => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          fail(error.message);
        },
      );
    });
  }
}

async function upgradeToTls(socket: Socket, url: string, pin: string | undefined): Promise<TLSSocket> {
  const secure = await new Promise<TLSSocket>((resolve, reject) => {
    // Exasol ignores certificate validity for file connections; only the key pin counts.
    const s = tlsConnect({ socket, rejectUnauthorized: false }, () => resolve(s));
    s.once('error', (error) => reject(etlError('5105', 'writing to', url, 0, `SSL handshake failed: ${(error as Error).message}`)));
  });
  if (pin !== undefined) {
    const raw = secure.getPeerCertificate().raw;
    const actual = raw ? publicKeyPin(new X509Certificate(raw).publicKey.export({ type: 'spki', format: 'der' })) : '';
    if (actual !== pin) {
      secure.destroy();
      throw etlError('5105', 'writing to', url, 0, 'SSL: public key does not match pinned public key');
    }
  }
  return secure;
}

function hostOf(url: string): string {
  return url.replace(/^https?:\/\//i, '').replace(/\/$/, '');
}

/** An Exasol ETL error as the `execute` reply carries it. */
export function etlError(code: string, verb: string, where: string, bytes: number, reason: string): ExasolError {
  return new ExasolError(
    `ETL-${code}: Following error occured while ${verb === 'reading from' ? 'reading data from' : 'writing data to'} external connection [${where} failed after ${bytes} bytes. [${reason}]]`,
    SqlCode.etl,
  );
}

function throwIfAborted(signal: AbortSignal, url: string, file: string, bytes: number): void {
  if (signal.aborted) throw etlError('5105', 'writing to', `${url}/${file}`, bytes, 'aborted');
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Buffered reads from a stream: up to a delimiter, an exact length, or the end. */
export class SocketReader {
  private buffer = Buffer.alloc(0);
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(stream: Duplex) {
    stream.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.notify();
    });
    stream.on('end', () => {
      this.ended = true;
      this.notify();
    });
    stream.on('close', () => {
      this.ended = true;
      this.notify();
    });
    stream.on('error', (error) => {
      this.failure = error;
      this.notify();
    });
    // Tunnel sockets were paused after the handshake; reading starts now.
    stream.resume();
  }

  async readUntil(delimiter: string): Promise<Buffer> {
    for (;;) {
      const at = this.buffer.indexOf(delimiter);
      if (at >= 0) return this.take(at + delimiter.length);
      await this.more();
    }
  }

  async readExact(length: number): Promise<Buffer> {
    while (this.buffer.length < length) await this.more();
    return this.take(length);
  }

  async readToEnd(): Promise<Buffer> {
    while (!this.ended) await this.more(true);
    return this.take(this.buffer.length);
  }

  private take(length: number): Buffer {
    const out = this.buffer.subarray(0, length);
    this.buffer = this.buffer.subarray(length);
    return out;
  }

  private async more(untilEnd = false): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.ended) {
      if (untilEnd) return;
      throw new Error('Connection closed by peer');
    }
    await new Promise<void>((resolve) => (this.wake = resolve));
    if (this.failure) throw this.failure;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
