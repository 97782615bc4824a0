import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../../src/cli/metrics.js';

test('the metrics endpoint serves Prometheus text with rows, commits, retries and errors by code', async () => {
  const metrics = new Metrics('public.customers', () => ({
    phase: 'changes', snapshotRows: 100, changeRows: 7, batches: 3, commits: 2, retries: 1,
    lastCheckpoint: null, lastCommitAt: Date.now() - 1500, detachedSinks: [],
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
