/** Shared setup for the Exasol test server's own tests. */
import { startExasolTestServer, type ExasolTestServer, type ExasolTestServerOptions } from '../../../src/testing/index.js';
import { RawExasolClient, type LoginOptions } from './raw-client.js';

export interface Harness {
  server: ExasolTestServer;
  /** Connects a raw client to node `node` (1-based) and logs in. */
  login(options?: LoginOptions & { node?: number }): Promise<RawExasolClient>;
  /** Connects without logging in. */
  connect(node?: number): Promise<RawExasolClient>;
  stop(): Promise<void>;
}

export async function startHarness(options: ExasolTestServerOptions = {}): Promise<Harness> {
  const server = await startExasolTestServer(options);
  const clients = new Set<RawExasolClient>();
  const connect = async (node = 1) => {
    const address = server.nodes[node - 1];
    const scheme = server.certificatePem ? 'wss' : 'ws';
    const client = await RawExasolClient.connect(`${scheme}://${address.host}:${address.port}`, { rejectUnauthorized: false });
    clients.add(client);
    return client;
  };
  return {
    server,
    connect,
    async login(loginOptions = {}) {
      const client = await connect(loginOptions.node);
      const reply = await client.login({ user: server.user, password: server.password, ...loginOptions });
      if (reply.json.status !== 'ok') throw new Error(`login failed: ${reply.text}`);
      return client;
    },
    async stop() {
      await Promise.all([...clients].map((c) => c.close()));
      await server.stop();
    },
  };
}
