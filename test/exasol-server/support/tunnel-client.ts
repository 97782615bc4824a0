/**
 * The client side of Exasol's HTTP transport for tests: open a tunnel with the magic
 * handshake, optionally become the TLS server on it, then answer the database's PUT (EXPORT)
 * or GET (IMPORT) request.
 */
import { connect, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';

const MAGIC = Buffer.from([0x02, 0x21, 0x21, 0x02, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00]);

export interface Tunnel {
  socket: Socket;
  /** The stream HTTP runs over (the TLS socket when wrapped). */
  stream: Duplex;
  internalHost: string;
  internalPort: number;
  /** `http(s)://host:port` to name in the statement. */
  url: string;
}

/** Opens a tunnel; with `tls` the client wraps the socket as TLS server with the given cert. */
export async function openTunnel(host: string, port: number, tls?: { certPem: string; keyPem: string }): Promise<Tunnel> {
  const socket = connect({ host, port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(MAGIC);
  const reply = await new Promise<Buffer>((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length >= 24) {
        socket.removeListener('data', onData);
        socket.pause();
        resolve(buffer);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
  const internalPort = reply.readInt32LE(4);
  const hostBytes = reply.subarray(8, 24);
  const internalHost = hostBytes.subarray(0, hostBytes.indexOf(0) < 0 ? 16 : hostBytes.indexOf(0)).toString('ascii');
  let stream: Duplex = socket;
  if (tls) {
    const secure = new TLSSocket(socket, { isServer: true, cert: tls.certPem, key: tls.keyPem });
    secure.on('error', () => {});
    stream = secure;
  }
  socket.on('error', () => {});
  return { socket, stream, internalHost, internalPort, url: `${tls ? 'https' : 'http'}://${internalHost}:${internalPort}` };
}

export interface ReceivedUpload {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** Reads one HTTP request with its (chunked or sized) body; answers 200 unless told not to. */
export async function receiveUpload(stream: Duplex, options: { respond?: boolean } = {}): Promise<ReceivedUpload> {
  const reader = new StreamReader(stream);
  const head = (await reader.until('\r\n\r\n')).toString('latin1');
  const [requestLine, ...lines] = head.trimEnd().split('\r\n');
  const [method, path] = requestLine.split(' ');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const parts: Buffer[] = [];
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    for (;;) {
      const size = parseInt((await reader.until('\r\n')).toString('latin1'), 16);
      if (size === 0) {
        await reader.until('\r\n');
        break;
      }
      parts.push(await reader.exact(size));
      await reader.exact(2);
    }
  } else if (headers['content-length']) {
    parts.push(await reader.exact(Number(headers['content-length'])));
  }
  reader.detach();
  if (options.respond !== false) stream.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  return { method, path, headers, body: Buffer.concat(parts) };
}

/** Answers one GET with `body` as a chunked response. */
export async function serveDownload(stream: Duplex, body: Buffer): Promise<{ path: string }> {
  const reader = new StreamReader(stream);
  const head = (await reader.until('\r\n\r\n')).toString('latin1');
  reader.detach();
  const path = head.split(' ')[1];
  stream.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
  for (let offset = 0; offset < body.length; offset += 1000) {
    const chunk = body.subarray(offset, offset + 1000);
    stream.write(`${chunk.length.toString(16)}\r\n`);
    stream.write(chunk);
    stream.write('\r\n');
  }
  stream.write('0\r\n\r\n');
  return { path };
}

class StreamReader {
  private buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private ended = false;
  private readonly onData = (chunk: Buffer) => {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    this.notify();
  };
  private readonly onEnd = () => {
    this.ended = true;
    this.notify();
  };

  constructor(private readonly stream: Duplex) {
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('close', this.onEnd);
    stream.resume();
  }

  async until(delimiter: string): Promise<Buffer> {
    for (;;) {
      const at = this.buffer.indexOf(delimiter);
      if (at >= 0) return this.take(at + delimiter.length);
      await this.more();
    }
  }

  async exact(length: number): Promise<Buffer> {
    while (this.buffer.length < length) await this.more();
    return this.take(length);
  }

  detach(): void {
    this.stream.removeListener('data', this.onData);
    this.stream.removeListener('end', this.onEnd);
    this.stream.removeListener('close', this.onEnd);
  }

  private take(n: number): Buffer {
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  private async more(): Promise<void> {
    if (this.ended) throw new Error('stream ended');
    await new Promise<void>((r) => (this.wake = r));
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}
