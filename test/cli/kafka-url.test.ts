/** Kafka URLs of the CLI: several brokers, TLS, SASL; errors name the flag and hide the password. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { parseKafkaUrl } from '../../src/cli/kafka-url.js';
import { startKafkaTestBroker, startPostgres } from '../../src/testing/index.js';
import { changeBatch, kcatRead } from '../kafka/helpers.js';
import { createCheckpointStore, createSink, joinKafkaTransactions } from '../../src/cli/endpoints.js';
import { CliError } from '../../src/cli/errors.js';
import type { KafkaSink } from '../../src/connectors/kafka/index.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { ensureBuiltCli, runBuiltCli } from '../helpers/built-cli.js';

test('parses brokers, topic, TLS and SASL from the URL', () => {
  const plain = parseKafkaUrl('--sink', 'kafka://a:9092,b.example:9093,[::1]:9094/orders%2Fv1?format=debezium');
  assert.deepEqual(plain.connection, { brokers: ['a:9092', 'b.example:9093', '[::1]:9094'] });
  assert.equal(plain.topic, 'orders/v1');
  assert.equal(plain.params.get('format'), 'debezium');

  const secure = parseKafkaUrl('--sink', 'kafkas://key:s%40cret@pkc.example:9092/t?sasl=scram-sha-512');
  assert.deepEqual(secure.connection, {
    brokers: ['pkc.example:9092'],
    ssl: true,
    sasl: { mechanism: 'scram-sha-512', username: 'key', password: 's@cret' },
  });
  assert.equal(parseKafkaUrl('--sink', 'kafka://u:p@h:1/t').connection.sasl?.mechanism, 'plain');
  assert.equal(parseKafkaUrl('--sink', 'kafka://h:1/t?tls=true').connection.ssl, true);

  const dir = mkdtempSync(join(tmpdir(), 'refstream-kafka-url-'));
  writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n');
  assert.deepEqual(parseKafkaUrl('--sink', `kafka://h:1/t?ca=${join(dir, 'ca.pem')}`).connection.ssl, {
    ca: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n',
  });
});

test('bad Kafka URLs are refused naming the flag and the fix, never the password', () => {
  const cases: Array<[string, RegExp]> = [
    ['kafka://u:hunter2pw@host/t', /broker "host".*host:port/],
    ['kafka://u:hunter2pw@h:9092/', /names no topic/],
    ['kafka://u:hunter2pw@h:9092/t?sasl=md5', /sasl=md5 is not one of plain, scram-sha-256, scram-sha-512/],
    ['kafka://h:9092/t?sasl=plain', /needs credentials/],
    ['kafka://u@h:9092/t', /no password/],
    ['kafka://u:hunter2pw@h:9092/t?ca=/nonexistent/ca.pem', /cannot read the CA file/],
    ['kafka://u:hunter2pw@h:9092/t?tls=yes', /tls=yes must be true or false/],
  ];
  for (const [url, message] of cases) {
    assert.throws(
      () => parseKafkaUrl('--checkpoint', url),
      (e: Error) => {
        assert.match(e.message, /^--checkpoint: /);
        assert.match(e.message, message);
        assert.doesNotMatch(e.message, /hunter2pw/);
        return true;
      },
    );
  }
});

test('unknown URL parameters are refused naming the parameter and the accepted ones, per flag', () => {
  const cases: Array<[string, string, RegExp]> = [
    [
      '--sink',
      'kafka://u:hunter2pw@h:9092/t?onTruncat=fail',
      /^--sink: unknown parameter "onTruncat" in the Kafka sink URL; accepted: format, schemas, schemaNamePrefix, compression, onTruncate, controlRecords, controlTopic, idempotent, createTopic, transactions, transactionalId, tls, ca, sasl$/,
    ],
    [
      '--source',
      'kafka://h:9092/t?format=json',
      /^--source: unknown parameter "format" in the Kafka source URL; accepted: globalOrder, controlTopic, tls, ca, sasl$/,
    ],
    [
      '--checkpoint',
      'kafka://h:9092/t?compression=gzip',
      /^--checkpoint: unknown parameter "compression" in the Kafka checkpoint URL; accepted: tls, ca, sasl$/,
    ],
    ['--sink', 'kafka://h:9092/t?password=hunter2pw', /unknown parameter "password"/],
    ['--sink', 'kafka://h:9092/t?format=json&format=arrow', /^--sink: parameter "format" is given twice/],
    ['--sink', 'kafka://h:9092/t?onTruncate=drop', /^--sink: onTruncate=drop is not one of control-record, fail$/],
    ['--sink', 'kafka://h:9092/t?controlRecords=no', /^--sink: controlRecords=no must be true or false$/],
    ['--sink', 'kafka://h:9092/t?idempotent=1', /^--sink: idempotent=1 must be true or false$/],
    ['--sink', 'kafka://h:9092/t?compression=zip', /^--sink: compression=zip is not one of none, gzip$/],
    ['--source', 'kafka://h:9092/t?globalOrder=maybe', /^--source: globalOrder=maybe must be true or false$/],
  ];
  for (const [flag, url, message] of cases) {
    assert.throws(
      () => parseKafkaUrl(flag, url),
      (e: Error & { exitCode?: number }) => {
        assert.match(e.message, message);
        assert.doesNotMatch(e.message, /hunter2pw/);
        return true;
      },
      url,
    );
  }
});

test('sink URLs set format, compression, onTruncate, controlRecords, controlTopic and idempotent; source URLs globalOrder and controlTopic', () => {
  assert.deepEqual(
    parseKafkaUrl(
      '--sink',
      'kafka://h:9092/t?format=debezium&compression=gzip&onTruncate=fail&controlRecords=false&idempotent=false&tls=true',
    ).options,
    {
      format: 'debezium',
      compression: 'gzip',
      onTruncate: 'fail',
      controlRecords: false,
      idempotent: false,
    },
  );
  assert.deepEqual(parseKafkaUrl('--sink', 'kafka://h:9092/t').options, {});
  assert.deepEqual(parseKafkaUrl('--sink', 'kafka://h:9092/t?format=debezium&schemas=true&schemaNamePrefix=shop').options, {
    format: 'debezium',
    schemas: true,
    schemaNamePrefix: 'shop',
  });
  assert.deepEqual(parseKafkaUrl('--source', 'kafka://h:9092/t?globalOrder=false').options, { globalOrder: false });
  assert.deepEqual(parseKafkaUrl('--sink', 'kafka://h:9092/t?controlTopic=t-control').options, { controlTopic: 't-control' });
  assert.deepEqual(parseKafkaUrl('--source', 'kafka://h:9092/t?controlTopic=t-control').options, { controlTopic: 't-control' });
  assert.deepEqual(parseKafkaUrl('--checkpoint', 'kafka://u:p@h:9092/t?sasl=plain').options, {});
});

test('the built CLI refuses a misspelt Kafka URL parameter with a usage error (exit 2)', async () => {
  ensureBuiltCli();
  const result = await runBuiltCli([
    'snapshot',
    '--source',
    'postgres://u:hunter2pw@127.0.0.1:1/db',
    '--table',
    'public.items',
    '--sink',
    'kafka://127.0.0.1:1/items?onTruncat=fail',
  ]);
  assert.equal(result.code, 2, result.err);
  assert.match(
    result.err,
    /--sink: unknown parameter "onTruncat" in the Kafka sink URL; accepted: format, schemas, schemaNamePrefix, compression, onTruncate, controlRecords, controlTopic, idempotent, createTopic, transactions, transactionalId, tls, ca, sasl/,
  );
  assert.doesNotMatch(result.err, /hunter2pw/);
});

test('the built CLI refuses schemas=true with a format other than debezium, naming the fix', async () => {
  ensureBuiltCli();
  const result = await runBuiltCli([
    'snapshot',
    '--source',
    'postgres://u:pw@127.0.0.1:1/db',
    '--table',
    'public.items',
    '--sink',
    'kafka://127.0.0.1:1/items?format=json&schemas=true',
  ]);
  assert.equal(result.code, 2, result.err);
  assert.match(result.err, /schemas applies to the debezium format only, not json/);
  assert.match(result.err, /format=debezium&schemas=true/);
});

test('snapshot to a Kafka sink listing every broker of a 3-broker cluster, read back with kcat', async () => {
  const broker = await startKafkaTestBroker({
    brokers: 3,
    topics: ['cli-items:3', 'cli-checkpoints:1', 'cli-plain:3', 'cli-trunc:1', 'cli-dbz:1'],
  });
  const pg = await startPostgres();
  try {
    await pg.query(`CREATE TABLE items (id bigint PRIMARY KEY, name text)`);
    await pg.query(`INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 30) g`);
    const brokers = broker.brokers.join(',');
    const snapshot = await runCli([
      'snapshot',
      '--source',
      pg.connectionString,
      '--table',
      'public.items',
      '--sink',
      `kafka://${brokers}/cli-items?compression=gzip`,
      '--checkpoint',
      `kafka://${brokers}/cli-checkpoints`,
      '--log-format',
      'json',
    ]);
    assert.equal(snapshot.code, 0, snapshot.err);
    const records = await kcatRead(broker.bootstrapServers, 'cli-items');
    const bad = await runCli([
      'snapshot',
      '--source',
      pg.connectionString,
      '--table',
      'public.items',
      '--sink',
      `kafka://${brokers}/cli-items?compression=zip`,
    ]);
    assert.equal(bad.code, 2);
    // URL parameters reach the sink: no control records, and a truncate fails the sink.
    const plain = await runCli([
      'snapshot',
      '--source',
      pg.connectionString,
      '--table',
      'public.items',
      '--sink',
      `kafka://${brokers}/cli-plain?controlRecords=false&idempotent=false`,
    ]);
    assert.equal(plain.code, 0, plain.err);
    const plainRecords = await kcatRead(broker.bootstrapServers, 'cli-plain');
    assert.equal(plainRecords.length, 30);
    assert.ok(plainRecords.every((r) => r.headers['refstream-control'] === undefined));
    // The built CLI writes Debezium's envelope with Connect schemas when told so.
    ensureBuiltCli();
    const withSchemas = await runBuiltCli([
      'snapshot',
      '--source',
      pg.connectionString,
      '--table',
      'public.items',
      '--sink',
      `kafka://${brokers}/cli-dbz?format=debezium&schemas=true&schemaNamePrefix=shop`,
    ]);
    assert.equal(withSchemas.code, 0, withSchemas.err);
    const dbz = await kcatRead(broker.bootstrapServers, 'cli-dbz');
    assert.equal(dbz.length, 30);
    for (const r of dbz) {
      const key = JSON.parse(r.key!) as { schema: { name: string; fields: unknown[] }; payload: { id: number } };
      assert.equal(key.schema.name, 'shop.public.items.Key');
      assert.deepEqual(key.schema.fields, [{ type: 'int64', optional: false, field: 'id' }]);
      const value = JSON.parse(r.payload!) as {
        schema: { name: string; fields: Array<{ field: string; name?: string; fields?: unknown[] }> };
        payload: { after: { id: number; name: string }; op: string };
      };
      assert.equal(value.schema.name, 'shop.public.items.Envelope');
      assert.deepEqual(value.schema.fields.find((f) => f.field === 'after')!.fields, [
        { type: 'int64', optional: false, field: 'id' },
        { type: 'string', optional: true, field: 'name' },
      ]);
      assert.equal(value.payload.op, 'r');
      assert.equal(value.payload.after.name, `item ${key.payload.id}`);
    }
    const failing = await createSink(`kafka://${brokers}/cli-trunc?onTruncate=fail`);
    await assert.rejects(failing.write(changeBatch([['truncate', null, 1]])), (e) => ConnectorError.is(e, 'TABLE_TRUNCATED'));
    await failing.close();
    const rows = records.filter((r) => r.headers['refstream-control'] === undefined && r.payload !== null);
    assert.equal(new Set(rows.map((r) => r.key)).size, 30);
    assert.equal(new Set(rows.map((r) => r.partition)).size, 3, 'records spread over the partitions of all three brokers');
    const checkpoints = await kcatRead(broker.bootstrapServers, 'cli-checkpoints');
    assert.ok(checkpoints.length > 0, 'the checkpoint was stored in Kafka');

    // And back: the topic as a source, into JSON Lines.
    const dir = mkdtempSync(join(tmpdir(), 'refstream-kafka-source-'));
    const out = join(dir, 'items.jsonl');
    const back = await runCli([
      'snapshot',
      '--source',
      `kafka://${brokers}/cli-items?globalOrder=true`,
      '--table',
      'public.items',
      '--sink',
      `jsonl:${out}`,
      '--checkpoint',
      join(dir, 'cp.json'),
      '--log-format',
      'json',
    ]);
    assert.equal(back.code, 0, back.err);
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { op: string; row: { id: string; name: string } });
    const loaded = lines
      .filter((l) => l.op === 'snapshot')
      .map((l) => l.row)
      .sort((a, b) => Number(a.id) - Number(b.id));
    const expected = await pg.query<{ id: string; name: string }>('SELECT id::text AS id, name FROM items ORDER BY items.id');
    assert.deepEqual(loaded, expected);
  } finally {
    await pg.stop();
    await broker.stop();
  }
});

test('unencoded @ # : in a Kafka password are parsed as the password and never shown', () => {
  const hash = parseKafkaUrl('--sink', 'kafka://u:hun#ter2pw@h:9092/t');
  assert.deepEqual(hash.connection, { brokers: ['h:9092'], sasl: { mechanism: 'plain', username: 'u', password: 'hun#ter2pw' } });
  const at = parseKafkaUrl('--sink', 'kafka://app:hunter@2pw@h:9092,g:9093/t');
  assert.deepEqual(at.connection.brokers, ['h:9092', 'g:9093']);
  assert.equal(at.connection.sasl?.password, 'hunter@2pw');
  // an @ in the query is not taken for the end of credentials
  assert.throws(
    () => parseKafkaUrl('--sink', 'kafka://h:9092/t?ca=/nonexistent@x/ca.pem'),
    /cannot read the CA file \/nonexistent@x\/ca\.pem/,
  );
  // / and ? must be percent-encoded; the refusal still hides the password
  for (const url of [
    'kafka://u:hun/ter2pw@h:9092/t',
    'kafka://u:hun?ter2pw@h:9092/t',
    'kafka://u:hunter2pw%zz@h:9092/t',
    'kafka://u:hunter2pw@@bad host/t',
  ]) {
    assert.throws(
      () => parseKafkaUrl('--sink', url),
      (e: Error) => {
        assert.match(e.message, /^--sink: /);
        assert.doesNotMatch(e.message, /hunter|ter2pw/, e.message);
        return true;
      },
    );
  }
});

test('SASL/PLAIN without TLS warns once that the password travels unencrypted; TLS or SCRAM does not', async () => {
  const { createKafkaClient } = await import('../../src/connectors/kafka/client.js');
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  try {
    const sasl = (mechanism: 'plain' | 'scram-sha-256') => ({ mechanism, username: 'u', password: 'hunter2pw' });
    createKafkaClient({ brokers: ['plain-a:9092'], sasl: sasl('plain') });
    createKafkaClient({ brokers: ['plain-a:9092'], sasl: sasl('plain') });
    createKafkaClient({ brokers: ['tls-b:9092'], sasl: sasl('plain'), ssl: true });
    createKafkaClient({ brokers: ['scram-c:9092'], sasl: sasl('scram-sha-256') });
    createKafkaClient({ brokers: ['anon-d:9092'] });
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('warning', onWarning);
  }
  const ours = warnings.filter((w) => (w as { code?: string }).code === 'KAFKA_PLAINTEXT_PASSWORD');
  assert.equal(ours.length, 1, ours.map((w) => w.message).join('\n'));
  assert.match(ours[0]!.message, /plain-a:9092: SASL\/PLAIN without TLS sends the password unencrypted; use kafkas:\/\//);
  assert.doesNotMatch(ours[0]!.message, /hunter2pw/);
});

test('transactions=true: the transactional.id is derived from table, source and topic, and the Kafka checkpoint store joins the sink', async () => {
  const source = 'postgres://app:s3cretpw@db-1:5432/crm?sslmode=require';
  const identity = { table: 'public.customers', sourceUrl: source };
  const sink = (await createSink('kafka://h:9092/customers?transactions=true', identity)) as KafkaSink;
  assert.equal(sink.transactional, true);
  assert.equal(sink.transactionalId, 'refstream:public.customers@postgres://db-1:5432/crm->customers');
  const chosen = (await createSink('kafka://h:9092/customers?transactions=true&transactionalId=crm-customers', identity)) as KafkaSink;
  assert.equal(chosen.transactionalId, 'crm-customers');
  assert.equal(((await createSink('kafka://h:9092/customers', identity)) as KafkaSink).transactionalId, null);

  const usage = (pattern: RegExp) => (e: unknown) => e instanceof CliError && e.exitCode === 2 && pattern.test(e.message);
  const fileStore = await createCheckpointStore(join(mkdtempSync(join(tmpdir(), 'refstream-tx-')), 'cp.json'), identity.table, source);
  assert.throws(() => joinKafkaTransactions(fileStore, [sink], 'cp.json'), usage(/needs --checkpoint kafka:\/\//));
  const kafkaStore = await createCheckpointStore('kafka://h:9092/refstream-checkpoints', identity.table, source);
  assert.throws(
    () => joinKafkaTransactions(kafkaStore, [sink, chosen], 'kafka://h:9092/refstream-checkpoints'),
    usage(/both have transactions=true/),
  );
  joinKafkaTransactions(kafkaStore, [sink], 'kafka://h:9092/refstream-checkpoints');
  // Joined: the sink now refuses a second store.
  assert.throws(
    () => joinKafkaTransactions(kafkaStore, [sink], 'kafka://h:9092/refstream-checkpoints'),
    (e) => ConnectorError.is(e, 'CONFIG_INVALID'),
  );
  assert.throws(() => parseKafkaUrl('--sink', 'kafka://h:9092/t?transactions=yes'), usage(/transactions=yes must be true or false/));
});
