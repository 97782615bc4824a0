/**
 * Child process of the Exasol part of bench/peers/: one ExasolSource snapshot of a table on the
 * Exasol test server into Arrow batches (dropped). Prints {"rows", "ms"} as JSON.
 *
 * argv: '<json: host, port, user, password, fingerprint, schema, table>' <export|fetch>
 */
import { ExasolSource } from '../../src/connectors/exasol/index.js';

const settings = JSON.parse(process.argv[2]!) as {
  host: string;
  port: number;
  user: string;
  password: string;
  fingerprint: string;
  schema: string;
  table: string;
};
const method = process.argv[3] as 'export' | 'fetch';
const started = performance.now();
const source = new ExasolSource({
  ...settings,
  tls: true,
  mode: 'watermark',
  watermark: { column: 'ID' },
  snapshot: { method },
  batchRows: 65_536,
});
let rows = 0;
try {
  for (let b = await source.pollSnapshot(); b !== null; b = await source.pollSnapshot()) rows += b.numRows;
} finally {
  await source.close();
}
process.stdout.write(JSON.stringify({ rows, ms: performance.now() - started }) + '\n');
