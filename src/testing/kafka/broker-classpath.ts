/**
 * The Java side of the real Kafka test broker: finds `java` and resolves the broker's jars
 * with Maven from `broker-pom.xml`, caching the classpath so later starts skip Maven.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME ?? (homedir() ? join(homedir(), '.cache') : tmpdir());
  return join(base, 'refstream', 'kafka-broker');
}

/** The `java` to run: `$JAVA_HOME/bin/java` when set, else `java` on the PATH. Throws if absent. */
export function findJava(): string {
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const probe = spawnSync(java, ['-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `The Kafka test broker needs a Java runtime (17 or later) and none was found (${java}: ${probe.error?.message ?? probe.stderr.trim()}). ` +
        'Install a JDK (e.g. apt-get install openjdk-17-jdk-headless) or set JAVA_HOME.',
    );
  }
  const version = /version "(\d+)/.exec(probe.stderr)?.[1];
  if (version !== undefined && Number(version) < 17) {
    throw new Error(`The Kafka test broker needs Java 17 or later; ${java} is Java ${version}. Set JAVA_HOME to a newer JDK.`);
  }
  return java;
}

let resolving: Promise<string> | null = null;

/**
 * The broker's classpath. The first call on a machine runs Maven (it downloads about 56 MB
 * into the local Maven repository); the result is cached under `~/.cache/refstream/kafka-broker`
 * keyed by the pom's hash, and re-resolved if a jar it lists has gone.
 */
export function kafkaBrokerClasspath(): Promise<string> {
  resolving ??= resolveClasspath().catch((error: unknown) => {
    resolving = null;
    throw error;
  });
  return resolving;
}

async function resolveClasspath(): Promise<string> {
  const pom = pomPath();
  const hash = createHash('sha256').update(readFileSync(pom)).digest('hex').slice(0, 16);
  const dir = cacheDir();
  const cached = join(dir, `classpath-${hash}.txt`);
  if (existsSync(cached)) {
    const classpath = readFileSync(cached, 'utf8').trim();
    if (classpath !== '' && classpath.split(':').every((jar) => existsSync(jar))) return classpath;
  }
  mkdirSync(dir, { recursive: true });
  const temp = `${cached}.${process.pid}.tmp`;
  const mvn = process.env.MVN ?? 'mvn';
  await new Promise<void>((resolve, reject) => {
    execFile(
      mvn,
      ['-B', '-q', '-f', pom, 'dependency:build-classpath', `-Dmdep.outputFile=${temp}`],
      { timeout: 15 * 60_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        if (!error) return resolve();
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
        reject(
          new Error(
            missing
              ? `The Kafka test broker resolves Apache Kafka ${KAFKA_TEST_BROKER_VERSION} with Maven, and \`${mvn}\` was not found. Install Maven 3 (e.g. apt-get install maven) or set MVN to its path.`
              : `Maven could not resolve Apache Kafka ${KAFKA_TEST_BROKER_VERSION} from ${pom} (is Maven Central reachable?): ${error.message}\n${(stdout + stderr).trim().slice(-4000)}`,
          ),
        );
      },
    );
  });
  const classpath = readFileSync(temp, 'utf8').trim();
  if (classpath === '') {
    rmSync(temp, { force: true });
    throw new Error(`Maven resolved an empty classpath from ${pom}`);
  }
  renameSync(temp, cached); // atomic: concurrent resolutions write the same content
  return classpath;
}
