import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tableFromArrays, type RecordBatch } from 'apache-arrow';
import { PollScheduler, type PollResult } from '../../src/connectors/kafka/poll-scheduler.js';
import { ConnectorError, definite, isAbortError } from '../../src/sdk/errors.js';

/** A poll job the test settles by hand, counting how often it ran and its batch was applied. */
function manualJob(): { job: () => Promise<PollResult>; finish: (batch: RecordBatch | null) => void; runs: number; applied: number } {
  let finish!: (batch: RecordBatch | null) => void;
  const handle = {
    runs: 0,
    applied: 0,
    finish: (batch: RecordBatch | null) => finish(batch),
    job: (): Promise<PollResult> => {
      handle.runs++;
      return new Promise<PollResult>((resolve) => {
        finish = (batch) => resolve({ batch, apply: () => handle.applied++ });
      });
    },
  };
  return handle;
}

function batchOf(value: number): RecordBatch {
  return tableFromArrays({ id: Int32Array.from([value]) }).batches[0]!;
}

function scheduler(state = { closed: false }): PollScheduler {
  return new PollScheduler(
    'customers',
    () => state.closed,
    () => {
      if (state.closed) throw definite('CLOSED', 'the source is closed', { table: 'customers' });
    },
  );
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('PollScheduler', () => {
  test('a poll started while another runs is refused with BUSY and runs nothing; the poll in flight is unaffected', async () => {
    const polls = scheduler();
    const first = manualJob();
    const second = manualJob();
    const running = polls.run('snapshot', first.job);
    await assert.rejects(polls.run('snapshot', second.job), (e) => ConnectorError.is(e, 'BUSY') && /customers/.test((e as Error).message));
    assert.equal(second.runs, 0);
    const batch = batchOf(1);
    first.finish(batch);
    assert.equal(await running, batch);
    assert.equal(first.applied, 1);
    // The gate is open again once the poll settled.
    const third = manualJob();
    const next = polls.run('snapshot', third.job);
    third.finish(null);
    assert.equal(await next, null);
    assert.equal(third.runs, 1);
  });

  test('a pre-aborted poll rejects with an AbortError, even while another poll runs, and runs nothing', async () => {
    const polls = scheduler();
    const first = manualJob();
    const running = polls.run('changes', first.job);
    const other = manualJob();
    await assert.rejects(polls.run('changes', other.job, AbortSignal.abort()), (e) => isAbortError(e));
    assert.equal(other.runs, 0);
    first.finish(null);
    assert.equal(await running, null);
  });

  test("an aborted poll's batch is returned by the next poll of its kind, applied once, and its job not run again", async () => {
    const polls = scheduler();
    const aborted = manualJob();
    const controller = new AbortController();
    const pending = polls.run('changes', aborted.job, controller.signal);
    await tick();
    controller.abort();
    await assert.rejects(pending, (e) => isAbortError(e));
    assert.equal(aborted.applied, 0, 'an aborted poll must not advance the checkpoint');
    // The abandoned job is still running: the next poll is not BUSY, it waits for that job.
    const next = manualJob();
    const resumed = polls.run('changes', next.job);
    await tick();
    const batch = batchOf(7);
    aborted.finish(batch);
    assert.equal(await resumed, batch);
    assert.equal(next.runs, 0);
    assert.equal(aborted.applied, 1);
  });

  test('a poll of the other kind waits for an abandoned job to settle before its own job starts', async () => {
    const polls = scheduler();
    const aborted = manualJob();
    const controller = new AbortController();
    const pending = polls.run('snapshot', aborted.job, controller.signal);
    await tick();
    controller.abort();
    await assert.rejects(pending, (e) => isAbortError(e));
    const other = manualJob();
    const running = polls.run('changes', other.job);
    await tick();
    assert.equal(other.runs, 0, 'two jobs must never read at once');
    aborted.finish(batchOf(1));
    await tick();
    assert.equal(other.runs, 1);
    other.finish(null);
    assert.equal(await running, null);
    assert.equal(aborted.applied, 0);
  });

  test('once the source is closed an aborted poll keeps nothing and later polls are CLOSED', async () => {
    const state = { closed: false };
    const polls = scheduler(state);
    const aborted = manualJob();
    const controller = new AbortController();
    const pending = polls.run('changes', aborted.job, controller.signal);
    await tick();
    state.closed = true;
    controller.abort();
    await assert.rejects(pending, (e) => isAbortError(e));
    aborted.finish(batchOf(1));
    await assert.rejects(polls.run('changes', manualJob().job), (e) => ConnectorError.is(e, 'CLOSED'));
    assert.equal(aborted.applied, 0);
  });
});
