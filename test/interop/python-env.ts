/**
 * A Python virtual environment in the project's cache folder (`.cache/python/`), created from a
 * checked-in requirements file with pinned versions. One environment per requirements file
 * content, so editing the file builds a fresh one; an existing one is reused. What it does is
 * printed; a missing `python3`, `venv` or failing `pip` is an error naming the fix, never a skip.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (two levels above this file). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** A ready environment. */
export interface PythonEnv {
  /** The environment's interpreter. */
  python: string;
  dir: string;
}

function run(cmd: string, args: string[], what: string, fix: string): void {
  const result = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], encoding: 'utf8' });
  if (result.error) throw new Error(`${what} failed: ${result.error.message}. ${fix}`);
  if (result.status !== 0) throw new Error(`${what} failed (exit ${result.status}). ${fix}`);
}

/**
 * Returns the environment for `requirementsFile`, creating it (python3 -m venv + pip install -r)
 * when missing. `REFSTREAM_PYTHON` names another base interpreter (default `python3`).
 */
export function pythonEnv(requirementsFile: string): PythonEnv {
  const requirements = readFileSync(requirementsFile, 'utf8');
  const base = process.env.REFSTREAM_PYTHON ?? 'python3';
  const hash = createHash('sha256').update(requirements).update(base).digest('hex').slice(0, 12);
  const name = basename(dirname(requirementsFile));
  const dir = join(PROJECT_ROOT, '.cache', 'python', `${name}-${hash}`);
  const python = join(dir, 'bin', 'python');
  if (existsSync(join(dir, '.complete'))) return { python, dir };

  const building = `${dir}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  const fix = `Install Python 3 with venv and pip (Debian/Ubuntu: apt-get install python3 python3-venv python3-pip) or set REFSTREAM_PYTHON to an interpreter that has them.`;
  console.error(`[python-env] creating ${building} with ${base} -m venv`);
  run(base, ['-m', 'venv', building], `${base} -m venv`, fix);
  console.error(`[python-env] pip install -r ${requirementsFile}`);
  run(
    join(building, 'bin', 'python'),
    ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', requirementsFile],
    'pip install',
    `Check that PyPI is reachable (or configure PIP_INDEX_URL) and that ${requirementsFile} resolves.`,
  );
  // Marked complete only after pip succeeded; a concurrent builder may have finished first.
  run(
    join(building, 'bin', 'python'),
    ['-c', `open(${JSON.stringify(join(building, '.complete'))}, 'w').close()`],
    'marking the environment',
    fix,
  );
  if (existsSync(join(dir, '.complete'))) rmSync(building, { recursive: true, force: true });
  else {
    rmSync(dir, { recursive: true, force: true });
    renameSync(building, dir);
  }
  console.error(`[python-env] ready: ${dir}`);
  return { python, dir };
}
