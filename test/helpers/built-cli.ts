/** The built `refstream` binary (dist/cli.js), rebuilt with tsup when src/ is newer. */
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
/** Path of the built CLI. */
export const builtCli = join(root, 'dist/cli.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds dist/ unless it is newer than every file in src/. */
export function ensureBuiltCli(): void {
  let built = 0;
  try {
    built = statSync(builtCli).mtimeMs;
  } catch {
    /* not built yet */
  }
  if (built < newestSource(join(root, 'src'))) {
    execFileSync(process.execPath, [join(root, 'node_modules/tsup/dist/cli-default.js'), '--silent'], { cwd: root, stdio: 'inherit' });
  }
}
