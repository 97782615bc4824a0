/**
 * One table of several stops with a definite error, through the built CLI: the error is
 * reported with the table's name (log and metrics), the other tables keep streaming and their
 * outputs converge, the slot keeps advancing, `refstream status` shows the stopped table with
 * its code, and the command's exit code at the end says a table failed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type TestPostgres } from '../../src/testing/index.js';
import { parseLsn } from '../../src/connectors/postgres/index.js';
import { builtCli, ensureBuiltCli } from '../helpers/built-cli.js';
import { exited, waitFor } from '../helpers/process.js';
import { foldJsonl, sortedRows } from '../sinks/fold.js';

let server: TestPostgres;

before(async () => {
  ensureBuiltCli();
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
});

test(
  'a definite error stops one table of three: the others converge, the slot advances, status and metrics name the stopped table',
  { timeout: 120_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'refstream-capture-isolation-'));
    for (const t of ['iso_bad', 'iso_good', 'iso_other']) {
      await server.query(`CREATE TABLE public.${t} (id int PRIMARY KEY, v text NOT NULL)`);
      await server.query(`INSERT INTO public.${t} SELECT g, 'v' || g FROM generate_series(1, 500) g`);
    }
    const child = spawn(
      process.execPath,
      [
        builtCli,
        'sync',
        '--source',
        server.connectionString,
        '--table',
        'public.iso_*',
        '--slot',
        'iso',
        '--sink',
        `jsonl:${join(dir, '{table}.jsonl')}`,
        '--commit-ms',
        '100',
        '--metrics-port',
        '0',
        '--log-format',
        'json',
      ],
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
    const events = () =>
      err
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    try {
      await waitFor(
        () => events().filter((e) => e.event === 'snapshot-complete').length === 3 || child.exitCode !== null,
        30_000,
        'three snapshots',
      );
      assert.equal(child.exitCode, null, err);
      await server.query('ALTER TABLE public.iso_bad ADD COLUMN p point');
      await server.query(`INSERT INTO public.iso_bad VALUES (1000, 'x', '(1,2)')`);
      await waitFor(() => events().some((e) => e.event === 'error') || child.exitCode !== null, 30_000, 'the error of iso_bad');
      const error = events().find((e) => e.event === 'error')!;
      assert.equal(error.table, 'public.iso_bad');
      assert.equal(error.code, 'UNSUPPORTED_TYPE');
      assert.equal(child.exitCode, null, 'the command goes on with the other tables');

      const mark = parseLsn((await server.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l'))[0]!.l);
      await server.query(`UPDATE public.iso_good SET v = v || '!' WHERE id % 3 = 0`);
      await server.query(`DELETE FROM public.iso_other WHERE id % 4 = 0`);
      await server.query(`INSERT INTO public.iso_other SELECT g, 'n' || g FROM generate_series(501, 700) g`);
      for (const t of ['iso_good', 'iso_other']) {
        await waitFor(
          async () => {
            const rows = await server.query<Record<string, unknown>>(`SELECT id, v FROM public.${t}`);
            const folded = sortedRows(foldJsonl(join(dir, `${t}.jsonl`)).rows.values());
            return JSON.stringify(folded.map((r) => ({ id: r['id'], v: r['v'] }))) === JSON.stringify(sortedRows(rows));
          },
          30_000,
          `${t} to converge`,
          200,
        );
      }
      await waitFor(
        async () => {
          const [row] = await server.query<{ c: string }>(
            `SELECT confirmed_flush_lsn::text AS c FROM pg_replication_slots WHERE slot_name = 'iso'`,
          );
          return row !== undefined && parseLsn(row.c) > mark;
        },
        30_000,
        'the slot to advance past the stopped table',
        200,
      );
      const metricsUrl = events().find((e) => e.event === 'metrics')!.url as string;
      const metrics = await (await fetch(metricsUrl)).text();
      assert.match(metrics, /refstream_table_stopped\{table="public.iso_bad",code="UNSUPPORTED_TYPE"\} 1/);
      assert.match(metrics, /refstream_table_stopped\{table="public.iso_good",code=""\} 0/);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
    assert.equal(child.exitCode, 3, `a table failed: the exit code says so\n${err.slice(-2000)}`);
    const status = spawnSync(process.execPath, [builtCli, 'status', '--source', server.connectionString, '--json'], {
      cwd: dir,
      encoding: 'utf8',
    });
    assert.equal(status.status, 0, status.stderr);
    const report = JSON.parse(status.stdout) as {
      captures: Array<{ slot: string; tables: Array<{ table: string; phase: string; stopped: { code: string } | null }> }>;
    };
    const capture = report.captures.find((c) => c.slot === 'iso')!;
    const byTable = new Map(capture.tables.map((t) => [t.table, t]));
    assert.equal(byTable.get('public.iso_bad')?.stopped?.code, 'UNSUPPORTED_TYPE');
    assert.equal(byTable.get('public.iso_good')?.stopped, null);
    assert.equal(byTable.get('public.iso_good')?.phase, 'changes');
  },
);

test(
  'several tables: a sink or checkpoint path without {table}, or no --slot, is a usage error naming the fix; tables: in the config file works like repeated --table',
  { timeout: 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'refstream-capture-usage-'));
    for (const t of ['use_a', 'use_b']) {
      await server.query(`CREATE TABLE public.${t} (id int PRIMARY KEY, v text)`);
      await server.query(`INSERT INTO public.${t} VALUES (1, 'one')`);
    }
    const cli = (args: string[]) => spawnSync(process.execPath, [builtCli, ...args], { cwd: dir, encoding: 'utf8' });
    const base = ['sync', '--source', server.connectionString, '--table', 'public.use_a', '--table', 'public.use_b'];
    const noSlot = cli([...base, '--sink', `jsonl:${join(dir, '{table}.jsonl')}`]);
    assert.equal(noSlot.status, 2, noSlot.stderr);
    assert.match(noSlot.stderr, /--slot: 2 tables share one replication slot; name it with --slot/);
    const noPlaceholder = cli([...base, '--slot', 'use', '--sink', `jsonl:${join(dir, 'all.jsonl')}`]);
    assert.equal(noPlaceholder.status, 2, noPlaceholder.stderr);
    assert.match(
      noPlaceholder.stderr,
      /has no \{table\} placeholder, but 2 tables would write to it; .*jsonl:out\/\{schema\}\.\{table\}\.jsonl/,
    );
    const noMatch = cli(['sync', '--source', server.connectionString, '--table', 'public.nothing_*', '--slot', 'use', '--sink', 'memory']);
    assert.equal(noMatch.status, 2, noMatch.stderr);
    assert.match(noMatch.stderr, /public\.nothing_\* matches no table/);
    // tables: in a config file, run for 3 seconds: both tables' files fold to their rows
    writeFileSync(
      join(dir, 'refstream.config.yaml'),
      `source: ${server.connectionString}\nslot: use\ntables: [public.use_a, public.use_b]\nsinks: ['jsonl:out/{table}.jsonl']\n`,
    );
    const run = cli(['sync', '--duration', '3', '--log-format', 'json']);
    assert.equal(run.status, 0, run.stderr);
    for (const t of ['use_a', 'use_b']) assert.equal(foldJsonl(join(dir, 'out', `${t}.jsonl`)).rows.size, 1, t);
    assert.equal(
      spawnSync(process.execPath, [builtCli, 'drop', '--source', server.connectionString, '--slot', 'use', '--yes'], { encoding: 'utf8' })
        .status,
      0,
    );
  },
);
