/**
 * The Java side of the real Kafka test broker: the broker's jars, resolved with Maven from
 * `broker-pom.xml` and cached so later starts skip Maven.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveMavenClasspath } from '../java/maven-classpath.js';

export { findJava } from '../java/maven-classpath.js';

/** Kafka version the pom resolves; docs and error messages name it. */
export const KAFKA_TEST_BROKER_VERSION = '4.4.0';

/** The pom next to this module (src/testing/kafka, or the copy in dist/kafka). */
function pomPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [
    join(here, 'broker-pom.xml'),
    join(here, 'kafka', 'broker-pom.xml'),
    join(here, 'testing', 'kafka', 'broker-pom.xml'),
  ]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`broker-pom.xml not found next to ${here}`);
}

let resolving: Promise<string> | null = null;

/**
 * The broker's classpath. The first call on a machine runs Maven (it downloads about 56 MB
 * into the local Maven repository); the result is cached under `~/.cache/refstream/kafka-broker`
 * keyed by the pom's hash.
 */
export function kafkaBrokerClasspath(): Promise<string> {
  resolving ??= resolveMavenClasspath({
    pom: pomPath(),
    cacheName: 'kafka-broker',
    what: `Apache Kafka ${KAFKA_TEST_BROKER_VERSION}`,
  }).catch((error: unknown) => {
    resolving = null;
    throw error;
  });
  return resolving;
}
