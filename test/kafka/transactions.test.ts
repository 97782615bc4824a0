/**
 * Transactional KafkaSink against the real broker: a commit makes the records and the
 * checkpoint visible together; records of a transaction that was never committed (crash,
 * close without a checkpoint) stay invisible to read_committed consumers while a
 * read_uncommitted one sees them; a second producer with the same transactional.id fences
 * the first, whose next commit fails with a definite PRODUCER_FENCED error.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startKafkaTestBroker, type KafkaTestBroker } from '../../src/testing/index.js';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaCheckpointStore, KafkaReferenceTableSource, KafkaSink } from '../../src/connectors/kafka/index.js';
import { ReferenceTable } from '../../src/sdk/table.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { encodeCheckpointEnvelope, type StoredCheckpoint } from '../../src/sdk/checkpoint-store.js';
import { CHECKPOINT_VERSION } from '../../src/sdk/checkpoint.js';
import { sync } from '../../src/sdk/sync.js';
import { MemorySource, MemoryStore } from '../../src/sources/memory/index.js';
import { changeBatch, customers, quiet, row, snapshotBatch } from './helpers.js';

const run = promisify(execFile);
let broker: KafkaTestBroker;

before(async () => {
  broker = await startKafkaTestBroker({
    topics: [
      'tx-abort:3',
      'tx-fence:2',
      'tx-flush:2',
      'tx-retry:2',
      'tx-read:3',
      { name: 'tx-checkpoints', config: { 'cleanup.policy': 'compact' } },
      { name: 'tx-aborted-checkpoints', config: { 'cleanup.policy': 'compact' } },
    ],
  });
});
after(async () => {
  await broker?.stop();
});

/** Data records (no control records) of a topic as kcat reads them with the given isolation level. */
async function dataRecords(
  topic: string,
  isolation: 'read_committed' | 'read_uncommitted',
): Promise<Array<{ key: string; value: string | null; position: string | undefined }>> {
  const { stdout } = await run(
    'kcat',
    ['-C', '-b', broker.bootstrapServers, '-t', topic, '-e', '-J', '-q', '-X', `isolation.level=${isolation}`],
    { maxBuffer: 64 << 20 },
  );
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { key: string; payload: string | null; headers?: string[] })
    .filter((r) => !(r.headers ?? []).includes('refstream-control'))
    .map((r) => ({ key: r.key, value: r.payload, position: positionOf(r.headers ?? []) }));
}

function positionOf(headers: string[]): string | undefined {
  const i = headers.indexOf('refstream-position');
  return i >= 0 && i % 2 === 0 ? headers[i + 1] : undefined;
}

function ids(records: Array<{ key: string }>): string[] {
  return records.map((r) => (JSON.parse(r.key) as { id: string }).id).sort((a, b) => Number(a) - Number(b));
}

function pair(topic: string, transactionalId: string, key: string): { sink: KafkaSink; store: KafkaCheckpointStore } {
  const sink = new KafkaSink({ brokers: broker.brokers, topic, transactions: true, transactionalId, ...quiet });
  const store = new KafkaCheckpointStore({ brokers: broker.brokers, topic: 'tx-checkpoints', key, transactionsOf: sink, ...quiet });
  return { sink, store };
}

function checkpointAt(n: number): StoredCheckpoint {
  return {
    checkpoint: { version: CHECKPOINT_VERSION, connector: 'test', table: 'public.customers', phase: 'changes', position: String(n) },
    sinks: {},
  };
}

describe('KafkaSink transactions', () => {
  test('a commit shows records and checkpoint together; an uncommitted transaction is invisible to read_committed, visible to read_uncommitted', async () => {
    const first = pair('tx-abort', 'tx-abort-id', 'abort-key');
    assert.equal(await first.store.load(), null);
    await first.sink.snapshotStart({ restart: false });
    await first.sink.write(snapshotBatch([row(1), row(2), row(3)]));
    await first.sink.snapshotComplete();
    await first.sink.flush();
    await first.store.save(checkpointAt(1));
    // Written and acknowledged, but the process "dies" before its checkpoint commits the transaction.
    await first.sink.write(
      changeBatch([
        ['insert', row(4), 10],
        ['delete', 1, 11],
      ]),
    );
    await first.sink.flush();
    assert.deepEqual(ids(await dataRecords('tx-abort', 'read_uncommitted')), ['1', '1', '2', '3', '4']);

    // The restart (same transactional.id) fences the dead process and aborts its open transaction.
    const second = pair('tx-abort', 'tx-abort-id', 'abort-key');
    const loaded = await second.store.load();
    assert.deepEqual(loaded?.checkpoint, checkpointAt(1).checkpoint);
    assert.deepEqual(ids(await dataRecords('tx-abort', 'read_committed')), ['1', '2', '3']);
    assert.deepEqual(ids(await dataRecords('tx-abort', 'read_uncommitted')), ['1', '1', '2', '3', '4']);

    // Replayed and committed with its checkpoint: visible once.
    await second.sink.write(
      changeBatch([
        ['insert', row(4), 10],
        ['delete', 1, 11],
      ]),
    );
    await second.sink.flush();
    await second.store.save(checkpointAt(11));
    // Close with an open transaction no checkpoint covers: aborted, not committed.
    await second.sink.write(changeBatch([['insert', row(5), 12]]));
    await second.sink.close();
    await second.store.close();
    await first.store.close();

    const committed = await dataRecords('tx-abort', 'read_committed');
    assert.deepEqual(ids(committed), ['1', '1', '2', '3', '4']);
    assert.equal(committed.filter((r) => r.value === null).length, 1, 'the delete is one tombstone');
    assert.ok(ids(await dataRecords('tx-abort', 'read_uncommitted')).includes('5'), 'the aborted record is in the log');
    const reader = new KafkaCheckpointStore({ brokers: broker.brokers, topic: 'tx-checkpoints', key: 'abort-key', ...quiet });
    assert.deepEqual((await reader.load())?.checkpoint, checkpointAt(11).checkpoint);
    await reader.close();
  });

  test('KafkaReferenceTableSource and KafkaCheckpointStore read committed records only: rows and checkpoints of aborted transactions are skipped', async () => {
    // A crashed writer's open transaction, aborted by its successor, lies among the rows the
    // successor's control records release.
    const first = pair('tx-read', 'tx-read-id', 'read-key');
    await first.store.load();
    await first.sink.write(snapshotBatch([row(1), row(2), row(3)]));
    await first.sink.flush();
    await first.store.save(checkpointAt(1));
    await first.sink.write(changeBatch([['insert', row(4), 10]]));
    await first.sink.flush();
    const second = pair('tx-read', 'tx-read-id', 'read-key');
    await second.store.load();
    await second.sink.write(changeBatch([['insert', row(5), 11]]));
    await second.sink.flush();
    await second.store.save(checkpointAt(11));
    await Promise.all([second.sink.close(), second.store.close(), first.store.close()]);
    const source = new KafkaReferenceTableSource({ brokers: broker.brokers, topic: 'tx-read', maxWaitMs: 50, ...quiet });
    const table = new ReferenceTable();
    for (let b = await source.pollSnapshot(); b !== null; b = await source.pollSnapshot()) table.apply(b);
    await source.close();
    assert.deepEqual((table.toJSON() as Array<{ id: string }>).map((r) => r.id).sort(), ['1', '2', '3', '5']);

    // A checkpoint record whose transaction was aborted never loads.
    const store = new KafkaCheckpointStore({ brokers: broker.brokers, topic: 'tx-aborted-checkpoints', key: 'k', ...quiet });
    await store.save(checkpointAt(1));
    const producer = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).producer({
      transactionalId: 'tx-aborted-writer',
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    const transaction = await producer.transaction();
    await transaction.send({
      topic: 'tx-aborted-checkpoints',
      messages: [{ key: 'k', value: JSON.stringify(encodeCheckpointEnvelope(checkpointAt(99))) }],
    });
    await transaction.abort();
    await producer.disconnect();
    const reader = new KafkaCheckpointStore({ brokers: broker.brokers, topic: 'tx-aborted-checkpoints', key: 'k', ...quiet });
    assert.deepEqual((await reader.load())?.checkpoint, checkpointAt(1).checkpoint);
    await Promise.all([store.close(), reader.close()]);
  });

  test('a sink with the same transactional.id fences the older one: its next commit fails with a definite PRODUCER_FENCED', async () => {
    const older = pair('tx-fence', 'tx-fence-id', 'fence-key');
    await older.store.load();
    await older.sink.write(snapshotBatch([row(1), row(2)]));
    await older.sink.flush();
    await older.store.save(checkpointAt(1));

    const newer = pair('tx-fence', 'tx-fence-id', 'fence-key');
    assert.deepEqual((await newer.store.load())?.checkpoint, checkpointAt(1).checkpoint);

    // The zombie keeps writing: whatever step reaches the broker first is refused.
    const zombie = (async () => {
      await older.sink.write(changeBatch([['insert', row(3), 5]]));
      await older.sink.flush();
      await older.store.save(checkpointAt(5));
    })();
    await assert.rejects(zombie, (error: unknown) => {
      assert.ok(ConnectorError.is(error), String(error));
      assert.equal(error.code, 'PRODUCER_FENCED');
      assert.equal(error.kind, 'definite');
      assert.match(error.message, /tx-fence-id/);
      return true;
    });
    // The newer one carries on; nothing of the zombie is visible.
    await newer.sink.write(changeBatch([['insert', row(4), 6]]));
    await newer.sink.flush();
    await newer.store.save(checkpointAt(6));
    assert.deepEqual(ids(await dataRecords('tx-fence', 'read_committed')), ['1', '2', '4']);
    assert.deepEqual((await newer.store.load())?.checkpoint, checkpointAt(6).checkpoint);
    await Promise.all([older.sink.close().catch(() => undefined), newer.sink.close(), older.store.close(), newer.store.close()]);
  });

  test('the runner retrying after a transient source failure aborts the open transaction: read_committed gets every change once', async () => {
    const memory = new MemoryStore(customers);
    const values = (id: number, name: string) => ({
      id: BigInt(id),
      name,
      amount: `${id}.50`,
      updated_at: new Date(0),
      active: true,
      note: null,
    });
    memory.insert(Array.from({ length: 20 }, (_, i) => values(i + 1, `c${i + 1}`)));
    const { sink, store } = pair('tx-retry', 'tx-retry-id', 'retry-key');
    let changesAtRetry: number | null = null;
    let interrupted = false;
    const run = sync({
      source: () => new MemorySource(memory, { maxWaitMs: 5 }),
      sinks: [sink],
      checkpoints: store,
      commitEvery: { rows: 100_000, ms: 600_000 }, // commits only at snapshot end and stop
      retry: { initialDelayMs: 1, maxDelayMs: 10 },
      until: (p) => changesAtRetry !== null && p.changeRows - changesAtRetry >= 10,
    });
    run.on('snapshot-complete', () => {
      for (let i = 1; i <= 10; i++) memory.update([values(i, `updated ${i}`)]);
    });
    run.on('batch', ({ kind }) => {
      if (kind === 'changes' && !interrupted) {
        interrupted = true;
        memory.interrupt();
      }
    });
    run.on('retry', () => (changesAtRetry = run.progress.changeRows));
    await run.done;
    await store.close();

    const committed = (await dataRecords('tx-retry', 'read_committed')).filter((r) => r.position !== undefined);
    assert.equal(committed.length, 10, JSON.stringify(committed));
    assert.equal(new Set(committed.map((r) => r.position)).size, 10, 'no change twice');
    const all = (await dataRecords('tx-retry', 'read_uncommitted')).filter((r) => r.position !== undefined);
    assert.ok(all.length > 10, `the attempt before the retry wrote changes that were aborted (${all.length} in the log)`);
  });

  test('without a joined checkpoint store each flush commits the transaction', async () => {
    const sink = new KafkaSink({ brokers: broker.brokers, topic: 'tx-flush', transactions: true, ...quiet });
    assert.equal(sink.transactionalId, 'refstream-tx-flush');
    await sink.write(snapshotBatch([row(1), row(2)]));
    await sink.flush();
    assert.deepEqual(ids(await dataRecords('tx-flush', 'read_committed')), ['1', '2']);
    await sink.write(changeBatch([['insert', row(3), 3]]));
    await sink.close();
    assert.deepEqual(ids(await dataRecords('tx-flush', 'read_committed')), ['1', '2', '3']);
  });

  test('a checkpoint store cannot join a sink that is not transactional', () => {
    const sink = new KafkaSink({ brokers: broker.brokers, topic: 'tx-flush', ...quiet });
    assert.throws(
      () => new KafkaCheckpointStore({ brokers: broker.brokers, topic: 'tx-checkpoints', key: 'k', transactionsOf: sink }),
      (error: unknown) => ConnectorError.is(error) && error.code === 'CONFIG_INVALID' && /transactions: true/.test(error.hint ?? ''),
    );
  });
});
