import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The refstream package.json (found by walking up from this module, in src/ and dist/ alike). */
export function packageInfo(): { name: string; version: string; description: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version: string; description: string };
      if (pkg.name === 'refstream') return pkg as { name: string; version: string; description: string };
    }
    const parent = dirname(dir);
    if (parent === dir) return { name: 'refstream', version: '0.0.0', description: '' };
    dir = parent;
  }
}
