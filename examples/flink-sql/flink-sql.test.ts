// Runs the Flink SQL example end to end (embedded Postgres, test broker, Flink) as its README does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const tsx = createRequire(import.meta.url).resolve('tsx');

test(
  'the Flink SQL example gives each order the customer as it was when the order was placed (event-time temporal join)',
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
      .map((l) => JSON.parse(l) as { order_id: string; customer_name: string | null; customer_segment: string | null });
    assert.equal(lines.length, 4, stdout);
    const byOrder = new Map(lines.map((l) => [l.order_id, l.customer_name === null ? null : [l.customer_name, l.customer_segment]]));
    assert.deepEqual(byOrder.get('100'), ['Ada', 'enterprise']);
    assert.deepEqual(byOrder.get('101'), ['Grace', 'smb'], 'the customer as it was when order 101 was placed');
    assert.deepEqual(byOrder.get('102'), ['Grace H.', 'enterprise'], 'the change made in Postgres applies to orders placed after it');
    assert.equal(byOrder.get('103'), null, 'an order of an unknown customer is kept, without customer columns');
  },
);
