import { cpSync, mkdirSync } from 'node:fs';
import { defineConfig } from 'tsup';

// One entry per public subpath (see package.json "exports"); the CLI is ESM-only with a shebang.
export default defineConfig([
  {
    entry: {
      index: 'src/index.ts',
      postgres: 'src/connectors/postgres/index.ts',
      exasol: 'src/connectors/exasol/index.ts',
      kafka: 'src/sinks/kafka/index.ts',
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
    sourcemap: true,
    target: 'node20',
    external: ['fast-check'],
    banner: { js: '#!/usr/bin/env node' },
  },
]);
