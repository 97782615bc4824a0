import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectorError, PollGate } from '../../src/index.js';

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

test('a poll started while another runs is refused with BUSY and never called', async () => {
  const gate = new PollGate('public.t');
  const first = deferred<number>();
  const running = gate.run(() => first.promise);
  assert.equal(gate.busy, true);
  let called = false;
  await assert.rejects(
    gate.run(async () => {
      called = true;
      return 2;
    }),
    (error: unknown) =>
      ConnectorError.is(error, 'BUSY') && error.kind === 'definite' && error.table === 'public.t' && /public\.t/.test(error.message),
  );
  assert.equal(called, false);
  first.resolve(1);
  assert.equal(await running, 1);
  assert.equal(gate.busy, false);
});

test('the gate opens again after a poll rejects, and the rejection passes through unchanged', async () => {
  const gate = new PollGate('public.t');
  const failure = new Error('boom');
  await assert.rejects(
    gate.run(() => Promise.reject(failure)),
    (error: unknown) => error === failure,
  );
  assert.equal(gate.busy, false);
  assert.equal(await gate.run(async () => 'next'), 'next');
});

test('sequential polls all run', async () => {
  const gate = new PollGate('public.t');
  const seen: number[] = [];
  for (let i = 0; i < 3; i++) seen.push(await gate.run(async () => i));
  assert.deepEqual(seen, [0, 1, 2]);
});
