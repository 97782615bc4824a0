import { cpSync, mkdirSync } from 'node:fs';
import { defineConfig } from 'tsup';
import { skipPgCloudflareProbe } from './scripts/build/skip-pg-cloudflare-probe.js';

// One entry per public subpath (see package.json "exports"); the CLI is ESM-only with a shebang.
export default defineConfig([
  {
    entry: {
      index: 'src/index.ts',
      postgres: 'src/connectors/postgres/index.ts',
      exasol: 'src/connectors/exasol/index.ts',
      kafka: 'src/connectors/kafka/index.ts',
      conformance: 'conformance-tests/index.ts',
      testing: 'src/testing/index.ts',
    },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    shims: true,
    target: 'node20',
    splitting: true,
    external: ['fast-check'],
    async onSuccess() {
      // The Kafka mock broker is compiled from C on first use and the real one is resolved by
      // Maven from a pom: ship both files next to the bundle.
      mkdirSync('dist/kafka', { recursive: true });
      cpSync('src/testing/kafka/mock-broker.c', 'dist/kafka/mock-broker.c');
      cpSync('src/testing/kafka/broker-pom.xml', 'dist/kafka/broker-pom.xml');
    },
  },
  {
    entry: { cli: 'src/cli/main.ts' },
    format: ['esm'],
    // Each command is its own chunk, imported when it runs: dist/cli.js itself imports only the
    // registry's few dependencies, so --help and --version load no connector.
    splitting: true,
    sourcemap: true,
    target: 'node20',
    // The command is its own process: bundling its ESM dependencies into its chunks loads them
    // as a few files instead of hundreds (apache-arrow alone: ~90 ms → ~15 ms of start-up).
    // Batches from other copies of apache-arrow are read by duck typing, never instanceof.
    noExternal: ['apache-arrow', 'zod', 'pg', 'pg-copy-streams'],
    external: ['fast-check', 'pg-native'],
    esbuildPlugins: [skipPgCloudflareProbe],
    minifyWhitespace: true,
    minifySyntax: true,
    // CommonJS packages bundled into ESM (pg) require Node's built-ins through this `require`.
    banner: {
      js: "#!/usr/bin/env node\nimport { createRequire as createRequireForBundledCjs } from 'node:module';\nconst require = createRequireForBundledCjs(import.meta.url);",
    },
  },
]);
