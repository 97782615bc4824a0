/**
 * Poll scheduling of KafkaReferenceTableSource: polls run one at a time, in call order, and an
 * aborted poll neither loses nor skips data (its batch goes to the next poll of its kind).
 */
import type { RecordBatch } from 'apache-arrow';
import { abortError, throwIfAborted } from '../../sdk/errors.js';

/** A poll job's outcome; `apply` advances the checkpoint when the batch is handed out. */
export interface PollResult {
  batch: RecordBatch | null;
  apply: () => void;
}

/** The kinds of poll whose abandoned results are kept apart. */
export type PollKind = 'snapshot' | 'changes';

/** Serialises poll jobs of one source. */
export class PollScheduler {
  /** Resolves when the poll in progress is done. */
  private turn: Promise<void> = Promise.resolve();
  /** A poll whose caller gave up (abort): its result is handed to the next poll of that kind. */
  private abandoned: { kind: PollKind; work: Promise<PollResult> } | null = null;

  /**
   * @param isClosed - true once the source is closed: an abandoned job's result is then dropped
   * @param throwIfClosed - throws the source's `CLOSED` error
   */
  constructor(
    private readonly isClosed: () => boolean,
    private readonly throwIfClosed: () => void,
  ) {}

  /**
   * Runs one poll job. A concurrent poll waits its turn, so batches are never interleaved or
   * delivered twice. An aborted poll rejects at once; if its job was already running, the job
   * finishes in the background and its batch is returned by the next poll of the same kind.
   */
  async run(kind: PollKind, job: () => Promise<PollResult>, signal?: AbortSignal): Promise<RecordBatch | null> {
    throwIfAborted(signal);
    const previous = this.turn;
    let release!: () => void;
    this.turn = new Promise<void>((resolve) => (release = resolve));
    try {
      await raceAbort(previous, signal);
    } catch (error) {
      void previous.then(release); // keep the order for polls queued behind this one
      throw error;
    }
    let work: Promise<PollResult>;
    if (this.abandoned !== null && this.abandoned.kind === kind) {
      work = this.abandoned.work;
      this.abandoned = null;
    } else {
      try {
        this.throwIfClosed();
      } catch (error) {
        release();
        throw error;
      }
      work = job();
    }
    try {
      await raceAbort(work, signal);
    } catch (error) {
      if (signal?.aborted && !this.isClosed()) {
        this.abandoned = { kind, work };
        void work.then(release, release);
        work.catch(() => undefined);
        throw error;
      }
      release();
      throw error;
    }
    release();
    const result = await work;
    this.throwIfClosed();
    result.apply(); // only now does checkpoint() move past this batch
    return result.batch;
  }
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
