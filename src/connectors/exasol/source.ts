/**
 * ExasolSource: a reference table in Exasol as a refstream source (`changes: 'poll'`).
 *
 * - Snapshot: parallel EXPORT through HTTP-transport tunnels (one per node), CSV streamed
 *   straight into Arrow builders; or paged `fetch`.
 * - Changes, `watermark` mode: rows whose (watermark, key) is past the cursor, in that order.
 *   Inserts and updates; deletes are invisible.
 * - Changes, `diff` mode: key + row hash computed in Exasol and compared with the previous
 *   state (kept in content-addressed files, see diff-state.ts): inserts, updates, deletes.
 * - Both optionally gated by `EXA_ALL_OBJECTS.LAST_COMMIT`, so an unchanged table costs one
 *   metadata query per poll.
 */
import type { RecordBatch } from 'apache-arrow';
import * as z from '../../sdk/zod.js';
import { sleep } from '../../sdk/sleep.js';
import { makeCheckpoint, parseCheckpoint, parsePosition, type JsonValue, type SourceCheckpoint } from '../../sdk/checkpoint.js';
import { ConnectorError, definite, throwIfAborted } from '../../sdk/errors.js';
import { PollGate } from '../../sdk/poll-gate.js';
import type { PollOptions, ReferenceTableSource, SourceCapabilities } from '../../sdk/source.js';
import { lastCommit, loadTable, tableRowCount } from './catalog.js';
import { parseConfig, sourceConfigSchema, type ExasolSourceConfig, type ResolvedSourceConfig } from './config.js';
import type { ExasolConnection } from './connection.js';
import { computeDiff, diffChangeBatch } from './diff-mode.js';
import { checkIdentity, identitySchema, readIdentity, type ExasolIdentity } from './identity.js';
import { DiffStateStore, newRunId, type PendingChange } from './diff-state.js';
import { openSession } from './session.js';
import { SnapshotRun } from './snapshot.js';
import { assertSameColumns, resolveShape, type TableShape } from './table-shape.js';
import type { CatalogTable } from './catalog.js';
import { describeColumnChanges, diffColumns } from '../../sdk/schema-change.js';
import { reportWarning } from '../../sdk/warnings.js';
import { tunnelCertificate, useTunnelTls } from './tunnel.js';
import { pollWatermarkChanges, type WatermarkCursor } from './watermark-mode.js';

const CONNECTOR = 'exasol';

const watermarkPosition = z.strictObject({
  mode: z.literal('watermark'),
  signature: z.string(),
  wm: z.nullable(z.string()),
  key: z.nullable(z.array(z.string())),
  ordinal: z.int().check(z.nonnegative()),
  /** Where the checkpoint was taken; absent in checkpoints of older refstream versions. */
  source: z.optional(identitySchema),
});
const diffPosition = z.strictObject({
  mode: z.literal('diff'),
  signature: z.string(),
  run: z.string().check(z.regex(/^[0-9a-f]{8}$/)),
  state: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  epoch: z.int().check(z.nonnegative()),
  delivered: z.int().check(z.nonnegative()),
  source: z.optional(identitySchema),
});
const snapshotPosition = z.strictObject({
  mode: z.enum(['watermark', 'diff']),
  signature: z.optional(z.string()),
  source: z.optional(identitySchema),
});

type DiffCursor = { run: string; state: string; epoch: number; delivered: number; changes: PendingChange[]; hashes: Map<string, string> };

type Phase = { kind: 'idle' } | { kind: 'snapshot'; run: SnapshotRun; connection: ExasolConnection } | { kind: 'changes' };

/** Re-exported config type of the source. */
export type { ExasolSourceConfig } from './config.js';

/** A `ReferenceTableSource` over an Exasol table. See docs/connectors/exasol.md. */
export class ExasolSource implements ReferenceTableSource {
  readonly capabilities: SourceCapabilities;
  private readonly config: ResolvedSourceConfig;
  private readonly tableName: string;
  private readonly diffStore: DiffStateStore | undefined;
  private connection: ExasolConnection | undefined;
  private shape: TableShape | undefined;
  /** The columns changed: the next read sends every row again. */
  private resendAll = false;
  private identity: ExasolIdentity | undefined;
  private phase: Phase = { kind: 'idle' };
  private watermark: WatermarkCursor = { wm: null, key: null, ordinal: 0 };
  private diff: DiffCursor | undefined;
  private lastSeenCommit: string | null = null;
  private moreRowsPending = true;
  private started = false;
  private closed = false;
  private opening: Promise<void> | undefined;
  /** One poll at a time: a concurrent poll is rejected with BUSY instead of interleaving. */
  private readonly gate: PollGate;

  constructor(config: ExasolSourceConfig) {
    this.config = parseConfig(sourceConfigSchema, config, 'ExasolSource');
    this.tableName = `${this.config.schema}.${this.config.table}`;
    this.gate = new PollGate(this.tableName);
    this.diffStore = this.config.diff ? new DiffStateStore(this.config.diff.stateDir) : undefined;
    const diff = this.config.mode === 'diff';
    this.capabilities = Object.freeze({
      changes: 'poll',
      deletes: diff,
      // diff mode replays exactly the remaining changes of a persisted epoch; watermark mode
      // depends on writers assigning watermarks in commit order, which it cannot verify
      exactlyOnce: diff,
      midSnapshotResume: false,
      transactions: false,
      // only diff mode can send every row again after a change (watermark positions cannot go back)
      schemaEvolution: diff && this.config.schemaEvolution,
    });
  }

  /** Qualified table name (`SCHEMA.TABLE`). */
  get table(): string {
    return this.tableName;
  }

  async pollSnapshot(opts: PollOptions = {}): Promise<RecordBatch | null> {
    return this.gate.run(() => this.nextSnapshotBatch(opts));
  }

  private async nextSnapshotBatch(opts: PollOptions): Promise<RecordBatch | null> {
    this.assertUsable(opts.signal);
    this.started = true;
    if (this.phase.kind === 'changes') return null;
    if (this.phase.kind === 'idle') {
      // the snapshot's own session logs in while the first one reads the catalog
      const session = this.openSnapshotSession();
      try {
        await this.open(opts.signal);
      } catch (error) {
        void session.then((c) => c.close()).catch(() => undefined);
        throw error;
      }
      if (this.phase.kind === 'idle') await this.startSnapshot(session, opts.signal);
      else void session.then((c) => c.close()).catch(() => undefined);
    }
    const phase = this.phase as Extract<Phase, { kind: 'snapshot' }>;
    let batch: RecordBatch | null;
    try {
      batch = await phase.run.queue.take(opts.signal);
    } catch (error) {
      if ((error as Error)?.name === 'AbortError') throw error;
      await this.endSnapshotRun();
      throw this.wrap(error);
    }
    this.assertUsable();
    if (batch !== null) return batch;
    await this.finishSnapshot(phase.run);
    return null;
  }

  isSnapshotComplete(): boolean {
    return this.phase.kind === 'changes';
  }

  async pollChanges(opts: PollOptions = {}): Promise<RecordBatch | null> {
    return this.gate.run(() => this.nextChangeBatch(opts));
  }

  private async nextChangeBatch(opts: PollOptions): Promise<RecordBatch | null> {
    this.assertUsable(opts.signal);
    if (this.phase.kind !== 'changes') {
      throw definite('INVALID_STATE', `pollChanges called before the snapshot of ${this.tableName} completed`, {
        table: this.tableName,
        hint: 'call pollSnapshot until it returns null first',
      });
    }
    this.started = true;
    await this.open(opts.signal);
    const deadline = Date.now() + this.config.maxWaitMs;
    for (;;) {
      const batch = this.config.mode === 'diff' ? await this.pollDiff(opts.signal) : await this.pollWatermark(opts.signal);
      this.assertUsable(opts.signal);
      if (batch !== null) return batch;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await sleep(Math.min(left, this.config.pollIntervalMs), opts.signal);
      this.assertUsable(opts.signal);
    }
  }

  /** The position, and where it was taken (see docs/connectors/exasol.md, "Checkpoints"). */
  checkpoint(): SourceCheckpoint {
    const signature = this.shape?.signature;
    const source: { source?: JsonValue } = this.identity ? { source: { ...this.identity, hosts: [...this.identity.hosts] } } : {};
    if (this.phase.kind !== 'changes') {
      return makeCheckpoint(CONNECTOR, this.tableName, 'snapshot', {
        mode: this.config.mode,
        ...(signature ? { signature } : {}),
        ...source,
      });
    }
    if (this.config.mode === 'diff') {
      const d = this.diff!;
      return makeCheckpoint(CONNECTOR, this.tableName, 'changes', {
        mode: 'diff',
        signature: signature!,
        run: d.run,
        state: d.state,
        epoch: d.epoch,
        delivered: d.delivered,
        ...source,
      });
    }
    const w = this.watermark;
    return makeCheckpoint(CONNECTOR, this.tableName, 'changes', {
      mode: 'watermark',
      signature: signature!,
      wm: w.wm,
      key: w.key,
      ordinal: w.ordinal,
      ...source,
    });
  }

  /**
   * Positions this fresh source at `checkpoint`. A checkpoint taken on other hosts, another
   * database, schema or table (or a re-created table) is the definite `CHECKPOINT_MISMATCH`
   * naming both sides; one without that identity (older refstream) resumes with a
   * `CHECKPOINT_UNIDENTIFIED` warning. A snapshot-phase checkpoint resumes nothing (the
   * snapshot restarts): it is checked when it has an identity, and not warned about otherwise.
   */
  async restore(checkpoint: SourceCheckpoint): Promise<void> {
    this.assertUsable();
    if (this.started)
      throw definite('INVALID_STATE', 'restore must be called on a fresh source, before any poll', { table: this.tableName });
    const cp = parseCheckpoint(checkpoint, { connector: CONNECTOR, table: this.tableName });
    if (cp.phase === 'snapshot') {
      const p = parsePosition(snapshotPosition, cp);
      this.assertMode(p.mode);
      if (p.source !== undefined) {
        await this.open();
        this.checkIdentity(p.source, false);
      }
      return; // the snapshot restarts (midSnapshotResume: false)
    }
    const mode = (cp.position as { mode?: unknown } | null)?.mode;
    if (mode !== 'watermark' && mode !== 'diff') {
      throw definite('CHECKPOINT_INVALID', 'checkpoint position has no valid mode', { table: this.tableName });
    }
    this.assertMode(mode);
    await this.open();
    if (mode === 'watermark') {
      const p = parsePosition(watermarkPosition, cp);
      this.checkIdentity(p.source, true);
      this.watermark = { wm: p.wm, key: p.key, ordinal: p.ordinal };
      // columns changed while stopped: every row again, with the columns as they are now
      if (p.signature !== this.shape!.signature) this.followAfterRestore(p.signature, null);
    } else {
      const p = parsePosition(diffPosition, cp);
      this.checkIdentity(p.source, true);
      const epoch = await this.diffStore!.read(p.state, this.tableName, p.run, p.epoch);
      if (epoch.epoch !== p.epoch || epoch.run !== p.run || p.delivered > epoch.changes.length) {
        throw definite('CHECKPOINT_INVALID', `checkpoint does not match its diff state (epoch ${p.epoch}, ${p.delivered} delivered)`, {
          table: this.tableName,
        });
      }
      this.diff = { run: p.run, state: p.state, epoch: p.epoch, delivered: p.delivered, changes: epoch.changes, hashes: epoch.state };
      if (p.signature !== this.shape!.signature) this.followAfterRestore(p.signature, epoch.changes);
    }
    this.phase = { kind: 'changes' };
  }

  async commit(checkpoint: SourceCheckpoint): Promise<void> {
    this.assertUsable();
    const cp = parseCheckpoint(checkpoint, { connector: CONNECTOR, table: this.tableName });
    if (cp.phase !== 'changes' || this.config.mode !== 'diff') return;
    const p = parsePosition(diffPosition, cp);
    // only files strictly older than the committed one are released; never anything after it
    await this.diffStore!.releaseBefore(this.tableName, p.run, p.epoch);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.endSnapshotRun();
    const connection = this.connection;
    this.connection = undefined;
    await this.opening?.catch(() => undefined);
    await (connection ?? this.connection)?.close();
  }

  // ---------------------------------------------------------------------------------------

  private async open(signal?: AbortSignal): Promise<void> {
    if (this.connection?.isOpen && this.shape) return;
    if (this.connection && !this.connection.isOpen) {
      // a lost session: surface it (the runner reconnects with a fresh source)
      throw this.wrap(definite('CLOSED', 'connection lost'));
    }
    this.opening ??= (async () => {
      // the tunnel certificate's RSA key is generated in the thread pool meanwhile
      if (this.config.snapshot.method !== 'fetch' && this.config.snapshot.tunnelTls !== 'off') tunnelCertificate().catch(() => undefined);
      const connection = await openSession(this.config, { clientName: `refstream ${this.tableName}` });
      if (this.closed) {
        await connection.close();
        return;
      }
      this.connection = connection;
      const catalog = await loadTable(connection, this.config.schema, this.config.table, signal);
      const identity = await readIdentity(connection, this.config, signal);
      this.shape = resolveShape(this.config, catalog);
      this.identity = identity;
    })();
    try {
      await this.opening;
    } catch (error) {
      this.opening = undefined;
      throw this.wrap(error);
    }
    this.assertUsable(signal);
  }

  /** `auto`: small tables (by the catalog's row count) are read by fetch, the rest by EXPORT. */
  private async snapshotMethod(signal?: AbortSignal): Promise<'export' | 'fetch'> {
    const { method, fetchBelowRows } = this.config.snapshot;
    if (method !== 'auto') return method;
    const rows = await tableRowCount(this.connection!, this.config.schema, this.config.table, signal).catch(() => null);
    return rows !== null && rows < fetchBelowRows ? 'fetch' : 'export';
  }

  /** EXPORT blocks its session until the transfer ends: the snapshot runs on a session of its own. */
  private openSnapshotSession(): Promise<ExasolConnection> {
    const session = openSession(this.config, { clientName: `refstream ${this.tableName} snapshot` });
    session.catch(() => undefined);
    return session;
  }

  private async startSnapshot(session: Promise<ExasolConnection>, signal?: AbortSignal): Promise<void> {
    const shape = this.shape!;
    let method: 'export' | 'fetch';
    try {
      method = await this.guard(() => this.snapshotMethod(signal));
    } catch (error) {
      void session.then((c) => c.close()).catch(() => undefined);
      throw error;
    }
    const connection = await session.catch((e: unknown) => {
      throw this.wrap(e);
    });
    if (this.closed) {
      await connection.close();
      this.assertUsable();
    }
    try {
      let nodes: { host: string; port: number }[] = [];
      let tunnelTls = false;
      if (method === 'export') {
        const hosts = await connection.getHosts(connection.host);
        nodes = hosts.map((host) => ({ host, port: connection.port }));
        if (this.config.snapshot.maxTunnels) nodes = nodes.slice(0, this.config.snapshot.maxTunnels);
        if (nodes.length === 0) nodes = [{ host: connection.host, port: connection.port }];
        tunnelTls = useTunnelTls(this.config.snapshot.tunnelTls, connection.session.releaseVersion);
      }
      if (tunnelTls) await tunnelCertificate();
      throwIfAborted(signal);
      const run = new SnapshotRun(connection, {
        shape,
        mode: this.config.mode,
        batchRows: this.config.batchRows,
        batchBytes: this.config.batchBytes,
        method,
        fetchBytes: this.config.fetchBytes,
        nodes,
        tunnelTls,
      });
      run.start();
      this.phase = { kind: 'snapshot', run, connection };
    } catch (error) {
      await connection.close();
      throw this.wrap(error);
    }
  }

  private async endSnapshotRun(): Promise<void> {
    if (this.phase.kind !== 'snapshot') return;
    const { run, connection } = this.phase;
    this.phase = { kind: 'idle' };
    run.cancel();
    await connection.close();
  }

  private async finishSnapshot(run: SnapshotRun): Promise<void> {
    const findings = run.findings;
    if (this.config.mode === 'diff') {
      const state = findings.state ?? new Map<string, string>();
      const run = newRunId();
      const hash = await this.diffStore!.write({ table: this.tableName, run, epoch: 0, state, changes: [] });
      this.diff = { run, state: hash, epoch: 0, delivered: 0, changes: [], hashes: state };
    } else {
      // every row up to the highest watermark of the snapshot is delivered
      this.watermark = { wm: findings.maxWatermark ?? null, key: null, ordinal: 0 };
    }
    const phase = this.phase;
    this.phase = { kind: 'changes' };
    this.moreRowsPending = true;
    if (phase.kind === 'snapshot') await phase.connection.close();
  }

  /**
   * Whether the table's columns are still those delivered. With `schemaEvolution` off a change
   * stops the stream (`SCHEMA_INCOMPATIBLE`, see `assertSameColumns`).
   */
  private async columnsUnchanged(signal?: AbortSignal): Promise<{ same: boolean; catalog: CatalogTable }> {
    const catalog = await loadTable(this.connection!, this.config.schema, this.config.table, signal);
    try {
      assertSameColumns(this.shape!, catalog);
      return { same: true, catalog };
    } catch (error) {
      if (!this.capabilities.schemaEvolution || !ConnectorError.is(error, 'SCHEMA_INCOMPATIBLE')) throw error;
      return { same: false, catalog };
    }
  }

  /**
   * Follows changed columns before a read: the new shape (the key must stay), a
   * `SCHEMA_CHANGED` warning, and every row sent again with the new columns — Exasol gives
   * columns no identity, so a rename cannot be told from a drop and an add, and sending every
   * row again is what keeps every consumer exact either way.
   */
  private async followColumns(signal?: AbortSignal): Promise<void> {
    const { same, catalog } = await this.columnsUnchanged(signal);
    if (same) return;
    this.adoptShape(resolveShape(this.config, catalog));
  }

  private adoptShape(next: TableShape): void {
    const before = this.shape!;
    const key = (s: TableShape) => s.descriptor.primaryKey.join('\u0000');
    if (key(next) !== key(before)) {
      throw definite(
        'SCHEMA_INCOMPATIBLE',
        `the key of ${this.tableName} changed from (${before.descriptor.primaryKey.join(', ')}) to (${next.descriptor.primaryKey.join(', ')})`,
        { table: this.tableName, hint: 'delete the checkpoint to start over with a new snapshot' },
      );
    }
    const described = describeColumnChanges(diffColumns(before.descriptor.fields, next.descriptor.fields));
    this.shape = next;
    this.resendAll = true;
    reportWarning(this.config.onWarning, {
      code: 'SCHEMA_CHANGED',
      table: this.tableName,
      message: `the columns of ${this.tableName} changed (${described.join(', ')}): every row is sent again with the new columns`,
    });
  }

  /**
   * A checkpoint of other columns than the table has now (changed while the sync was
   * stopped): followed like a change seen while running. Changes of its epoch not delivered
   * yet hold rows of the old columns: their upserts are covered by sending every row again,
   * their deletes cannot be mapped and stop the source.
   */
  private followAfterRestore(signature: string, pending: PendingChange[] | null): void {
    if (!this.capabilities.schemaEvolution) this.assertSignature(signature);
    if (pending?.slice(this.diff!.delivered).some((c) => c.type === 'delete')) {
      throw definite(
        'CHECKPOINT_INVALID',
        `the columns of ${this.tableName} changed while deletes of the checkpoint's last diff were not delivered yet`,
        { table: this.tableName, hint: 'delete the checkpoint to start over with a new snapshot' },
      );
    }
    if (this.diff) {
      this.diff.changes = this.diff.changes.slice(0, this.diff.delivered);
    }
    this.resendAll = true;
    reportWarning(this.config.onWarning, {
      code: 'SCHEMA_CHANGED',
      table: this.tableName,
      message: `the columns of ${this.tableName} changed since the checkpoint was taken: every row is sent again with the columns it has now`,
    });
  }

  /** True when LAST_COMMIT says nothing was committed since the last full poll. */
  private async unchangedSinceLastPoll(signal?: AbortSignal): Promise<{ unchanged: boolean; seen: string | null }> {
    if (!this.config.lastCommitGate || this.moreRowsPending) {
      const seen = this.config.lastCommitGate ? await lastCommit(this.connection!, this.config.schema, this.config.table, signal) : null;
      return { unchanged: false, seen };
    }
    const seen = await lastCommit(this.connection!, this.config.schema, this.config.table, signal);
    return { unchanged: seen !== null && seen === this.lastSeenCommit, seen };
  }

  private async pollWatermark(signal?: AbortSignal): Promise<RecordBatch | null> {
    const gate = await this.guard(() => this.unchangedSinceLastPoll(signal));
    if (gate.unchanged) return null;
    const { batchRows, batchBytes, fetchBytes } = this.config;
    const poll = await this.guard(() =>
      pollWatermarkChanges(this.connection!, this.shape!, this.watermark, { batchRows, batchBytes, fetchBytes, signal }),
    );
    // checked after the read: rows read before a DDL are fine, a DDL before the read stops here
    await this.guard(() => this.columnsUnchanged(signal));
    this.watermark = poll.cursor;
    this.moreRowsPending = poll.more;
    if (!poll.more && gate.seen !== null) this.lastSeenCommit = gate.seen;
    return poll.batch;
  }

  private async pollDiff(signal?: AbortSignal): Promise<RecordBatch | null> {
    const d = this.diff!;
    if (d.delivered >= d.changes.length) {
      const gate = await this.guard(() => this.unchangedSinceLastPoll(signal));
      if (gate.unchanged) return null;
      await this.guard(() => this.followColumns(signal));
      // after a schema change every row differs from what was delivered
      const previous = this.resendAll ? new Map([...d.hashes.keys()].map((k) => [k, ''])) : d.hashes;
      let found;
      try {
        found = await computeDiff(this.connection!, this.shape!, previous, { fetchBytes: this.config.fetchBytes, signal });
      } catch (error) {
        // a DDL during the read (a column gone): the next poll follows it
        if ((await this.guard(() => this.columnsUnchanged(signal))).same) throw this.wrap(error);
        return null;
      }
      if (!(await this.guard(() => this.columnsUnchanged(signal))).same) return null;
      this.resendAll = false;
      if (gate.seen !== null) this.lastSeenCommit = gate.seen;
      this.moreRowsPending = false;
      if (found === null) return null;
      const epoch = d.epoch + 1;
      const hash = await this.diffStore!.write({ table: this.tableName, run: d.run, epoch, state: found.hashes, changes: found.changes });
      this.diff = { run: d.run, state: hash, epoch, delivered: 0, changes: found.changes, hashes: found.hashes };
    }
    return this.deliverPending();
  }

  private deliverPending(): RecordBatch | null {
    const d = this.diff!;
    if (d.delivered >= d.changes.length) return null;
    const { batch, next } = diffChangeBatch(this.shape!, d.changes, d.delivered, d.epoch, this.config);
    d.delivered = next;
    return batch;
  }

  /** Runs a step, turning unexpected errors into ConnectorErrors for this table. */
  private async guard<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      throw this.wrap(error);
    }
  }

  private wrap(error: unknown): unknown {
    if ((error as Error)?.name === 'AbortError') return error;
    if (ConnectorError.is(error)) {
      if (error.code === 'CLOSED' && !this.closed) {
        return new ConnectorError('CONNECTION_LOST', `connection to Exasol lost while reading ${this.tableName}`, {
          kind: 'transient',
          table: this.tableName,
          cause: error,
          hint: 'the runner reconnects and restores the last committed checkpoint',
        });
      }
      if (error.table === undefined) {
        const options = {
          kind: error.kind,
          table: this.tableName,
          cause: error.cause ?? error,
          ...(error.hint !== undefined ? { hint: error.hint } : {}),
        };
        return new ConnectorError(error.code, error.message, options);
      }
      return error;
    }
    return new ConnectorError('INTERNAL', `unexpected failure reading ${this.tableName}: ${(error as Error)?.message ?? String(error)}`, {
      table: this.tableName,
      cause: error,
    });
  }

  private assertMode(mode: string): void {
    if (mode !== this.config.mode) {
      throw definite('CHECKPOINT_INVALID', `checkpoint was taken in ${mode} mode, the source runs in ${this.config.mode} mode`, {
        table: this.tableName,
        hint: 'use the same mode as the run that wrote the checkpoint, or delete the checkpoint to start over',
      });
    }
  }

  private checkIdentity(recorded: ExasolIdentity | undefined, warn: boolean): void {
    checkIdentity(recorded, this.identity!, this.tableName, { warn, onWarning: this.config.onWarning });
  }

  private assertSignature(signature: string): void {
    if (signature !== this.shape!.signature) {
      throw definite(
        'CHECKPOINT_INVALID',
        `checkpoint was taken for other columns of ${this.tableName} (the table or the columns option changed)`,
        {
          table: this.tableName,
          hint: 'delete the checkpoint to start over with a new snapshot',
        },
      );
    }
  }

  private assertUsable(signal?: AbortSignal): void {
    if (this.closed) throw definite('CLOSED', `source of ${this.tableName} is closed`, { table: this.tableName });
    throwIfAborted(signal);
  }
}
