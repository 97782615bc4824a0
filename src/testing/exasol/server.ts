/**
 * The node listeners: one TCP port per simulated node (127.0.0.1, .2, .3 when the loopback
 * aliases work), each telling apart by the first bytes of a connection
 *   - the HTTP-transport magic `02 21 21 02 …` → tunnel handshake,
 *   - a TLS ClientHello (`0x16`) → TLS, then a WebSocket upgrade,
 *   - anything else → a plain WebSocket upgrade.
 */
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { TLSSocket, createSecureContext } from 'node:tls';
import { WebSocketServer } from 'ws';
import { TUNNEL_MAGIC, type TunnelRegistry } from './http-transport.js';
import { WebSocketSession, type SessionEnvironment } from './websocket-session.js';

export interface NodeAddress {
  host: string;
  port: number;
}

export interface NodeListeners {
  nodes: NodeAddress[];
  /** False when the loopback aliases 127.0.0.2/3 were unusable and all nodes share 127.0.0.1. */
  loopbackAliases: boolean;
  /** Severs every client connection (WebSockets and tunnels) at once, like a network failure. Returns how many. */
  dropConnections(): number;
  close(): Promise<void>;
}

interface ListenOptions {
  count: number;
  tls?: { certPem: string; keyPem: string };
  env: SessionEnvironment;
  tunnels: TunnelRegistry;
}

/** Starts one listener per node; tries to give all nodes the same port, as in a real cluster. */
export async function startNodeListeners(options: ListenOptions): Promise<NodeListeners> {
  const aliases = options.count > 1 && (await loopbackAliasesWork());
  const hosts = Array.from({ length: options.count }, (_, k) => (aliases ? `127.0.0.${k + 1}` : '127.0.0.1'));
  const secureContext = options.tls ? createSecureContext({ cert: options.tls.certPem, key: options.tls.keyPem }) : undefined;
  const sockets = new Set<Socket>();
  const sessions = new Set<WebSocketSession>();
  let connectionCounter = 0;
  const servers: Server[] = [];

  const makeServer = (nodeIndex: number, host: string): Server => {
    const http = createHttpServer((_req, res) => {
      res.writeHead(400).end('WebSocket upgrade expected');
    });
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 128 * 1024 * 1024 });
    http.on('upgrade', (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, (ws) => {
        const session = new WebSocketSession(ws, nodeIndex, ++connectionCounter, options.env);
        sessions.add(session);
        // Listed until fully closed, so stop() can wait for the session's PostgreSQL connection.
        ws.once('close', () => void session.close().then(() => sessions.delete(session)));
      });
    });
    const server = createNetServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      dispatchByFirstBytes(socket, {
        tunnel: () => {
          const connection = ++connectionCounter;
          options.env.transcript.record({
            node: nodeIndex,
            connection,
            channel: 'tunnel',
            direction: 'in',
            text: TUNNEL_MAGIC.toString('hex'),
          });
          const reply = options.tunnels.open(socket, host, nodeIndex, connection);
          options.env.transcript.record({ node: nodeIndex, connection, channel: 'tunnel', direction: 'out', text: reply.toString('hex') });
          socket.setKeepAlive(true, 60_000);
          socket.write(reply);
        },
        tls: () => {
          if (!secureContext) return socket.destroy();
          const secure = new TLSSocket(socket, { isServer: true, secureContext });
          secure.on('error', () => socket.destroy());
          http.emit('connection', secure);
        },
        plain: () => {
          http.emit('connection', socket);
          socket.resume();
        },
      });
    });
    server.on('error', () => {});
    return server;
  };

  let nodes: NodeAddress[] = [];
  for (let attempt = 0; attempt < 10 && nodes.length === 0; attempt++) {
    const started: Server[] = [];
    try {
      let port = 0;
      for (let k = 0; k < hosts.length; k++) {
        const server = makeServer(k + 1, hosts[k]);
        // With aliases all nodes share the first node's port; without, each gets its own.
        port = await listen(server, hosts[k], aliases ? port : 0);
        started.push(server);
        nodes.push({ host: hosts[k], port });
      }
      servers.push(...started);
    } catch {
      nodes = [];
      await Promise.all(started.map((s) => new Promise((r) => s.close(r))));
    }
  }
  if (nodes.length === 0) throw new Error('could not bind the Exasol test server node ports');

  return {
    nodes,
    loopbackAliases: aliases,
    dropConnections() {
      const count = sockets.size;
      for (const socket of sockets) socket.destroy();
      return count;
    },
    async close() {
      await Promise.all([...sessions].map((s) => s.close()));
      for (const socket of sockets) socket.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/**
 * Reads just enough bytes to classify the connection, then puts them back so the TLS or HTTP
 * layer sees the stream from its first byte.
 */
function dispatchByFirstBytes(socket: Socket, handlers: { tunnel(): void; tls(): void; plain(): void }): void {
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    const prefixLength = Math.min(buffered.length, TUNNEL_MAGIC.length);
    const couldBeMagic = buffered.subarray(0, prefixLength).equals(TUNNEL_MAGIC.subarray(0, prefixLength));
    if (couldBeMagic && buffered.length < TUNNEL_MAGIC.length) return; // wait for all 12 bytes
    socket.removeListener('data', onData);
    socket.pause();
    if (couldBeMagic) {
      if (buffered.length > TUNNEL_MAGIC.length) socket.unshift(buffered.subarray(TUNNEL_MAGIC.length));
      handlers.tunnel();
      return;
    }
    socket.unshift(buffered);
    if (buffered[0] === 0x16) handlers.tls();
    else handlers.plain();
  };
  socket.on('data', onData);
}

/** Whether 127.0.0.2 can be bound and reached (Linux: yes; macOS: only with configured aliases). */
async function loopbackAliasesWork(): Promise<boolean> {
  const server = createNetServer((s) => s.destroy());
  try {
    await listen(server, '127.0.0.2', 0);
    return true;
  } catch {
    return false;
  } finally {
    await new Promise((r) => server.close(r));
  }
}
