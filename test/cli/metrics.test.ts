import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metrics } from '../../src/cli/metrics.js';
import { ensureBuiltCli, spawnCli } from '../helpers/built-cli.js';

test('the metrics endpoint serves Prometheus text with rows, commits, retries and errors by code', async () => {
  const metrics = new Metrics('public.customers', () => ({
    phase: 'changes',
    snapshotRows: 100,
    changeRows: 7,
    batches: 3,
    commits: 2,
    retries: 1,
    lastCheckpoint: null,
    lastCommitAt: Date.now() - 1500,
    detachedSinks: [],
  }));
  metrics.countError('CONNECTION_LOST');
  const port = await metrics.listen(0);
  try {
    const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(body, /refstream_rows_total\{table="public.customers",kind="snapshot"\} 100/);
    assert.match(body, /refstream_rows_total\{table="public.customers",kind="changes"\} 7/);
    assert.match(body, /refstream_commits_total\{table="public.customers"\} 2/);
    assert.match(body, /refstream_errors_total\{table="public.customers",code="CONNECTION_LOST"\} 1/);
    assert.match(body, /refstream_snapshot_complete\{table="public.customers"\} 1/);
    const age = Number(/refstream_last_commit_age_seconds\{[^}]*\} ([\d.]+)/.exec(body)![1]);
    assert.ok(age >= 1.4 && age < 10, String(age));
    assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);
  } finally {
    await metrics.close();
  }
});

test('the built CLI with --metrics-port on a port in use exits 2 at once and starts nothing', async () => {
  ensureBuiltCli();
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const port = (busy.address() as AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), 'refstream-metrics-'));
  try {
    const child = spawnCli(
      [
        'sync',
        '--source',
        'postgres://app@127.0.0.1:1/x',
        '--table',
        'public.t',
        '--sink',
        `jsonl:${join(dir, 'out.jsonl')}`,
        '--checkpoint',
        join(dir, 'cp.json'),
        '--metrics-port',
        String(port),
        '--log-format',
        'json',
      ],
      { cwd: dir },
    );
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.stdin!.end();
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.on('close', (c, s) => resolve([c, s])),
    );
    clearTimeout(killer);
    assert.equal(signal, null, `still running after 20 s: ${err}`);
    assert.equal(code, 2, err);
    assert.match(err, new RegExp(`--metrics-port ${port}: the port is in use`));
    assert.doesNotMatch(err, /"event":"start"/, 'the run must not start');
    assert.deepEqual(readdirSync(dir), [], 'no sink output or checkpoint was created');
  } finally {
    busy.close();
  }
});
