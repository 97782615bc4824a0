// Runs the PostgreSQL connector tests against every supported server version (14–18), one
// version at a time: npm run test:pg-matrix [-- 15 16]
import { spawnSync } from 'node:child_process';

const versions = process.argv.slice(2).length ? process.argv.slice(2) : ['14', '15', '16', '17', '18'];
let failed = 0;
for (const version of versions) {
  console.log(`\n=== PostgreSQL ${version} ===`);
  const result = spawnSync(process.execPath, ['scripts/test.mjs', 'test/postgres', 'conformance-tests/conformance.test.ts'], {
    stdio: 'inherit',
    env: { ...process.env, REFSTREAM_PG_VERSION: version },
  });
  if (result.status !== 0) failed++;
}
console.log(`\n${versions.length - failed} passed, ${failed} failed (PostgreSQL versions)`);
process.exit(failed ? 1 : 0);
