/**
 * Poll scheduling of KafkaReferenceTableSource. One poll at a time, the policy every source
 * shares (PollGate): a poll started while another is still running is refused at once with
 * the definite `BUSY`. An aborted poll neither loses nor skips data: it rejects at once, its
 * job finishes in the background, and the next poll of its kind returns that job's batch
 * instead of reading past it.
 */
import type { RecordBatch } from 'apache-arrow';
import { abortError, throwIfAborted } from '../../sdk/errors.js';
import { PollGate } from '../../sdk/poll-gate.js';

/** A poll job's outcome; `apply` advances the checkpoint when the batch is handed out. */
export interface PollResult {
  batch: RecordBatch | null;
  apply: () => void;
}

/** The kinds of poll whose abandoned results are kept apart. */
export type PollKind = 'snapshot' | 'changes';

/** Runs the poll jobs of one source, one at a time. */
export class PollScheduler {
  private readonly gate: PollGate;
  /** A job whose poll was aborted: its result is handed to the next poll of that kind. */
  private abandoned: { kind: PollKind; work: Promise<PollResult> } | null = null;

  /**
   * @param table - the table named in the `BUSY` error
   * @param isClosed - true once the source is closed: an abandoned job's result is then dropped
   * @param throwIfClosed - throws the source's `CLOSED` error
   */
  constructor(
    table: string,
    private readonly isClosed: () => boolean,
    private readonly throwIfClosed: () => void,
  ) {
    this.gate = new PollGate(table);
  }

  /**
   * Runs one poll job. A poll started while another is in flight rejects with `BUSY` and
   * changes nothing, so batches are never interleaved or delivered twice. An aborted poll
   * rejects at once; if its job was already running, the job finishes in the background and
   * its batch is returned by the next poll of the same kind. A poll of the other kind waits
   * for such a job to settle before starting its own, so two jobs never read at once.
   */
  async run(kind: PollKind, job: () => Promise<PollResult>, signal?: AbortSignal): Promise<RecordBatch | null> {
    throwIfAborted(signal);
    return this.gate.run(() => this.runAlone(kind, job, signal));
  }

  private async runAlone(kind: PollKind, job: () => Promise<PollResult>, signal?: AbortSignal): Promise<RecordBatch | null> {
    const abandoned = this.abandoned;
    let work: Promise<PollResult>;
    if (abandoned !== null && abandoned.kind === kind) {
      work = abandoned.work;
      this.abandoned = null;
    } else {
      if (abandoned !== null) await raceAbort(settled(abandoned.work), signal);
      this.throwIfClosed();
      work = job();
    }
    try {
      await raceAbort(work, signal);
    } catch (error) {
      if (signal?.aborted && !this.isClosed()) {
        this.abandoned = { kind, work };
        work.catch(() => undefined);
      }
      throw error;
    }
    const result = await work;
    this.throwIfClosed();
    result.apply(); // only now does checkpoint() move past this batch
    return result.batch;
  }
}

/** Resolves once `promise` settles, either way. */
function settled(promise: Promise<unknown>): Promise<void> {
  return promise.then(
    () => undefined,
    () => undefined,
  );
}

/** Settles like `promise`, or rejects with an AbortError as soon as `signal` fires. */
function raceAbort<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
