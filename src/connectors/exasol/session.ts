/** Opening sessions from a connection config: try each DSN host until one answers. */
import { ConnectorError } from '../../sdk/errors.js';
import { connectionTargets, type connectionSchema } from './config.js';
import { ExasolConnection } from './connection.js';
import type { z } from 'zod';

/** Connects to the first reachable host of the config (transient failures move on to the next host). */
export async function openSession(
  config: z.output<typeof connectionSchema>,
  options: { schema?: string; clientName?: string } = {},
): Promise<ExasolConnection> {
  const { hosts, fingerprint } = connectionTargets(config);
  // start at a random node so many clients spread over the cluster
  const offset = Math.floor(Math.random() * hosts.length);
  let last: unknown;
  for (let i = 0; i < hosts.length; i++) {
    const target = hosts[(offset + i) % hosts.length]!;
    try {
      return await ExasolConnection.connect({
        host: target.host,
        port: target.port,
        user: config.user,
        password: config.password,
        tls: config.tls,
        fingerprint,
        compression: config.compression,
        connectTimeoutMs: config.connectTimeoutMs,
        queryTimeoutSeconds: config.queryTimeoutSeconds,
        ...(options.schema !== undefined ? { schema: options.schema } : {}),
        ...(options.clientName !== undefined ? { clientName: options.clientName } : {}),
      });
    } catch (error) {
      last = error;
      if (ConnectorError.is(error) && error.kind === 'definite') throw error;
    }
  }
  throw last;
}
