/**
 * Failure and skip signalling for checks, and small assertion helpers whose messages say
 * which rule was broken and what was seen instead.
 */
import { ConnectorError, isAbortError, type ErrorKind } from '../src/sdk/errors.js';

/** Thrown by a check when the source breaks the rule. */
export class CheckFailure extends Error {
  override readonly name = 'CheckFailure';
  /** Capability claims this failure disproves (beyond the check's own `verifies`). */
  contradicts: string[] = [];
}

/** Thrown by `ctx.skip(reason)`. */
export class CheckSkipped extends Error {
  override readonly name = 'CheckSkipped';
}

/** Fails the check with `message` unless `condition` holds. */
export function check(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new CheckFailure(typeof message === 'function' ? message() : message);
}

/** Fails the check. */
export function fail(message: string): never {
  throw new CheckFailure(message);
}

/** A one-line description of a thrown value. */
export function describeError(error: unknown): string {
  if (ConnectorError.is(error)) return `ConnectorError ${error.kind} ${error.code}: ${error.message}`;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return describe(error);
}

/** Awaits `promise` and returns what it rejected with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>, what: string): Promise<unknown> {
  try {
    const value = await promise;
    return fail(`${what} resolved (with ${describe(value)}) instead of rejecting`);
  } catch (error) {
    if (error instanceof CheckFailure) throw error;
    return error;
  }
}

/** Awaits `promise` and fails unless it rejects with a ConnectorError of `code` (and `kind`). */
export async function expectConnectorError(
  promise: Promise<unknown>,
  what: string,
  code: string,
  kind: ErrorKind = 'definite',
): Promise<ConnectorError> {
  const error = await rejection(promise, what);
  check(ConnectorError.is(error), () => `${what} rejected with ${describeError(error)}, expected a ConnectorError ${kind} ${code}`);
  check(error.code === code, `${what} rejected with code ${error.code}, expected ${code}`);
  check(error.kind === kind, `${what} rejected with a ${error.kind} ${code}, expected it ${kind}`);
  return error;
}

/** Awaits `promise` and fails unless it rejects with an `AbortError`. */
export async function expectAbortError(promise: Promise<unknown>, what: string): Promise<void> {
  const error = await rejection(promise, what);
  check(isAbortError(error), () => `${what} rejected with ${describeError(error)}, expected an AbortError`);
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Races `promise` against a deadline; fails naming `what` when the deadline passes first. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailure(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** A short description of an unexpected value for failure messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'no prototype'})`;
  return `${typeof value} ${String(value).slice(0, 40)}`;
}
