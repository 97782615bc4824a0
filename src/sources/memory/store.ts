/**
 * MemoryStore: a keyed table with an append-only change log, the upstream of
 * {@link MemorySource}. It behaves like a tiny database with commit order, so tests,
 * examples and the conformance suite can exercise the full source contract in-process.
 */
import type { Field } from 'apache-arrow';
import { validateDescriptor, type ChangeType, type TableDescriptor } from '../../sdk/batch.js';
import { cellKey, type Cell } from '../../sdk/values.js';

/** A row as given to the store: column name → value (anything the column's builder accepts). */
export type MemoryRow = Record<string, unknown>;

/** One logged change. `values` are in table column order (`null` for truncate). */
export interface LogEntry {
  /** Commit sequence number of the transaction (1, 2, …). */
  readonly seq: number;
  /** Index of the change within its transaction. */
  readonly index: number;
  readonly type: ChangeType;
  readonly values: readonly unknown[] | null;
}

/** Changes made inside one {@link MemoryStore.transaction}. */
export interface MemoryTransaction {
  insert(row: MemoryRow): void;
  update(row: MemoryRow): void;
  /** Replaces the row with key `oldKey` by `row` whose key differs (logged as delete + insert). */
  updateKey(oldKey: unknown, row: MemoryRow): void;
  delete(key: unknown): void;
  truncate(): void;
}

/**
 * The in-memory upstream table. Every mutation is a transaction with the next commit
 * sequence number; `compact(seq)` forgets history so old checkpoints expire, as WAL
 * removal does in a database.
 */
export class MemoryStore {
  readonly descriptor: TableDescriptor;
  private readonly keyIndexes: number[];
  private readonly rows = new Map<string, unknown[]>();
  private readonly log: LogEntry[] = [];
  private lastSeq = 0;
  private compactedThrough = 0;
  private readonly commitListeners = new Set<() => void>();
  private readonly interruptListeners = new Set<() => void>();
  /** The highest commit sequence a source reported as durably stored downstream. */
  committedSeq = 0;

  constructor(descriptor: TableDescriptor) {
    validateDescriptor(descriptor);
    this.descriptor = descriptor;
    this.keyIndexes = descriptor.primaryKey.map((k) => descriptor.fields.findIndex((f) => f.name === k));
  }

  /** Table columns. */
  get fields(): readonly Field[] {
    return this.descriptor.fields;
  }

  /** Commit sequence of the last transaction. */
  get seq(): number {
    return this.lastSeq;
  }

  /** Oldest commit sequence still servable (a change position before it has expired). */
  get oldestAvailableSeq(): number {
    return this.compactedThrough;
  }

  /** Number of rows now. */
  get size(): number {
    return this.rows.size;
  }

  /** Runs `fn` as one transaction; its changes commit together with one sequence number. */
  transaction(fn: (tx: MemoryTransaction) => void): number {
    const seq = this.lastSeq + 1;
    const entries: LogEntry[] = [];
    const staged = new Map(this.rows);
    const push = (type: ChangeType, values: unknown[] | null) => entries.push({ seq, index: entries.length, type, values });
    const tx: MemoryTransaction = {
      insert: (row) => {
        const values = this.toValues(row);
        const key = this.keyOfValues(values);
        if (staged.has(key)) throw new Error(`duplicate key ${key} in ${this.descriptor.table}`);
        staged.set(key, values);
        push('insert', values);
      },
      update: (row) => {
        const values = this.toValues(row);
        const key = this.keyOfValues(values);
        if (!staged.has(key)) throw new Error(`no row with key ${key} in ${this.descriptor.table}`);
        staged.set(key, values);
        push('update', values);
      },
      updateKey: (oldKey, row) => {
        const old = this.keyOfUser(oldKey);
        const oldValues = staged.get(old);
        if (!oldValues) throw new Error(`no row with key ${old} in ${this.descriptor.table}`);
        staged.delete(old);
        push('delete', this.keyOnly(oldValues));
        const values = this.toValues(row);
        staged.set(this.keyOfValues(values), values);
        push('insert', values);
      },
      delete: (key) => {
        const k = this.keyOfUser(key);
        const values = staged.get(k);
        if (!values) return;
        staged.delete(k);
        push('delete', this.keyOnly(values));
      },
      truncate: () => {
        staged.clear();
        push('truncate', null);
      },
    };
    fn(tx);
    if (entries.length === 0) return this.lastSeq;
    this.rows.clear();
    for (const [k, v] of staged) this.rows.set(k, v);
    this.lastSeq = seq;
    this.log.push(...entries);
    for (const listener of this.commitListeners) listener();
    return seq;
  }

  /** Inserts rows in one transaction. */
  insert(rows: readonly MemoryRow[]): number {
    return this.transaction((tx) => rows.forEach((r) => tx.insert(r)));
  }

  /** Replaces rows (by key) in one transaction. */
  update(rows: readonly MemoryRow[]): number {
    return this.transaction((tx) => rows.forEach((r) => tx.update(r)));
  }

  /** Deletes rows by key in one transaction (missing keys are ignored). */
  delete(keys: readonly unknown[]): number {
    return this.transaction((tx) => keys.forEach((k) => tx.delete(k)));
  }

  /** Removes every row in one transaction. */
  truncate(): number {
    return this.transaction((tx) => tx.truncate());
  }

  /** Current rows as column-ordered values (a copy). */
  currentRows(): unknown[][] {
    return [...this.rows.values()].map((v) => [...v]);
  }

  /**
   * The table as of commit `seq`, sorted by key, rebuilt from the log.
   * Returns `undefined` when history before `seq` was compacted away.
   */
  rowsAt(seq: number): unknown[][] | undefined {
    if (seq < this.compactedThrough) return undefined;
    const state = new Map<string, unknown[]>();
    for (const entry of this.log) {
      if (entry.seq > seq) break;
      if (entry.type === 'truncate') state.clear();
      else if (entry.type === 'delete') state.delete(this.keyOfValues(entry.values!));
      else state.set(this.keyOfValues(entry.values!), entry.values as unknown[]);
    }
    return [...state.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  }

  /** Log entries after (`seq`, `index`) in commit order (at most `limit`). */
  changesAfter(seq: number, index: number, limit: number): LogEntry[] {
    const out: LogEntry[] = [];
    // binary search for the first entry past (seq, index)
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const e = this.log[mid]!;
      if (e.seq < seq || (e.seq === seq && e.index <= index)) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.log.length && out.length < limit; i++) out.push(this.log[i]!);
    return out;
  }

  /**
   * Forgets history up to commit `seq`: the state is kept as a synthetic base, but
   * checkpoints before `seq` can no longer be served (CHECKPOINT_EXPIRED).
   */
  compact(seq: number): void {
    if (seq <= this.compactedThrough) return;
    const base = this.rowsAt(seq)!;
    const rest = this.log.filter((e) => e.seq > seq);
    this.log.length = 0;
    this.log.push(...base.map((values, index) => ({ seq, index, type: 'insert' as const, values })), ...rest);
    this.compactedThrough = seq;
  }

  /** Subscribes to commits (used by sources waiting for changes). */
  onCommit(listener: () => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  /** Fault hook: every open source's next poll fails with a transient CONNECTION_LOST. */
  interrupt(): void {
    for (const listener of [...this.interruptListeners]) listener();
  }

  /** Subscribes to `interrupt()` (used by sources). */
  onInterrupt(listener: () => void): () => void {
    this.interruptListeners.add(listener);
    return () => this.interruptListeners.delete(listener);
  }

  private toValues(row: MemoryRow): unknown[] {
    return this.descriptor.fields.map((f) => (row[f.name] === undefined ? null : row[f.name]));
  }

  private keyOnly(values: readonly unknown[]): unknown[] {
    return values.map((v, i) => (this.keyIndexes.includes(i) ? v : null));
  }

  private keyOfValues(values: readonly unknown[]): string {
    return this.keyIndexes.map((i) => cellKey(values[i] as Cell)).join('\u0000');
  }

  private keyOfUser(key: unknown): string {
    if (this.keyIndexes.length === 1) return cellKey(key as Cell);
    const obj = key as Record<string, unknown>;
    return this.descriptor.primaryKey.map((k) => cellKey(obj[k] as Cell)).join('\u0000');
  }
}
