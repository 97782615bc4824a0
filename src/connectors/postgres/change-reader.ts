/**
 * The change stream of one table: START_REPLICATION on the main slot, pgoutput decoding into
 * change batches, exact positions (commit LSN + index within the transaction), standby status
 * updates that confirm only committed checkpoints, and the idle keepalive frontier.
 */
import type { RecordBatch } from 'apache-arrow';
import { BatchBuilder, formatPosition, type TableDescriptor } from '../../sdk/batch.js';
import { ConnectorError, definite } from '../../sdk/errors.js';
import type { ColumnBuilder } from '../../sdk/builders.js';
import { createPublicationSql, type Catalog, type TableInfo } from './catalog.js';
import type { ColumnCodec, ColumnSpec } from './types.js';
import type { ResolvedConfig } from './config.js';
import { KIND, Tuple, parseKeepalive, parseRelation, XLOG_DATA_HEADER, type RelationMessage } from './pgoutput.js';
import { formatLsn } from './lsn.js';
import { quoteIdent, quoteQualified } from './identifiers.js';
import { REWOUND, type ChangeChannel, type ChangePosition, type OpenChannel } from './change-channel.js';
import { mapPgError } from './errors.js';
import { PartitionWatch } from './partitions.js';
import { IdleTimers } from './heartbeat.js';
import { ToastLookup, type LookupResult } from './toast.js';
import type pg from 'pg';
import { reportWarning } from '../../sdk/warnings.js';
import { evolveColumns } from './relation-evolution.js';

export type { ChangePosition } from './change-channel.js';

/**
 * Thrown by {@link ChangeReader.poll} (with `onIncompatibleSchemaChange: 'resnapshot'`) when the
 * table changed in a way the sinks cannot follow: everything before `at` was returned, and the
 * table re-seeds itself from there (change-phase.ts).
 */
export class ReseedNeeded extends Error {
  override name = 'ReseedNeeded';
  constructor(
    readonly at: ChangePosition,
    readonly reason: string,
  ) {
    super(reason);
  }
}

export interface ChangeReaderOptions {
  config: ResolvedConfig;
  table: TableInfo;
  catalog: Catalog;
  specs: ColumnSpec[];
  codecs: ColumnCodec[];
  /** Stream values in text form (the table has, or had when opened, a text-only column). */
  textValues?: boolean;
  start: ChangePosition;
  /** Recorded partitions of a partitioned table, watched with the catalog (see partitions.ts). */
  partitions: string[] | null;
  /** Highest LSN committed so far (confirmed to the slot). */
  committed: bigint;
  /** Where the frames come from: the table's own slot, or its share of a capture's stream. */
  openChannel: OpenChannel;
  /** A new SQL connection, for reading unchanged out-of-line (TOAST) values by key. */
  connectSql: () => Promise<pg.Client>;
  /** Told of every schema change followed: where, and what changed (one text per column). */
  onSchemaChange?: (at: string, what: string) => void;
}

type RowType = 'insert' | 'update' | 'delete' | 'truncate';

/**
 * A row of the batch in progress, kept while unchanged out-of-line values may need a lookup:
 * the batch is then written again from these, with the values read.
 */
interface RowRecord {
  frame: Buffer;
  type: RowType;
  /** Where the row's tuple starts in `frame` (-1: truncate), and the old tuple (-1: none). */
  pos: number;
  oldPos: number;
  index: number;
  lsn: bigint;
  xid: number;
  /** Columns that arrived as unchanged out-of-line values with nothing to take them from. */
  missing: number[] | null;
}

type Step = 'ok' | 'full';

export class ChangeReader {
  private conn: ChangeChannel | null = null;
  private specs: ColumnSpec[];
  private codecs: ColumnCodec[];
  private descriptor!: TableDescriptor;
  private builder!: BatchBuilder;
  private keyIndexes: number[] = [];
  private isKey: boolean[] = [];
  private readonly oldTuple = new Tuple();
  private readonly newTuple = new Tuple();
  /** The open transaction: its commit LSN and the index of its next row. */
  private txnLsn = -1n;
  private txnIndex = 0;
  /** Rows of the transaction committing at `skipLsn` with index below `skipCount` were delivered already. */
  private skipLsn = -1n;
  private skipCount = 0;
  /** A frame to process again on the next poll (batch was full, or a schema change needs a new batch). */
  private stashed: Buffer | null = null;
  /** Position after the last batch returned. */
  private returned: ChangePosition;
  /** Position after the rows currently in the builder. */
  private pending: ChangePosition;
  private committed: bigint;
  /**
   * Transactions committing before this LSN were delivered already: a capture's stream may
   * start before this table's position (where another table of the capture stands).
   */
  private floorLsn: bigint;
  /** The open transaction commits before {@link floorLsn}: none of its messages count. */
  private txnBelowFloor = false;
  private lastCatalogCheck = Date.now();
  private failure: ConnectorError | null = null;
  private closed = false;

  private readonly watch: PartitionWatch | null;
  /** When to write a heartbeat while no keepalive moves the position. */
  private readonly idle: IdleTimers;
  /** xid of the open transaction (from its Begin message). */
  private txnXid = 0;

  /** Rows of the batch in progress, kept while the table lacks REPLICA IDENTITY FULL. */
  private recording: boolean;
  private records: RowRecord[] = [];
  /** Whether a row of the batch in progress needs a lookup. */
  private needsLookup = false;
  /**
   * Bytes the lookups of the batch in progress are expected to add, so that `batchBytes`
   * bounds the delivered batch and not only what the stream carried: missing values counted at
   * the running average size of the values read so far (2 kB before any: a value is stored out
   * of line only when its row is over about 2 kB).
   */
  private lookupBytes = 0;
  private lookedUpValues = 0;
  private lookedUpBytes = 0;
  /** Columns of the row being written that need a lookup. */
  private rowMissing: number[] | null = null;
  /** While a batch is written again: the values read for the row being written. */
  private fill: Map<number, string | null> | null = null;
  /** Where the tuples of the message being processed start. */
  private newPos = -1;
  private oldPos = -1;
  private readonly replayNew = new Tuple();
  private readonly replayOld = new Tuple();
  private readonly lookup: ToastLookup;
  /** Schema changes followed so far. */
  schemaChanges = 0;

  constructor(private readonly o: ChangeReaderOptions) {
    this.watch = o.partitions ? new PartitionWatch(o.table, o.partitions) : null;
    this.idle = new IdleTimers(o.config.heartbeatMs);
    this.specs = o.specs;
    this.codecs = o.codecs;
    this.returned = { ...o.start };
    this.pending = { ...o.start };
    this.committed = o.committed;
    this.floorLsn = o.start.lsn;
    if (o.start.skip > 0) {
      this.skipLsn = o.start.lsn;
      this.skipCount = o.start.skip;
    }
    this.setSchema(o.specs, o.codecs);
    this.recording = o.table.replicaIdentity !== 'f';
    this.lookup = new ToastLookup(o.table, o.connectSql, o.config.connectTimeoutMs);
  }

  /** Lookup queries run so far (one per change batch that needed any). */
  get lookupQueries(): number {
    return this.lookup.queries;
  }

  /** The position after the last batch returned. */
  get position(): ChangePosition {
    return { ...this.returned };
  }

  /** The current column specs (they change with schema evolution). */
  get columns(): ColumnSpec[] {
    return this.specs;
  }

  /** Partitions recorded for checkpoints (partitioned tables), else `null`. */
  get partitions(): string[] | null {
    return this.watch?.state ?? null;
  }

  private setSchema(specs: ColumnSpec[], codecs: ColumnCodec[]): void {
    const t = this.o.table;
    this.specs = specs;
    this.codecs = codecs;
    this.descriptor = { table: t.display, primaryKey: t.primaryKey, fields: codecs.map((c) => c.field) };
    this.builder = new BatchBuilder(this.descriptor, 'changes');
    this.keyIndexes = t.primaryKey.map((k) => specs.findIndex((s) => s.name === k));
    this.isKey = specs.map((s) => t.primaryKey.includes(s.name));
    if (this.keyIndexes.some((i) => i < 0)) {
      throw definite(
        'SCHEMA_INCOMPATIBLE',
        `primary key column ${t.primaryKey[this.keyIndexes.findIndex((i) => i < 0)]} of ${t.display} is missing from the stream`,
        { table: t.display },
      );
    }
  }

  /** Checks the table and publication, then opens the stream at the start position. */
  async open(): Promise<void> {
    await this.checkTableAndPublication();
    // protocol 2 with binary values, or protocol 1 with values in text output format (also
    // when a column is read as text only: pgoutput would send it in binary form)
    const binary = this.o.config.binaryValues && this.o.textValues !== true && !this.codecs.some((c) => c.textOnly);
    this.conn = await this.o.openChannel(this.returned, !binary, this.o.table);
  }

  /**
   * The stream was restarted at an earlier position: drop what was read but not returned,
   * and take the frames again from the last returned position.
   */
  private rewind(): void {
    this.builder = new BatchBuilder(this.descriptor, 'changes');
    this.records = [];
    this.needsLookup = false;
    this.lookupBytes = 0;
    this.stashed = null;
    this.txnLsn = -1n;
    this.txnIndex = 0;
    this.txnBelowFloor = false;
    this.pending = { ...this.returned };
    this.floorLsn = this.returned.lsn;
    this.skipLsn = this.returned.skip > 0 ? this.returned.lsn : -1n;
    this.skipCount = this.returned.skip;
  }

  /** Confirms `lsn` (a committed checkpoint's position) to the slot. */
  commit(lsn: bigint): void {
    if (lsn <= this.committed) return;
    this.committed = lsn;
    this.conn?.confirm(lsn);
  }

  /** The next change batch, or `null` when nothing arrived within `maxWaitMs`. */
  async poll(signal?: AbortSignal): Promise<RecordBatch | null> {
    // after a failure the batch in progress may hold a partial row: never deliver it
    if (this.failure) throw this.failure;
    if (this.closed) throw definite('CLOSED', `change stream of ${this.o.table.display} is closed`, { table: this.o.table.display });
    const conn = this.conn!;
    const deadline = Date.now() + this.o.config.maxWaitMs;
    let lingerUntil = 0;
    try {
      for (;;) {
        for (;;) {
          const frame = this.stashed ?? conn.readFrame();
          this.stashed = null;
          if (frame === null) break;
          if (frame === REWOUND) {
            this.rewind();
            continue;
          }
          const step = frame[0] === 0x77 && frame[XLOG_DATA_HEADER] === 0x52 ? await this.onRelation(frame) : this.process(frame);
          if (step === 'full') {
            this.stashed = frame;
            return await this.finishBatch();
          }
          if (this.isFull()) return await this.finishBatch();
        }
        if (this.builder.rows > 0 && this.txnLsn < 0n) {
          // Linger briefly for more transactions: many tiny batches cost more than a few ms.
          lingerUntil ||= Date.now() + this.o.config.lingerMs;
          const left = Math.min(lingerUntil, deadline) - Date.now();
          if (left <= 0) return await this.finishBatch();
          await conn.wait(left, signal);
          continue;
        }
        const remaining = deadline - Date.now();
        if (remaining <= 0) return this.builder.rows > 0 ? await this.finishBatch() : null;
        if (this.builder.rows === 0 && Date.now() - this.lastCatalogCheck >= this.o.config.catalogCheckIntervalMs) {
          await this.checkCatalog();
          continue; // frames may have arrived meanwhile
        }
        if (this.builder.rows === 0 && this.txnLsn < 0n && this.idle.heartbeatDue()) {
          await this.heartbeat();
          continue;
        }
        await conn.wait(remaining, signal);
        if (this.closed) throw definite('CLOSED', `change stream of ${this.o.table.display} was closed`, { table: this.o.table.display });
      }
    } catch (error) {
      if ((error as Error)?.name === 'AbortError' || error instanceof ReseedNeeded) throw error;
      this.failure = mapPgError(error, this.o.table.display, 'reading changes');
      throw this.failure;
    }
  }

  /** Detects a dropped table, a dropped or altered publication, changed partitions (pgoutput sends nothing for these). */
  private async checkCatalog(): Promise<void> {
    this.lastCatalogCheck = Date.now();
    await this.checkTableAndPublication();
    await this.watch?.check(this.o.catalog, this.returned.lsn);
  }

  private async checkTableAndPublication(): Promise<void> {
    const { catalog, table } = this.o;
    if (!(await catalog.tableExists(table.oid))) {
      throw definite('TABLE_DROPPED', `table ${table.display} was dropped`, {
        table: table.display,
        hint: 'recreate the table, delete the checkpoint and start over',
      });
    }
    await this.checkPublication();
  }

  /**
   * Fails unless the publication still delivers every change of the table (it may have been
   * dropped or altered: a row filter, column list or fewer publish flags drop changes silently).
   */
  private async checkPublication(): Promise<void> {
    const { catalog, table, config } = this.o;
    const problem = await catalog.publicationProblem(config.publicationName, table);
    if (!problem) return;
    if (problem.code === 'PUBLICATION_MISSING') {
      throw definite('PUBLICATION_MISSING', `publication ${config.publicationName} no longer publishes ${table.display}`, {
        table: table.display,
        hint: `${createPublicationSql(config.publicationName, table)}; then delete the checkpoint to take a new snapshot`,
      });
    }
    throw definite(problem.code, `${problem.message}; changes may have been missed since it changed`, {
      table: table.display,
      hint: `${problem.hint}; then delete the checkpoint to take a new snapshot`,
    });
  }

  /** Writes a heartbeat message (see heartbeat.ts); stops trying when the user may not. */
  private async heartbeat(): Promise<void> {
    try {
      await this.o.catalog.emitHeartbeat(formatLsn(this.returned.lsn));
    } catch (error) {
      if (!ConnectorError.is(error, 'PERMISSION_DENIED')) throw error;
      this.idle.disable();
    }
  }

  private isFull(): boolean {
    const b = this.builder;
    return b.rows >= this.o.config.batchRows || (b.rows > 0 && b.byteLength + this.lookupBytes >= this.o.config.batchBytes);
  }

  /**
   * The batch in progress. When rows need unchanged out-of-line values, they are read by key
   * (one query for the batch) and the batch is written again from the kept rows with them; a
   * row whose key is gone by then is left out: the delete (or key change) that removed it
   * follows in the stream, so no row appears that the table does not have.
   */
  private async finishBatch(): Promise<RecordBatch | null> {
    const records = this.records;
    this.records = [];
    if (!this.needsLookup) {
      this.returned = { ...this.pending };
      return this.builder.finish();
    }
    this.needsLookup = false;
    this.lookupBytes = 0;
    this.builder.finish(); // holds nulls where the values were missing: never delivered
    const wanted = records.filter((r) => r.missing !== null);
    const results = await this.lookup.fetch(
      this.specs,
      this.keyIndexes,
      wanted.map((r) => ({ key: this.keyOf(r), columns: r.missing!, xid: r.xid })),
    );
    const byRecord = new Map<RowRecord, LookupResult>();
    wanted.forEach((r, i) => byRecord.set(r, results[i]));
    for (const values of results) {
      if (values === undefined) continue;
      for (const v of values.values()) {
        this.lookedUpValues++;
        this.lookedUpBytes += v === null ? 0 : v.length;
      }
    }
    this.builder = new BatchBuilder(this.descriptor, 'changes');
    for (const r of records) {
      let tuple: Tuple | null = null;
      if (r.pos >= 0) {
        tuple = r.pos === r.oldPos ? this.replayOld : this.replayNew;
        tuple.parse(r.frame, r.pos);
      }
      this.replayOld.present = false;
      if (r.oldPos >= 0) this.replayOld.parse(r.frame, r.oldPos);
      if (r.missing !== null) {
        const values = byRecord.get(r);
        if (values === undefined) continue; // the key is gone: see above
        this.fill = values;
      }
      try {
        this.writeRow(r.frame, r.type, tuple, this.replayOld, r.index, r.lsn);
      } finally {
        this.fill = null;
      }
    }
    this.returned = { ...this.pending };
    const batch = this.builder.finish();
    return batch.numRows > 0 ? batch : null;
  }

  /** The average size of a looked-up value so far (2048 before the first lookup). */
  private averageLookedUpBytes(): number {
    return this.lookedUpValues === 0 ? 2048 : this.lookedUpBytes / this.lookedUpValues;
  }

  /** The key of a kept row, in its wire form, as bind parameters. */
  private keyOf(r: RowRecord): (Buffer | string)[] {
    const t = this.replayNew;
    t.parse(r.frame, r.pos);
    return this.keyIndexes.map((k) => {
      const kind = t.kinds[k];
      const start = t.offsets[k]!;
      const end = start + t.lengths[k]!;
      if (kind === KIND.binary) return r.frame.subarray(start, end);
      if (kind === KIND.text) return r.frame.toString('utf8', start, end);
      throw this.missingToast(k); // a key stored out of line and unchanged: nothing to look up by
    });
  }

  /** Processes one frame (anything but a Relation message). */
  private process(frame: Buffer): Step {
    const kind = frame[0];
    if (kind === 0x6b) {
      // 'k' keepalive: when nothing is open or buffered, everything before wal_end was sent and seen
      const ka = parseKeepalive(frame);
      if (ka.replyRequested) this.conn!.confirm(this.committed);
      if (this.txnLsn < 0n && this.builder.rows === 0 && ka.walEnd > this.returned.lsn && this.skipLsn < 0n) {
        this.returned = { lsn: ka.walEnd, skip: 0 };
        this.pending = { ...this.returned };
        this.idle.advanced();
      }
      return 'ok';
    }
    if (kind !== 0x77) return 'ok';
    const p = XLOG_DATA_HEADER;
    switch (frame[p]) {
      case 0x42: // B
        this.txnLsn = frame.readBigUInt64BE(p + 1);
        this.txnXid = frame.readUInt32BE(p + 17);
        this.txnIndex = 0;
        this.txnBelowFloor = this.txnLsn < this.floorLsn;
        return 'ok';
      case 0x43: {
        // C
        const commitLsn = frame.readBigUInt64BE(p + 2);
        if (this.txnBelowFloor) {
          this.txnBelowFloor = false;
          this.txnLsn = -1n;
          return 'ok';
        }
        if (this.skipLsn >= 0n && commitLsn >= this.skipLsn) this.skipLsn = -1n;
        this.txnLsn = -1n;
        this.pending = { lsn: commitLsn + 1n, skip: 0 };
        if (this.builder.rows === 0) this.returned = { ...this.pending };
        this.idle.advanced();
        return 'ok';
      }
      case 0x49: // I
        return this.onInsert(frame, p + 1);
      case 0x55: // U
        return this.onUpdate(frame, p + 1);
      case 0x44: // D
        return this.onDelete(frame, p + 1);
      case 0x54: // T
        return this.onTruncate(frame, p + 1);
      default:
        return 'ok'; // Origin, Type, Message: nothing to deliver
    }
  }

  /** A row message of this table in a transaction at or past the floor. */
  private ours(frame: Buffer, pos: number): boolean {
    return !this.txnBelowFloor && frame.readUInt32BE(pos) === this.o.table.oid;
  }

  private onInsert(frame: Buffer, pos: number): Step {
    if (!this.ours(frame, pos)) return 'ok';
    this.newPos = pos + 5;
    this.oldPos = -1;
    this.newTuple.parse(frame, pos + 5);
    this.oldTuple.present = false;
    return this.rows(frame, [['insert', this.newTuple]]);
  }

  private onUpdate(frame: Buffer, pos: number): Step {
    if (!this.ours(frame, pos)) return 'ok';
    let p = pos + 4;
    this.oldTuple.present = false;
    this.oldPos = -1;
    if (frame[p] === 0x4b || frame[p] === 0x4f) {
      this.oldPos = p + 1;
      p = this.oldTuple.parse(frame, p + 1);
    }
    this.newPos = p + 1;
    this.newTuple.parse(frame, p + 1);
    if (this.oldTuple.present && this.keyChanged(frame)) {
      return this.rows(frame, [
        ['delete', this.oldTuple],
        ['insert', this.newTuple],
      ]);
    }
    return this.rows(frame, [['update', this.newTuple]]);
  }

  private onDelete(frame: Buffer, pos: number): Step {
    if (!this.ours(frame, pos)) return 'ok';
    this.oldPos = pos + 5;
    this.newPos = -1;
    this.oldTuple.parse(frame, pos + 5);
    return this.rows(frame, [['delete', this.oldTuple]]);
  }

  private onTruncate(frame: Buffer, pos: number): Step {
    if (this.txnBelowFloor) return 'ok';
    const n = frame.readInt32BE(pos);
    for (let i = 0; i < n; i++) {
      if (frame.readUInt32BE(pos + 5 + 4 * i) === this.o.table.oid) {
        this.watch?.truncatedBy(this.txnXid);
        return this.rows(frame, [['truncate', null]]);
      }
    }
    return 'ok';
  }

  private keyChanged(frame: Buffer): boolean {
    const o = this.oldTuple;
    const n = this.newTuple;
    for (const k of this.keyIndexes) {
      if (n.kinds[k] === KIND.unchanged || o.kinds[k] === KIND.unchanged) continue;
      if (n.kinds[k] !== o.kinds[k] || n.lengths[k] !== o.lengths[k]) return true;
      if (frame.compare(frame, n.offsets[k], n.offsets[k] + n.lengths[k], o.offsets[k], o.offsets[k] + o.lengths[k]) !== 0) return true;
    }
    return false;
  }

  /**
   * Emits the rows of one message. Rows already delivered (restore, or a batch that filled up
   * in the middle of the message) are skipped by index; when the batch fills up, the message
   * is processed again on the next poll.
   */
  private rows(frame: Buffer, rows: [RowType, Tuple | null][]): Step {
    if (this.txnLsn < 0n)
      throw definite('INTERNAL', 'change outside a transaction in the replication stream', { table: this.o.table.display });
    const start = this.txnIndex;
    for (const [type, tuple] of rows) {
      const index = this.txnIndex;
      if (this.skipLsn === this.txnLsn && index < this.skipCount) {
        this.txnIndex++;
        continue;
      }
      if (this.builder.rows > 0 && this.isFull()) {
        this.skipLsn = this.txnLsn;
        this.skipCount = index;
        this.txnIndex = start;
        return 'full';
      }
      this.writeRow(frame, type, tuple, this.oldTuple, index, this.txnLsn);
      if (this.rowMissing !== null) {
        this.needsLookup = true;
        this.lookupBytes += this.rowMissing.length * this.averageLookedUpBytes();
      }
      if (this.recording) {
        const pos = tuple === null ? -1 : tuple === this.oldTuple ? this.oldPos : this.newPos;
        const oldPos = this.oldTuple.present ? this.oldPos : -1;
        this.records.push({ frame, type, pos, oldPos, index, lsn: this.txnLsn, xid: this.txnXid, missing: this.rowMissing });
      }
      this.txnIndex++;
      this.pending = { lsn: this.txnLsn, skip: this.txnIndex };
    }
    return 'ok';
  }

  /**
   * Appends one row. An unchanged out-of-line value is taken from the old row (REPLICA
   * IDENTITY FULL), from {@link fill} while a batch is written again, or else marked for a
   * lookup (`rowMissing`; the cell holds a null until the batch is written again).
   */
  private writeRow(frame: Buffer, type: RowType, tuple: Tuple | null, old: Tuple, index: number, lsn: bigint): void {
    const b = this.builder;
    const cols = b.columns;
    const codecs = this.codecs;
    const n = codecs.length;
    if (tuple !== null && tuple.count !== n) {
      throw definite('SCHEMA_INCOMPATIBLE', `change of ${this.o.table.display} has ${tuple.count} columns, expected ${n}`, {
        table: this.o.table.display,
      });
    }
    const keysOnly = type === 'delete';
    this.rowMissing = null;
    for (let c = 0; c < n; c++) {
      const col = cols[c]!;
      if (tuple === null || (keysOnly && !this.isKey[c])) {
        col.appendNull();
        continue;
      }
      if (keysOnly && tuple.kinds[c] === KIND.null) throw this.nullKey(c);
      let src = tuple;
      let kind = tuple.kinds[c];
      if (kind === KIND.unchanged) {
        if (old.present && old !== tuple && (old.kinds[c] === KIND.binary || old.kinds[c] === KIND.text)) {
          src = old;
          kind = old.kinds[c];
        } else if (this.fill !== null && this.fill.has(c)) {
          this.decodeFilled(this.fill.get(c)!, c, col);
          continue;
        } else if (this.recording && !this.isKey[c]) {
          (this.rowMissing ??= []).push(c);
          col.appendNull();
          continue;
        } else {
          throw this.missingToast(c);
        }
      }
      this.decode(frame, src, c, kind!, col);
    }
    // the two change columns follow the table columns
    (cols[n] as unknown as { appendIndex(i: number): void }).appendIndex(CHANGE_INDEX[type]);
    (cols[n + 1] as unknown as { appendString(s: string): void }).appendString(formatPosition(lsn, index));
    b.endRow();
  }

  private decode(frame: Buffer, tuple: Tuple, c: number, kind: number, col: ColumnBuilder): void {
    if (kind === KIND.binary) this.codecs[c]!.decodeBinary(frame, tuple.offsets[c]!, tuple.lengths[c]!, col);
    else if (kind === KIND.text) this.codecs[c]!.decodeText(frame, tuple.offsets[c]!, tuple.lengths[c]!, col);
    else col.appendNull();
  }

  /** Appends a value read by a lookup (text output form; `null` is SQL NULL). */
  private decodeFilled(value: string | null, c: number, col: ColumnBuilder): void {
    if (value === null) {
      col.appendNull();
      return;
    }
    const bytes = Buffer.from(value, 'utf8');
    this.codecs[c]!.decodeText(bytes, 0, bytes.length, col);
  }

  /** Key columns are NOT NULL: a null one in an old-key tuple means the identity no longer covers it. */
  private nullKey(c: number): ConnectorError {
    const t = this.o.table;
    return definite(
      'SCHEMA_INCOMPATIBLE',
      `a delete of ${t.display} arrived without key column ${this.specs[c]!.name} (the replica identity no longer includes it)`,
      {
        table: t.display,
        hint: 'delete the checkpoint to take a new snapshot keyed on the new columns, or restore the previous primary key / replica identity',
      },
    );
  }

  private missingToast(c: number): ConnectorError {
    const t = this.o.table;
    return definite(
      'MISSING_TOAST',
      `an update of ${t.display} left column ${this.specs[c]!.name} unchanged and stored out of line (TOAST), so its value is not in the change stream`,
      {
        table: t.display,
        hint: `ALTER TABLE ${quoteQualified(t.name)} REPLICA IDENTITY FULL; then delete the checkpoint and take a new snapshot`,
      },
    );
  }

  /**
   * A Relation message: verifies the schema of our table, or follows its change (columns added,
   * dropped, renamed or widened; see relation-evolution.ts). Every change starts a new batch.
   */
  private async onRelation(frame: Buffer): Promise<Step> {
    const rel = parseRelation(frame, XLOG_DATA_HEADER + 1);
    // a Relation before the floor describes the table as it was before this reader's position
    if (rel.relid !== this.o.table.oid || this.txnBelowFloor) return 'ok';
    const t = this.o.table;
    const current = this.specs;
    const unchanged =
      rel.columns.length === current.length &&
      rel.columns.every((c, i) => c.name === current[i]!.name && c.typeOid === current[i]!.typeOid && c.typmod === current[i]!.typmod);
    let keyProblem: ConnectorError | null = null;
    try {
      await this.checkKey(rel);
    } catch (error) {
      if (!ConnectorError.is(error, 'SCHEMA_INCOMPATIBLE') || !this.reseeds || /DEFERRABLE/.test(error.message)) throw error;
      keyProblem = error;
    }
    // every schema change starts a new batch (and a re-seed starts after everything returned)
    if ((!unchanged || keyProblem !== null) && this.builder.rows > 0) return 'full';
    if (keyProblem !== null) this.reseed(keyProblem.message);
    if ((rel.replicaIdentity !== 'f') !== this.recording) {
      if (this.builder.rows > 0) return 'full'; // a batch keeps rows for lookups throughout, or not at all
      this.recording = rel.replicaIdentity !== 'f';
    }
    await this.checkOutOfLine(rel);
    if (unchanged) return 'ok';
    const evolution = await evolveColumns(this.o.catalog, t, current, rel);
    const what = evolution.described.join('; ');
    if (evolution.incompatible !== null) {
      if (this.reseeds) this.reseed(`the columns of ${t.display} changed (${what}): ${evolution.incompatible}`);
      throw definite(
        'SCHEMA_INCOMPATIBLE',
        `the columns of ${t.display} changed in a way the sinks cannot follow in place (${what}): ${evolution.incompatible}`,
        {
          table: t.display,
          hint: 'delete the checkpoint and take a new snapshot, or restore the previous definition; to have the table re-seed itself instead, set onIncompatibleSchemaChange: resnapshot (CLI --on-schema-change resnapshot)',
        },
      );
    }
    if (!this.o.config.schemaEvolution) {
      throw definite('SCHEMA_INCOMPATIBLE', `the columns of ${t.display} changed (${what}) and schemaEvolution is off`, {
        table: t.display,
        hint: 'set schemaEvolution: true, or delete the checkpoint and take a new snapshot',
      });
    }
    // PostgreSQL writes no change for the rows a DEFAULT fills in: they would stay null downstream
    const filled = evolution.added.length > 0 ? await this.o.catalog.addedColumnsWithValues(t, evolution.added) : [];
    if (filled.length > 0) {
      if (this.reseeds) this.reseed(`column ${filled.join(', ')} was added to ${t.display} with values for the rows already there`);
      throw definite(
        'SCHEMA_INCOMPATIBLE',
        `column ${filled.join(', ')} was added to ${t.display} with a default (or as an identity or generated column): the rows already in the table got a value without any change event, so they would stay null downstream`,
        {
          table: t.display,
          hint: 'delete the checkpoint to take a new snapshot; to evolve without one, add the column without a default, fill it with UPDATE, and SET DEFAULT in a later transaction',
        },
      );
    }
    const codecs = await this.o.catalog.codecs(evolution.specs, t.display, this.o.config.unknownTypes);
    this.setSchema(evolution.specs, codecs);
    this.schemaChanges++;
    const at = formatPosition(this.txnLsn, this.txnIndex);
    this.o.onSchemaChange?.(at, what);
    reportWarning(this.o.config.onWarning, {
      code: 'SCHEMA_CHANGED',
      table: t.display,
      message: `the columns of ${t.display} changed at ${at}: ${what}`,
    });
    return 'ok';
  }

  /** Whether an incompatible change re-seeds the table (else it stops with SCHEMA_INCOMPATIBLE). */
  private get reseeds(): boolean {
    return this.o.config.onIncompatibleSchemaChange === 'resnapshot' && this.o.config.schemaEvolution;
  }

  /** Hands the table over to a re-seed at the current position (everything before it was returned). */
  private reseed(reason: string): never {
    throw new ReseedNeeded(this.txnLsn >= 0n ? { lsn: this.txnLsn, skip: this.txnIndex } : { ...this.returned }, reason);
  }

  /**
   * Re-reads which columns may be stored out of line. Under `toast: 'identity-full'` a table
   * that lost REPLICA IDENTITY FULL while streaming is not stopped: its unchanged values are
   * looked up (as with `'lookup'`), with a warning.
   */
  private async checkOutOfLine(rel: RelationMessage): Promise<void> {
    const t = this.o.table;
    const columns = await this.o.catalog.outOfLineColumns(t.oid);
    if (this.o.config.toast !== 'identity-full' || rel.replicaIdentity === 'f' || columns.length === 0) return;
    reportWarning(this.o.config.onWarning, {
      code: 'TOAST_IDENTITY_CHANGED',
      table: t.display,
      message: `${t.display} no longer has REPLICA IDENTITY FULL (toast: 'identity-full'): unchanged out-of-line values of ${columns.join(', ')} are read by key until it has again (ALTER TABLE ${quoteQualified(t.name)} REPLICA IDENTITY FULL;)`,
    });
  }

  /**
   * Fails unless deletes and key changes still identify rows by the key the rows are delivered
   * with. pgoutput's old-key tuple carries the replica identity's columns: after a replica
   * identity or primary key change the key in use would arrive as null and deletes would be lost.
   */
  private async checkKey(rel: RelationMessage): Promise<void> {
    const t = this.o.table;
    const inUse = new Set(t.primaryKey);
    let now: string[];
    let what: string;
    if (rel.replicaIdentity === 'f') {
      // FULL flags every column: the key is whatever the catalog says it is now
      const key = await this.o.catalog.currentKey(t.oid);
      if (!key.immediate) throw deferrableKey(t);
      now = key.columns;
      what =
        now.length === 0 ? 'REPLICA IDENTITY FULL without a primary key' : `REPLICA IDENTITY FULL with primary key (${now.join(', ')})`;
    } else {
      now = rel.columns.filter((c) => (c.flags & 1) !== 0).map((c) => c.name);
      what =
        rel.replicaIdentity === 'n'
          ? 'REPLICA IDENTITY NOTHING'
          : now.length === 0
            ? 'no replica identity'
            : `replica identity (${now.join(', ')})`;
    }
    if (now.length === inUse.size && now.every((k) => inUse.has(k))) return;
    throw definite(
      'SCHEMA_INCOMPATIBLE',
      `the key of ${t.display} changed while streaming: its rows are keyed on (${t.primaryKey.join(', ')}), the table now has ${what}, so deletes would no longer name the delivered rows`,
      {
        table: t.display,
        hint: 'delete the checkpoint to take a new snapshot keyed on the new columns, or restore the previous primary key / replica identity',
      },
    );
  }

  /** Stops streaming and closes the stream (the slot is released). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.lookup.close();
    await this.conn?.close();
  }
}

/**
 * A DEFERRABLE key may be shared by two rows inside a transaction: `UPDATE t SET id = id + 1`
 * decodes as 1→2, 2→3, 3→4, and the delete + insert per key change would fold to {4}, not
 * {2, 3, 4}. An immediate key is unique after every row, so that order is always right.
 */
export function deferrableKey(t: TableInfo): ConnectorError {
  return definite(
    'SCHEMA_INCOMPATIBLE',
    `the primary key of ${t.display} is DEFERRABLE: within a transaction two rows may hold one key, and key changes could not be delivered row by row in a correct order`,
    {
      table: t.display,
      hint: `re-create it without DEFERRABLE: ALTER TABLE ${quoteQualified(t.name)} DROP CONSTRAINT <pkey>, ADD PRIMARY KEY (${t.primaryKey.map(quoteIdent).join(', ')}); then delete the checkpoint, if there is one, to take a new snapshot`,
    },
  );
}

const CHANGE_INDEX = { insert: 0, update: 1, delete: 2, truncate: 3 } as const;
