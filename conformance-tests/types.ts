/**
 * Public types of the conformance suite: what a connector author provides (a
 * {@link ConformanceTarget}) and what the suite reports back.
 */
import type { ReferenceTableSource, SourceCapabilities } from '../src/sdk/source.js';

/**
 * A row of the standard test table (docs/conformance.md#test-table-and-harness): `id int64 primary key, name utf8,
 * amount decimal(12,2), updated_at timestamp(µs, UTC), active bool, note utf8 nullable`.
 */
export type TestRow = {
  id: bigint;
  name: string;
  /** Decimal text with at most two fractional digits, e.g. `"12.50"`, `"-0.05"`. */
  amount: string;
  updated_at: Date;
  active: boolean;
  /** Nullable and possibly large (the suite writes values of a few MiB). */
  note: string | null;
};

/**
 * Per-source settings the suite asks for. Harnesses pass them to the source's config
 * (`batchRows`, `maxWaitMs`); a harness that ignores them fails the checks that rely on them
 * (e.g. batch size 1), it does not break the others.
 */
export interface SourceOptions {
  /** Maximum rows per batch. The suite uses 1 to hit every batch boundary. */
  batchRows?: number;
  /** How long `pollChanges` waits for the first change before returning `null`. */
  maxWaitMs?: number;
}

/** A fresh, empty test table and the means to write to it and read it through a source. */
export interface TableHarness {
  /**
   * Creates a new source instance over the test table. Every call returns a fresh instance
   * (the suite restores checkpoints into them). `options` extends the standard harness: harnesses that
   * predate it may ignore the argument.
   */
  createSource(options?: SourceOptions): Promise<ReferenceTableSource>;
  /** Inserts rows (one upstream transaction per call). */
  insert(rows: TestRow[]): Promise<void>;
  /** Updates rows by primary key (one upstream transaction per call). */
  update(rows: TestRow[]): Promise<void>;
  /** Deletes rows by primary key (one upstream transaction per call). */
  delete(ids: bigint[]): Promise<void>;
  /** Drops the table and releases everything the harness holds. */
  teardown(): Promise<void>;
  /** Severs the connections of every source of this table (fault hook for ERR-02). */
  interrupt?(): Promise<void>;
  /**
   * Adds a nullable text column `name` at the end of the table (DDL hook for SCH-06/SCH-06N).
   * Rows written afterwards leave it null. An extension of the standard harness; optional.
   */
  addColumn?(name: string): Promise<void>;
  /**
   * Applies one of the schema changes real migrations make (hook for SCH-07, SCH-08, SCH-09),
   * then inserts a row with id `insertId` using the columns left (the suite only looks for
   * its key and the columns of the batch carrying it):
   * - `drop-note`: drops the nullable column `note`;
   * - `rename-name`: renames `name` to `title`;
   * - `widen-amount`: widens `amount` from decimal(12,2) to decimal(14,2).
   * An extension of the standard harness; optional.
   */
  migrate?(change: Migration, insertId: bigint): Promise<void>;
  /**
   * Empties the table in one upstream statement (`TRUNCATE`), hook for CHG-11. An extension
   * of the standard harness; optional.
   */
  truncate?(): Promise<void>;
}

/** A schema change of {@link TableHarness.migrate}. */
export type Migration = 'drop-note' | 'rename-name' | 'widen-amount';

/** What a connector author hands to the suite (the default export of a target module). */
export interface ConformanceTarget {
  /** Shown in reports, e.g. `postgres 16`. */
  name: string;
  /** Claims the suite verifies against the source's own `capabilities`. */
  capabilities?: Partial<SourceCapabilities>;
  /** Creates a fresh, empty test table. Called once per check (and per property run). */
  setup(): Promise<TableHarness>;
  /** Documented behaviours of the database that the expected values must follow. */
  quirks?: TargetQuirks;
  /**
   * Columns the target's table has after the standard ones, e.g. a large value the database
   * stores out of line. SCH-02 expects them after the standard columns, in this order, and
   * every row that carries values (snapshot, insert, update) must hold `valueOf(id)` in them.
   */
  extraColumns?: readonly ExtraColumn[];
}

/** A column beyond the standard test table whose value is a function of the row's key. */
export interface ExtraColumn {
  name: string;
  /** The value every row with primary key `id` (decimal text) holds, as Utf8 text. */
  valueOf(id: string): string;
}

/**
 * Behaviours of a database that a faithful source cannot hide (as ADBC's driver quirks).
 * Each changes what the checks expect, never what they accept from the source.
 */
export interface TargetQuirks {
  /** The database stores `''` as NULL (Exasol, Oracle): text written as `''` is expected to arrive as null. */
  emptyStringIsNull?: boolean;
}

/** How binding a check is. The CLI exits non-zero only for failed MUST checks (and contradicted claims). */
export type Level = 'MUST' | 'SHOULD' | 'MAY';

/** Area of the contract a check belongs to (used to group reports and docs). */
export type Category =
  'capabilities' | 'lifecycle' | 'snapshot' | 'values' | 'schema' | 'changes' | 'checkpoint' | 'errors' | 'abort' | 'memory' | 'property';

/**
 * Which capability values a check needs. An array lists the accepted values, e.g.
 * `{ changes: ['log', 'poll'] }`; a single value must match exactly.
 */
export type CapabilityRequirement = {
  [K in keyof SourceCapabilities]?: SourceCapabilities[K] | readonly SourceCapabilities[K][];
};

/** Settings of one suite run. */
export interface RunSettings {
  /** Seed of every random choice (property runs, generated rows). */
  seed: number;
  /** Runs per model-based property. */
  numRuns: number;
  /** Per-check time limit in milliseconds (property checks get four times as long). */
  timeoutMs: number;
  /**
   * How long a consumer keeps polling while nothing at all is delivered after a marker was
   * written (a source that stopped delivering). Comparisons do not wait for it: they are
   * final once the marker arrives.
   */
  convergeMs: number;
  /**
   * Cap on the time a property check spends shrinking a failing scenario, in milliseconds.
   * `'auto'`: as long as the check's `numRuns` runs would take at the pace of the runs so far
   * (at least 0.5 s), so a failing property check costs about twice a passing one.
   */
  shrinkMs: number | 'auto';
}

/** What a check gets to work with. */
export interface CheckContext {
  readonly target: ConformanceTarget;
  /** The harness of this check's fresh table. */
  readonly harness: TableHarness;
  /** Capabilities the check runs under: the source's own, as verified by CAP-01. */
  readonly capabilities: SourceCapabilities;
  readonly settings: RunSettings;
  /** Aborted when the check runs out of time. */
  readonly signal: AbortSignal;
  /** Creates a source through the harness; the runner closes it when the check ends. */
  createSource(options?: SourceOptions): Promise<ReferenceTableSource>;
  /** Ends the check as skipped. The reason is printed and reported. */
  skip(reason: string): never;
  /** Adds a line of evidence to the check's report entry. */
  note(message: string): void;
}

/** One rule of the contract, with a stable ID. */
export interface ConformanceCheck {
  /** Stable ID, e.g. `SNAP-01`. Never reused for another rule. */
  readonly id: string;
  readonly level: Level;
  readonly category: Category;
  /** One-line statement of the rule the check enforces. */
  readonly rule: string;
  /** How the check tests the rule (for docs). */
  readonly method: string;
  /** Capabilities the check needs; otherwise it is skipped with a reason naming its counterpart. */
  readonly requires?: CapabilityRequirement;
  /** Optional harness hooks the check needs. */
  readonly needsHarness?: readonly ('interrupt' | 'addColumn' | 'truncate' | 'migrate')[];
  /** Capabilities whose claim this check verifies: failing it contradicts the claim. */
  readonly verifies?: readonly (keyof SourceCapabilities)[];
  /** The check that covers the rule for the other capability value, named in skip reasons. */
  readonly counterpart?: string;
  /** True for checks that take longer (property runs); they get a longer time limit. */
  readonly slow?: boolean;
  run(ctx: CheckContext): Promise<void>;
}

export type CheckStatus = 'pass' | 'fail' | 'skip';

/** The outcome of one check. */
export interface CheckResult {
  id: string;
  level: Level;
  category: Category;
  rule: string;
  status: CheckStatus;
  /** Why it failed or was skipped. */
  reason?: string;
  /** Evidence lines (notes) collected while running. */
  notes: string[];
  /** Capability claims this failure contradicts. */
  contradicts: (keyof SourceCapabilities)[];
  durationMs: number;
}

/** Everything a run found. */
export interface ConformanceReport {
  target: string;
  capabilities: SourceCapabilities | null;
  /** Claims of the target (as given). */
  claims: Partial<SourceCapabilities>;
  settings: RunSettings;
  startedAt: string;
  durationMs: number;
  results: CheckResult[];
  summary: { passed: number; failed: number; skipped: number };
  /** Capability claims contradicted by failed checks. */
  contradicted: (keyof SourceCapabilities)[];
  /** True when no MUST check failed and no claim was contradicted. */
  ok: boolean;
}
