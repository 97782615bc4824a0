// Runs the Kafka Streams example end to end (embedded Postgres, test broker, the Java application) as its README does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const tsx = createRequire(import.meta.url).resolve('tsx');

test(
  'the Kafka Streams example joins orders with the customers topic refstream keeps, including a live change',
  { timeout: 600_000 },
  async () => {
    const started = Date.now();
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--import', tsx, join(import.meta.dirname, 'demo.ts')], { timeout: 590_000 }, (error, out, err) =>
        error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
      ),
    );
    console.log(`demo: ${Date.now() - started} ms`);
    const lines = stdout
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{"order_id"'))
      .map((l) => JSON.parse(l) as { order_id: string; customer: { name: string; segment: string } | null });
    assert.equal(lines.length, 4, stdout);
    const byOrder = new Map(lines.map((l) => [l.order_id, l.customer]));
    assert.deepEqual(byOrder.get('100'), { name: 'Ada', segment: 'enterprise' });
    assert.deepEqual(byOrder.get('101'), { name: 'Grace', segment: 'smb' }, 'joined before the change');
    assert.deepEqual(byOrder.get('102'), { name: 'Grace H.', segment: 'enterprise' }, 'the update made in Postgres reaches later orders');
    assert.equal(byOrder.get('103'), null, 'an order of an unknown customer is still emitted');
  },
);
