/**
 * Public types of the sink conformance suite: what a sink author provides (a
 * {@link SinkConformanceTarget}) and what the suite reports back.
 */
import type { Sink } from '../../src/sdk/sink.js';
import type { CheckStatus, Level, RunSettings } from '../types.js';

/**
 * A value as the sink stored it, read back by the harness. The suite compares values in
 * canonical form, so each column may come back in any lossless rendering:
 * `id` as bigint or decimal text; `amount` as decimal text (any scale); `updated_at` as a
 * `Date` or ISO-8601 text (`2024-01-01T00:00:00.123456Z`, a space instead of `T` and no zone
 * mean UTC); `active` as a boolean; text columns as strings or null.
 */
export type StoredValue = string | number | bigint | boolean | Date | null;

/** One row as the sink stored it: column name → value. */
export type StoredRow = Record<string, StoredValue>;

/**
 * A fresh, empty destination and the means to write to it through new sink instances and
 * read back what it holds.
 */
export interface SinkHarness {
  /**
   * Creates a new sink instance writing to this harness's destination. The suite calls it
   * again to model a restart (a new process continuing the same output), so every instance
   * must write to the same file, topic or table, under the same `name`.
   */
  createSink(): Promise<Sink>;
  /**
   * Everything the destination holds now, as rows (one entry per stored row, in any order).
   * Called after `flush()` or `close()`; it reads what a consumer of the destination would
   * see (a file folded by a reader, a topic read to its end, a table selected). A row stored
   * twice under one key must appear twice: the suite reports it.
   */
  readBack(): Promise<StoredRow[]>;
  /** Removes the destination and releases everything the harness holds. */
  teardown(): Promise<void>;
  /**
   * Optional fault hook (SINK-12): makes the destination fail the sink's next operation the way
   * a lost connection does (its sessions are severed, or its next statement fails with a
   * transient error). Without it SINK-12 is skipped with a reason.
   */
  interrupt?(): Promise<void>;
}

/**
 * What a sink supports. A check that needs a capability the sink does not declare is skipped
 * with a reason; its counterpart check (ID with an `N` suffix) verifies the refusal instead.
 */
export interface SinkCapabilities {
  /**
   * A change batch whose schema adds a nullable column is stored with the new column
   * (default true). `false`: the sink refuses such a batch with a definite ConnectorError
   * (e.g. `SCHEMA_INCOMPATIBLE`), it never drops the column silently.
   */
  addColumn: boolean;
  /**
   * A `truncate` change row clears what the sink holds (default true). `false`: the sink
   * refuses it with a definite ConnectorError (e.g. `TABLE_TRUNCATED`).
   */
  truncate: boolean;
}

/** What a sink author hands to the suite (the default export of a sink target module). */
export interface SinkConformanceTarget {
  /** Shown in reports, e.g. `postgres table sink`. */
  name: string;
  /** What the sink supports (missing entries default to true). */
  capabilities?: Partial<SinkCapabilities>;
  /** Creates a fresh, empty destination. Called once per check (and per property run). */
  setup(): Promise<SinkHarness>;
  /** Documented behaviours of the destination that the expected values must follow. */
  quirks?: SinkQuirks;
}

/** Behaviours of a destination that a faithful sink cannot hide. */
export interface SinkQuirks {
  /** The destination stores `''` as NULL (Exasol, Oracle): text written as `''` is expected back as null. */
  emptyStringIsNull?: boolean;
}

/** Area of the sink contract a check belongs to. */
export type SinkCategory = 'delivery' | 'values' | 'flush' | 'schema' | 'truncate' | 'snapshot' | 'replay' | 'isolation' | 'property';

/** What a sink check gets to work with. */
export interface SinkCheckContext {
  readonly target: SinkConformanceTarget;
  readonly harness: SinkHarness;
  readonly capabilities: SinkCapabilities;
  readonly settings: RunSettings;
  /** Aborted when the check runs out of time. */
  readonly signal: AbortSignal;
  /** Creates a sink through the harness; the runner closes it when the check ends. */
  createSink(): Promise<Sink>;
  /** A context over another fresh destination (`target.setup()`), torn down when the check ends. */
  fresh(): Promise<SinkCheckContext>;
  /** Ends the check as skipped. The reason is printed and reported. */
  skip(reason: string): never;
  /** Adds a line of evidence to the check's report entry. */
  note(message: string): void;
}

/** One rule of the sink contract, with a stable ID. */
export interface SinkCheck {
  /** Stable ID, e.g. `SINK-01`. Never reused for another rule. */
  readonly id: string;
  readonly level: Level;
  readonly category: SinkCategory;
  /** One-line statement of the rule the check enforces. */
  readonly rule: string;
  /** How the check tests the rule (for docs). */
  readonly method: string;
  /** Capability values the check needs; otherwise it is skipped with a reason naming its counterpart. */
  readonly requires?: Partial<SinkCapabilities>;
  /** The check that covers the rule for the other capability value, named in skip reasons. */
  readonly counterpart?: string;
  /** Optional harness hooks the check needs; without them it is skipped with a reason. */
  readonly needsHarness?: readonly 'interrupt'[];
  /** True for checks that take longer (property runs); they get four times the time limit. */
  readonly slow?: boolean;
  run(ctx: SinkCheckContext): Promise<void>;
}

/** The outcome of one sink check. */
export interface SinkCheckResult {
  id: string;
  level: Level;
  category: SinkCategory;
  rule: string;
  status: CheckStatus;
  /** Why it failed or was skipped. */
  reason?: string;
  /** Evidence lines (notes) collected while running. */
  notes: string[];
  /** Always empty: sink capabilities are declarations, not claims a check can contradict. */
  contradicts: string[];
  durationMs: number;
}

/** Everything a sink suite run found. */
export interface SinkConformanceReport {
  target: string;
  /** The capabilities the checks ran under (declarations with defaults). */
  capabilities: SinkCapabilities;
  settings: RunSettings;
  startedAt: string;
  durationMs: number;
  results: SinkCheckResult[];
  summary: { passed: number; failed: number; skipped: number };
  /** True when no MUST check failed. */
  ok: boolean;
}
