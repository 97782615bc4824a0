/**
 * Deliberately faulty sinks, each breaking one rule of the sink contract. They write into a
 * plain keyed store (the reference below, correct under the runner's in-order at-least-once
 * delivery); the self-test runs the suite against each and expects the named check to fail.
 */
import type { Field, RecordBatch } from 'apache-arrow';
import {
  BatchBuilder,
  CHANGE_TYPE_COLUMN,
  POSITION_COLUMN,
  batchInfo,
  descriptorOf,
  tableFields,
  type ChangeType,
} from '../../../src/sdk/batch.js';
import { transient } from '../../../src/sdk/errors.js';
import type { Sink, SnapshotStartInfo } from '../../../src/sdk/sink.js';
import { batchReaders, toJsonValue, type Cell } from '../../../src/sdk/values.js';
import type { SinkCapabilities, SinkConformanceTarget, StoredRow } from '../types.js';

/** The destination: rows by key, plus copies a faulty sink stored twice. */
export class KeyedStore {
  readonly rows = new Map<string, StoredRow>();
  readonly duplicates: StoredRow[] = [];
  /** Positions applied by any instance (what a sink that appends on replays compares against). */
  readonly positions = new Set<string>();
  /** Set by the harness's interrupt(): the next write fails as a lost connection does. */
  interrupted = false;
  readBack(): StoredRow[] {
    return [...this.rows.values(), ...this.duplicates];
  }
}

interface Row {
  type: ChangeType | 'snapshot';
  position: string | null;
  cells: Cell[];
}

/** The rows of a batch with their change types and positions. */
export function rowsOf(batch: RecordBatch): Row[] {
  const names = batch.schema.fields.map((f) => f.name);
  const readers = batchReaders(batch);
  const count = tableFields(batch.schema).length;
  const typeAt = names.indexOf(CHANGE_TYPE_COLUMN);
  const positionAt = names.indexOf(POSITION_COLUMN);
  return Array.from({ length: batch.numRows }, (_, i) => ({
    type: typeAt >= 0 ? (readers[typeAt]!(i) as ChangeType) : 'snapshot',
    position: positionAt >= 0 ? (readers[positionAt]!(i) as string) : null,
    cells: Array.from({ length: count }, (_, c) => readers[c]!(i)),
  }));
}

/** A batch like `batch` holding `rows`. */
export function rebuild(batch: RecordBatch, rows: Row[]): RecordBatch {
  const descriptor = descriptorOf(batch.schema);
  const kind = batchInfo(batch).kind;
  const builder = new BatchBuilder(descriptor, kind);
  for (const row of rows) {
    if (kind === 'snapshot') builder.appendRow(row.cells);
    else builder.appendChange(row.type as ChangeType, row.type === 'truncate' ? null : row.cells, row.position!);
  }
  return builder.finish();
}

/** The correct reference: folds every batch into the store by key (last change wins). */
export class KeyedSink implements Sink {
  readonly name = 'keyed';
  constructor(protected readonly store: KeyedStore) {}
  async snapshotStart(_info: SnapshotStartInfo): Promise<void> {
    this.store.rows.clear();
  }
  async write(batch: RecordBatch): Promise<void> {
    if (this.store.interrupted) {
      this.store.interrupted = false;
      throw this.connectionLost();
    }
    const fields = tableFields(batch.schema) as Field[];
    const keyAt = fields.findIndex((f) => f.name === batchInfo(batch).primaryKey[0]);
    for (const row of rowsOf(batch)) this.apply(fields, keyAt, row);
  }
  protected connectionLost(): Error {
    return transient('CONNECTION_LOST', 'the destination went away');
  }
  protected apply(fields: Field[], keyAt: number, row: Row): void {
    if (row.type === 'truncate') return this.store.rows.clear();
    const key = String(row.cells[keyAt]);
    if (row.type === 'delete') this.store.rows.delete(key);
    else this.store.rows.set(key, Object.fromEntries(fields.map((f, c) => [f.name, toJsonValue(f, row.cells[c]!)])) as StoredRow);
    if (row.position !== null) this.store.positions.add(row.position);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/** One planted bug. */
export interface SinkFault {
  name: string;
  description: string;
  /** The check that must catch it. */
  expect: string;
  /** Also caught by the generated-sequence property (SINK-11). */
  property?: boolean;
  capabilities?: Partial<SinkCapabilities>;
  create(store: KeyedStore): Sink;
}

class DropsBatch extends KeyedSink {
  private writes = 0;
  override async write(batch: RecordBatch) {
    if (++this.writes === 3) return;
    return super.write(batch);
  }
}

class ReordersChanges extends KeyedSink {
  override async write(batch: RecordBatch) {
    return super.write(batchInfo(batch).kind === 'changes' ? rebuild(batch, rowsOf(batch).reverse()) : batch);
  }
}

class IgnoresTruncate extends KeyedSink {
  override async write(batch: RecordBatch) {
    return super.write(
      rebuild(
        batch,
        rowsOf(batch).filter((r) => r.type !== 'truncate'),
      ),
    );
  }
}

class MangledNull extends KeyedSink {
  override async write(batch: RecordBatch) {
    const fields = tableFields(batch.schema);
    const note = fields.findIndex((f) => f.name === 'note');
    const rows = rowsOf(batch).map((r) =>
      r.type === 'delete' || r.type === 'truncate' || r.cells[note] !== null
        ? r
        : { ...r, cells: r.cells.map((c, i) => (i === note ? '' : c)) },
    );
    return super.write(rebuild(batch, rows));
  }
}

/** Writes reach the store only at close; flush does nothing. */
class FlushNotDurable extends KeyedSink {
  private pending: RecordBatch[] = [];
  override async write(batch: RecordBatch) {
    this.pending.push(batch);
  }
  override async close() {
    for (const batch of this.pending.splice(0)) await super.write(batch);
  }
}

/** Close "rolls back" the last batch although it was flushed. */
class LosesLastBatchOnClose extends KeyedSink {
  private last: RecordBatch | null = null;
  private closed = false;
  override async write(batch: RecordBatch) {
    this.last = batch;
    return super.write(batch);
  }
  override async close() {
    if (this.closed || this.last === null) return;
    this.closed = true;
    const fields = tableFields(this.last.schema);
    const keyAt = fields.findIndex((f) => f.name === batchInfo(this.last!).primaryKey[0]);
    for (const row of rowsOf(this.last)) this.store.rows.delete(String(row.cells[keyAt]));
  }
}

/** A replayed change (position seen before) is stored as a second row instead of replacing the first. */
class DuplicatesOnReplay extends KeyedSink {
  protected override apply(fields: Field[], keyAt: number, row: Row) {
    if (row.position !== null && this.store.positions.has(row.position) && row.type !== 'delete' && row.type !== 'truncate') {
      this.store.duplicates.push(Object.fromEntries(fields.map((f, c) => [f.name, toJsonValue(f, row.cells[c]!)])) as StoredRow);
      return;
    }
    super.apply(fields, keyAt, row);
  }
}

class IgnoresSnapshotRestart extends KeyedSink {
  override async snapshotStart(info: SnapshotStartInfo) {
    if (!info.restart) return super.snapshotStart(info);
  }
}

class DropsAddedColumn extends KeyedSink {
  override async write(batch: RecordBatch) {
    const fields = tableFields(batch.schema);
    if (fields.length <= 6) return super.write(batch);
    const rows = rowsOf(batch).map((r) => ({ ...r, cells: r.cells.map((c, i) => (i >= 6 ? null : c)) }));
    return super.write(rebuild(batch, rows));
  }
}

/** A new instance starts the destination over instead of continuing it (ignores the committed state). */
class RestartsDestination extends KeyedSink {
  async restore(): Promise<void> {
    this.store.rows.clear();
  }
}

/** Reports a lost connection as a plain Error, so the runner cannot know it may retry. */
class LostConnectionIsDefinite extends KeyedSink {
  protected override connectionLost(): Error {
    return new Error('socket hang up');
  }
}

/** Declares addColumn: false but accepts the batch and drops the column silently. */
class SilentlyDropsColumn extends DropsAddedColumn {}

export const sinkFaults: readonly SinkFault[] = [
  {
    name: 'drops-batch',
    description: 'the third batch written is lost',
    expect: 'SINK-01',
    property: true,
    create: (s) => new DropsBatch(s),
  },
  {
    name: 'reorders-changes',
    description: 'rows of a change batch are applied in reverse order',
    expect: 'SINK-01',
    property: true,
    create: (s) => new ReordersChanges(s),
  },
  { name: 'mangles-null', description: 'a NULL note is stored as empty text', expect: 'SINK-02', create: (s) => new MangledNull(s) },
  {
    name: 'flush-not-durable',
    description: 'flush() does nothing; rows reach the destination only at close()',
    expect: 'SINK-03',
    create: (s) => new FlushNotDurable(s),
  },
  {
    name: 'loses-last-batch-on-close',
    description: 'close() discards the rows of the last batch although it was flushed',
    expect: 'SINK-04',
    property: true,
    create: (s) => new LosesLastBatchOnClose(s),
  },
  {
    name: 'drops-added-column',
    description: 'values of an added column are not stored',
    expect: 'SINK-05',
    create: (s) => new DropsAddedColumn(s),
  },
  {
    name: 'accepts-unsupported-column',
    description: 'declares addColumn: false, yet accepts a batch with an added column and drops it silently',
    expect: 'SINK-05N',
    capabilities: { addColumn: false },
    create: (s) => new SilentlyDropsColumn(s),
  },
  { name: 'ignores-truncate', description: 'truncate rows are skipped', expect: 'SINK-06', create: (s) => new IgnoresTruncate(s) },
  {
    name: 'ignores-snapshot-restart',
    description: 'snapshotStart({ restart: true }) keeps the earlier rows',
    expect: 'SINK-07',
    create: (s) => new IgnoresSnapshotRestart(s),
  },
  {
    name: 'duplicates-on-replay',
    description: 'a replayed change is stored as a second row',
    expect: 'SINK-08',
    property: true,
    create: (s) => new DuplicatesOnReplay(s),
  },
  {
    name: 'restore-restarts-destination',
    description: 'restore() empties the destination instead of keeping what was committed',
    expect: 'SINK-08',
    create: (s) => new RestartsDestination(s),
  },
  {
    name: 'lost-connection-not-transient',
    description: 'a lost connection is thrown as a plain Error instead of a transient ConnectorError',
    expect: 'SINK-12',
    create: (s) => new LostConnectionIsDefinite(s),
  },
];

/** A target whose sinks are `fault`'s (or the correct reference sink for `null`). */
export function faultyTarget(fault: SinkFault | null): SinkConformanceTarget {
  return {
    name: fault ? `faulty:${fault.name}` : 'keyed (reference)',
    ...(fault?.capabilities ? { capabilities: fault.capabilities } : {}),
    async setup() {
      const store = new KeyedStore();
      return {
        createSink: async () => (fault ? fault.create(store) : new KeyedSink(store)),
        readBack: async () => store.readBack(),
        interrupt: async () => {
          store.interrupted = true;
        },
        teardown: async () => {},
      };
    },
  };
}
