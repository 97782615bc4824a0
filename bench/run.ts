/**
 * Runs the benchmarks one after another (each in its own process, with its default sizes):
 *
 *   npm run bench                       every benchmark
 *   npm run bench -- cli-snapshot ...   only the named ones (file names without .ts)
 *
 * Each prints its own ratios against the baseline it measures in the same run; see
 * docs/benchmarks.md.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const here = import.meta.dirname;
const all = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3))
  .sort();
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; available: ${all.join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const name of wanted.length > 0 ? wanted : all) {
  console.log(`\n=== ${name}`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(here, `${name}.ts`)], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`${name} exited with ${result.status ?? result.signal}`);
    failed++;
  }
}
process.exit(failed > 0 ? 1 : 0);
