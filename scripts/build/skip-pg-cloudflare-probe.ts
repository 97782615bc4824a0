/**
 * An esbuild plugin for the CLI bundle: `pg` decides at load time whether it runs inside a
 * Cloudflare Worker by constructing a fetch `Response`, which makes Node load its whole fetch
 * stack (undici, about 15 ms of every command's start-up). The CLI only ever runs on Node, so
 * the bundled copy skips the probe. The build fails if `pg` no longer has the expected line,
 * so an upgrade cannot silently undo this or patch the wrong thing.
 */
import { readFile } from 'node:fs/promises';
import type { Plugin } from 'esbuild';

const PROBE = 'if (isCloudflareRuntime()) {';

export const skipPgCloudflareProbe: Plugin = {
  name: 'skip-pg-cloudflare-probe',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!source.includes(PROBE))
        throw new Error(`${args.path} no longer contains "${PROBE}": update scripts/build/skip-pg-cloudflare-probe.ts`);
      return { contents: source.replace(PROBE, 'if (false) {'), loader: 'js' };
    });
  },
};
