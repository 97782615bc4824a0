/**
 * The change stream of trigger capture: finds the transactions that ended since the last
 * epoch (see change-query.ts), streams their change rows with `COPY … (FORMAT binary)` over a
 * connection of its own, and decodes the row images into change batches with the same codecs,
 * schema and conventions as logical replication.
 *
 * Wake-ups come from LISTEN on the channel the trigger notifies; a check every
 * `pollIntervalMs` is the safety net, so a lost notification (or none at all) only delays.
 */
import type pg from 'pg';
import type { RecordBatch } from 'apache-arrow';
import { BatchBuilder, type TableDescriptor } from '../../../sdk/batch.js';
import { abortError, ConnectorError, definite, throwIfAborted } from '../../../sdk/errors.js';
import { describeColumnChanges, diffColumns } from '../../../sdk/schema-change.js';
import { reportWarning } from '../../../sdk/warnings.js';
import type { ResolvedConfig } from '../config.js';
import type { Catalog, TableInfo } from '../catalog.js';
import { CopyOut } from '../copy-out.js';
import { mapPgError } from '../errors.js';
import { quoteIdent, quoteQualified } from '../identifiers.js';
import type { ColumnCodec, ColumnSpec } from '../types.js';
import type { ChangeCursor } from './checkpoint.js';
import { epochCopySql, nextEpochSql } from './change-query.js';
import type { ConsumerProgress } from './consumers.js';
import { loadAttributes } from './columns.js';
import { CopyRows } from './copy-rows.js';
import { ImageWriter, imageTypes, type ImageColumn, type ImageMismatch, type ImageRowType } from './image.js';
import { evolveSpecs, followCatalog, layoutOf, matchImage, withAttnums, type LayoutSlot } from './layout.js';
import { installationProblem, readInstallation } from './install.js';
import type { TriggerObjects } from './objects.js';
import { covers, epochKey, parsePgSnapshot, type PgSnapshot } from './pg-snapshot.js';

export interface TriggerReaderOptions {
  config: ResolvedConfig;
  table: TableInfo;
  catalog: Catalog;
  /** The source's SQL connection: checks, LISTEN, catalog reads. */
  sql: pg.Client;
  objects: TriggerObjects;
  /** The channel to LISTEN on; `null` polls only. */
  channel: string | null;
  specs: ColumnSpec[];
  codecs: ColumnCodec[];
  start: ChangeCursor;
  /** A new SQL connection (the one the epochs are streamed over). */
  connectSql: () => Promise<pg.Client>;
  /** The consumer: its lock, and the epochs it recorded. */
  progress: ConsumerProgress;
  /** The last schema change followed (from the checkpoint restored), for `refstream status`. */
  schemaChange?: { at: string; what: string } | null;
}

type EpochStep = 'full' | 'end' | 'timeout';

const OP_TYPES: Record<number, ImageRowType> = { 0x69: 'insert', 0x75: 'update', 0x64: 'delete', 0x74: 'truncate' };

/** Resolves waiters when something happened (a notification, stream data, close). */
class Wakeup {
  private waiters = new Set<() => void>();

  wake(): void {
    for (const w of [...this.waiters]) w();
  }

  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        reject(abortError(signal));
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.waiters.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** An epoch being streamed. */
interface EpochStream {
  client: pg.Client;
  copy: CopyOut;
  rows: CopyRows;
  error: unknown;
  ended: boolean;
}

function hex16(n: bigint): string {
  return n.toString(16).padStart(16, '0');
}

export class TriggerChangeReader {
  private specs: ColumnSpec[];
  private codecs: ColumnCodec[];
  private descriptor!: TableDescriptor;
  private builder!: BatchBuilder;
  private writer!: ImageWriter;
  /** The last image layout known for certain: the one images are matched from (layout.ts). */
  private baseline: LayoutSlot[] = [];
  /** After the last batch returned (what checkpoints record). */
  private returned: ChangeCursor;
  /** After the rows in the builder. */
  private pending: ChangeCursor;
  private epochKey = '';
  /** Epochs recorded by an earlier run after the start position: read again first, as they were. */
  private replay: PgSnapshot[] = [];
  private stream: EpochStream | null = null;
  private streamClient: pg.Client | null = null;
  private readonly wakeup = new Wakeup();
  /** A notification arrived since the last check (the first poll checks at once). */
  private notified = true;
  private lastCheck = 0;
  /** The last check found an epoch. */
  private lastFound = false;
  private lastCatalogCheck = Date.now();
  /** The table's columns as the last epoch query saw them (`attname atttypid atttypmod`, …). */
  private catalogColumns: string | null = null;
  private failure: ConnectorError | null = null;
  private closed = false;
  /** The last schema change followed: where, and what changed. */
  schemaChange: { at: string; what: string } | null;
  private readonly onNotification = (msg: { channel: string }) => {
    if (msg.channel === this.o.channel) {
      this.notified = true;
      this.wakeup.wake();
    }
  };

  constructor(private readonly o: TriggerReaderOptions) {
    this.specs = o.specs;
    this.codecs = o.codecs;
    this.schemaChange = o.schemaChange ?? null;
    this.returned = { ...o.start };
    this.pending = { ...o.start };
    if (o.start.epoch) this.epochKey = epochKey(o.start.epoch);
  }

  /** Where the stream stands after the last batch returned. */
  get position(): ChangeCursor {
    return { ...this.returned };
  }

  /** The delivered columns (they change with schema evolution). */
  get columns(): ColumnSpec[] {
    return this.specs;
  }

  private setSchema(specs: ColumnSpec[], codecs: ColumnCodec[], writer: ImageWriter): void {
    const t = this.o.table;
    this.specs = specs;
    this.codecs = codecs;
    this.writer = writer;
    this.descriptor = { table: t.display, primaryKey: t.primaryKey, fields: codecs.map((c) => c.field) };
    this.builder = new BatchBuilder(this.descriptor, 'changes');
  }

  private writerFor(columns: ImageColumn[], codecs: ColumnCodec[], specs: ColumnSpec[]): ImageWriter {
    const t = this.o.table;
    const key = t.primaryKey.map((k) => specs.findIndex((s) => s.name === k));
    const missing = key.findIndex((i) => i < 0);
    if (missing >= 0) throw incompatible(t.display, `key column ${t.primaryKey[missing]!} of ${t.display} is not delivered`, '');
    return new ImageWriter(columns, codecs, key);
  }

  /**
   * Takes the consumer's lock, reads the epochs an earlier run recorded, the columns (and
   * follows a rename made while no reader ran), and LISTENs when notifications are on.
   */
  async open(): Promise<void> {
    const t = this.o.table;
    await this.o.progress.lock();
    this.replay = await this.o.progress.recordedEpochs(this.o.start.delivered, this.o.start.epoch);
    const attributes = await loadAttributes(this.o.sql, t.oid, t.display);
    const specs = withAttnums(this.specs, attributes);
    this.baseline = layoutOf(specs, attributes);
    const columns = (delivered: ColumnSpec[]): ImageColumn[] =>
      layoutOf(delivered, attributes).map((slot) => {
        const index = delivered.findIndex((s) => s.attnum === slot.attnum);
        return { name: index >= 0 ? delivered[index]!.name : '', typeOid: slot.typeOid, index, attnum: slot.attnum };
      });
    this.setSchema(specs, this.codecs, this.writerFor(columns(specs), this.codecs, specs));
    await this.follow(followCatalog(attributes, specs, t.primaryKey), columns, this.startPosition());
    if (this.o.channel !== null) {
      this.o.sql.on('notification', this.onNotification);
      try {
        await this.o.sql.query(`LISTEN ${quoteIdent(this.o.channel)}`);
      } catch (error) {
        throw mapPgError(error, t.display, 'listening for change notifications');
      }
    }
  }

  /** The next change batch, or `null` when nothing arrived within `maxWaitMs`. */
  async poll(signal?: AbortSignal): Promise<RecordBatch | null> {
    if (this.failure) throw this.failure;
    if (this.closed) throw definite('CLOSED', `change stream of ${this.o.table.display} is closed`, { table: this.o.table.display });
    const config = this.o.config;
    const deadline = Date.now() + config.maxWaitMs;
    try {
      for (;;) {
        throwIfAborted(signal);
        if (this.pending.epoch !== null) {
          const step = await this.readEpoch(deadline, signal);
          if (step === 'full' || (step === 'end' && this.builder.rows > 0)) return this.finish();
          if (step === 'timeout') return this.builder.rows > 0 ? this.finish() : null;
          continue; // an epoch that held nothing: look for the next one
        }
        const now = Date.now();
        // due even under a steady load (every poll then finds a new epoch)
        if (now - this.lastCatalogCheck >= config.catalogCheckIntervalMs) {
          await this.checkCatalog();
          continue;
        }
        if (this.replay.length > 0 || this.notified || now - this.lastCheck >= config.pollIntervalMs) {
          // under load, epochs at most every epochIntervalMs: fewer, larger ones cost the source less
          const paced = this.replay.length === 0 && this.lastFound ? this.lastCheck + config.epochIntervalMs : 0;
          if (now < paced) {
            if (now >= deadline) return null;
            await this.wakeup.wait(Math.min(deadline, paced) - now, signal);
            continue;
          }
          await this.check();
          continue;
        }
        if (now >= deadline) return null;
        await this.wakeup.wait(Math.min(deadline, this.lastCheck + config.pollIntervalMs) - now, signal);
        if (this.closed) throw definite('CLOSED', `change stream of ${this.o.table.display} was closed`, { table: this.o.table.display });
      }
    } catch (error) {
      if ((error as Error)?.name === 'AbortError') throw error;
      this.failure = mapPgError(error, this.o.table.display, 'reading changes');
      throw this.failure;
    }
  }

  /**
   * Opens the next epoch: one an earlier run recorded, else the transactions that ended since
   * `delivered` (recorded as they are found); with none, moves `delivered` on.
   */
  private async check(): Promise<void> {
    const recorded = this.replay.shift();
    if (recorded !== undefined) {
      this.pending = { delivered: this.pending.delivered, epoch: recorded, after: null };
      this.epochKey = epochKey(recorded);
      return;
    }
    this.notified = false; // a notification during the query asks for another check
    this.lastCheck = Date.now();
    const { rows } = await this.o.sql.query<{ s: string; pending: boolean; columns: string | null }>(
      nextEpochSql(this.o.objects, this.pending.delivered),
      [this.o.progress.consumer, this.o.table.oid],
    );
    const columns = rows[0]!.columns;
    if (columns !== null && columns !== this.catalogColumns) {
      // the columns changed since the last look (or were not looked at yet): renames and
      // same-oid type changes apply from this epoch on
      this.catalogColumns = columns;
      await this.checkCatalog();
    }
    const now = parsePgSnapshot(rows[0]!.s);
    this.lastFound = rows[0]!.pending;
    if (!covers(now, this.pending.delivered)) return; // cannot happen on one server; never go back
    if (rows[0]!.pending) {
      this.pending = { delivered: this.pending.delivered, epoch: now, after: null };
      this.epochKey = epochKey(now);
    } else {
      // everything that had ended by `now` is delivered
      this.pending = { delivered: now, epoch: null, after: null };
      this.returned = { ...this.pending };
    }
  }

  private async openStream(): Promise<EpochStream> {
    this.streamClient ??= await this.o.connectSql().catch((error: unknown) => {
      throw mapPgError(error, this.o.table.display, 'connecting');
    });
    const p = this.pending;
    const copy = new CopyOut(epochCopySql(this.o.objects, p.delivered, p.epoch!, p.after), { highWaterMark: 1 << 20 });
    const stream: EpochStream = { client: this.streamClient, copy, rows: new CopyRows(4, this.o.table.display), error: null, ended: false };
    copy.on('readable', () => this.wakeup.wake());
    copy.on('end', () => {
      stream.ended = true;
      this.wakeup.wake();
    });
    copy.on('error', (error) => {
      stream.error = error;
      this.wakeup.wake();
    });
    this.streamClient.query(copy);
    this.stream = stream;
    return stream;
  }

  private isFull(): boolean {
    const b = this.builder;
    return b.rows >= this.o.config.batchRows || (b.rows > 0 && b.byteLength >= this.o.config.batchBytes);
  }

  /** Reads the open epoch into the builder until it is full, the epoch ends, or `deadline`. */
  private async readEpoch(deadline: number, signal?: AbortSignal): Promise<EpochStep> {
    const stream = this.stream ?? (await this.openStream());
    const rows = stream.rows;
    for (;;) {
      const step = rows.next();
      if (step === 'row') {
        const buf = rows.buf;
        const type = OP_TYPES[buf[rows.offsets[0]!]!];
        if (type === undefined)
          throw definite('INTERNAL', `unknown change row op ${buf[rows.offsets[0]!]}`, { table: this.o.table.display });
        const seq = buf.readBigInt64BE(rows.offsets[1]!);
        const last = buf.readBigInt64BE(rows.offsets[2]!);
        const imageOff = rows.lengths[3]! >= 0 ? rows.offsets[3]! : -1;
        if (type !== 'truncate') {
          if (imageOff < 0)
            throw definite('INTERNAL', `a change row of ${this.o.table.display} has no row image`, { table: this.o.table.display });
          const mismatch = this.writer.check(buf, imageOff, rows.lengths[3]!);
          if (mismatch !== null) {
            // a new schema starts a new batch
            rows.rewind();
            if (this.builder.rows > 0) return 'full';
            await this.evolve(mismatch, imageTypes(buf, imageOff, rows.lengths[3]!), `${this.epochKey}/${hex16(last)}/${hex16(seq)}`);
            continue;
          }
        }
        this.writer.write(this.builder, buf, imageOff, type, `${this.epochKey}/${hex16(last)}/${hex16(seq)}`);
        this.pending = { delivered: this.pending.delivered, epoch: this.pending.epoch, after: [last, seq] };
        if (this.isFull()) return 'full';
        continue;
      }
      if (step === 'end') {
        this.stream = null;
        this.pending = { delivered: this.pending.epoch!, epoch: null, after: null };
        if (this.builder.rows === 0) this.returned = { ...this.pending };
        return 'end';
      }
      const chunk = stream.copy.read() as Buffer | null;
      if (chunk !== null) {
        rows.feed(chunk);
        continue;
      }
      if (stream.error) throw stream.error;
      if (stream.ended)
        throw definite('INTERNAL', `the change rows of ${this.o.table.display} ended mid-row`, { table: this.o.table.display });
      const left = deadline - Date.now();
      if (left <= 0) return 'timeout';
      await this.wakeup.wait(left, signal);
      if (this.closed) throw definite('CLOSED', `change stream of ${this.o.table.display} was closed`, { table: this.o.table.display });
    }
  }

  private finish(): RecordBatch {
    this.returned = { ...this.pending };
    return this.builder.finish();
  }

  /** Where the stream stands, for a schema change seen outside any row. */
  private startPosition(): string {
    return this.pending.epoch ? this.epochKey : this.pending.delivered.text;
  }

  /**
   * An image that does not fit the delivered columns: matched against the layouts the table
   * can have had since (layout.ts), the delivered columns follow it — added, dropped, widened
   * (and renamed, from the catalog). A null key value, an image no layout fits, and what the
   * sinks cannot follow (a key column changed, a narrowed type) are `SCHEMA_INCOMPATIBLE`.
   */
  private async evolve(mismatch: ImageMismatch, oids: number[], at: string): Promise<void> {
    const t = this.o.table;
    const known = this.writer.columns;
    if (mismatch.nullKey) {
      throw incompatible(
        t.display,
        `a change row of ${t.display} has no value for key column ${known[mismatch.column]!.name}`,
        ': the table key changed, so run refstream install-triggers again too',
      );
    }
    const attributes = await loadAttributes(this.o.sql, t.oid, t.display);
    const match = matchImage(this.baseline, attributes, oids);
    if (match === null) {
      throw incompatible(
        t.display,
        `a change row of ${t.display} has ${oids.length} columns of type oids ${oids.join(', ')}, which fits no layout the table had since the columns delivered (${this.specs.map((s) => s.name).join(', ')})`,
        '',
      );
    }
    if (match.certain) this.baseline = match.slots;
    const evolution = await evolveSpecs(match.slots, attributes, this.specs, t.primaryKey, (oid, typmod) =>
      this.o.catalog.formatType(oid, typmod),
    );
    await this.follow(evolution, () => evolution.columns, at);
  }

  /**
   * Delivers `next.specs` from now on (images decoded by `columnsFor`): a new schema, reported
   * as `SCHEMA_CHANGED` when a delivered column changed, unless it cannot be followed.
   */
  private async follow(
    next: { specs: ColumnSpec[]; problems: string[]; added?: string[] },
    columnsFor: (specs: ColumnSpec[]) => ImageColumn[],
    at: string,
  ): Promise<void> {
    const t = this.o.table;
    const codecs = await this.o.catalog.codecs(next.specs, t.display, this.o.config.unknownTypes);
    const what = describeColumnChanges(
      diffColumns(
        this.codecs.map((c) => c.field),
        codecs.map((c) => c.field),
      ),
    ).join('; ');
    if (next.problems.length > 0) {
      throw incompatible(
        t.display,
        `the columns of ${t.display} changed in a way the sinks cannot follow in place (${what}): ${next.problems.join('; ')}`,
        ', or restore the previous definition',
      );
    }
    if (what !== '' && !this.o.config.schemaEvolution) {
      throw definite('SCHEMA_INCOMPATIBLE', `the columns of ${t.display} changed (${what}) and schemaEvolution is off`, {
        table: t.display,
        hint: 'set schemaEvolution: true, or delete the checkpoint and take a new snapshot',
      });
    }
    const added = next.added ?? [];
    const filled = added.length > 0 ? await this.o.catalog.addedColumnsWithValues(t, added) : [];
    if (filled.length > 0) {
      throw definite(
        'SCHEMA_INCOMPATIBLE',
        `column ${filled.join(', ')} was added to ${t.display} with a default (or as an identity or generated column): the rows already in the table got a value without any change row, so they would stay null downstream`,
        {
          table: t.display,
          hint: 'delete the checkpoint to take a new snapshot; to evolve without one, add the column without a default, fill it with UPDATE, and SET DEFAULT in a later transaction',
        },
      );
    }
    this.setSchema(next.specs, codecs, this.writerFor(columnsFor(next.specs), codecs, next.specs));
    if (what === '') return;
    this.schemaChange = { at, what };
    reportWarning(this.o.config.onWarning, {
      code: 'SCHEMA_CHANGED',
      table: t.display,
      message: `the columns of ${t.display} changed at ${at}: ${what}`,
    });
  }

  /**
   * What no change row reports: the table dropped, the triggers removed or disabled (changes
   * would be lost), a column renamed (followed) or retyped in a way images will not show or
   * that cannot be followed.
   */
  private async checkCatalog(): Promise<void> {
    this.lastCatalogCheck = Date.now();
    const t = this.o.table;
    if (!(await this.o.catalog.tableExists(t.oid))) {
      throw definite('TABLE_DROPPED', `table ${t.display} was dropped`, {
        table: t.display,
        hint: 'recreate the table, delete the checkpoint and start over',
      });
    }
    const problem = installationProblem(await readInstallation(this.o.sql, t.oid, t.display), t);
    if (problem !== null) throw triggersMissing(t, problem);
    const attributes = await loadAttributes(this.o.sql, t.oid, t.display);
    const next = followCatalog(attributes, this.specs, t.primaryKey);
    if (next.problems.length === 0 && next.specs.every((s, i) => sameColumn(s, this.specs[i]!))) return;
    const layout = this.writer.columns;
    await this.follow(next, (specs) => layout.map((c) => (c.index >= 0 ? { ...c, name: specs[c.index]!.name } : c)), this.startPosition());
  }

  /** Closes the epoch stream's connection and stops listening. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeup.wake();
    this.o.sql.removeListener('notification', this.onNotification);
    this.stream?.copy.destroy();
    this.stream = null;
    await this.streamClient?.end().catch(() => {});
    this.streamClient = null;
  }
}

function sameColumn(a: ColumnSpec, b: ColumnSpec): boolean {
  return a.name === b.name && a.typeOid === b.typeOid && a.typmod === b.typmod && a.attnum === b.attnum;
}

/**
 * A schema change the sinks cannot follow in place. Trigger capture cannot re-seed a table
 * inside the stream (`onIncompatibleSchemaChange: 'resnapshot'` is logical capture's).
 */
function incompatible(table: string, message: string, orElse: string): ConnectorError {
  return definite('SCHEMA_INCOMPATIBLE', message, {
    table,
    hint: `delete the checkpoint to take a new snapshot${orElse}; trigger capture cannot re-seed the table by itself (onIncompatibleSchemaChange: resnapshot needs capture: logical)`,
  });
}

/** Trigger capture is gone, disabled or damaged: changes are (or may have been) missed. */
export function triggersMissing(t: { display: string; name: { schema: string; name: string } }, problem: string): ConnectorError {
  return definite('TRIGGERS_MISSING', `trigger capture of ${t.display} cannot deliver every change: ${problem}`, {
    table: t.display,
    hint: `changes made meanwhile were not captured: run refstream install-triggers --table ${quoteQualified(t.name as { schema: string; name: string })} (or set installTriggers), then delete the checkpoint to take a new snapshot`,
  });
}
