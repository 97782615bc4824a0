/** A small bounded hand-off of batches from a producer (EXPORT tunnels, fetch pages) to polls. */
import type { RecordBatch } from 'apache-arrow';
import { abortError } from '../../sdk/errors.js';

/** Batches waiting for `pollSnapshot`; producers pause while it is full (`hasRoom` false). */
export class BatchQueue {
  private readonly batches: RecordBatch[] = [];
  private finished = false;
  private error: unknown;
  private wake: (() => void) | undefined;
  private readonly roomWaiters: (() => void)[] = [];

  constructor(
    /** Producers pause at this many queued batches. */
    readonly highWater = 4,
    private readonly onDrain: () => void = () => {},
  ) {}

  get size(): number {
    return this.batches.length;
  }

  /** True while the producer may keep going. */
  get hasRoom(): boolean {
    return this.batches.length < this.highWater;
  }

  push(batch: RecordBatch): void {
    this.batches.push(batch);
    this.notify();
  }

  finish(): void {
    this.finished = true;
    this.notify();
  }

  fail(error: unknown): void {
    if (this.error === undefined) this.error = error;
    this.notify();
    for (const wake of this.roomWaiters.splice(0)) wake();
  }

  /** The next batch, or null once the producer finished and everything was taken. */
  async take(signal?: AbortSignal): Promise<RecordBatch | null> {
    for (;;) {
      if (this.batches.length > 0) {
        const batch = this.batches.shift()!;
        if (this.hasRoom) {
          this.onDrain();
          for (const wake of this.roomWaiters.splice(0)) wake();
        }
        return batch;
      }
      if (this.error !== undefined) throw this.error;
      if (this.finished) return null;
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          this.wake = undefined;
          reject(abortError(signal));
        };
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        this.wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
      });
    }
  }

  /** Waits until there is room again (for producers that can await), or the queue failed. */
  async waitForRoom(): Promise<void> {
    while (!this.hasRoom && this.error === undefined) await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
