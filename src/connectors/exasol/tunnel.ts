/**
 * The client side of Exasol's HTTP transport: a tunnel socket opened on a node's database
 * port with the magic handshake. Exasol then connects back *through* it as an HTTP client,
 * so on this socket refstream is the HTTP (and, with `PUBLIC KEY` pinning, the TLS) server.
 */
import { connect, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { connectionLost } from './errors.js';
import { createSelfSignedCertificateAsync, type SelfSignedCertificate } from './tls-certificate.js';

const MAGIC = Buffer.from([0x02, 0x21, 0x21, 0x02, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00]);

/** `PUBLIC KEY` pinning of tunnel certificates exists from Exasol 8.32. */
export function supportsPublicKey(releaseVersion: string): boolean {
  const [major = 0, minor = 0] = releaseVersion.split('.').map(Number);
  return major > 8 || (major === 8 && minor >= 32);
}

/**
 * Whether tunnels run TLS: `on`/`off` as configured; `auto` uses TLS where the server supports
 * `PUBLIC KEY` pinning of the tunnel's certificate.
 */
export function useTunnelTls(mode: 'auto' | 'on' | 'off', releaseVersion: string): boolean {
  return mode === 'on' || (mode === 'auto' && supportsPublicKey(releaseVersion));
}

/** An open tunnel: the address to name in `AT '…'` and the stream HTTP runs over. */
export interface Tunnel {
  readonly socket: Socket;
  /** The TLS socket when the tunnel is encrypted, else the raw socket. */
  readonly stream: Duplex;
  /** `http(s)://internal-host:internal-port`. */
  readonly url: string;
  /** The `PUBLIC KEY 'sha256//…'` pin of our certificate (TLS tunnels). */
  readonly publicKeyPin: string | undefined;
  destroy(): void;
}

let sharedCertificate: Promise<SelfSignedCertificate> | undefined;

/**
 * One self-signed certificate per process: generating an RSA key takes a few hundred ms,
 * and the `PUBLIC KEY` pin travels with each statement anyway. Call early to warm it up.
 */
export function tunnelCertificate(): Promise<SelfSignedCertificate> {
  sharedCertificate ??= createSelfSignedCertificateAsync('refstream-exasol-tunnel');
  sharedCertificate.catch(() => (sharedCertificate = undefined));
  return sharedCertificate;
}

/** Opens a tunnel to `host:port`; with `tls` the socket is wrapped as a TLS server. */
export async function openTunnel(
  host: string,
  port: number,
  options: { tls: boolean; timeoutMs?: number; signal?: AbortSignal | undefined },
): Promise<Tunnel> {
  const socket = connect({ host, port });
  socket.setNoDelay(true);
  // idle tunnels between handshake and PUT get dropped by NAT boxes without keepalive
  socket.setKeepAlive(true, 60_000);
  const reply = await new Promise<Buffer>((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const timer = setTimeout(() => finish(connectionLost(`tunnel handshake with ${host}:${port} timed out`)), options.timeoutMs ?? 10_000);
    const onAbort = () => finish(new DOMException('The operation was aborted', 'AbortError'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (error?: Error) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      if (error) {
        socket.destroy();
        reject(error);
      } else {
        socket.pause();
        resolve(buffer);
      }
    };
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length >= 24) {
        if (buffer.length > 24) socket.unshift(buffer.subarray(24));
        buffer = buffer.subarray(0, 24);
        finish();
      }
    };
    const onError = (error: Error) => finish(connectionLost(`tunnel to ${host}:${port}`, error));
    const onClose = () => finish(connectionLost(`tunnel to ${host}:${port} closed during the handshake`));
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.once('connect', () => socket.write(MAGIC));
  });
  const internalPort = reply.readInt32LE(4);
  const hostBytes = reply.subarray(8, 24);
  const nul = hostBytes.indexOf(0);
  const internalHost = hostBytes.subarray(0, nul < 0 ? 16 : nul).toString('ascii');
  socket.on('error', () => {});
  let stream: Duplex = socket;
  let publicKeyPin: string | undefined;
  if (options.tls) {
    const certificate = await tunnelCertificate();
    const secure = new TLSSocket(socket, { isServer: true, cert: certificate.certPem, key: certificate.keyPem });
    secure.on('error', () => {});
    stream = secure;
    publicKeyPin = certificate.publicKeyPin;
  }
  return {
    socket,
    stream,
    url: `${options.tls ? 'https' : 'http'}://${internalHost}:${internalPort}`,
    publicKeyPin,
    destroy() {
      stream.destroy();
      socket.destroy();
    },
  };
}
