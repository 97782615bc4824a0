/**
 * Java tooling for test harnesses: finds `java` and resolves a pom's dependencies to a
 * classpath with Maven, cached by the pom's content so later runs skip Maven.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/** The cache folder for resolved classpaths and compiled classes (`~/.cache/refstream/<name>`). */
export function refstreamCacheDir(name: string): string {
  const base = process.env.XDG_CACHE_HOME ?? (homedir() ? join(homedir(), '.cache') : tmpdir());
  return join(base, 'refstream', name);
}

/**
 * The `java` to run: `$JAVA_HOME/bin/java` when set, else `java` on the PATH. Throws, naming
 * `purpose` and the fix, when there is none or it is older than `minVersion`.
 */
export function findJava(purpose = 'The Kafka test broker', minVersion = 17): string {
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const probe = spawnSync(java, ['-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `${purpose} needs a Java runtime (${minVersion} or later) and none was found (${java}: ${probe.error?.message ?? probe.stderr.trim()}). ` +
        'Install a JDK (e.g. apt-get install openjdk-17-jdk-headless) or set JAVA_HOME.',
    );
  }
  const version = /version "(\d+)/.exec(probe.stderr)?.[1];
  if (version !== undefined && Number(version) < minVersion) {
    throw new Error(`${purpose} needs Java ${minVersion} or later; ${java} is Java ${version}. Set JAVA_HOME to a newer JDK.`);
  }
  return java;
}

/** What {@link resolveMavenClasspath} resolves, for its messages. */
export interface MavenClasspathRequest {
  /** The pom whose dependencies make the classpath. */
  pom: string;
  /** Cache folder name under `~/.cache/refstream`. */
  cacheName: string;
  /** What the jars are, e.g. `Apache Kafka 4.4.0`. */
  what: string;
}

/**
 * The classpath of `pom`'s dependencies. The first call on a machine runs
 * `mvn dependency:build-classpath` (downloading into the local Maven repository); the result is
 * cached keyed by the pom's hash and re-resolved if a jar it lists has gone.
 */
export async function resolveMavenClasspath({ pom, cacheName, what }: MavenClasspathRequest): Promise<string> {
  const hash = createHash('sha256').update(readFileSync(pom)).digest('hex').slice(0, 16);
  const dir = refstreamCacheDir(cacheName);
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
              ? `Resolving ${what} needs Maven, and \`${mvn}\` was not found. Install Maven 3 (e.g. apt-get install maven) or set MVN to its path.`
              : `Maven could not resolve ${what} from ${pom} (is Maven Central reachable?): ${error.message}\n${(stdout + stderr).trim().slice(-4000)}`,
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
