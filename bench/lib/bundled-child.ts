/**
 * Benchmark child scripts compiled once per run into one JavaScript file each, so that a child
 * measures what a user's compiled program does: no TypeScript compiled at start-up (tsx costs
 * a child several hundred ms of CPU and tens of MB), only the packages' own loading.
 */
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { build } from 'tsup';
import { PROJECT_ROOT } from '../../test/interop/python-env.js';

const built = new Map<string, Promise<string>>();

/** The compiled `.mjs` of the child script `entry` (dependencies stay in node_modules). */
export function bundledChild(entry: string): Promise<string> {
  let out = built.get(entry);
  if (!out) {
    const outDir = join(PROJECT_ROOT, '.cache', 'bench');
    const name = basename(entry).replace(/\.ts$/, '');
    mkdirSync(outDir, { recursive: true });
    out = build({
      config: false,
      entry: { [name]: entry },
      outDir,
      format: ['esm'],
      platform: 'node',
      target: 'node20',
      silent: true,
      splitting: false,
      outExtension: () => ({ js: '.mjs' }),
    }).then(() => join(outDir, `${name}.mjs`));
    built.set(entry, out);
  }
  return out;
}
