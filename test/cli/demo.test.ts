/**
 * The first-run experience: `refstream demo` with nothing but this package, in a real
 * terminal (tmux) for the progress view and Ctrl-C, and with --duration for scripts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';

const root = resolve(import.meta.dirname, '../..');
const tsx = createRequire(import.meta.url).resolve('tsx');
const cli = join(root, 'src/cli/main.ts');

function hasTmux(): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

test('demo --duration prints a verified summary and exits 0', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'refstream-demo-'));
  const child = spawn(
    process.execPath,
    [
      '--import',
      tsx,
      cli,
      'demo',
      '--rows',
      '20000',
      '--rate',
      '300',
      '--duration',
      '6',
      '--log-format',
      'json',
      '--out',
      join(dir, 'demo.arrow'),
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr.on('data', (c) => (err += c));
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.equal(code, 0, err.slice(-2000));
  const summary = err
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .find((e) => e.event === 'summary');
  assert.ok(summary, err.slice(-2000));
  assert.equal(summary.snapshotRows, 20000);
  assert.ok(summary.changesApplied > 0, 'the background writer made changes that were applied');
  assert.match(summary.verified, /equals the database/);
  assert.ok(existsSync(join(dir, 'demo.arrow')));
});

test(
  'demo in a terminal shows the progress view and Ctrl-C commits and exits 0',
  { timeout: 120_000, skip: hasTmux() ? false : 'tmux is not installed (.ci/run installs it): cannot drive a real terminal' },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'refstream-tty-'));
    const session = `refstream-demo-${process.pid}`;
    const exitFile = join(dir, 'exit-code');
    const command = `cd ${dir} && ${process.execPath} --import ${tsx} ${cli} demo --rows 50000 --rate 200; echo $? > ${exitFile}; sleep 30`;
    execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '160', '-y', '40', command]);
    const capture = () => execFileSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' });
    try {
      let screen = '';
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        screen = capture();
        // The first frame can come before any change; wait for one with the change lag.
        if (/changes [\d,]+ │ commits \d+/.test(screen) && /change lag \d+ ms/.test(screen)) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.match(screen, /snapshot 50,000 rows ✓ │ changes [\d,]+ │ commits \d+/, screen);
      assert.match(screen, /change lag \d+ ms/);
      execFileSync('tmux', ['send-keys', '-t', session, 'C-c']);
      while (!existsSync(exitFile) && Date.now() < deadline + 30_000) await new Promise((r) => setTimeout(r, 200));
      screen = capture();
      assert.equal(readFileSync(exitFile, 'utf8').trim(), '0', screen);
      assert.match(screen, /state verified\s+✓ in-memory table equals the database/, screen);
    } finally {
      try {
        execFileSync('tmux', ['kill-session', '-t', session], { stdio: 'pipe' });
      } catch {
        /* already gone */
      }
    }
  },
);
