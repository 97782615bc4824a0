/**
 * The shared conformance suite against ExasolSource in both change modes, on one Exasol
 * test server (3 nodes, so every snapshot is a parallel EXPORT over three tunnels).
 *
 * The targets declare the `emptyStringIsNull` quirk (Exasol stores '' as NULL), so VAL-01 expects
 * null where it wrote ''. Two checks are not run (listed as skipped with their reason): VAL-06
 * writes values beyond Exasol's VARCHAR limit; MEM-02 would measure the in-process test server.
 */
import { after, before, test } from 'node:test';
import { checks, registerConformance } from '../../conformance-tests/index.js';
import { exasolDiffTarget } from '../../conformance-tests/targets/exasol-diff.js';
import { testServerTarget } from '../../conformance-tests/targets/exasol-harness.js';
import { exasolWatermarkTarget } from '../../conformance-tests/targets/exasol-watermark.js';
import { parseDsn } from '../../src/connectors/exasol/index.js';
import { startExasolTestServer, type ExasolTestServer } from '../../src/testing/index.js';

/** Checks not run here, with the reason (reported as skipped tests below). */
const NOT_APPLICABLE = new Map([
  ['VAL-06', 'writes 3 MiB text values; Exasol VARCHAR holds at most 2,000,000 characters'],
  ['MEM-02', "measures the process's memory, which here includes the in-process test server that materialises results"],
]);

let server: ExasolTestServer;
before(async () => {
  server = await startExasolTestServer({ nodes: 3 });
});
after(async () => {
  await server?.stop();
});

const seed = process.env.REFSTREAM_CONFORMANCE_SEED ? Number(process.env.REFSTREAM_CONFORMANCE_SEED) : 20261121;
const only = (process.env.EXASOL_CONFORMANCE_ONLY?.split(',') ?? checks.map((c) => c.id)).filter((id) => !NOT_APPLICABLE.has(id));
const settings = { seed, numRuns: Number(process.env.REFSTREAM_CONFORMANCE_RUNS ?? 6), timeoutMs: 30_000, only };

registerConformance(
  test,
  exasolWatermarkTarget(() => testServerTarget(server)),
  settings,
);
registerConformance(
  test,
  exasolDiffTarget(() => testServerTarget(server)),
  settings,
);
for (const [id, reason] of NOT_APPLICABLE) test(`conformance ${id} (both modes)`, { skip: reason }, () => {});

// The same suite against a real Exasol when EXASOL_DSN (host[/FINGERPRINT]:port) is set; reported as skipped otherwise.
const realDsn = process.env.EXASOL_DSN;
if (realDsn) {
  const { hosts, fingerprint } = parseDsn(realDsn);
  const real = () => ({
    host: hosts[0]!.host,
    port: hosts[0]!.port,
    user: process.env.EXASOL_USER ?? 'sys',
    password: process.env.EXASOL_PASSWORD ?? 'exasol',
    tls: process.env.EXASOL_TLS !== '0',
    fingerprint,
  });
  registerConformance(test, { ...exasolWatermarkTarget(real), name: 'real exasol (watermark mode)' }, settings);
  registerConformance(test, { ...exasolDiffTarget(real), name: 'real exasol (diff mode)' }, settings);
} else {
  test(
    'conformance against a real Exasol',
    { skip: 'EXASOL_DSN not set: set EXASOL_DSN=host[/FINGERPRINT]:port (EXASOL_USER, EXASOL_PASSWORD, EXASOL_TLS=0 for plain ws)' },
    () => {},
  );
}
