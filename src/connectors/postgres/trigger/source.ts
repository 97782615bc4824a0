/**
 * Trigger capture (`capture: 'trigger'`): what `PostgresSource` runs when logical replication
 * is not available. The same snapshot (COPY binary at an exported snapshot), then the change
 * rows the capture triggers wrote, in epochs of transactions that ended between two snapshots
 * (reader.ts), with checkpoints that record the snapshot up to which everything is delivered.
 *
 * It needs no replication privilege and works at any `wal_level`: the triggers and the change
 * table are installed by `refstream install-triggers` (or at start with `installTriggers`).
 */
import type { RecordBatch } from 'apache-arrow';
import type { PollOptions, SourceCapabilities } from '../../../sdk/source.js';
import type { SourceCheckpoint } from '../../../sdk/checkpoint.js';
import { definite, throwIfAborted } from '../../../sdk/errors.js';
import { PollGate } from '../../../sdk/poll-gate.js';
import type { ResolvedConfig } from '../config.js';
import { specsFromJson, type SourceIdentity } from '../checkpoint.js';
import { deferrableKey } from '../change-reader.js';
import { checkKeyUnchanged, sameSpecs } from '../restore-checks.js';
import { storageRewritten } from '../snapshot-storage.js';
import { TableSession } from '../table-session.js';
import type { ColumnSpec } from '../types.js';
import {
  readTriggerCheckpoint,
  triggerChangesCheckpoint,
  triggerSnapshotCheckpoint,
  type ChangeCursor,
  type TriggerCheckpointContext,
} from './checkpoint.js';
import { ConsumerProgress } from './consumers.js';
import type { LeaderTerm } from '../../../sdk/leadership.js';
import { installationProblem, installTriggerCapture, readInstallation, type Installation } from './install.js';
import { covers, parsePgSnapshot } from './pg-snapshot.js';
import { TriggerChangeReader, triggersMissing } from './reader.js';
import { noTriggerSnapshot, TriggerSnapshotPhase } from './snapshot-phase.js';
import { withReaderHint } from './errors.js';

/** The source's side of trigger capture; `PostgresSource` hands every call to it. */
export class TriggerCaptureSource {
  readonly capabilities: SourceCapabilities;
  private readonly session: TableSession;
  private readonly snapshot: TriggerSnapshotPhase;
  private readonly gate: PollGate;
  private started: Promise<void> | null = null;
  private phase: 'snapshot' | 'changes' = 'snapshot';
  private identity: SourceIdentity | null = null;
  private installation: Installation | null = null;
  private consumers: ConsumerProgress | null = null;
  private term: LeaderTerm | null = null;
  /** Where the change stream starts (the snapshot's point, or the restored checkpoint's). */
  private start: ChangeCursor | null = null;
  private startSpecs: ColumnSpec[] | null = null;
  /** The last schema change followed, as the restored checkpoint recorded it. */
  private startSchemaChange: { at: string; what: string } | null = null;
  private reader: TriggerChangeReader | null = null;
  private restartedSnapshot = false;
  private restored = false;
  private polled = false;
  private closed = false;

  constructor(
    readonly config: ResolvedConfig,
    readonly table: string,
  ) {
    this.gate = new PollGate(table);
    this.session = new TableSession(config, table, null);
    this.snapshot = new TriggerSnapshotPhase(this.session, config, table);
    this.capabilities = Object.freeze({
      changes: 'log',
      deletes: true,
      exactlyOnce: true,
      midSnapshotResume: true,
      transactions: true,
      schemaEvolution: config.schemaEvolution,
    });
  }

  /** The consumer's progress (tests and benchmarks look at the rows it deleted). */
  get progress(): ConsumerProgress | null {
    return this.consumers;
  }

  restartsSnapshot(): boolean {
    return this.restartedSnapshot;
  }

  /** High availability: the consumer's lock may be taken from a replica that lost the lease. */
  leadWith(term: LeaderTerm): void {
    this.term = term;
    if (this.consumers) this.consumers.term = term;
  }

  private ensureOpen(): void {
    if (this.closed) throw definite('CLOSED', `source of ${this.table} is closed`, { table: this.table });
  }

  private async startOnce(): Promise<void> {
    this.started ??= this.connect();
    try {
      await this.started;
    } catch (error) {
      this.started = null;
      throw withReaderHint(error, this.table, this.installation?.objects ?? null);
    }
  }

  /**
   * Connects, checks the table, installs or checks the trigger capture objects, and takes the
   * consumer's lock.
   */
  private async connect(): Promise<void> {
    const session = this.session;
    // a failed earlier attempt may have left a connection and part of what it learned
    await session.end();
    await session.connect();
    const info = session.info!;
    if (info.partitioned) {
      throw definite('CONFIG_INVALID', `trigger capture does not support partitioned tables (${this.table})`, {
        table: this.table,
        hint: "use capture: 'logical', or capture each partition as a table of its own",
      });
    }
    if (!(await session.catalog!.currentKey(info.oid)).immediate) throw deferrableKey(info);
    const textOnly = session.codecs!.find((c) => c.textOnly);
    if (textOnly) {
      throw definite(
        'UNSUPPORTED_TYPE',
        `column ${textOnly.spec.name} of ${this.table} has type ${textOnly.spec.sourceType}, which has no Arrow mapping; trigger capture stores row images in binary form and cannot deliver it as text`,
        { table: this.table, hint: "use capture: 'logical' with unknownTypes: 'text', or change the column type" },
      );
    }
    this.identity = { ...session.identity!, publication: null };
    let inst = await readInstallation(session.sql!, info.oid, this.table);
    let problem = installationProblem(inst, info);
    if (problem !== null && this.config.installTriggers) {
      await installTriggerCapture(session.sql!, info, {
        schema: this.config.triggerSchemaName,
        lockTimeoutMs: this.config.connectTimeoutMs,
      });
      inst = await readInstallation(session.sql!, info.oid, this.table);
      problem = installationProblem(inst, info);
    }
    if (problem !== null) throw triggersMissing(info, problem);
    this.installation = inst;
    // the consumer's lock is taken when the change stream opens (or at the first commit)
    this.consumers = new ConsumerProgress(session.sql!, inst!.objects, this.config.consumerName, this.table, this.config.onWarning);
    this.consumers.term = this.term;
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.ensureOpen();
    return this.gate.run(async () => {
      try {
        return await fn();
      } catch (error) {
        if (this.closed && (error as Error)?.name !== 'AbortError')
          throw definite('CLOSED', `source of ${this.table} was closed during the poll`, { table: this.table });
        throw withReaderHint(error, this.table, this.installation?.objects ?? null);
      }
    });
  }

  async pollSnapshot(opts: PollOptions = {}): Promise<RecordBatch | null> {
    return this.exclusive(async () => {
      throwIfAborted(opts.signal);
      this.polled = true;
      if (this.phase === 'changes') return null;
      await this.startOnce();
      if (!this.snapshot.reading) {
        try {
          await this.snapshot.begin(async () => {
            await this.consumers!.register();
          });
        } catch (error) {
          await this.snapshot.release();
          throw error;
        }
        if (this.closed) await this.snapshot.release();
      }
      const batch = await this.snapshot.next(opts.signal);
      if (batch === null) this.endSnapshot();
      return batch;
    });
  }

  private endSnapshot(): void {
    this.phase = 'changes';
    const point = parsePgSnapshot(this.snapshot.state.xids!);
    this.start = { delivered: point, epoch: null, after: null };
    this.startSpecs = this.snapshot.state.specs ?? this.session.specs;
  }

  isSnapshotComplete(): boolean {
    return this.phase === 'changes';
  }

  async pollChanges(opts: PollOptions = {}): Promise<RecordBatch | null> {
    return this.exclusive(async () => {
      if (this.phase !== 'changes') {
        throw definite('INVALID_STATE', `pollChanges before the snapshot of ${this.table} is complete`, {
          table: this.table,
          hint: 'call pollSnapshot until it returns null first',
        });
      }
      throwIfAborted(opts.signal);
      this.polled = true;
      await this.startOnce();
      if (!this.reader) await this.openReader();
      return this.reader!.poll(opts.signal);
    });
  }

  private async openReader(): Promise<void> {
    const session = this.session;
    const specs = this.startSpecs ?? session.specs!;
    const codecs = sameSpecs(specs, session.specs!)
      ? session.codecs!
      : await session.catalog!.codecs(specs, this.table, this.config.unknownTypes);
    const inst = this.installation!;
    const reader = new TriggerChangeReader({
      config: this.config,
      table: session.info!,
      catalog: session.catalog!,
      sql: session.sql!,
      objects: inst.objects,
      channel: this.config.notify ? (inst.meta?.channel ?? null) : null,
      specs,
      codecs,
      start: this.start!,
      connectSql: session.connectSql,
      progress: this.consumers!,
      schemaChange: this.startSchemaChange,
    });
    try {
      await reader.open();
    } catch (error) {
      await reader.close();
      throw error;
    }
    this.reader = reader;
    if (this.closed) await reader.close();
  }

  private context(): TriggerCheckpointContext {
    return {
      table: this.table,
      consumer: this.config.consumerName,
      key: this.session.info?.primaryKey ?? null,
      identity: this.identity,
    };
  }

  checkpoint(): SourceCheckpoint {
    if (this.phase === 'snapshot') return triggerSnapshotCheckpoint(this.context(), this.snapshot.state);
    const reader = this.reader;
    const cursor = reader ? reader.position : this.start!;
    return triggerChangesCheckpoint(
      this.context(),
      cursor,
      reader ? reader.columns : (this.startSpecs ?? this.session.specs!),
      reader ? reader.schemaChange : this.startSchemaChange,
    );
  }

  /**
   * Positions this fresh source at `checkpoint`. Another server, database, table (oid) or
   * consumer is `CHECKPOINT_MISMATCH`; change rows the checkpoint still needs that may have
   * been deleted (the consumer committed past it, or was dropped) is `CHECKPOINT_EXPIRED`.
   */
  async restore(checkpoint: SourceCheckpoint): Promise<void> {
    this.ensureOpen();
    if (this.polled || this.restored) {
      throw definite('INVALID_STATE', `restore must be called on a fresh source of ${this.table}, before any poll`, { table: this.table });
    }
    const cp = readTriggerCheckpoint(checkpoint, this.table);
    if (cp.position.consumer !== this.config.consumerName) {
      throw definite(
        'CHECKPOINT_MISMATCH',
        `the checkpoint of ${this.table} belongs to consumer ${cp.position.consumer}, this source is consumer ${this.config.consumerName}`,
        { table: this.table, hint: 'configure the same consumer name, or delete the checkpoint (or pass another) to start over' },
      );
    }
    await this.startOnce();
    if (cp.position.source) this.checkIdentity(cp.position.source);
    const info = this.session.info!;
    this.restored = true;
    if (cp.phase === 'snapshot') {
      const pos = cp.position;
      if (pos.snapshotXids === null || pos.ranges === null) return; // nothing was taken yet
      const state = {
        xids: pos.snapshotXids,
        ranges: pos.ranges.map((r) => ({ ...r, after: r.after ? ([r.after[0], r.after[1]] as [number, number]) : null })),
        specs: pos.columns ? specsFromJson(pos.columns) : null,
        relfilenode: pos.relfilenode,
      };
      await this.consumers!.checkResumable(parsePgSnapshot(pos.snapshotXids));
      if (await storageRewritten(this.session.sql!, info, { ranges: state.ranges, partitions: null, relfilenode: state.relfilenode })) {
        // the recorded ctids point into storage that is gone: take a new snapshot
        this.snapshot.state = noTriggerSnapshot();
        this.restartedSnapshot = true;
        return;
      }
      checkKeyUnchanged(pos.key, info.primaryKey, this.table);
      this.snapshot.state = state;
      return;
    }
    await this.consumers!.checkResumable(cp.cursor.delivered);
    checkKeyUnchanged(cp.position.key, info.primaryKey, this.table);
    this.phase = 'changes';
    this.start = cp.cursor;
    this.startSpecs = cp.specs;
    this.startSchemaChange = cp.position.schemaChange ?? null;
  }

  private checkIdentity(recorded: SourceIdentity): void {
    const mine = this.identity!;
    const differences: string[] = [];
    if (recorded.system !== null && mine.system !== null && recorded.system !== mine.system) differences.push('server');
    if (recorded.database !== mine.database) differences.push('database');
    if (recorded.tableOid !== mine.tableOid) differences.push('table oid');
    if (differences.length === 0) return;
    const describe = (id: SourceIdentity) =>
      `server ${id.system ?? '(unknown)'}, database ${id.database}, table ${this.table} (oid ${id.tableOid})`;
    throw definite(
      'CHECKPOINT_MISMATCH',
      `the checkpoint belongs to another source (${differences.join(', ')} differ${differences.length === 1 ? 's' : ''}): checkpoint: ${describe(recorded)}; connected: ${describe(mine)}`,
      {
        table: this.table,
        hint: 'to start fresh here, delete the checkpoint (file or store entry) or pass another --checkpoint; to resume, connect to the source the checkpoint names',
      },
    );
  }

  /**
   * Records a durably stored checkpoint in the consumer's row; change rows every consumer has
   * committed are then deleted. Nothing past the last committed checkpoint is released.
   */
  async commit(checkpoint: SourceCheckpoint): Promise<void> {
    this.ensureOpen();
    if (checkpoint.phase === 'snapshot') return; // the consumer's row already keeps everything after the snapshot
    const cp = readTriggerCheckpoint(checkpoint, this.table);
    if (cp.phase !== 'changes' || this.consumers === null) return;
    // never release what this source has yet to read itself (a checkpoint of another run may be ahead)
    const own = this.reader?.position.delivered ?? this.start?.delivered ?? null;
    if (own === null) return;
    await this.consumers.commit(covers(own, cp.cursor.delivered) ? cp.cursor.delivered : own);
  }

  /** Closes every connection (the consumer's lock goes with them). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.consumers?.close();
    await Promise.allSettled([...this.snapshot.closeAll(), this.reader?.close()]);
    await this.started?.catch(() => {});
    await this.session.end();
  }
}
