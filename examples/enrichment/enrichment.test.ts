// Runs the enrichment example end to end (embedded Postgres + test broker) as its README does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const tsx = createRequire(import.meta.url).resolve('tsx');

test('the enrichment example joins orders with the synced customers table, including a live change', { timeout: 120_000 }, async () => {
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--import', tsx, join(import.meta.dirname, 'demo.ts')], { timeout: 110_000 }, (error, out, err) =>
      error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
    ),
  );
  const lines = stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 4, stdout);
  const byOrder = new Map(lines.map((l) => [String(l.order_id), l]));
  assert.equal(
    (byOrder.get('102') as { customer?: { name?: string } }).customer?.name,
    'Grace H.',
    'the update made in Postgres is visible to later orders',
  );
  assert.ok(byOrder.has('103'), 'an order of an unknown customer is still emitted');
});
