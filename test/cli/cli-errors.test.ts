import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli as run } from '../helpers/cli.js';
import { ensureBuiltCli, runBuiltCli } from '../helpers/built-cli.js';

const SECRET = 's3cr3t-pa55';

const cases: Array<{ name: string; args: string[]; field: RegExp; code?: number }> = [
  { name: 'missing --source', args: ['sync', '--table', 'public.t', '--sink', 'jsonl:-'], field: /--source: is required/ },
  {
    name: 'missing --table',
    args: ['sync', '--source', `postgres://app:${SECRET}@db/x`, '--sink', 'jsonl:-'],
    field: /--table: is required/,
  },
  {
    name: 'no sink',
    args: ['sync', '--source', `postgres://app:${SECRET}@db/x`, '--table', 'public.t'],
    field: /--sink: .*at least one sink/,
  },
  {
    name: 'unknown sink',
    args: ['sync', '--source', `postgres://app:${SECRET}@db/x`, '--table', 'public.t', '--sink', `bogus://u:${SECRET}@x`],
    field: /--sink: unsupported sink .*arrow:<file\|->/,
  },
  {
    name: 'arrow sink without a path',
    args: ['sync', '--source', `postgres://app:${SECRET}@db/x`, '--table', 'public.t', '--sink', 'arrow:'],
    field: /--sink: arrow: needs a file path or -/,
  },
  {
    name: 'source not a URL',
    args: ['sync', '--source', `not a url ${SECRET}`, '--table', 'public.t', '--sink', 'jsonl:-'],
    field: /--source: .*is not a URL; expected e\.g\. postgres:\/\//,
  },
  {
    name: 'unsupported source scheme',
    args: ['sync', '--source', `mysql://app:${SECRET}@db/x`, '--table', 'public.t', '--sink', 'jsonl:-'],
    field: /--source: unsupported scheme "mysql:"/,
  },
  {
    name: 'bad number',
    args: ['sync', '--source', `postgres://app:${SECRET}@db/x`, '--table', 'public.t', '--sink', 'jsonl:-', '--batch-rows', 'many'],
    field: /--batch-rows: "many" is not a non-negative number/,
  },
  {
    name: 'bad table name',
    args: ['sync', '--source', `postgres://app:${SECRET}@db/x`, '--table', 'a.b.c', '--sink', 'jsonl:-'],
    field: /--table: must be "table" or "schema\.table"/,
  },
  { name: 'unknown flag', args: ['sync', '--sorce', `postgres://app:${SECRET}@db/x`], field: /Unknown option '--sorce'/ },
  {
    name: 'bad checkpoint store',
    args: [
      'sync',
      '--source',
      `postgres://app:${SECRET}@db/x`,
      '--table',
      'public.t',
      '--sink',
      'jsonl:-',
      '--checkpoint',
      `s3://u:${SECRET}@b/k`,
    ],
    field: /--checkpoint: unsupported store/,
  },
  {
    name: 'bad log format',
    args: ['sync', '--source', `postgres://app:${SECRET}@db/x`, '--table', 'public.t', '--sink', 'jsonl:-', '--log-format', 'xml'],
    field: /--log-format: /,
  },
  { name: 'demo bad rows', args: ['demo', '--rows', '0'], field: /--rows: "0" must be a number ≥ 1/ },
  { name: 'demo missing value', args: ['demo', '--rows'], field: /Option '--rows <value>' argument missing/ },
];

for (const c of cases) {
  test(`bad input (${c.name}) gives one line naming the field, exit 2, no password`, async () => {
    const { code, out, err } = await run(c.args);
    assert.equal(code, c.code ?? 2, err);
    assert.match(err, c.field);
    assert.equal(err.trim().split('\n').length, 1, `one line: ${err}`);
    assert.ok(!(out + err).includes(SECRET), `password leaked: ${err}`);
  });
}

test('a config file is validated by the same schema and reads secrets from the environment', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'refstream-cfg-'));
  const file = join(dir, 'refstream.config.yaml');
  writeFileSync(file, 'source: postgres://app:${DB_PASSWORD}@db/x\ntable: public.t\nsinks: [ "jsonl:-" ]\nbatchRows: -1\n');
  const missing = await run(['sync', '--config', file]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /environment variable DB_PASSWORD is not set/);
  const bad = await run(['sync', '--config', file], { DB_PASSWORD: SECRET });
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--batch-rows: /);
  assert.ok(!bad.err.includes(SECRET));
  writeFileSync(file, 'source: postgres://app:x@db/x\ntable: public.t\nsinks: [ "jsonl:-" ]\ncolour: blue\n');
  const unknown = await run(['sync', '--config', file]);
  assert.match(unknown.err, /unknown key\(s\) colour/);
});

test('an unreachable database fails fast with exit 3, its code and hint, and no password', async () => {
  const { code, err } = await run([
    'sync',
    '--source',
    `postgres://app:${SECRET}@127.0.0.1:1/x`,
    '--table',
    'public.t',
    '--sink',
    'memory',
    '--checkpoint',
    join(mkdtempSync(join(tmpdir(), 'refstream-cp-')), 'cp.json'),
    '--log-format',
    'json',
  ]);
  assert.equal(code, 3);
  assert.match(err, /"code":"RETRIES_EXHAUSTED"/);
  assert.match(err, /at startup/);
  assert.ok(!err.includes(SECRET));
});

// Options that the sink or checkpoint-store constructors reject (CONFIG_INVALID) are usage
// errors of the built command: exit 2 with the reason, not exit 70 "internal".
const constructorCases: Array<{ name: string; args: string[]; field: RegExp }> = [
  { name: 'Kafka sink topic with a space', args: ['--sink', 'kafka://h:9092/bad topic'], field: /topic/i },
  { name: 'Kafka checkpoint topic with a space', args: ['--sink', 'jsonl:-', '--checkpoint', 'kafka://h:9092/bad topic'], field: /topic/i },
];
for (const c of constructorCases) {
  test(`the built CLI exits 2 when a constructor rejects an option (${c.name})`, async () => {
    ensureBuiltCli();
    const dir = mkdtempSync(join(tmpdir(), 'refstream-ctor-'));
    const { code, err } = await runBuiltCli(
      ['sync', '--source', `postgres://app:${SECRET}@127.0.0.1:1/x`, '--table', 'public.t', ...c.args],
      { cwd: dir },
    );
    assert.equal(code, 2, err);
    assert.match(err, c.field);
    assert.doesNotMatch(err, /^refstream: /m, 'reported by the command, not as an internal error');
    assert.ok(!err.includes(SECRET), `password leaked: ${err}`);
  });
}
