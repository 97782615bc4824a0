/**
 * Start-up of the built CLI: `refstream --version` and `refstream --help` against the floor of
 * the same Node.js binary doing nothing (`node -e 0`), all run alternately.
 *
 *   node --import tsx bench/cli-startup.ts [runs=20]
 *
 * Needs the built CLI (`npm run build`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { median, percentile, runToNull } from './lib/postgres-bench.js';

const runs = Number(process.argv[2] ?? 20);
const cli = join(import.meta.dirname, '..', 'dist', 'cli.js');
if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);

const cases: [string, string[]][] = [
  ['node -e 0 (floor)', ['-e', '0']],
  ['refstream --version', [cli, '--version']],
  ['refstream --help', [cli, '--help']],
];
const times = new Map<string, number[]>(cases.map(([label]) => [label, []]));
for (const [, args] of cases) await runToNull(process.execPath, args); // warm the file cache
for (let i = 0; i < runs; i++) for (const [label, args] of cases) times.get(label)!.push(await runToNull(process.execPath, args));

const floor = median(times.get(cases[0]![0])!);
console.log(`Node ${process.version}, ${runs} runs each, whole processes`);
for (const [label] of cases) {
  const t = times.get(label)!;
  console.log(
    `  ${label.padEnd(22)} median ${median(t).toFixed(0).padStart(4)} ms  p90 ${percentile(t, 90).toFixed(0).padStart(4)} ms  (+${(median(t) - floor).toFixed(0)} ms over the floor)`,
  );
}
console.log('  target: --version and --help <= 100 ms');
