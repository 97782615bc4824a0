/**
 * `refstream sync --ha` as an operator meets it through the built CLI: setups that cannot be
 * fenced are refused before anything starts (with the reason and the way out); two replicas
 * elect one leader, the standby logs who leads, the metrics say who leads with which epoch,
 * `refstream status` shows the lease (leader, epoch, lease age), and a leader stopped with
 * SIGTERM releases the lease so that the standby takes over at once.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type TestPostgres } from '../../src/testing/index.js';
import type { StatusReport } from '../../src/cli/status.js';
import { ensureBuiltCli, runBuiltCli, spawnCli } from '../helpers/built-cli.js';
import { exited, waitFor } from '../helpers/process.js';
import { freePort } from '../../src/testing/free-port.js';

const NOWHERE = 'postgres://refstream@127.0.0.1:1/nowhere';
let pg: TestPostgres;
const dir = mkdtempSync(join(tmpdir(), 'refstream-ha-cli-'));

before(async () => {
  ensureBuiltCli();
  pg = await startPostgres({ password: 'ha-Secret-7' });
  await pg.query('CREATE TABLE public.dim (id int8 PRIMARY KEY, v text)');
  await pg.query("INSERT INTO public.dim SELECT g, 'v' || g FROM generate_series(1, 500) g");
});
after(async () => {
  await pg?.stop();
});

const refusals: Array<[string, string[], RegExp]> = [
  [
    'a file sink',
    ['--sink', `jsonl:${join(dir, 'out.jsonl')}`, '--checkpoint', NOWHERE],
    /jsonl:.*cannot be fenced.*postgres:\/\/…#schema\.table/,
  ],
  ['stdout', ['--sink', 'arrow:-', '--checkpoint', NOWHERE], /arrow:.*cannot be fenced/],
  ['a Kafka sink without transactions', ['--sink', 'kafka://127.0.0.1:1/t', '--checkpoint', NOWHERE], /needs transactions=true/],
  [
    'a checkpoint file',
    ['--sink', 'memory', '--checkpoint', join(dir, 'cp.json')],
    /--ha needs a postgres:\/\/ checkpoint store.*a checkpoint file/,
  ],
  [
    'a Kafka checkpoint store',
    ['--sink', 'memory', '--checkpoint', 'kafka://127.0.0.1:1/cp'],
    /--ha needs a postgres:\/\/ checkpoint store.*a Kafka checkpoint store/,
  ],
];

for (const [what, args, message] of refusals) {
  test(`--ha with ${what} is refused before anything starts`, async () => {
    const result = await runBuiltCli(['sync', '--source', NOWHERE, '--table', 'public.dim', '--ha', ...args, '--log-format', 'json']);
    assert.equal(result.code, 2, result.err);
    assert.match(result.err, message);
  });
}

test('--group without --ha, and --ha with refstream snapshot, are usage errors', async () => {
  const group = await runBuiltCli(['sync', '--source', NOWHERE, '--table', 'public.dim', '--sink', 'memory', '--group', 'g']);
  assert.equal(group.code, 2);
  assert.match(group.err, /--group: only used with --ha/);
  const snapshot = await runBuiltCli(['snapshot', '--source', NOWHERE, '--table', 'public.dim', '--sink', 'memory', '--ha']);
  assert.equal(snapshot.code, 2);
  assert.match(snapshot.err, /--ha: refstream snapshot is a one-shot export/);
});

test('two replicas: one leads, the standby logs who leads, metrics and status agree, SIGTERM hands over at once', async () => {
  const ports = [await freePort(), await freePort()];
  const start = (id: string, port: number) => {
    const child = spawnCli([
      'sync',
      '--source',
      pg.connectionString,
      '--table',
      'public.dim',
      '--sink',
      `${pg.connectionString}#copy_dim`,
      '--checkpoint',
      pg.connectionString,
      '--ha',
      '--group',
      'dim-sync',
      '--replica-id',
      id,
      '--metrics-port',
      String(port),
      '--log-format',
      'json',
    ]);
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.stdout!.resume();
    return { child, err: () => err };
  };
  const metric = async (port: number, name: string) => {
    const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const line = body.split('\n').find((l) => l.startsWith(`${name}{`));
    return line === undefined ? null : Number(line.split(' ').at(-1));
  };
  const a = start('alpha', ports[0]!);
  await waitFor(() => /"event":"leader"/.test(a.err()), 30_000, 'alpha to lead');
  const b = start('beta', ports[1]!);
  try {
    await waitFor(() => /"event":"standby".*"leader":"alpha"/.test(b.err()), 30_000, 'beta to report that alpha leads');
    assert.match(b.err(), /waiting as a standby; alpha leads with epoch 1/);
    await waitFor(async () => (await metric(ports[0]!, 'refstream_ha_leader')) === 1, 10_000, 'alpha metrics');
    assert.equal(await metric(ports[1]!, 'refstream_ha_leader'), 0);
    assert.equal(await metric(ports[0]!, 'refstream_ha_epoch'), 1);
    assert.equal(await metric(ports[1]!, 'refstream_ha_epoch'), 1);

    const status = await runBuiltCli([
      'status',
      '--source',
      pg.connectionString,
      '--table',
      'public.dim',
      '--checkpoint',
      pg.connectionString,
      '--json',
    ]);
    assert.equal(status.code, 0, status.err);
    assert.ok(!status.out.includes('ha-Secret-7'));
    const report = JSON.parse(status.out) as StatusReport;
    assert.equal(report.leases.length, 1);
    assert.deepEqual(
      [report.leases[0]!.group, report.leases[0]!.leader, report.leases[0]!.epoch, report.leases[0]!.state],
      ['dim-sync', 'alpha', 1, 'held'],
    );
    assert.ok(report.leases[0]!.leaseAgeSeconds < 4);
    const human = await runBuiltCli([
      'status',
      '--source',
      pg.connectionString,
      '--table',
      'public.dim',
      '--checkpoint',
      pg.connectionString,
    ]);
    assert.match(human.out, /HA GROUP\s+LEADER\s+EPOCH/);
    assert.match(human.out, /dim-sync\s+alpha\s+1\s+held/);

    const stoppedAt = Date.now();
    a.child.kill('SIGTERM');
    await exited(a.child);
    assert.equal(a.child.exitCode, 0, a.err().slice(-2000));
    assert.match(a.err(), /"event":"lease-released"/);
    await waitFor(() => /"event":"leader".*"epoch":2/.test(b.err()), 10_000, 'beta to lead');
    const handover = Date.now() - stoppedAt;
    assert.ok(handover < 3000, `handover after SIGTERM took ${handover} ms (lease 4 s: the lease was released)`);
    await pg.query("INSERT INTO public.dim VALUES (100000, 'after the handover')");
    await waitFor(
      async () => (await pg.query('SELECT 1 FROM public.copy_dim WHERE id = 100000')).length === 1,
      15_000,
      'the new leader to sync',
    );
  } finally {
    for (const r of [a, b]) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
    await Promise.all([exited(a.child), exited(b.child)]);
  }
  assert.equal(b.child.exitCode, 0, b.err().slice(-2000));
});
