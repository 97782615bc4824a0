/**
 * Java programs the interop tests and examples run: a folder with a `pom.xml` (dependencies
 * only) and sources under `src/main/java`. The dependencies are resolved with Maven (cached by
 * the pom's hash), the sources compiled with `javac` once per content (cached by the sources'
 * hash), so a test pays Maven and javac only on the first run on a machine.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { findJava, resolveMavenClasspath } from '../../src/testing/index.js';
import { refstreamCacheDir } from '../../src/testing/java/maven-classpath.js';

/** A compiled program: run its main classes with {@link runJava}. */
export interface JavaProgram {
  java: string;
  /** Compiled classes first, then the resolved dependencies. */
  classpath: string;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.java')) out.push(path);
  }
  return out;
}

/** Resolves and compiles the program in `dir` (a folder with `pom.xml` and `src/main/java`). */
export async function javaProgram(dir: string): Promise<JavaProgram> {
  const name = basename(dir);
  const java = findJava(`The ${name} program`);
  const dependencies = await resolveMavenClasspath({
    pom: join(dir, 'pom.xml'),
    cacheName: `java-${name}`,
    what: `the dependencies of ${dir}`,
  });
  const files = sources(join(dir, 'src', 'main', 'java'));
  const hash = createHash('sha256');
  for (const file of files) hash.update(file).update(readFileSync(file));
  hash.update(dependencies);
  const classes = join(refstreamCacheDir(`java-${name}`), `classes-${hash.digest('hex').slice(0, 16)}`);
  if (!existsSync(join(classes, '.complete'))) {
    const building = `${classes}.building-${process.pid}`;
    rmSync(building, { recursive: true, force: true });
    mkdirSync(building, { recursive: true });
    const javac = join(java === 'java' ? '' : join(java, '..'), 'javac');
    const result = spawnSync(javac, ['-nowarn', '-encoding', 'UTF-8', '-d', building, '-cp', dependencies, ...files], { encoding: 'utf8' });
    if (result.error || result.status !== 0) {
      rmSync(building, { recursive: true, force: true });
      throw new Error(`javac failed on ${dir}: ${result.error?.message ?? ''}${result.stderr}${result.stdout}`.trim());
    }
    spawnSync('touch', [join(building, '.complete')]);
    if (existsSync(join(classes, '.complete'))) rmSync(building, { recursive: true, force: true });
    else {
      rmSync(classes, { recursive: true, force: true });
      renameSync(building, classes);
    }
  }
  return { java, classpath: `${classes}:${dependencies}` };
}

/** The outcome of one run of a main class. */
export interface JavaRun {
  stdout: string;
  stderr: string;
}

/**
 * Runs `mainClass` of `program` with `args` to completion; rejects with its output when it
 * exits non-zero or outlives `timeoutMs`.
 */
export function runJava(
  program: JavaProgram,
  mainClass: string,
  args: string[],
  options: { timeoutMs?: number; jvmArgs?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<JavaRun> {
  return new Promise((resolve, reject) => {
    execFile(
      program.java,
      [...(options.jvmArgs ?? []), '-cp', program.classpath, mainClass, ...args],
      { timeout: options.timeoutMs ?? 180_000, maxBuffer: 256 << 20, env: options.env ?? process.env },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${mainClass} failed: ${error.message}\n${stderr.slice(-6000)}`));
        else resolve({ stdout, stderr });
      },
    );
  });
}
