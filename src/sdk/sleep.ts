/** Waiting that a poll's `AbortSignal` can cut short. */
import { abortError } from './errors.js';

/** Resolves after `ms`; rejects with an AbortError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Resolves when one of `waiters` is called (the caller calls them all when something arrives),
 * after `ms`, or at once when `ready()`; rejects with an AbortError as soon as `signal` aborts.
 */
export function sleepUntilWoken(waiters: Set<() => void>, ready: () => boolean, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    if (ready()) return resolve();
    const finish = () => {
      waiters.delete(done);
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const done = () => {
      finish();
      resolve();
    };
    const onAbort = () => {
      finish();
      reject(abortError(signal));
    };
    waiters.add(done);
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
